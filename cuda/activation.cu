// Activation kernels (see activation.cuh): one grid-stride kernel per activation, with the
// math as a device functor; softmax takes one warp per row when the axis is the last one
// (inner == 1) and one thread per (outer, inner) position otherwise (coalesced across inner).
// CUDA's libdevice functions (expm1, erfc, tanh, log1p), not fast-math intrinsics.
#include "activation.cuh"

#include "check.cuh"
#include "device_utils.cuh"

namespace fastnn {
namespace cuda {

namespace {

// 1/sqrt(2), 1/sqrt(2 pi), sqrt(2/pi) and the cubic coefficient of gelu's tanh form.
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluKappa = 0.044715;

// 1 / (1 + exp(-x)) without overflow: exp of a non-positive argument only.
template <typename T>
__device__ inline T sigmoid_of(T x) {
    if (x >= T(0)) return T(1) / (T(1) + exp(-x));
    const T e = exp(x);
    return e / (T(1) + e);
}

// Forward of one element (p0, p1 as in activation_forward).
template <typename T>
__device__ inline T act_forward(Activation act, T x, T p0, T p1) {
    switch (act) {
        case Activation::relu: return x <= T(0) ? T(0) : x;  // NaN fails the test and passes through
        case Activation::leaky_relu: return x > T(0) ? x : x * p0;
        case Activation::elu: return x > T(0) ? x : p0 * expm1(x);
        case Activation::gelu: return T(0.5) * x * erfc(-x * T(kSqrtHalf));  // x Phi(x), no cancellation for x << 0
        case Activation::gelu_tanh: {
            const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x);
            return T(0.5) * x * (T(1) + tanh(inner));
        }
        case Activation::sigmoid: return sigmoid_of(x);
        case Activation::tanh: return tanh(x);
        case Activation::softplus: {
            // log(1 + e^z) / beta = (max(z, 0) + log1p(e^-|z|)) / beta; x itself above threshold.
            const T z = x * p0;
            if (z > p1) return x;
            return ((z < T(0) ? T(0) : z) + log1p(exp(-fabs(z)))) / p0;
        }
    }
    return x;
}

// dinp of one element: g = dout, s = the saved input (or output for sigmoid, tanh).
template <typename T>
__device__ inline T act_backward(Activation act, T g, T s, T p0, T p1) {
    switch (act) {
        case Activation::relu: return s <= T(0) ? T(0) : g;
        case Activation::leaky_relu: return s > T(0) ? g : g * p0;
        case Activation::elu: return s <= T(0) ? g * (p0 * exp(s)) : g;  // NaN: g, as PyTorch
        case Activation::gelu: {
            // d/dx [x Phi(x)] = Phi(x) + x phi(x)
            const T cdf = T(0.5) * erfc(-s * T(kSqrtHalf));
            const T pdf = T(kInvSqrt2Pi) * exp(T(-0.5) * s * s);
            return g * (cdf + s * pdf);
        }
        case Activation::gelu_tanh: {
            // d/dx [x/2 (1 + tanh u)] = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) u',
            // u = sqrt(2/pi) (x + k x^3), u' = sqrt(2/pi) (1 + 3 k x^2)
            const T x2 = s * s;
            const T t = tanh(T(kSqrt2OverPi) * (s + T(kGeluKappa) * x2 * s));
            const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluKappa) * x2);
            return g * (T(0.5) * (T(1) + t) + T(0.5) * s * (T(1) - t * t) * du);
        }
        case Activation::sigmoid: return g * ((T(1) - s) * s);
        case Activation::tanh: return g * (T(1) - s * s);
        case Activation::softplus: {
            const T z = s * p0;
            return z > p1 ? g : g * sigmoid_of(z);
        }
    }
    return g;
}

template <typename T>
__global__ void activation_forward_kernel(Activation act, T* out, const T* inp, int64_t n, T p0, T p1) {
    for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = act_forward(act, inp[i], p0, p1);
}

