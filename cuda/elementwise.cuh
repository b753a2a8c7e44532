// Basic elementwise arithmetic and reductions on the device, for the Tensor layer:
// out = a (op) b with NumPy broadcasting (up to kMaxDims axes), out = alpha * x, and sums
// along one axis or over everything (in double, fixed order: the same bits on every run).
// Outputs are overwritten.
#pragma once

#include <cstdint>

namespace fastnn {
namespace cuda {

enum class BinaryOp : int { add, sub, mul, div };

constexpr int kMaxDims = 8;

// The output shape and, per output axis, the element strides of a and b (0 along a
// broadcast axis). ndim <= kMaxDims.
struct BroadcastShape {
    int ndim = 0;
    int64_t shape[kMaxDims] = {};
    int64_t a_stride[kMaxDims] = {};
    int64_t b_stride[kMaxDims] = {};
};

// out[i] = a[.] op b[.] for every index i of s.shape (n elements); out contiguous.
template <typename T>
void binary(BinaryOp op, T* out, const T* a, const T* b, const BroadcastShape& s, int64_t n);

// out = alpha * x over n elements (out may equal x).
template <typename T>
void scale(T* out, const T* x, T alpha, int64_t n);

// out[o, j] = sum_d x[o, d, j] (times `factor`: 1 for sum, 1/D for mean); x (outer, D, inner),
// out (outer, inner). D == 0 gives 0 (times factor).
template <typename T>
void sum_dim(T* out, const T* x, int64_t outer, int64_t D, int64_t inner, double factor);

// out[0] = factor * sum of x[0..n).
template <typename T>
void sum_all(T* out, const T* x, int64_t n, double factor);

}  // namespace cuda
}  // namespace fastnn
