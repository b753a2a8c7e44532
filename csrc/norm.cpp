// Batch normalisation kernels (see norm.h).
#include "norm.h"

#include <algorithm>
#include <cmath>

#include "parallel.h"

namespace fastnn {

namespace {

// Channels per parallel_for chunk: about 32K elements per chunk.
int64_t channel_grain(int64_t per_channel) {
    return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_channel));
}

}  // namespace

template <typename T>
void batch_norm_forward(T* out, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                        const T* inp, const T* weight, const T* bias, int64_t N, int64_t C, int64_t L,
                        bool training, double momentum, double eps) {
    const int64_t M = N * L;
    parallel_for(0, C, channel_grain(M), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            double mean, invstd;
            if (training) {
                if (M == 0) {
                    save_mean[c] = T(0);
                    save_invstd[c] = T(0);
                    continue;
                }
                // Two passes (mean, then squared deviations): no cancellation in the variance.
                double s = 0.0;
                for (int64_t n = 0; n < N; ++n) {
                    const T* x = inp + (n * C + c) * L;
                    for (int64_t l = 0; l < L; ++l) s += x[l];
                }
                mean = s / static_cast<double>(M);
                double ss = 0.0;
                for (int64_t n = 0; n < N; ++n) {
                    const T* x = inp + (n * C + c) * L;
                    for (int64_t l = 0; l < L; ++l) {
                        const double d = x[l] - mean;
                        ss += d * d;
                    }
                }
                const double var = ss / static_cast<double>(M);
                invstd = 1.0 / std::sqrt(var + eps);
                if (running_mean) {
                    running_mean[c] = static_cast<T>((1.0 - momentum) * running_mean[c] + momentum * mean);
                }
                if (running_var) {
                    const double unbiased = M > 1 ? ss / static_cast<double>(M - 1) : var;
                    running_var[c] = static_cast<T>((1.0 - momentum) * running_var[c] + momentum * unbiased);
                }
            } else {
                mean = running_mean[c];
                invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
            }
            save_mean[c] = static_cast<T>(mean);
            save_invstd[c] = static_cast<T>(invstd);
            const double a = invstd * (weight ? static_cast<double>(weight[c]) : 1.0);
            const double b = bias ? static_cast<double>(bias[c]) : 0.0;
            for (int64_t n = 0; n < N; ++n) {
                const T* x = inp + (n * C + c) * L;
                T* y = out + (n * C + c) * L;
                for (int64_t l = 0; l < L; ++l) y[l] = static_cast<T>((x[l] - mean) * a + b);
            }
        }
    });
}

template <typename T>
void batch_norm_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const T* save_mean, const T* save_invstd, int64_t N, int64_t C, int64_t L,
                         bool training) {
    const int64_t M = N * L;
    parallel_for(0, C, channel_grain(M), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            const double mean = save_mean[c], invstd = save_invstd[c];
            const double w = weight ? static_cast<double>(weight[c]) : 1.0;
            // sum_g = sum dout, sum_gx = sum dout * (x - mean)
            double sum_g = 0.0, sum_gx = 0.0;
            if (dweight || dbias || (dinp && training)) {
                for (int64_t n = 0; n < N; ++n) {
                    const T* x = inp + (n * C + c) * L;
                    const T* g = dout + (n * C + c) * L;
                    for (int64_t l = 0; l < L; ++l) {
                        sum_g += g[l];
                        sum_gx += static_cast<double>(g[l]) * (x[l] - mean);
                    }
                }
            }
            if (dbias) dbias[c] = static_cast<T>(sum_g);
            if (dweight) dweight[c] = static_cast<T>(sum_gx * invstd);
            if (!dinp) continue;
            const double scale = w * invstd;
            if (training && M > 0) {
                const double mean_g = sum_g / static_cast<double>(M);
                const double k = sum_gx * invstd * invstd / static_cast<double>(M);
                for (int64_t n = 0; n < N; ++n) {
                    const T* x = inp + (n * C + c) * L;
                    const T* g = dout + (n * C + c) * L;
                    T* d = dinp + (n * C + c) * L;
                    for (int64_t l = 0; l < L; ++l) d[l] = static_cast<T>((g[l] - mean_g - (x[l] - mean) * k) * scale);
                }
            } else {
                for (int64_t n = 0; n < N; ++n) {
                    const T* g = dout + (n * C + c) * L;
                    T* d = dinp + (n * C + c) * L;
                    for (int64_t l = 0; l < L; ++l) d[l] = static_cast<T>(g[l] * scale);
                }
            }
        }
    });
}

template void batch_norm_forward<float>(float*, float*, float*, float*, float*, const float*, const float*,
                                        const float*, int64_t, int64_t, int64_t, bool, double, double);
template void batch_norm_forward<double>(double*, double*, double*, double*, double*, const double*,
                                         const double*, const double*, int64_t, int64_t, int64_t, bool, double,
                                         double);
template void batch_norm_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                         const float*, const float*, int64_t, int64_t, int64_t, bool);
template void batch_norm_backward<double>(double*, double*, double*, const double*, const double*,
                                          const double*, const double*, const double*, int64_t, int64_t,
                                          int64_t, bool);

}  // namespace fastnn
