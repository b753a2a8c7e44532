// Activation functions (elementwise) and softmax / log_softmax (a reduction along one axis),
// forward and backward, with PyTorch's semantics. Arrays are C-contiguous; every output is
// overwritten, never accumulated. Elementwise forwards may run in place (out == inp).
// Backwards take what PyTorch's derivative formulas save: the input for relu, leaky_relu,
// elu, gelu and softplus; the output for sigmoid, tanh, softmax and log_softmax.
#pragma once

#include <cstdint>

namespace fastnn {

// ---- elementwise: out, inp, dinp, dout, saved are all (n,) ----

// out = max(x, 0), NaN propagating (relu(NaN) = NaN).
template <class T> void relu_forward(T* out, const T* inp, int64_t n);
// dinp = dout where x > 0 (or x is NaN), else 0. saved: the input.
template <class T> void relu_backward(T* dinp, const T* dout, const T* inp, int64_t n);

// out = x > 0 ? x : slope * x.
template <class T> void leaky_relu_forward(T* out, const T* inp, int64_t n, T slope);
// dinp = x > 0 ? dout : slope * dout (slope at x == 0, as PyTorch). saved: the input.
template <class T> void leaky_relu_backward(T* dinp, const T* dout, const T* inp, int64_t n, T slope);

// out = x > 0 ? x : alpha * (exp(x) - 1).
template <class T> void elu_forward(T* out, const T* inp, int64_t n, T alpha);
// dinp = x <= 0 ? dout * alpha * exp(x) : dout (alpha at x == 0, dout at NaN, as PyTorch).
// saved: the input.
template <class T> void elu_backward(T* dinp, const T* dout, const T* inp, int64_t n, T alpha);

// Exact: out = x Phi(x) = x/2 erfc(-x/sqrt 2). Tanh approximation (approx_tanh):
// out = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
template <class T> void gelu_forward(T* out, const T* inp, int64_t n, bool approx_tanh);
// dinp = dout * d gelu / dx of the same formula. saved: the input.
template <class T> void gelu_backward(T* dinp, const T* dout, const T* inp, int64_t n, bool approx_tanh);

// out = 1 / (1 + exp(-x)).
template <class T> void sigmoid_forward(T* out, const T* inp, int64_t n);
// dinp = dout * y (1 - y). saved: the output y.
template <class T> void sigmoid_backward(T* dinp, const T* dout, const T* out, int64_t n);

// out = tanh(x).
template <class T> void tanh_forward(T* out, const T* inp, int64_t n);
// dinp = dout * (1 - y^2). saved: the output y.
template <class T> void tanh_backward(T* dinp, const T* dout, const T* out, int64_t n);

// out = beta x > threshold ? x : log(1 + exp(beta x)) / beta.
template <class T> void softplus_forward(T* out, const T* inp, int64_t n, T beta, T threshold);
// dinp = beta x > threshold ? dout : dout * sigmoid(beta x). saved: the input.
template <class T>
void softplus_backward(T* dinp, const T* dout, const T* inp, int64_t n, T beta, T threshold);

// ---- along one axis: arrays viewed as (outer, D, inner), the axis being D ----

// out = exp(x - max) / sum(exp(x - max)) along D; out, inp: (outer, D, inner).
template <class T> void softmax_forward(T* out, const T* inp, int64_t outer, int64_t D, int64_t inner);
// dinp = y (dout - sum_D(dout y)); dinp, dout, out: (outer, D, inner). saved: the output y.
template <class T>
void softmax_backward(T* dinp, const T* dout, const T* out, int64_t outer, int64_t D, int64_t inner);

// out = x - max - log(sum(exp(x - max))) along D; out, inp: (outer, D, inner).
template <class T> void log_softmax_forward(T* out, const T* inp, int64_t outer, int64_t D, int64_t inner);
// dinp = dout - exp(y) sum_D(dout); dinp, dout, out: (outer, D, inner). saved: the output y.
template <class T>
void log_softmax_backward(T* dinp, const T* dout, const T* out, int64_t outer, int64_t D, int64_t inner);

}  // namespace fastnn
