// 2-D pooling on the device (max, average, adaptive average), forward and backward, with
// the exact semantics of csrc/pool.h (window geometry in PoolGeometry, torch's edge rules,
// max ties, NaN propagation, divisors). Inputs are P = N*C contiguous planes of H x W,
// outputs P planes of OH x OW; outputs are overwritten. The backwards gather (each input
// element sums its own windows in increasing output order, as the CPU adds them), except
// max pooling's, which scatters through its indices one plane per thread in output order.
#pragma once

#include <cstdint>

#include "pool.h"  // PoolGeometry

namespace fastnn {
namespace cuda {

// out, indices (P, OH, OW) (indices may be nullptr); inp (P, H, W).
template <typename T>
void max_pool2d_forward(T* out, int64_t* indices, const T* inp, const PoolGeometry& g);

// dinp (P, H, W) from dout, indices (P, OH, OW). Returns false when an index lies outside
// [0, H*W) (a device flag, read back after the kernel; dinp is then unspecified).
template <typename T>
bool max_pool2d_backward(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                         int64_t OH, int64_t OW);

template <typename T>
void avg_pool2d_forward(T* out, const T* inp, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override);
template <typename T>
void avg_pool2d_backward(T* dinp, const T* dout, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override);

template <typename T>
void adaptive_avg_pool2d_forward(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW);
template <typename T>
void adaptive_avg_pool2d_backward(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH,
                                  int64_t OW);

}  // namespace cuda
}  // namespace fastnn
