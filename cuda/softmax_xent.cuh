// Fused softmax cross-entropy on the device with the semantics of csrc/softmax_xent.h:
// class-index targets (weights, ignore_index, label smoothing) or class-probability
// targets, reductions none / mean / sum. The input is viewed as (N, C, inner), per-sample
// losses as (N * inner,). Per-sample work in double, one thread per sample; reductions in
// double by one block in a fixed order. Class-index targets must be validated by the caller
// (in [0, C) or ignore_index) before these run: the kernels do not check them.
#pragma once

#include <cstdint>

#include "softmax_xent.h"  // Reduction

namespace fastnn {
namespace cuda {

// loss (N*inner,) for None, else (1,); inp (N, C, inner); target (N*inner,) int64;
// weight (C,) or nullptr.
template <typename T>
void cross_entropy_forward(T* loss, const T* inp, const int64_t* target, const T* weight, int64_t N, int64_t C,
                           int64_t inner, int64_t ignore_index, double label_smoothing, Reduction reduction);
// dinp (N, C, inner); dout (N*inner,) for None, else (1,).
template <typename T>
void cross_entropy_backward(T* dinp, const T* dout, const T* inp, const int64_t* target, const T* weight, int64_t N,
                            int64_t C, int64_t inner, int64_t ignore_index, double label_smoothing,
                            Reduction reduction);

// Class-probability targets: target (N, C, inner) like inp.
template <typename T>
void cross_entropy_prob_forward(T* loss, const T* inp, const T* target, const T* weight, int64_t N, int64_t C,
                                int64_t inner, double label_smoothing, Reduction reduction);
template <typename T>
void cross_entropy_prob_backward(T* dinp, const T* dout, const T* inp, const T* target, const T* weight, int64_t N,
                                 int64_t C, int64_t inner, double label_smoothing, Reduction reduction);

}  // namespace cuda
}  // namespace fastnn
