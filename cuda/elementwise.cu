// Elementwise and reduction kernels (see elementwise.cuh). sum_all is two fixed-shape
// passes: kSumBlocks blocks each reduce a fixed stride of the input, then one block adds
// the partial sums; the grid never depends on the device, so the bits do not either.
#include "elementwise.cuh"

#include "check.cuh"
#include "device_utils.cuh"
#include "memory.cuh"

namespace fastnn {
namespace cuda {

namespace {

constexpr int kSumBlocks = 256;

template <typename T>
__global__ void binary_kernel(BinaryOp op, T* out, const T* a, const T* b, BroadcastShape s, int64_t n) {
    for (int64_t i = global_index(); i < n; i += global_stride()) {
        int64_t rest = i, ia = 0, ib = 0;
        for (int d = s.ndim - 1; d >= 0; --d) {  // the output index, last axis fastest
            const int64_t k = rest % s.shape[d];
            rest /= s.shape[d];
            ia += k * s.a_stride[d];
            ib += k * s.b_stride[d];
        }
        const T x = a[ia], y = b[ib];
        T r;
        switch (op) {
            case BinaryOp::add: r = x + y; break;
            case BinaryOp::sub: r = x - y; break;
            case BinaryOp::mul: r = x * y; break;
            default: r = x / y; break;
        }
        out[i] = r;
    }
}

template <typename T>
__global__ void scale_kernel(T* out, const T* x, T alpha, int64_t n) {
    for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = alpha * x[i];
}

// One thread per (o, j): sums D terms in order.
template <typename T>
__global__ void sum_dim_kernel(T* out, const T* x, int64_t outer, int64_t D, int64_t inner, double factor) {
    const int64_t positions = outer * inner;
    for (int64_t q = global_index(); q < positions; q += global_stride()) {
        const T* p = x + (q / inner) * D * inner + q % inner;
        double s = 0.0;
        for (int64_t d = 0; d < D; ++d) s += double(p[d * inner]);
        out[q] = T(s * factor);
    }
}

template <typename T>
__global__ void partial_sum_kernel(double* partial, const T* x, int64_t n) {
    __shared__ double scratch[32];
    double s = 0.0;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        s += double(x[i]);
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <typename T>
__global__ void final_sum_kernel(T* out, const double* partial, int count, double factor) {
    __shared__ double scratch[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) out[0] = T(s * factor);
}

}  // namespace

template <typename T>
void binary(BinaryOp op, T* out, const T* a, const T* b, const BroadcastShape& s, int64_t n) {
    if (n == 0) return;
    binary_kernel<T><<<grid_for(n), kThreads>>>(op, out, a, b, s, n);
    check_launch("binary");
}

template <typename T>
void scale(T* out, const T* x, T alpha, int64_t n) {
    if (n == 0) return;
    scale_kernel<T><<<grid_for(n), kThreads>>>(out, x, alpha, n);
    check_launch("scale");
}

template <typename T>
void sum_dim(T* out, const T* x, int64_t outer, int64_t D, int64_t inner, double factor) {
    if (outer * inner == 0) return;
    sum_dim_kernel<T><<<grid_for(outer * inner), kThreads>>>(out, x, outer, D, inner, factor);
    check_launch("sum");
}

template <typename T>
void sum_all(T* out, const T* x, int64_t n, double factor) {
    Scratch<double> partial(kSumBlocks, "sum");
    partial_sum_kernel<T><<<kSumBlocks, kThreads>>>(partial.get(), x, n);
    check_launch("sum");
    final_sum_kernel<T><<<1, kThreads>>>(out, partial.get(), kSumBlocks, factor);
    check_launch("sum");
}

#define FASTNN_CUDA_ELEMENTWISE_INSTANTIATE(T)                                                \
    template void binary<T>(BinaryOp, T*, const T*, const T*, const BroadcastShape&, int64_t); \
    template void scale<T>(T*, const T*, T, int64_t);                                         \
    template void sum_dim<T>(T*, const T*, int64_t, int64_t, int64_t, double);                \
    template void sum_all<T>(T*, const T*, int64_t, double);
FASTNN_CUDA_ELEMENTWISE_INSTANTIATE(float)
FASTNN_CUDA_ELEMENTWISE_INSTANTIATE(double)
#undef FASTNN_CUDA_ELEMENTWISE_INSTANTIATE

}  // namespace cuda
}  // namespace fastnn
