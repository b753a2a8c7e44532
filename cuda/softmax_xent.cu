// Cross-entropy kernels (see softmax_xent.cuh). Forward: a per-sample kernel writes each
// sample's loss (and, for class targets, its weight w_y) in double, then one block reduces
// them. Backward: the Mean denominator and sum_c w_c come from the same one-block
// reduction; a per-sample kernel writes log-sum-exp (and sum_k w_k t'_k), and a per-element
// kernel writes the gradient, coalesced.
#include "softmax_xent.cuh"

#include "check.cuh"
#include "device_utils.cuh"
#include "memory.cuh"

namespace fastnn {
namespace cuda {

namespace {

constexpr int kReduceThreads = 512;

__device__ inline double wt(const double* w, int64_t c) { return w ? w[c] : 1.0; }

// Sample i = (n, j) of an (N, C, inner) array starts at element n C inner + j.
__device__ inline int64_t sample_base(int64_t i, int64_t C, int64_t inner) {
    return (i / inner) * C * inner + i % inner;
}

// log sum_c exp(x[c * inner]) in double, max-subtracted.
template <typename T>
__device__ inline double logsumexp(const T* x, int64_t C, int64_t inner) {
    double m = -INFINITY;
    for (int64_t c = 0; c < C; ++c) m = double(x[c * inner]) > m ? double(x[c * inner]) : m;
    double s = 0.0;
    for (int64_t c = 0; c < C; ++c) s += exp(double(x[c * inner]) - m);
    return m + log(s);
}

// The weights in double (nullptr stays nullptr).
template <typename T>
__global__ void to_double_kernel(double* out, const T* in, int64_t n) {
    for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = double(in[i]);
}

// out[0] = sum of a[0..n), out[1] = sum of b[0..n) (0 when b is nullptr). One block: each
// thread sums a fixed stride of the terms, then the block's fixed tree.
__global__ void reduce_kernel(double* out, const double* a, const double* b, int64_t n) {
    __shared__ double scratch[32];
    double sa = 0.0, sb = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        sa += a[i];
        if (b) sb += b[i];
    }
    sa = block_sum(sa, scratch);
    sb = block_sum(sb, scratch);
    if (threadIdx.x == 0) {
        out[0] = sa;
        out[1] = sb;
    }
}

// The reduced loss: sums[0] (Sum) or sums[0] / denom (Mean), denom = `count` when positive,
// else sums[1].
template <typename T>
__global__ void store_reduced_kernel(T* loss, const double* sums, Reduction reduction, double count) {
    if (threadIdx.x == 0 && blockIdx.x == 0) {
        const double denom = count > 0 ? count : sums[1];
        loss[0] = T(reduction == Reduction::Sum ? sums[0] : sums[0] / denom);
    }
}

// Class targets, per sample: v[i] = loss_i (0 when ignored), wy[i] = w_y (0 when ignored).
template <typename T>
__global__ void xent_class_sample_kernel(double* v, double* wy, const T* inp, const int64_t* target, const double* w,
                                         int64_t M, int64_t C, int64_t inner, int64_t ignore_index, double eps) {
    for (int64_t i = global_index(); i < M; i += global_stride()) {
        const int64_t y = target[i];
        if (y == ignore_index || y < 0 || y >= C) {  // out-of-range never reaches here (checked on the host)
            v[i] = 0.0;
            wy[i] = 0.0;
            continue;
        }
        const T* x = inp + sample_base(i, C, inner);
        const double lse = logsumexp(x, C, inner);
        double l = wt(w, y) * (lse - double(x[y * inner]));
        if (eps > 0) {
            double smooth = 0.0;
            for (int64_t c = 0; c < C; ++c) smooth += wt(w, c) * (lse - double(x[c * inner]));
            l = (1 - eps) * l + eps / double(C) * smooth;
        }
        v[i] = l;
        wy[i] = wt(w, y);
    }
}

// Probability targets, per sample: v[i] = -sum_c w_c t'_c log_softmax(x)_c.
template <typename T>
__global__ void xent_prob_sample_kernel(double* v, const T* inp, const T* target, const double* w, int64_t M,
                                        int64_t C, int64_t inner, double eps) {
    for (int64_t i = global_index(); i < M; i += global_stride()) {
        const int64_t base = sample_base(i, C, inner);
        const T* x = inp + base;
        const T* t = target + base;
        const double lse = logsumexp(x, C, inner);
        double l = 0.0;
        for (int64_t c = 0; c < C; ++c) {
            const double tc = (1 - eps) * double(t[c * inner]) + eps / double(C);
            l += wt(w, c) * tc * (lse - double(x[c * inner]));
        }
        v[i] = l;
    }
}

// Per sample: lse[i], and for probability targets wts[i] = sum_k w_k t'_k.
template <typename T>
__global__ void lse_kernel(double* lse, double* wts, const T* inp, const T* target, const double* w, int64_t M,
                           int64_t C, int64_t inner, double eps) {
    for (int64_t i = global_index(); i < M; i += global_stride()) {
        const int64_t base = sample_base(i, C, inner);
        lse[i] = logsumexp(inp + base, C, inner);
        if (target) {
            double s = 0.0;
            for (int64_t c = 0; c < C; ++c)
                s += wt(w, c) * ((1 - eps) * double(target[base + c * inner]) + eps / double(C));
            wts[i] = s;
        }
    }
}

// The upstream gradient of sample i; sums[1] holds the Mean denominator.
template <typename T>
__device__ inline double grad_of(const T* dout, int64_t i, Reduction reduction, const double* sums, double count) {
    if (reduction == Reduction::None) return double(dout[i]);
    if (reduction == Reduction::Sum) return double(dout[0]);
    return double(dout[0]) / (count > 0 ? count : sums[1]);
}

// Class targets, per element (n, c, j): dinp = g ((1-eps) w_y (p - [c == y]) + eps/C (W p - w_c)),
// W = sums[0] (sum_c w_c); 0 for ignored samples.
template <typename T>
__global__ void xent_class_grad_kernel(T* dinp, const T* dout, const T* inp, const int64_t* target, const double* w,
                                       const double* lse, const double* sums, int64_t N, int64_t C, int64_t inner,
                                       int64_t ignore_index, double eps, Reduction reduction) {
    const int64_t total = N * C * inner;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t j = e % inner, c = (e / inner) % C, n = e / (inner * C);
        const int64_t i = n * inner + j;
        const int64_t y = target[i];
        if (y == ignore_index || y < 0 || y >= C) {
            dinp[e] = T(0);
            continue;
        }
        const double g = grad_of(dout, i, reduction, sums, 0.0);
        const double a = g * (1 - eps) * wt(w, y), b = g * eps / double(C);
        const double p = exp(double(inp[e]) - lse[i]);
        dinp[e] = T(a * (p - (c == y ? 1.0 : 0.0)) + b * (sums[0] * p - wt(w, c)));
    }
}

// Probability targets, per element: dinp = g (p_c sum_k w_k t'_k - w_c t'_c).
template <typename T>
__global__ void xent_prob_grad_kernel(T* dinp, const T* dout, const T* inp, const T* target, const double* w,
                                      const double* lse, const double* wts, int64_t N, int64_t C, int64_t inner,
                                      double eps, Reduction reduction) {
    const int64_t total = N * C * inner;
    const double count = double(N * inner);
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t j = e % inner, c = (e / inner) % C, n = e / (inner * C);
        const int64_t i = n * inner + j;
        const double g = grad_of(dout, i, reduction, nullptr, count);
        const double tc = (1 - eps) * double(target[e]) + eps / double(C);
        const double p = exp(double(inp[e]) - lse[i]);
        dinp[e] = T(g * (p * wts[i] - wt(w, c) * tc));
    }
}

