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

// Cuts [begin, end) into chunks of `grain` items (the last may be shorter) and calls
// f(chunk_begin, chunk_end) once per chunk. Chunks are handed out one at a time to whichever
// of up to get_num_threads() threads (the caller included) is free, so a thread that is
// descheduled or busy elsewhere simply takes fewer chunks; callers must therefore make a
// chunk's result depend only on its range, never on the thread or the order. Returns when
// every chunk is done and rethrows the first exception a chunk threw. With one thread, one
// chunk, a nested call, or a call made while another thread is inside a parallel region, f
// is called once with the whole range on the calling thread.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f);

}  // namespace fastnn
