// Batch normalisation over C-contiguous (N, C, L) arrays ((N, C) is L = 1, (N, C, H, W) is
// L = H*W). Per-channel sums run in double, in a fixed order (n, then l), one channel at a
// time, and threads split channels only, so results do not depend on the thread count.
// Outputs are overwritten; the running statistics are state updated in place.
#pragma once

#include <cstdint>

namespace fastnn {

// out[n, c, l] = (inp[n, c, l] - mean[c]) * invstd[c] * weight[c] + bias[c] where
//   training:  mean = batch mean over (n, l), invstd = 1 / sqrt(biased batch var + eps), and
//              when running_mean/running_var are not nullptr they are updated in place:
//              running_mean = (1 - momentum) * running_mean + momentum * mean,
//              running_var  = (1 - momentum) * running_var + momentum * var * M / (M - 1)
//              (the unbiased variance, M = N*L; torch's rule; skipped when M = 0);
//   eval:      mean = running_mean, invstd = 1 / sqrt(running_var + eps) (both required).
// save_mean[c] = mean, save_invstd[c] = invstd (what batch_norm_backward takes; 0 and 0 for
// an empty training batch). weight, bias may be nullptr (1 and 0).
// inp, out (N, C, L); save_mean, save_invstd, running_mean, running_var, weight, bias (C).
template <typename T>
void batch_norm_forward(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                        const T* inp, const T* weight, const T* bias, int64_t N, int64_t C, int64_t L,
                        bool training, double momentum, double eps);

// Gradients of batch_norm_forward, with xhat = (inp - save_mean) * save_invstd, M = N*L:
//   dbias[c]   = sum_{n,l} dout,    dweight[c] = sum_{n,l} dout * xhat,
//   dinp = weight * save_invstd * (dout - dbias / M - xhat * dweight / M)   (training: the
//          batch statistics depend on inp), or weight * save_invstd * dout (eval).
// Any of dinp (N, C, L), dweight (C), dbias (C) may be nullptr (not computed); they are
// overwritten. dout, inp (N, C, L); weight (C) or nullptr (1); save_mean, save_invstd (C).
template <typename T>
void batch_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const T* save_mean, const T* save_invstd, int64_t N, int64_t C, int64_t L,
                         bool training);

}  // namespace fastnn
