// Activations on the device with the semantics of csrc/activation.h: elementwise forward
// and backward (relu, leaky_relu, elu, gelu exact and tanh, sigmoid, tanh, softplus) over n
// contiguous elements, and softmax / log_softmax along the D axis of an (outer, D, inner)
// array. Outputs are overwritten; elementwise forwards may run in place (out == inp).
// Backwards take the input (relu, leaky_relu, elu, gelu, softplus) or the output (sigmoid,
// tanh, softmax, log_softmax), as PyTorch's formulas save.
#pragma once

#include <cstdint>

namespace fastnn {
namespace cuda {

enum class Activation : int { relu, leaky_relu, elu, gelu, gelu_tanh, sigmoid, tanh, softplus };

// out = act(inp) elementwise; p0, p1: negative_slope (leaky_relu), alpha (elu), or
// beta, threshold (softplus); unused otherwise. out, inp (n).
template <typename T>
void activation_forward(Activation act, T* out, const T* inp, int64_t n, double p0, double p1);

// dinp = dout * act'(x) elementwise, saved = x or y as above. dinp, dout, saved (n).
template <typename T>
void activation_backward(Activation act, T* dinp, const T* dout, const T* saved, int64_t n, double p0, double p1);

// softmax (log == false): out = exp(x - max) / sum exp(x - max); log_softmax: x - max - log(sum).
// out, inp (outer, D, inner). Sums in double.
template <typename T>
void softmax_forward(bool log, T* out, const T* inp, int64_t outer, int64_t D, int64_t inner);

// softmax: dinp = y (dout - sum_D dout y); log_softmax: dinp = dout - exp(y) sum_D dout.
// dinp, dout, out (outer, D, inner).
template <typename T>
void softmax_backward(bool log, T* dinp, const T* dout, const T* out, int64_t outer, int64_t D, int64_t inner);

}  // namespace cuda
}  // namespace fastnn