template <typename T>
__global__ void activation_backward_kernel(Activation act, T* dinp, const T* dout, const T* saved, int64_t n, T p0,
                                           T p1) {
    for (int64_t i = global_index(); i < n; i += global_stride()) dinp[i] = act_backward(act, dout[i], saved[i], p0, p1);
}

// ---- softmax ----

template <typename T>
__device__ inline T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) {
        const T w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;  // NaN never wins the maximum, as on the CPU
    }
    return v;
}

__device__ inline double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

constexpr int kRowWarps = 8;  // rows per block of the row kernels (one warp each)

// inner == 1: one warp per row of D contiguous elements.
template <typename T, bool Log>
__global__ void softmax_rows_kernel(T* out, const T* inp, int64_t rows, int64_t D) {
    const int lane = threadIdx.x & 31;
    for (int64_t r = int64_t(blockIdx.x) * kRowWarps + (threadIdx.x >> 5); r < rows;
         r += int64_t(gridDim.x) * kRowWarps) {
        const T* x = inp + r * D;
        T* y = out + r * D;
        T m = -INFINITY;
        for (int64_t d = lane; d < D; d += 32) m = x[d] > m ? x[d] : m;
        m = warp_max(m);
        double s = 0.0;
        for (int64_t d = lane; d < D; d += 32) {
            const T e = exp(x[d] - m);
            if (!Log) y[d] = e;
            s += double(e);
        }
        s = warp_sum(s);
        if (Log) {
            const T ls = T(log(s));
            for (int64_t d = lane; d < D; d += 32) y[d] = (x[d] - m) - ls;
        } else {
            const T inv = T(1.0 / s);
            for (int64_t d = lane; d < D; d += 32) y[d] = y[d] * inv;  // each lane rescales what it wrote
        }
    }
}

// inner > 1: one thread per (o, j) position, walking D at stride inner.
template <typename T, bool Log>
__global__ void softmax_strided_kernel(T* out, const T* inp, int64_t outer, int64_t D, int64_t inner) {
    const int64_t positions = outer * inner;
    for (int64_t q = global_index(); q < positions; q += global_stride()) {
        const int64_t base = (q / inner) * D * inner + q % inner;
        const T* x = inp + base;
        T* y = out + base;
        T m = -INFINITY;
        for (int64_t d = 0; d < D; ++d) m = x[d * inner] > m ? x[d * inner] : m;
        double s = 0.0;
        for (int64_t d = 0; d < D; ++d) {
            const T e = exp(x[d * inner] - m);
            if (!Log) y[d * inner] = e;
            s += double(e);
        }
        if (Log) {
            const T ls = T(log(s));
            for (int64_t d = 0; d < D; ++d) y[d * inner] = (x[d * inner] - m) - ls;
        } else {
            const T inv = T(1.0 / s);
            for (int64_t d = 0; d < D; ++d) y[d * inner] = y[d * inner] * inv;
        }
    }
}

template <typename T, bool Log>
__global__ void softmax_backward_rows_kernel(T* dinp, const T* dout, const T* out, int64_t rows, int64_t D) {
    const int lane = threadIdx.x & 31;
    for (int64_t r = int64_t(blockIdx.x) * kRowWarps + (threadIdx.x >> 5); r < rows;
         r += int64_t(gridDim.x) * kRowWarps) {
        const T* g = dout + r * D;
        const T* y = out + r * D;
        T* dx = dinp + r * D;
        double s = 0.0;
        for (int64_t d = lane; d < D; d += 32) s += Log ? double(g[d]) : double(g[d]) * double(y[d]);
        const T st = T(warp_sum(s));
        for (int64_t d = lane; d < D; d += 32) dx[d] = Log ? g[d] - exp(y[d]) * st : y[d] * (g[d] - st);
    }
}

