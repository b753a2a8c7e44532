// Batch normalisation on the device with the semantics of csrc/norm.h: (N, C, L) contiguous
// arrays, per-channel statistics in double, one block per channel (a fixed reduction order,
// so results are the same on every run). Outputs overwritten; running statistics updated
// in place in training.
#pragma once

#include <cstdint>

namespace fastnn {
namespace cuda {

// See fastnn::batch_norm_forward (csrc/norm.h): training uses the batch's mean and biased
// variance (and updates running_mean/var when not nullptr, with the unbiased variance);
// eval uses the running statistics. save_mean, save_invstd (C) written in both modes.
template <typename T>
void batch_norm_forward(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                        const T* weight, const T* bias, int64_t N, int64_t C, int64_t L, bool training,
                        double momentum, double eps);

// See fastnn::batch_norm_backward: dinp (N, C, L), dweight, dbias (C), each may be nullptr.
template <typename T>
void batch_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const T* save_mean, const T* save_invstd, int64_t N, int64_t C, int64_t L, bool training);

}  // namespace cuda
}  // namespace fastnn
