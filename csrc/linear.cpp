// Fully connected layer on the GEMM (see linear.h).
#include "linear.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "activation.h"
#include "gemm/gemm.h"
#include "parallel.h"

namespace fastnn {

namespace {

// The activation kernels run in place (out == inp) on one block row of the product.
template <typename T> void relu_(T* d, int64_t n, double) { relu_forward<T>(d, d, n); }
template <typename T> void leaky_relu_(T* d, int64_t n, double p) { leaky_relu_forward<T>(d, d, n, T(p)); }
template <typename T> void elu_(T* d, int64_t n, double p) { elu_forward<T>(d, d, n, T(p)); }
template <typename T> void gelu_(T* d, int64_t n, double) { gelu_forward<T>(d, d, n, false); }
template <typename T> void gelu_tanh_(T* d, int64_t n, double) { gelu_forward<T>(d, d, n, true); }
template <typename T> void sigmoid_(T* d, int64_t n, double) { sigmoid_forward<T>(d, d, n); }
template <typename T> void tanh_(T* d, int64_t n, double) { tanh_forward<T>(d, d, n); }

}  // namespace

template <typename T>
InPlaceActivation<T> linear_activation(const std::string& name) {
    if (name == "none") return nullptr;
    if (name == "relu") return relu_<T>;
    if (name == "leaky_relu") return leaky_relu_<T>;
    if (name == "elu") return elu_<T>;
    if (name == "gelu") return gelu_<T>;
    if (name == "gelu_tanh") return gelu_tanh_<T>;
    if (name == "sigmoid") return sigmoid_<T>;
    if (name == "tanh") return tanh_<T>;
    throw std::invalid_argument("unknown activation '" + name + "'; expected none, relu, leaky_relu, elu, "
                                "gelu, gelu_tanh, sigmoid or tanh");
}

template <typename T>
void linear_forward(T* out, const T* x, const T* weight, const T* bias, int64_t M, int64_t N, int64_t K,
                    InPlaceActivation<T> act, double act_param) {
    // weight^T is weight read with swapped strides: element (k, n) at weight[n*K + k].
    StridedMatrix<const T> A{x, 0, K, 1}, B{weight, 0, 1, K};
    StridedMatrix<T> C{out, 0, N, 1};
    if (!bias && !act) {
        gemm<T>(M, N, K, T(1), A, B, T(0), C, nullptr);
        return;
    }
    // Each finished block of the product gets its bias and activation while it is in cache.
    const GemmEpilogue epilogue = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        for (int64_t i = i0; i < i1; ++i) {
            T* row = out + i * N + j0;
            if (bias) {
                const T* b = bias + j0;
                for (int64_t j = 0; j < j1 - j0; ++j) row[j] += b[j];
            }
            if (act) act(row, j1 - j0, act_param);
        }
    };
    gemm<T>(M, N, K, T(1), A, B, T(0), C, &epilogue);
}

namespace {

// Column sums of dout[M,N] into dbias[N], each column summed top to bottom (the order does
// not depend on the thread count), columns split among threads.
template <typename T>
void column_sums(T* dbias, const T* dout, int64_t M, int64_t N) {
    constexpr int64_t kColumns = 512;  // a chunk's accumulators stay in L1
    const int64_t grain = M * N < (int64_t(1) << 16) ? std::max<int64_t>(N, 1) : kColumns;
    parallel_for(0, N, grain, [&](int64_t j0, int64_t j1) {
        T* acc = dbias + j0;
        const int64_t n = j1 - j0;
        std::fill(acc, acc + n, T(0));
        for (int64_t i = 0; i < M; ++i) {
            const T* row = dout + i * N + j0;
            for (int64_t j = 0; j < n; ++j) acc[j] += row[j];
        }
    });
}

}  // namespace

template <typename T>
void linear_backward(T* dx, T* dweight, T* dbias, const T* dout, const T* x, const T* weight, int64_t M,
                     int64_t N, int64_t K) {
    if (dx) {  // dx[M,K] = dout[M,N] @ weight[N,K]
        gemm<T>(M, K, N, T(1), {dout, 0, N, 1}, {weight, 0, K, 1}, T(0), {dx, 0, K, 1}, nullptr);
    }
    if (dweight) {  // dweight[N,K] = dout^T[N,M] @ x[M,K]
        gemm<T>(N, K, M, T(1), {dout, 0, 1, N}, {x, 0, K, 1}, T(0), {dweight, 0, K, 1}, nullptr);
    }
    if (dbias) column_sums(dbias, dout, M, N);
}

template InPlaceActivation<float> linear_activation<float>(const std::string&);
template InPlaceActivation<double> linear_activation<double>(const std::string&);
template void linear_forward<float>(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                    InPlaceActivation<float>, double);
template void linear_forward<double>(double*, const double*, const double*, const double*, int64_t, int64_t,
                                     int64_t, InPlaceActivation<double>, double);
template void linear_backward<float>(float*, float*, float*, const float*, const float*, const float*, int64_t,
                                     int64_t, int64_t);
template void linear_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                      int64_t, int64_t, int64_t);

}  // namespace fastnn
