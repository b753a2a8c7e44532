#include "gather.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace fastnn {

namespace {

constexpr int64_t kPrefetchRowsAhead = 4;        // rows in flight ahead of the copy
constexpr int64_t kPrefetchBytesPerRow = 4096;   // the start of each; the hardware follows on
constexpr int64_t kParallelBytes = 256 * 1024;   // smaller batches are copied by one thread

void prefetch_row(const char* row, int64_t row_bytes) {
    const int64_t end = std::min(row_bytes, kPrefetchBytesPerRow);
    for (int64_t off = 0; off < end; off += 64) __builtin_prefetch(row + off);
}

}  // namespace

void gather_rows(const char* src, int64_t row_bytes, const int64_t* idx, int64_t n, char* dst) {
    if (n <= 0 || row_bytes <= 0) return;
    auto copy = [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < std::min(hi, lo + kPrefetchRowsAhead); ++i) prefetch_row(src + idx[i] * row_bytes, row_bytes);
        for (int64_t i = lo; i < hi; ++i) {
            if (i + kPrefetchRowsAhead < hi) prefetch_row(src + idx[i + kPrefetchRowsAhead] * row_bytes, row_bytes);
            std::memcpy(dst + i * row_bytes, src + idx[i] * row_bytes, static_cast<size_t>(row_bytes));
        }
    };
    if (n * row_bytes < kParallelBytes) {
        copy(0, n);
        return;
    }
    const int64_t grain = std::max<int64_t>(1, kParallelBytes / 4 / row_bytes);
    parallel_for(0, n, grain, copy);
}

}  // namespace fastnn
