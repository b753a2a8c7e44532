// Batch-norm kernels (see norm.cuh): block c handles channel c, its threads striding over
// the N*L values of the channel; two passes (mean, then squared deviations) as on the CPU.
#include "norm.cuh"

#include "check.cuh"
#include "device_utils.cuh"

namespace fastnn {
namespace cuda {

namespace {

constexpr int kNormThreads = 256;

// Element m in [0, N*L) of channel c: x[(n*C + c)*L + l] with n = m / L, l = m % L.
__device__ inline int64_t channel_offset(int64_t m, int64_t c, int64_t C, int64_t L) {
    return ((m / L) * C + c) * L + m % L;
}

template <typename T>
__global__ void batch_norm_forward_kernel(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                                          const T* inp, const T* weight, const T* bias, int64_t N, int64_t C,
                                          int64_t L, bool training, double momentum, double eps) {
    __shared__ double scratch[32];
    const int64_t M = N * L;
    for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
        double mean, invstd;
        if (training) {
            if (M == 0) {
                if (threadIdx.x == 0) {
                    save_mean[c] = T(0);
                    save_invstd[c] = T(0);
                }
                continue;
            }
            double s = 0.0;
            for (int64_t m = threadIdx.x; m < M; m += blockDim.x) s += double(inp[channel_offset(m, c, C, L)]);
            mean = block_sum(s, scratch) / double(M);
            double ss = 0.0;
            for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
                const double d = double(inp[channel_offset(m, c, C, L)]) - mean;
                ss += d * d;
            }
            ss = block_sum(ss, scratch);
            const double var = ss / double(M);
            invstd = 1.0 / sqrt(var + eps);
            if (threadIdx.x == 0) {
                if (running_mean) running_mean[c] = T((1.0 - momentum) * double(running_mean[c]) + momentum * mean);
                if (running_var) {
                    const double unbiased = M > 1 ? ss / double(M - 1) : var;
                    running_var[c] = T((1.0 - momentum) * double(running_var[c]) + momentum * unbiased);
                }
            }
        } else {
            mean = double(running_mean[c]);
            invstd = 1.0 / sqrt(double(running_var[c]) + eps);
        }
        if (threadIdx.x == 0) {
            save_mean[c] = T(mean);
            save_invstd[c] = T(invstd);
        }
        const double a = invstd * (weight ? double(weight[c]) : 1.0);
        const double b = bias ? double(bias[c]) : 0.0;
        for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
            const int64_t o = channel_offset(m, c, C, L);
            out[o] = T((double(inp[o]) - mean) * a + b);
        }
    }
}

template <typename T>
__global__ void batch_norm_backward_kernel(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                                           const T* weight, const T* save_mean, const T* save_invstd, int64_t N,
                                           int64_t C, int64_t L, bool training) {
    __shared__ double scratch[32];
    const int64_t M = N * L;
    for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
        const double mean = double(save_mean[c]), invstd = double(save_invstd[c]);
        const double w = weight ? double(weight[c]) : 1.0;
        // sum_g = sum dout, sum_gx = sum dout * (x - mean)
        double sum_g = 0.0, sum_gx = 0.0;
        if (dweight || dbias || (dinp && training)) {
            for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
                const int64_t o = channel_offset(m, c, C, L);
                sum_g += double(dout[o]);
                sum_gx += double(dout[o]) * (double(inp[o]) - mean);
            }
            sum_g = block_sum(sum_g, scratch);
            sum_gx = block_sum(sum_gx, scratch);
        }
        if (threadIdx.x == 0) {
            if (dbias) dbias[c] = T(sum_g);
            if (dweight) dweight[c] = T(sum_gx * invstd);
        }
        if (!dinp) continue;
        const double scale = w * invstd;
        if (training && M > 0) {
            const double mean_g = sum_g / double(M);
            const double k = sum_gx * invstd * invstd / double(M);
            for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
                const int64_t o = channel_offset(m, c, C, L);
                dinp[o] = T((double(dout[o]) - mean_g - (double(inp[o]) - mean) * k) * scale);
            }
        } else {
            for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
                const int64_t o = channel_offset(m, c, C, L);
                dinp[o] = T(double(dout[o]) * scale);
            }
        }
    }
}

unsigned channel_grid(int64_t C) { return static_cast<unsigned>(C < 65535 ? C : 65535); }

}  // namespace

template <typename T>
void batch_norm_forward(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var, const T* inp,
                        const T* weight, const T* bias, int64_t N, int64_t C, int64_t L, bool training,
                        double momentum, double eps) {
    if (C == 0) return;
    batch_norm_forward_kernel<T><<<channel_grid(C), kNormThreads>>>(out, save_mean, save_invstd, running_mean,
                                                                    running_var, inp, weight, bias, N, C, L,
                                                                    training, momentum, eps);
    check_launch("batch_norm");
}

template <typename T>
void batch_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const T* save_mean, const T* save_invstd, int64_t N, int64_t C, int64_t L, bool training) {
    if (C == 0) return;
    batch_norm_backward_kernel<T><<<channel_grid(C), kNormThreads>>>(dinp, dweight, dbias, dout, inp, weight,
                                                                     save_mean, save_invstd, N, C, L, training);
    check_launch("batch_norm_backward");
}

template void batch_norm_forward<float>(float*, float*, float*, float*, float*, const float*, const float*,
                                        const float*, int64_t, int64_t, int64_t, bool, double, double);
template void batch_norm_forward<double>(double*, double*, double*, double*, double*, const double*, const double*,
                                         const double*, int64_t, int64_t, int64_t, bool, double, double);
template void batch_norm_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                         const float*, const float*, int64_t, int64_t, int64_t, bool);
template void batch_norm_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                          const double*, const double*, int64_t, int64_t, int64_t, bool);

}  // namespace cuda
}  // namespace fastnn
