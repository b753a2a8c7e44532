// GEMM, the BLIS way: C = alpha * A @ B + beta * C over strided matrices.
// Every matrix is addressed by (row stride, column stride) in elements, so transposes and
// non-contiguous views are expressed by strides and handled in packing, never copied.
// C is overwritten; with beta == 0 its old contents (NaN/Inf included) are never read.
#pragma once

#include <cstdint>
#include <functional>

#include "cpu.h"

namespace fastnn {

// One matrix operand: element (i, j) of batch b lives at ptr[b*bs + i*rs + j*cs].
template <typename T>
struct StridedMatrix {
    T* ptr;
    int64_t bs, rs, cs;
};

// For b in [0, batch): C_b[M,N] = alpha * A_b[M,K] @ B_b[K,N] + beta * C_b[M,N].
// Strides may be zero only along batch for A and B (broadcast); C must not overlap itself
// or A/B. M, N or K may be zero. Multi-threaded; the result does not depend on the
// thread count, bit for bit.
template <typename T>
void gemm(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
          StridedMatrix<const T> A, StridedMatrix<const T> B, T beta, StridedMatrix<T> C);

// Work done on C while it is still in cache: called as f(i0, i1, j0, j1) once the rows
// [i0, i1) x columns [j0, j1) of C hold their final product (the blocks partition C; each
// is passed once, possibly from a worker thread, in no particular order). It may rewrite
// those elements in place (bias, activation) and must not touch the rest of C.
using GemmEpilogue = std::function<void(int64_t, int64_t, int64_t, int64_t)>;

// One product (no batch) with `epilogue` run on every block of C as it completes; nullptr:
// none. Block boundaries may follow the thread count; an elementwise epilogue gives the same
// bits for any.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A, StridedMatrix<const T> B,
          T beta, StridedMatrix<T> C, const GemmEpilogue* epilogue);

// The plain triple loop with the same contract: the reference the optimised path is
// checked against, and readable documentation of what gemm computes.
template <typename T>
void gemm_ref(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
              StridedMatrix<const T> A, StridedMatrix<const T> B, T beta, StridedMatrix<T> C);

// The blocking of a code path's microkernel: MR x NR register tile, MC x KC block of A,
// KC x NC panel of B (what tests sweep edge sizes around).
struct GemmBlockSizes {
    int mr, nr, mc, kc, nc;
};
GemmBlockSizes gemm_block_sizes(CpuCapability cap, bool fp64);

// Peak floating-point rate for the active code path, in FLOP/s: independent chains of vector
// FMAs running for about `seconds` on each of get_num_threads() threads;
// returns the summed rate.
double fma_peak_flops(bool fp64, double seconds);

}  // namespace fastnn