// The weights as doubles in `buf` (C of them), or nullptr without weights.
template <typename T>
const double* weights64(const T* weight, int64_t C, double* buf, const char* op) {
    if (!weight) return nullptr;
    to_double_kernel<T><<<grid_for(C), kThreads>>>(buf, weight, C);
    check_launch(op);
    return buf;
}

// loss[0] = the sum of v (M of them) for Sum, or divided by sum of wy for Mean.
template <typename T>
void store_reduced(T* loss, const double* v, const double* wy, int64_t M, Reduction reduction, const char* op) {
    Scratch<double> sums(2, op);
    reduce_kernel<<<1, kReduceThreads>>>(sums.get(), v, wy, M);
    check_launch(op);
    store_reduced_kernel<T><<<1, 1>>>(loss, sums.get(), reduction, 0.0);
    check_launch(op);
}

template <typename T>
__global__ void narrow_kernel(T* out, const double* in, int64_t n) {
    for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = T(in[i]);
}

}  // namespace

template <typename T>
void cross_entropy_forward(T* loss, const T* inp, const int64_t* target, const T* weight, int64_t N, int64_t C,
                           int64_t inner, int64_t ignore_index, double label_smoothing, Reduction reduction) {
    const char* op = "cross_entropy";
    const int64_t M = N * inner;
    Scratch<double> wbuf(weight ? C : 0, op);
    const double* w = weights64(weight, C, wbuf.get(), op);
    Scratch<double> v(M, op), wy(M, op);
    if (M > 0) {
        xent_class_sample_kernel<T><<<grid_for(M), kThreads>>>(v.get(), wy.get(), inp, target, w, M, C, inner,
                                                               ignore_index, label_smoothing);
        check_launch(op);
    }
    if (reduction == Reduction::None) {
        if (M > 0) {
            narrow_kernel<T><<<grid_for(M), kThreads>>>(loss, v.get(), M);
            check_launch(op);
        }
        return;
    }
    store_reduced(loss, v.get(), wy.get(), M, reduction, op);
}

