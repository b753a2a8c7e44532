// Row gathers for data loading: copies whole rows of a C-contiguous array, by index, into a
// new contiguous batch. Rows are raw bytes (any element type without references).
#pragma once

#include <cstdint>

namespace fastnn {

// dst[i, :] = src[idx[i], :] for i < n, rows of row_bytes bytes.
//   src: rows x row_bytes bytes; idx: n indices, each in [0, rows) (checked by the caller);
//   dst: n x row_bytes bytes, overwritten, not overlapping src.
// Rows a few ahead are prefetched, since a shuffled batch reads rows scattered over memory;
// the rows are shared out to threads when the batch is large.
void gather_rows(const char* src, int64_t row_bytes, const int64_t* idx, int64_t n, char* dst);

}  // namespace fastnn