template <typename T, bool Log>
__global__ void softmax_backward_strided_kernel(T* dinp, const T* dout, const T* out, int64_t outer, int64_t D,
                                                int64_t inner) {
    const int64_t positions = outer * inner;
    for (int64_t q = global_index(); q < positions; q += global_stride()) {
        const int64_t base = (q / inner) * D * inner + q % inner;
        const T* g = dout + base;
        const T* y = out + base;
        T* dx = dinp + base;
        double s = 0.0;
        for (int64_t d = 0; d < D; ++d) s += Log ? double(g[d * inner]) : double(g[d * inner]) * double(y[d * inner]);
        const T st = T(s);
        for (int64_t d = 0; d < D; ++d)
            dx[d * inner] = Log ? g[d * inner] - exp(y[d * inner]) * st : y[d * inner] * (g[d * inner] - st);
    }
}

unsigned row_grid(int64_t rows) {
    const int64_t blocks = (rows + kRowWarps - 1) / kRowWarps;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

}  // namespace

template <typename T>
void activation_forward(Activation act, T* out, const T* inp, int64_t n, double p0, double p1) {
    if (n == 0) return;
    activation_forward_kernel<T><<<grid_for(n), kThreads>>>(act, out, inp, n, T(p0), T(p1));
    check_launch("activation");
}

template <typename T>
void activation_backward(Activation act, T* dinp, const T* dout, const T* saved, int64_t n, double p0, double p1) {
    if (n == 0) return;
    activation_backward_kernel<T><<<grid_for(n), kThreads>>>(act, dinp, dout, saved, n, T(p0), T(p1));
    check_launch("activation_backward");
}

template <typename T>
void softmax_forward(bool log, T* out, const T* inp, int64_t outer, int64_t D, int64_t inner) {
    const char* op = log ? "log_softmax" : "softmax";
    if (outer * D * inner == 0) return;
    if (inner == 1) {
        if (log) softmax_rows_kernel<T, true><<<row_grid(outer), 32 * kRowWarps>>>(out, inp, outer, D);
        else softmax_rows_kernel<T, false><<<row_grid(outer), 32 * kRowWarps>>>(out, inp, outer, D);
    } else {
        if (log) softmax_strided_kernel<T, true><<<grid_for(outer * inner), kThreads>>>(out, inp, outer, D, inner);
        else softmax_strided_kernel<T, false><<<grid_for(outer * inner), kThreads>>>(out, inp, outer, D, inner);
    }
    check_launch(op);
}

template <typename T>
void softmax_backward(bool log, T* dinp, const T* dout, const T* out, int64_t outer, int64_t D, int64_t inner) {
    const char* op = log ? "log_softmax_backward" : "softmax_backward";
    if (outer * D * inner == 0) return;
    if (inner == 1) {
        if (log) softmax_backward_rows_kernel<T, true><<<row_grid(outer), 32 * kRowWarps>>>(dinp, dout, out, outer, D);
        else softmax_backward_rows_kernel<T, false><<<row_grid(outer), 32 * kRowWarps>>>(dinp, dout, out, outer, D);
    } else {
        const unsigned grid = grid_for(outer * inner);
        if (log) softmax_backward_strided_kernel<T, true><<<grid, kThreads>>>(dinp, dout, out, outer, D, inner);
        else softmax_backward_strided_kernel<T, false><<<grid, kThreads>>>(dinp, dout, out, outer, D, inner);
    }
    check_launch(op);
}

#define FASTNN_CUDA_ACTIVATION_INSTANTIATE(T)                                                              \
    template void activation_forward<T>(Activation, T*, const T*, int64_t, double, double);                \
    template void activation_backward<T>(Activation, T*, const T*, const T*, int64_t, double, double);     \
    template void softmax_forward<T>(bool, T*, const T*, int64_t, int64_t, int64_t);                       \
    template void softmax_backward<T>(bool, T*, const T*, const T*, int64_t, int64_t, int64_t);
FASTNN_CUDA_ACTIVATION_INSTANTIATE(float)
FASTNN_CUDA_ACTIVATION_INSTANTIATE(double)
#undef FASTNN_CUDA_ACTIVATION_INSTANTIATE

}  // namespace cuda
}  // namespace fastnn
