// The one threading primitive. A persistent pool whose idle workers spin for a short while
// (so back-to-back kernels start without a wake-up) and then sleep on a condition variable,
// so the pool coexists with NumPy's or PyTorch's own pools in one process.
#pragma once

#include <cstdint>
#include <functional>

namespace fastnn {

// Threads used by parallel regions (>= 1). Defaults to FASTNN_NUM_THREADS when set, else
// to the CPUs this process may run on.
int get_num_threads();
// Throws std::invalid_argument for n < 1.
void set_num_threads(int n);

// Splits [begin, end) into at most get_num_threads() contiguous chunks of at least `grain`
// items and calls f(chunk_begin, chunk_end) once per chunk, the calling thread taking the
// first. Returns when every chunk is done; rethrows the first exception a chunk threw.
// Nested calls, and calls made while another thread is inside a parallel region, run
// serially on the calling thread.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f);

}  // namespace fastnn
