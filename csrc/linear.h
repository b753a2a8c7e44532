// Fully connected layer on the GEMM: out = act(x @ weight^T + bias), with the bias and the
// activation applied to each block of the product while it is still in cache. Row-major
// C-contiguous arrays; every output is overwritten, never accumulated into.
#pragma once

#include <cstdint>
#include <string>

namespace fastnn {

// An activation applied in place to n contiguous elements, with its one parameter (negative
// slope, alpha; ignored by those without one).
template <typename T>
using InPlaceActivation = void (*)(T* data, int64_t n, double param);

// The activation a linear layer can fuse, by its functional name: "none" (nullptr), "relu",
// "leaky_relu" (param: negative slope), "elu" (param: alpha), "gelu", "gelu_tanh" (the tanh
// approximation), "sigmoid", "tanh". Throws std::invalid_argument for any other name.
template <typename T>
InPlaceActivation<T> linear_activation(const std::string& name);

// out[M,N] = act(x[M,K] @ weight[N,K]^T + bias[N]); bias nullptr: no bias; act nullptr: no
// activation.
template <typename T>
void linear_forward(T* out, const T* x, const T* weight, const T* bias, int64_t M, int64_t N, int64_t K,
                    InPlaceActivation<T> act, double act_param);

// Gradients of out = x @ weight^T + bias given dout[M,N]: dx[M,K] = dout @ weight,
// dweight[N,K] = dout^T @ x, dbias[N] = sum over rows of dout. A nullptr output is skipped.
template <typename T>
void linear_backward(T* dx, T* dweight, T* dbias, const T* dout, const T* x, const T* weight, int64_t M,
                     int64_t N, int64_t K);

}  // namespace fastnn
