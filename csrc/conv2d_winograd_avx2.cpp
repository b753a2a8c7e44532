// conv2d_winograd.h compiled with AVX2 (see there); conv2d.cpp calls these on CPUs that
// run the avx2 or avx512 code path.
#include "conv2d_winograd.h"

namespace fastnn {

WinogradBatchesFn<float> winograd_batches_avx2_f32() { return &winograd_run_batches<float>; }
WinogradBatchesFn<double> winograd_batches_avx2_f64() { return &winograd_run_batches<double>; }

}  // namespace fastnn