template <typename T>
void cross_entropy_backward(T* dinp, const T* dout, const T* inp, const int64_t* target, const T* weight, int64_t N,
                            int64_t C, int64_t inner, int64_t ignore_index, double label_smoothing,
                            Reduction reduction) {
    const char* op = "cross_entropy_backward";
    const int64_t M = N * inner;
    if (M * C == 0) return;
    Scratch<double> wbuf(weight ? C : 0, op);
    const double* w = weights64(weight, C, wbuf.get(), op);
    // sums[0] = sum_c w_c (C when unweighted); sums[1] = the Mean denominator sum_i w_{y_i}.
    Scratch<double> wy(M, op), lse(M, op), v(M, op), sums(2, op), wsum(2, op);
    xent_class_sample_kernel<T><<<grid_for(M), kThreads>>>(v.get(), wy.get(), inp, target, w, M, C, inner,
                                                           ignore_index, 0.0);
    check_launch(op);
    reduce_kernel<<<1, kReduceThreads>>>(sums.get(), wy.get(), wy.get(), M);  // [1]: sum_i w_{y_i}
    check_launch(op);
    if (w) {
        reduce_kernel<<<1, kReduceThreads>>>(wsum.get(), w, nullptr, C);  // [0]: sum_c w_c
        check_launch(op);
        check(cudaMemcpy(sums.get(), wsum.get(), sizeof(double), cudaMemcpyDeviceToDevice), op, "cudaMemcpy");
    } else {
        const double Cd = double(C);
        check(cudaMemcpy(sums.get(), &Cd, sizeof(double), cudaMemcpyHostToDevice), op, "cudaMemcpy");
    }
    lse_kernel<T><<<grid_for(M), kThreads>>>(lse.get(), nullptr, inp, nullptr, w, M, C, inner, 0.0);
    check_launch(op);
    xent_class_grad_kernel<T><<<grid_for(M * C), kThreads>>>(dinp, dout, inp, target, w, lse.get(), sums.get(), N, C,
                                                             inner, ignore_index, label_smoothing, reduction);
    check_launch(op);
}

template <typename T>
void cross_entropy_prob_forward(T* loss, const T* inp, const T* target, const T* weight, int64_t N, int64_t C,
                                int64_t inner, double label_smoothing, Reduction reduction) {
    const char* op = "cross_entropy";
    const int64_t M = N * inner;
    Scratch<double> wbuf(weight ? C : 0, op);
    const double* w = weights64(weight, C, wbuf.get(), op);
    Scratch<double> v(M, op);
    if (M > 0) {
        xent_prob_sample_kernel<T><<<grid_for(M), kThreads>>>(v.get(), inp, target, w, M, C, inner, label_smoothing);
        check_launch(op);
    }
    if (reduction == Reduction::None) {
        if (M > 0) {
            narrow_kernel<T><<<grid_for(M), kThreads>>>(loss, v.get(), M);
            check_launch(op);
        }
        return;
    }
    // Mean divides by the number of samples (NaN over none, as 0 / 0).
    Scratch<double> sums(2, op);
    reduce_kernel<<<1, kReduceThreads>>>(sums.get(), v.get(), nullptr, M);
    check_launch(op);
    store_reduced_kernel<T><<<1, 1>>>(loss, sums.get(), reduction, M > 0 ? double(M) : -1.0);
    check_launch(op);
}

template <typename T>
void cross_entropy_prob_backward(T* dinp, const T* dout, const T* inp, const T* target, const T* weight, int64_t N,
                                 int64_t C, int64_t inner, double label_smoothing, Reduction reduction) {
    const char* op = "cross_entropy_backward";
    const int64_t M = N * inner;
    if (M * C == 0) return;
    Scratch<double> wbuf(weight ? C : 0, op);
    const double* w = weights64(weight, C, wbuf.get(), op);
    Scratch<double> lse(M, op), wts(M, op);
    lse_kernel<T><<<grid_for(M), kThreads>>>(lse.get(), wts.get(), inp, target, w, M, C, inner, label_smoothing);
    check_launch(op);
    xent_prob_grad_kernel<T><<<grid_for(M * C), kThreads>>>(dinp, dout, inp, target, w, lse.get(), wts.get(), N, C,
                                                            inner, label_smoothing, reduction);
    check_launch(op);
}

#define FASTNN_CUDA_XENT_INSTANTIATE(T)                                                                      \
    template void cross_entropy_forward<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, \
                                           int64_t, double, Reduction);                                      \
    template void cross_entropy_backward<T>(T*, const T*, const T*, const int64_t*, const T*, int64_t, int64_t, \
                                            int64_t, int64_t, double, Reduction);                            \
    template void cross_entropy_prob_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,  \
                                                double, Reduction);                                          \
    template void cross_entropy_prob_backward<T>(T*, const T*, const T*, const T*, const T*, int64_t, int64_t, \
                                                 int64_t, double, Reduction);
FASTNN_CUDA_XENT_INSTANTIATE(float)
FASTNN_CUDA_XENT_INSTANTIATE(double)
#undef FASTNN_CUDA_XENT_INSTANTIATE

}  // namespace cuda
}  // namespace fastnn
