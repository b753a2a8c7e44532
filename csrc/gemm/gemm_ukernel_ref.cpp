// The portable path: a plain C++ microkernel (the scalar code path, and the fallback on
// CPUs without AVX2) and gemm_ref, the triple loop every optimised path is tested against.
#include <cstdint>

#include "gemm/gemm.h"
#include "gemm/gemm_ukernel.h"

namespace fastnn {

namespace {

template <typename T, int MR, int NR, bool kPackedA>
void gemm_ukernel_ref(int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rsa,
                      int64_t csa, const T* b, T beta, T* c, int64_t rsc, int64_t csc, const T*) {
    T acc[MR][NR] = {};
    for (int64_t p = 0; p < k; ++p) {
        for (int i = 0; i < MR; ++i) {
            const T ai = kPackedA ? a[i] : a[i * rsa];
            for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
        }
        a += kPackedA ? MR : csa;
        b += NR;
    }
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            const T v = alpha == T(1) ? acc[i][j] : alpha * acc[i][j];
            T* cij = c + i * rsc + j * csc;
            *cij = beta == T(0) ? v : beta * *cij + v;
        }
    }
}

template <typename T>
double fma_peak_ref(int64_t iters) {
    constexpr int NACC = 8;
    T acc[NACC];
    for (int i = 0; i < NACC; ++i) acc[i] = T(i) * T(0.001);
    const T x = T(0.999999), y = T(0.5);
    for (int64_t it = 0; it < iters; ++it)
        for (int i = 0; i < NACC; ++i) acc[i] = acc[i] * x + y;
    T sum = 0;
    for (int i = 0; i < NACC; ++i) sum += acc[i];
    return sum == sum ? double(iters) * NACC * 2 : 0.0;
}

}  // namespace

GemmKernel<float> gemm_kernel_ref_f32() {
    return {4, 8, 64, 256, 4096, &gemm_ukernel_ref<float, 4, 8, true>, &gemm_ukernel_ref<float, 4, 8, false>, nullptr, nullptr, 0};
}
GemmKernel<double> gemm_kernel_ref_f64() {
    return {4, 4, 64, 256, 4096, &gemm_ukernel_ref<double, 4, 4, true>, &gemm_ukernel_ref<double, 4, 4, false>,
            nullptr, nullptr, 0};
}

double fma_peak_loop_ref(int64_t iters, bool fp64) {
    return fp64 ? fma_peak_ref<double>(iters) : fma_peak_ref<float>(iters);
}

template <typename T>
void gemm_ref(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
              StridedMatrix<const T> A, StridedMatrix<const T> B, T beta, StridedMatrix<T> C) {
    for (int64_t bi = 0; bi < batch; ++bi) {
        for (int64_t i = 0; i < M; ++i) {
            for (int64_t j = 0; j < N; ++j) {
                T* cij = C.ptr + bi * C.bs + i * C.rs + j * C.cs;
                if (alpha == T(0)) {  // as in BLAS: A and B are not read
                    *cij = beta == T(0) ? T(0) : beta * *cij;
                    continue;
                }
                T acc = 0;
                for (int64_t p = 0; p < K; ++p)
                    acc += A.ptr[bi * A.bs + i * A.rs + p * A.cs] * B.ptr[bi * B.bs + p * B.rs + j * B.cs];
                *cij = beta == T(0) ? alpha * acc : alpha * acc + beta * *cij;
            }
        }
    }
}

template void gemm_ref<float>(int64_t, int64_t, int64_t, int64_t, float, StridedMatrix<const float>,
                              StridedMatrix<const float>, float, StridedMatrix<float>);
template void gemm_ref<double>(int64_t, int64_t, int64_t, int64_t, double, StridedMatrix<const double>,
                               StridedMatrix<const double>, double, StridedMatrix<double>);

}  // namespace fastnn
