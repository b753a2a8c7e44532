// Losses with PyTorch's semantics: fused softmax cross-entropy (class-index or
// class-probability targets, weights, ignore_index, label smoothing), nll_loss, binary
// cross-entropy with logits, and the pointwise regression losses. Inputs are C-contiguous;
// a classification input is viewed as (N, C, inner), the class axis in the middle, its
// per-sample loss as (N, inner). Every output is overwritten: (N * inner,) or (n,) for
// Reduction::None, one element for Mean and Sum. Sums run in double in a fixed blocked
// order, so results do not depend on the thread count. Targets must already be validated
// (class indices in [0, C) or equal to ignore_index).
#pragma once

#include <cstdint>

namespace fastnn {

enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

// Class-index targets. Per sample i with class y = target[i] (loss 0 when y == ignore_index),
// lse = log sum_c exp(x_c), eps = label_smoothing, w = weight (all ones when nullptr):
//   loss_i = (1 - eps) w_y (lse - x_y) + eps / C * sum_c w_c (lse - x_c).
// Mean divides the sum by sum_i w_{y_i} over non-ignored samples (NaN when that is 0).
// loss: (N * inner,) or (1,); inp: (N, C, inner); target: (N * inner,); weight: (C,) or nullptr.
template <class T>
void cross_entropy_forward(T* loss, const T* inp, const int64_t* target, const T* weight, int64_t N,
                           int64_t C, int64_t inner, int64_t ignore_index, double label_smoothing,
                           Reduction reduction);
// dinp = g_i ((1 - eps) w_y (p_c - [c == y]) + eps / C (W p_c - w_c)), p = softmax(x),
// W = sum_c w_c, g_i = dout[i] (None), dout[0] (Sum) or dout[0] / sum_i w_{y_i} (Mean); 0 for
// ignored samples. dinp, inp: (N, C, inner); dout: (N * inner,) or (1,).
template <class T>
void cross_entropy_backward(T* dinp, const T* dout, const T* inp, const int64_t* target, const T* weight,
                            int64_t N, int64_t C, int64_t inner, int64_t ignore_index,
                            double label_smoothing, Reduction reduction);

// Class-probability targets: with t' = (1 - eps) t + eps / C,
//   loss_i = -sum_c w_c t'_c log_softmax(x)_c; Mean divides by N * inner (NaN when 0).
// target: (N, C, inner) like inp.
template <class T>
void cross_entropy_prob_forward(T* loss, const T* inp, const T* target, const T* weight, int64_t N,
                                int64_t C, int64_t inner, double label_smoothing, Reduction reduction);
// dinp = g_i (p_c sum_k w_k t'_k - w_c t'_c), g_i as above with Mean dividing by N * inner.
template <class T>
void cross_entropy_prob_backward(T* dinp, const T* dout, const T* inp, const T* target, const T* weight,
                                 int64_t N, int64_t C, int64_t inner, double label_smoothing,
                                 Reduction reduction);

// loss_i = -w_y inp[i, y] (0 when ignored); Mean divides by sum_i w_{y_i}. Shapes as
// cross_entropy_forward (inp holds log-probabilities).
template <class T>
void nll_loss_forward(T* loss, const T* inp, const int64_t* target, const T* weight, int64_t N, int64_t C,
                      int64_t inner, int64_t ignore_index, Reduction reduction);
// dinp[i, c] = -g_i w_y [c == y]. dinp: (N, C, inner).
template <class T>
void nll_loss_backward(T* dinp, const T* dout, const int64_t* target, const T* weight, int64_t N, int64_t C,
                       int64_t inner, int64_t ignore_index, Reduction reduction);

// loss = w ((1 - t) x - (1 + (pw - 1) t) log sigmoid(x)), elementwise over n; weight and
// pos_weight are (n,) (broadcast by the caller) or nullptr. Mean divides by n.
template <class T>
void bce_with_logits_forward(T* loss, const T* inp, const T* target, const T* weight, const T* pos_weight,
                             int64_t n, Reduction reduction);
// dinp = g w ((1 + (pw - 1) t) sigmoid(x) - pw t).
template <class T>
void bce_with_logits_backward(T* dinp, const T* dout, const T* inp, const T* target, const T* weight,
                              const T* pos_weight, int64_t n, Reduction reduction);

// Pointwise regression losses of d = x - t over n elements:
//   MSE d^2; L1 |d|; Huber (delta = param) |d| < delta ? d^2 / 2 : delta (|d| - delta / 2);
//   SmoothL1 (beta = param > 0) |d| < beta ? d^2 / (2 beta) : |d| - beta / 2.
enum class PointLoss : int { MSE = 0, L1 = 1, Huber = 2, SmoothL1 = 3 };
template <class T>
void point_loss_forward(T* loss, const T* inp, const T* target, int64_t n, PointLoss kind, double param,
                        Reduction reduction);
// dinp = g dloss/dx (the gradient wrt target is its negation); sign(0) = 0 for L1.
template <class T>
void point_loss_backward(T* dinp, const T* dout, const T* inp, const T* target, int64_t n, PointLoss kind,
                         double param, Reduction reduction);

}  // namespace fastnn
