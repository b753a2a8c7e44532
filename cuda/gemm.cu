// GEMM kernels (see gemm.cuh): a shared-memory tiled kernel with register blocking, and
// the one-thread-per-element reference. Both read any strides; loads of a tile are
// coalesced along whichever of an operand's axes has unit stride.
#include "gemm.cuh"

#include "check.cuh"

namespace fastnn {
namespace cuda {

namespace {

// Tile of C per block (BM x BN), depth of the A and B tiles staged in shared memory (BK),
// and the TM x TN block of C each of the 16 x 16 threads accumulates. Thread (tx, ty)
// owns rows ty + 16 i and columns tx + 16 j of the tile, so its stores to C are coalesced
// across tx and its shared-memory reads are broadcasts (A) or consecutive words (B).
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
constexpr int kGemmThreads = (BM / TM) * (BN / TN);  // 256
static_assert(BM * BK == 4 * kGemmThreads && BK * BN == 4 * kGemmThreads, "each thread loads 4 of each tile");

// C[b] = alpha * A[b] @ B[b] + beta * C[b] (beta == 0: C not read). grid: (N tiles, M tiles
// or fewer, batch or fewer); the M-tile and batch loops cover what the grid does not.
template <typename T>
__global__ void __launch_bounds__(kGemmThreads)
gemm_tiled_kernel(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A,
                  StridedMatrix<const T> B, T beta, StridedMatrix<T> C) {
    // As is stored k-major (As[k][m]) so the inner loop reads a column of A per k; one
    // element of padding per row keeps the transposing stores free of bank conflicts.
    __shared__ T As[BK][BM + 1];
    __shared__ T Bs[BK][BN + 1];
    const int tx = threadIdx.x % (BN / TN), ty = threadIdx.x / (BN / TN);
    const bool a_k_unit = A.cs == 1;  // A row-major: consecutive threads walk k
    const bool b_n_unit = B.cs == 1;  // B row-major: consecutive threads walk n
    const int64_t m_tiles = (M + BM - 1) / BM;
    const int64_t n0 = int64_t(blockIdx.x) * BN;
    for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
        const T* Ab = A.ptr + b * A.bs;
        const T* Bb = B.ptr + b * B.bs;
        T* Cb = C.ptr + b * C.bs;
        for (int64_t mt = blockIdx.y; mt < m_tiles; mt += gridDim.y) {
            const int64_t m0 = mt * BM;
            T acc[TM][TN];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
            for (int64_t k0 = 0; k0 < K; k0 += BK) {
                // Stage the BM x BK tile of A and the BK x BN tile of B; zeros outside the matrices.
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int idx = threadIdx.x + r * kGemmThreads;
                    const int am = a_k_unit ? idx / BK : idx % BM;
                    const int ak = a_k_unit ? idx % BK : idx / BM;
                    const int64_t gm = m0 + am, gk = k0 + ak;
                    As[ak][am] = (gm < M && gk < K) ? Ab[gm * A.rs + gk * A.cs] : T(0);
                    const int bn = b_n_unit ? idx % BN : idx / BK;
                    const int bk = b_n_unit ? idx / BN : idx % BK;
                    const int64_t gkb = k0 + bk, gn = n0 + bn;
                    Bs[bk][bn] = (gkb < K && gn < N) ? Bb[gkb * B.rs + gn * B.cs] : T(0);
                }
                __syncthreads();
#pragma unroll
                for (int kk = 0; kk < BK; ++kk) {
                    T a[TM], bv[TN];
#pragma unroll
                    for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + i * (BM / TM)];
#pragma unroll
                    for (int j = 0; j < TN; ++j) bv[j] = Bs[kk][tx + j * (BN / TN)];
#pragma unroll
                    for (int i = 0; i < TM; ++i)
#pragma unroll
                        for (int j = 0; j < TN; ++j) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
                }
                __syncthreads();  // the tiles are overwritten next iteration
            }
#pragma unroll
            for (int i = 0; i < TM; ++i) {
                const int64_t gm = m0 + ty + i * (BM / TM);
                if (gm >= M) continue;
#pragma unroll
                for (int j = 0; j < TN; ++j) {
                    const int64_t gn = n0 + tx + j * (BN / TN);
                    if (gn >= N) continue;
                    T* c = Cb + gm * C.rs + gn * C.cs;
                    *c = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
                }
            }
        }
    }
}

// The reference: C[b, i, j] = alpha * sum_k A[b, i, k] B[b, k, j] (+ beta C), k ascending.
template <typename T>
__global__ void gemm_ref_kernel(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A,
                                StridedMatrix<const T> B, T beta, StridedMatrix<T> C) {
    const int64_t total = batch * M * N;
    for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
         e += int64_t(gridDim.x) * blockDim.x) {
        const int64_t j = e % N, i = (e / N) % M, b = e / (M * N);
        T s = T(0);
        for (int64_t k = 0; k < K; ++k) s += A.ptr[b * A.bs + i * A.rs + k * A.cs] * B.ptr[b * B.bs + k * B.rs + j * B.cs];
        T* c = C.ptr + b * C.bs + i * C.rs + j * C.cs;
        *c = beta == T(0) ? alpha * s : alpha * s + beta * *c;
    }
}

}  // namespace

template <typename T>
void gemm(const char* op, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A,
          StridedMatrix<const T> B, T beta, StridedMatrix<T> C) {
    if (batch <= 0 || M <= 0 || N <= 0) return;
    if (alpha == T(0)) K = 0;  // A and B are not read
    const int64_t n_tiles = (N + BN - 1) / BN, m_tiles = (M + BM - 1) / BM;
    if (n_tiles > 0x7fffffff) throw std::runtime_error(std::string("[") + op + "] N is too large for the GEMM grid");
    const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(m_tiles < 65535 ? m_tiles : 65535),
                    static_cast<unsigned>(batch < 65535 ? batch : 65535));
    gemm_tiled_kernel<T><<<grid, kGemmThreads>>>(batch, M, N, K, alpha, A, B, beta, C);
    check_launch(op);
}

template <typename T>
void gemm_ref(const char* op, int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A,
              StridedMatrix<const T> B, T beta, StridedMatrix<T> C) {
    if (batch <= 0 || M <= 0 || N <= 0) return;
    if (alpha == T(0)) K = 0;
    gemm_ref_kernel<T><<<grid_for(batch * M * N), kThreads>>>(batch, M, N, K, alpha, A, B, beta, C);
    check_launch(op);
}

template void gemm<float>(const char*, int64_t, int64_t, int64_t, int64_t, float, StridedMatrix<const float>,
                          StridedMatrix<const float>, float, StridedMatrix<float>);
template void gemm<double>(const char*, int64_t, int64_t, int64_t, int64_t, double, StridedMatrix<const double>,
                           StridedMatrix<const double>, double, StridedMatrix<double>);
template void gemm_ref<float>(const char*, int64_t, int64_t, int64_t, int64_t, float, StridedMatrix<const float>,
                              StridedMatrix<const float>, float, StridedMatrix<float>);
template void gemm_ref<double>(const char*, int64_t, int64_t, int64_t, int64_t, double, StridedMatrix<const double>,
                               StridedMatrix<const double>, double, StridedMatrix<double>);

}  // namespace cuda
}  // namespace fastnn
