// GEMM on the device: C = alpha * A @ B + beta * C over strided (batched) matrices, the
// contract of csrc/gemm/gemm.h: transposes and views are strides, C is overwritten and with
// beta == 0 its old contents (NaN included) are never read; with alpha == 0 or K == 0, A and
// B are not read. Plain float32/float64 arithmetic (no TF32, no reduced precision).
#pragma once

#include <cstdint>

#include "gemm/gemm.h"  // StridedMatrix

namespace fastnn {
namespace cuda {

// For b in [0, batch): C_b[M,N] = alpha * A_b[M,K] @ B_b[K,N] + beta * C_b[M,N].
// A, B, C: device pointers with element strides (bs = 0 broadcasts an operand over the
// batch). Shared-memory tiles of 64x64 outputs, 16 deep; each thread keeps a 4x4 block of
// C in registers. `op` names the caller in errors.
template <typename T>
void gemm(const char* op, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A,
          StridedMatrix<const T> B, T beta, StridedMatrix<T> C);

// The same contract, one thread per element of C and one K-long chain: the reference.
template <typename T>
void gemm_ref(const char* op, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A,
              StridedMatrix<const T> B, T beta, StridedMatrix<T> C);

}  // namespace cuda
}  // namespace fastnn
