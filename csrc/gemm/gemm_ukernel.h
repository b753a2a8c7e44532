// The per-ISA pieces of the GEMM: the register-blocked microkernel and its block sizes.
// Packed layouts (written by gemm.cpp's packing, read by every microkernel):
//   a: k columns of MR values, a[p*MR + i] = A(i, p), rows past m zero-filled
//   b: k rows of NR values,    b[p*NR + j] = B(p, j), columns past n zero-filled
// A may also be read in place (no packing) when that saves more than it costs.
#pragma once

#include <cstdint>

namespace fastnn {

// C[m,n] = alpha * A[m,k] @ b[k,n] + beta * C[m,n] for one tile, m <= MR, n <= NR, where
// A(i, p) is a[i*rsa + p*csa] and C(i, j) is c[i*rsc + j*csc]; b is a packed panel.
// beta == 0: C is written without being read. b_next, when not null, is the packed panel the
// next call will use: the kernel prefetches it while it computes.
template <typename T>
using GemmUkernel = void (*)(int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t rsa,
                             int64_t csa, const T* b, T beta, T* c, int64_t rsc, int64_t csc,
                             const T* b_next);

// C(r, j) = alpha * sum_p A(r, p) * Bt(j, p) + beta * C(r, j) for r < rows (1 or 2) and
// j < cols (1 to kDotMaxCols): dot products along k between rows of A (a[r*lda + p]) and
// rows of Bt (bt[j*ldb + p]), both contiguous in p; C(r, j) is c[r*rsc + j*csc]. For
// products with a skinny side, where a register tile would be mostly padding. beta == 0:
// C is written without being read.
template <typename T>
using GemmDotKernel = void (*)(int rows, int cols, int64_t k, T alpha, const T* a, int64_t lda,
                               const T* bt, int64_t ldb, T beta, T* c, int64_t rsc, int64_t csc);
constexpr int kDotMaxCols = 6;

// C(r, j) = alpha * sum_p A(r, p) * B(p, j) + beta * C(r, j) for r < rows (1 or 2) and
// j < n (at most the kernel's rows_width): B's rows read where they lie (b[p*ldb + j],
// contiguous in j), A(r, p) = a[r*rsa + p*csa]. For products with a few rows, where packing
// B would cost more than the product. beta == 0: C is written without being read.
template <typename T>
using GemmRowsKernel = void (*)(int rows, int64_t n, int64_t k, T alpha, const T* a, int64_t rsa,
                                int64_t csa, const T* b, int64_t ldb, T beta, T* c, int64_t rsc,
                                int64_t csc);

// Block sizes: MR x NR register tile; MC x KC block of A kept in L2; KC x NC panel of B in L3.
// MC is a multiple of MR and NC of NR.
//   ukernel:    a is a packed panel (rsa = 1, csa = MR are implied and ignored); any m.
//   ukernel_sa: a is read where it lies with strides (rsa, csa); m == MR only, so that no
//               row past the matrix is read (the driver packs a last, partial panel).
//   dot:        the dot-product kernel for skinny products; rows: the kernel for a few
//               rows, one or two at a time, rows_width columns at a time. nullptr where the code path has none
//               (the driver then uses the microkernel for those shapes).
template <typename T>
struct GemmKernel {
    int mr, nr, mc, kc, nc;
    GemmUkernel<T> ukernel;
    GemmUkernel<T> ukernel_sa;
    GemmDotKernel<T> dot;
    GemmRowsKernel<T> rows;
    int rows_width;
};

GemmKernel<float> gemm_kernel_ref_f32();
GemmKernel<double> gemm_kernel_ref_f64();
double fma_peak_loop_ref(int64_t iters, bool fp64);  // returns the FLOPs performed
#if defined(FASTNN_HAVE_X86_KERNELS)
GemmKernel<float> gemm_kernel_avx2_f32();
GemmKernel<double> gemm_kernel_avx2_f64();
double fma_peak_loop_avx2(int64_t iters, bool fp64);
GemmKernel<float> gemm_kernel_avx512_f32();
GemmKernel<double> gemm_kernel_avx512_f64();
double fma_peak_loop_avx512(int64_t iters, bool fp64);
#endif

}  // namespace fastnn
