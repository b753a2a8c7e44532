// The GEMM driver: five loops around the microkernel (BLIS's jc / pc / ic / jr / ir), the
// packing routines that turn any strided operand into contiguous micro-panels, and the
// thread partition. Block sizes come from the active ISA's GemmKernel.
//
//   for jc over N step NC          C's columns; B panel packed per (jc, pc)
//     for pc over K step KC        rank-KC update; beta applies only on the first
//       pack B[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels
//       for ic over M step MC
//         pack A[ic:ic+mc, pc:pc+kc] into MR-tall micro-panels
//         for jr over nc step NR, for ir over mc step MR: microkernel on one tile
#include "gemm/gemm.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <new>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "cpu.h"
#include "gemm/gemm_ukernel.h"
#include "parallel.h"

namespace fastnn {

namespace {

template <typename T>
GemmKernel<T> kernel_for(CpuCapability cap);

template <>
GemmKernel<float> kernel_for<float>(CpuCapability cap) {
#if defined(FASTNN_HAVE_X86_KERNELS)
    if (cap == CpuCapability::avx512) return gemm_kernel_avx512_f32();
    if (cap == CpuCapability::avx2) return gemm_kernel_avx2_f32();
#endif
    (void)cap;
    return gemm_kernel_ref_f32();
}

template <>
GemmKernel<double> kernel_for<double>(CpuCapability cap) {
#if defined(FASTNN_HAVE_X86_KERNELS)
    if (cap == CpuCapability::avx512) return gemm_kernel_avx512_f64();
    if (cap == CpuCapability::avx2) return gemm_kernel_avx2_f64();
#endif
    (void)cap;
    return gemm_kernel_ref_f64();
}

// Per-thread packing buffers, 64-byte aligned, grown on demand and kept for the thread's
// lifetime (pool threads are persistent, so steady-state calls allocate nothing).
class Scratch {
public:
    ~Scratch() { std::free(ptr_); }
    template <typename T>
    T* get(int64_t count) {
        size_t bytes = static_cast<size_t>(count) * sizeof(T);
        if (bytes > size_) {
            std::free(ptr_);
            size_t rounded = (bytes + 4095) & ~size_t(4095);
            ptr_ = std::aligned_alloc(64, rounded);
            if (!ptr_) {
                size_ = 0;
                throw std::bad_alloc();
            }
            size_ = rounded;
        }
        return static_cast<T*>(ptr_);
    }

private:
    void* ptr_ = nullptr;
    size_t size_ = 0;
};

thread_local Scratch t_pack_a, t_pack_b;

// dst[p*ld + j] = src[j*cs + p] for p < (kc rounded down to 4) and j < n, 4x4 blocks at a
// time with SSE shuffles (part of every x86-64 CPU), when T is float and n is a multiple
// of 4; returns how many rows p it packed (0 when it did nothing).
template <typename T>
int64_t pack_transposed_4x4(int64_t kc, int64_t n, const T* src, int64_t cs, T* dst, int64_t ld) {
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
        if (n % 4 != 0) return 0;
        const int64_t k4 = kc / 4 * 4;
        for (int64_t j = 0; j < n; j += 4) {
            const float* c0 = src + j * cs;
            for (int64_t p = 0; p < k4; p += 4) {
                __m128 r0 = _mm_loadu_ps(c0 + p), r1 = _mm_loadu_ps(c0 + cs + p);
                __m128 r2 = _mm_loadu_ps(c0 + 2 * cs + p), r3 = _mm_loadu_ps(c0 + 3 * cs + p);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(dst + p * ld + j, r0);
                _mm_storeu_ps(dst + (p + 1) * ld + j, r1);
                _mm_storeu_ps(dst + (p + 2) * ld + j, r2);
                _mm_storeu_ps(dst + (p + 3) * ld + j, r3);
            }
        }
        return k4;
    }
#endif
    (void)kc, (void)n, (void)src, (void)cs, (void)dst, (void)ld;
    return 0;
}

// The rows-to-columns transpose of packing A: dst[p*MR + i] = rows[i*rs + p] for i < MR and
// p < (kc rounded down to 4), with SSE for float: 4x4 blocks for each group of four rows, an
// unpack for a last pair. Returns how many columns p it packed (0 when it did nothing).
template <typename T, int MR>
int64_t pack_rows_4x4(int64_t kc, const T* rows, int64_t rs, T* dst) {
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float> && (MR % 4 == 0 || MR % 4 == 2)) {
        const int64_t k4 = kc / 4 * 4;
        for (int64_t p = 0; p < k4; p += 4) {
            float* d = dst + p * MR;
            for (int i = 0; i + 4 <= MR; i += 4) {
                const float* r = rows + i * rs + p;
                __m128 r0 = _mm_loadu_ps(r), r1 = _mm_loadu_ps(r + rs);
                __m128 r2 = _mm_loadu_ps(r + 2 * rs), r3 = _mm_loadu_ps(r + 3 * rs);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(d + i, r0);
                _mm_storeu_ps(d + MR + i, r1);
                _mm_storeu_ps(d + 2 * MR + i, r2);
                _mm_storeu_ps(d + 3 * MR + i, r3);
            }
            if constexpr (MR % 4 == 2) {
                const float* r = rows + (MR - 2) * rs + p;
                const __m128 x = _mm_loadu_ps(r), y = _mm_loadu_ps(r + rs);
                const __m128 lo = _mm_unpacklo_ps(x, y), hi = _mm_unpackhi_ps(x, y);
                _mm_storel_pi(reinterpret_cast<__m64*>(d + MR - 2), lo);
                _mm_storeh_pi(reinterpret_cast<__m64*>(d + 2 * MR - 2), lo);
                _mm_storel_pi(reinterpret_cast<__m64*>(d + 3 * MR - 2), hi);
                _mm_storeh_pi(reinterpret_cast<__m64*>(d + 4 * MR - 2), hi);
            }
        }
        return k4;
    }
#endif
    (void)kc, (void)rows, (void)rs, (void)dst;
    return 0;
}

// Packs the mc x kc block A (element (i, p) at A[i*rsa + p*csa]) into ceil(mc/MR) panels,
// each kc columns of MR values; rows past mc are zero.
template <typename T, int MR>
void pack_a_panels(int64_t mc, int64_t kc, const T* A, int64_t rsa, int64_t csa, T* Ap) {
    for (int64_t ir = 0; ir < mc; ir += MR, Ap += MR * kc) {
        const int64_t m = std::min<int64_t>(MR, mc - ir);
        const T* a = A + ir * rsa;
        if (m < MR) std::fill(Ap, Ap + MR * kc, T(0));
        if (csa == 1) {  // rows are contiguous: stream each row
            const int64_t p4 = m == MR ? pack_rows_4x4<T, MR>(kc, a, rsa, Ap) : 0;  // columns [0, p4)
            for (int64_t i = 0; i < m; ++i) {
                const T* row = a + i * rsa;
                for (int64_t p = p4; p < kc; ++p) Ap[p * MR + i] = row[p];
            }
        } else if (rsa == 1 && m == MR) {  // columns are contiguous (A transposed)
            for (int64_t p = 0; p < kc; ++p) {
                const T* col = a + p * csa;
                for (int i = 0; i < MR; ++i) Ap[p * MR + i] = col[i];
            }
        } else {
            for (int64_t p = 0; p < kc; ++p)
                for (int64_t i = 0; i < m; ++i) Ap[p * MR + i] = a[i * rsa + p * csa];
        }
    }
}

// Packs the kc x nc block B (element (p, j) at B[p*rsb + j*csb]) into ceil(nc/NR) panels,
// each kc rows of NR values; columns past nc are zero.
template <typename T, int NR>
void pack_b_panels(int64_t kc, int64_t nc, const T* B, int64_t rsb, int64_t csb, T* Bp) {
    for (int64_t jr = 0; jr < nc; jr += NR, Bp += NR * kc) {
        const int64_t n = std::min<int64_t>(NR, nc - jr);
        const T* b = B + jr * csb;
        if (n < NR) std::fill(Bp, Bp + NR * kc, T(0));
        if (csb == 1 && n == NR) {  // rows are contiguous: copy NR at a time
            for (int64_t p = 0; p < kc; ++p) {
                const T* row = b + p * rsb;
                for (int j = 0; j < NR; ++j) Bp[p * NR + j] = row[j];
            }
        } else if (rsb == 1) {  // columns are contiguous (B transposed): stream each column
            const int64_t p4 = pack_transposed_4x4(kc, n, b, csb, Bp, NR);  // rows [0, p4)
            for (int64_t j = 0; j < n; ++j) {
                const T* col = b + j * csb;
                for (int64_t p = p4; p < kc; ++p) Bp[p * NR + j] = col[p];
            }
        } else {
            for (int64_t p = 0; p < kc; ++p)
                for (int64_t j = 0; j < n; ++j) Bp[p * NR + j] = b[p * rsb + j * csb];
        }
    }
}

template <typename T>
void pack_a(int mr, int64_t mc, int64_t kc, const T* A, int64_t rsa, int64_t csa, T* Ap) {
    switch (mr) {
        case 4: return pack_a_panels<T, 4>(mc, kc, A, rsa, csa, Ap);
        case 6: return pack_a_panels<T, 6>(mc, kc, A, rsa, csa, Ap);
        case 12: return pack_a_panels<T, 12>(mc, kc, A, rsa, csa, Ap);
        default: std::abort();  // every GemmKernel uses one of the sizes above
    }
}

template <typename T>
void pack_b(int nr, int64_t kc, int64_t nc, const T* B, int64_t rsb, int64_t csb, T* Bp) {
    switch (nr) {
        case 4: return pack_b_panels<T, 4>(kc, nc, B, rsb, csb, Bp);
        case 8: return pack_b_panels<T, 8>(kc, nc, B, rsb, csb, Bp);
        case 16: return pack_b_panels<T, 16>(kc, nc, B, rsb, csb, Bp);
        case 32: return pack_b_panels<T, 32>(kc, nc, B, rsb, csb, Bp);
        default: std::abort();
    }
}

// One 2-D operand for the single-matrix driver.
template <typename T>
struct Mat {
    T* ptr;
    int64_t rs, cs;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Below this many FLOPs per thread (about a microsecond of work), handing work to another
// thread costs more than it saves. Workers spin between back-to-back calls, so a hand-off
// is cheap when it happens.
constexpr double kMinFlopsPerThread = 1.0e5;

// A packed B block at most this large is kept in L1 (half of the smallest current L1D).
constexpr int64_t kL1BlockBytes = 16 * 1024;

// B blocks with fewer elements are packed by one thread: a parallel region costs more.
constexpr int64_t kMinParallelPackB = 32 * 1024;

// Whether gemm_range reads A in place rather than packing it: A needs a unit stride, and
// the packed copy would serve few column panels.
constexpr int64_t kMaxPanelsInPlaceA = 4;

template <typename T>
bool read_a_in_place(const GemmKernel<T>& kern, Mat<const T> A, int64_t nc) {
    return (A.cs == 1 || A.rs == 1) && ceil_div(nc, kern.nr) <= kMaxPanelsInPlaceA;
}

// Rows [m0, m1) of C's columns [jc, jc+nc), rank-kc update from A's columns [pc, pc+kc),
// against the packed B block Bp: pack A's rows in MC blocks (or read them in place) and run
// the two loops around the microkernel. m0 is a multiple of MR. `done` (nullptr: none) is
// called on each finished MC x nc block when this is the last rank-kc update.
template <typename T>
void gemm_macro(const GemmKernel<T>& kern, int64_t m0, int64_t m1, int64_t jc, int64_t nc,
                int64_t pc, int64_t kc, T alpha, Mat<const T> A, const T* Bp, T beta_k, Mat<T> C,
                bool a_in_place, const GemmEpilogue* done) {
    const int MR = kern.mr, NR = kern.nr;
    const int64_t MC = std::min<int64_t>(kern.mc, ceil_div(m1 - m0, MR) * MR);
    T* Ap = t_pack_a.get<T>(MC * kc);
    const bool b_in_l1 = kc * ceil_div(nc, NR) * NR * int64_t(sizeof(T)) <= kL1BlockBytes;
    for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = std::min(MC, m1 - ic);
        const T* a_blk = A.ptr + ic * A.rs + pc * A.cs;
        // Rows [0, m_in_place) are read in place; the rest is packed.
        const int64_t m_in_place = a_in_place ? mc / MR * MR : 0;
        if (m_in_place < mc) pack_a(MR, mc - m_in_place, kc, a_blk + m_in_place * A.rs, A.rs, A.cs, Ap);
        // One tile: rows ir.., columns jr.. of this block.
        auto tile = [&](int64_t ir, int64_t jr, const T* b_next) {
            const int64_t n = std::min<int64_t>(NR, nc - jr);
            const T* b = Bp + jr * kc;
            T* c = C.ptr + (ic + ir) * C.rs + (jc + jr) * C.cs;
            if (ir < m_in_place) {
                kern.ukernel_sa(MR, n, kc, alpha, a_blk + ir * A.rs, A.rs, A.cs, b, beta_k, c, C.rs, C.cs, b_next);
            } else {
                const int64_t m = std::min<int64_t>(MR, mc - ir);
                kern.ukernel(m, n, kc, alpha, Ap + (ir - m_in_place) * kc, 1, MR, b, beta_k, c, C.rs, C.cs, b_next);
            }
        };
        if (b_in_l1) {  // the whole packed B block stays in L1: walk C row panel by row panel
            for (int64_t ir = 0; ir < mc; ir += MR)
                for (int64_t jr = 0; jr < nc; jr += NR) tile(ir, jr, nullptr);
        } else {  // BLIS order: one micro-panel of B in L1 while A's panels stream from L2
            for (int64_t jr = 0; jr < nc; jr += NR) {
                // The last tile of a column sweep brings in the next micro-panel of B.
                const T* b_next = jr + NR < nc ? Bp + (jr + NR) * kc : nullptr;
                for (int64_t ir = 0; ir < mc; ir += MR) tile(ir, jr, ir + MR >= mc ? b_next : nullptr);
            }
        }
        if (done) (*done)(ic, ic + mc, jc, jc + nc);
    }
}

// K cut into balanced blocks of at most kern.kc (no sliver at the end). Depends on K only,
// so every element of C is summed in the same order however the work is split.
template <typename T>
int64_t k_block(const GemmKernel<T>& kern, int64_t K) {
    return ceil_div(K, ceil_div(K, kern.kc));
}

// Rows [m0, m1) x columns [n0, n1) of C, all on the calling thread. m0 and n0 are
// multiples of MR and NR, so tiles fall on the same grid however the work is split.
template <typename T>
void gemm_range(const GemmKernel<T>& kern, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                int64_t K, T alpha, Mat<const T> A, Mat<const T> B, T beta, Mat<T> C,
                const GemmEpilogue* epilogue) {
    const int NR = kern.nr;
    const int64_t KC = k_block(kern, K);
    const int64_t NC = std::min<int64_t>(kern.nc, ceil_div(n1 - n0, NR) * NR);
    T* Bp = t_pack_b.get<T>(KC * NC);
    const bool a_in_place = read_a_in_place(kern, A, NC);
    for (int64_t jc = n0; jc < n1; jc += NC) {
        const int64_t nc = std::min(NC, n1 - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            pack_b(NR, kc, nc, B.ptr + pc * B.rs + jc * B.cs, B.rs, B.cs, Bp);
            gemm_macro(kern, m0, m1, jc, nc, pc, kc, alpha, A, Bp, pc == 0 ? beta : T(1), C, a_in_place,
                       pc + kc >= K ? epilogue : nullptr);
        }
    }
}

// The threaded product when C has enough row panels: each B block is packed once, by all
// threads together, into the caller's buffer; then row chunks of C (whole MR panels) are
// handed out dynamically, each packing its own rows of A. A thread slowed by other work
// takes fewer chunks instead of holding up the rest.
template <typename T>
void gemm_shared_b(const GemmKernel<T>& kern, int nthreads, int64_t M, int64_t N, int64_t K,
                   T alpha, Mat<const T> A, Mat<const T> B, T beta, Mat<T> C,
                   const GemmEpilogue* epilogue) {
    const int MR = kern.mr, NR = kern.nr;
    const int64_t KC = k_block(kern, K);
    const int64_t NC = std::min<int64_t>(kern.nc, ceil_div(N, NR) * NR);
    T* Bp = t_pack_b.get<T>(KC * NC);
    const bool a_in_place = read_a_in_place(kern, A, NC);
    // Row chunks: up to two per thread, so a slowed thread can hand work over (more chunks
    // measured slower: each re-reads B's micro-panels from L3); none below an MC block unless
    // the threads would go short; none below two thread hand-offs' worth of work; and a
    // multiple of the thread count, so that equal chunks also balance when every thread runs
    // at full speed. Chunk i covers the row panels [i*mt/nchunks, (i+1)*mt/nchunks).
    const int64_t mt = ceil_div(M, MR);
    const double panel_flops = 2.0 * MR * double(N) * double(K);
    const int64_t by_work = std::max<int64_t>(1, int64_t(double(mt) * panel_flops / (2.0 * kMinFlopsPerThread)));
    const int64_t by_reuse = std::max<int64_t>(nthreads, ceil_div(mt, kern.mc / MR));
    int64_t nchunks = std::min<int64_t>({2 * int64_t(nthreads), by_reuse, by_work, mt});
    if (nchunks >= nthreads) nchunks = nchunks / nthreads * nthreads;
    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = std::min(NC, N - jc);
        const int64_t npanels = ceil_div(nc, NR);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            const T* b_blk = B.ptr + pc * B.rs + jc * B.cs;
            auto pack = [&](int64_t lo, int64_t hi) {
                pack_b(NR, kc, std::min(nc, hi * NR) - lo * NR, b_blk + lo * NR * B.cs, B.rs, B.cs,
                       Bp + lo * NR * kc);
            };
            if (kc * nc < kMinParallelPackB)
                pack(0, npanels);
            else
                parallel_for(0, npanels, ceil_div(npanels, 2 * nthreads), pack);
            const T beta_k = pc == 0 ? beta : T(1);
            const GemmEpilogue* done = pc + kc >= K ? epilogue : nullptr;
            parallel_for(0, nchunks, 1, [&](int64_t lo, int64_t hi) {
                for (int64_t i = lo; i < hi; ++i) {
                    const int64_t r0 = std::min(M, mt * i / nchunks * MR);
                    const int64_t r1 = std::min(M, mt * (i + 1) / nchunks * MR);
                    if (r0 < r1) gemm_macro(kern, r0, r1, jc, nc, pc, kc, alpha, A, Bp, beta_k, C, a_in_place, done);
                }
            });
        }
    }
}

// C = beta * C, for K == 0 or alpha == 0 (BLAS: A and B are then not read).
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, Mat<T> C) {
    for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
            T* cij = C.ptr + i * C.rs + j * C.cs;
            *cij = beta == T(0) ? T(0) : beta * *cij;
        }
}


// Rough cycle count of C[M,N] = A[M,K] @ B[K,N] in this orientation, to choose between it
// and the transposed problem: padded tile-grid FMAs, plus packing B (cheap when its rows
// are contiguous, a gather otherwise), packing A unless it is read in place, and scattering
// C's tiles when its columns are strided. The weights are per-element cycle estimates.
template <typename T>
double orientation_cost(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, Mat<const T> A,
                        Mat<const T> B, int64_t csc) {
    const double lanes_per_cycle = 2.0 * 32 / sizeof(T);  // two 256-bit FMA pipes
    const double padded = double(ceil_div(M, kern.mr) * kern.mr) * double(ceil_div(N, kern.nr) * kern.nr);
    double cycles = padded * double(K) / lanes_per_cycle;
    cycles += double(K) * double(N) * (B.cs == 1 ? 0.25 : 1.5);
    if (!read_a_in_place(kern, A, std::min<int64_t>(N, kern.nc))) cycles += double(M) * double(K) * 1.0;
    if (csc != 1) cycles += double(M) * double(N) * double(ceil_div(K, kern.kc)) * 2.0;
    return cycles;
}

// Splits C's tile grid into tm x tn rectangles, one per thread: the fewest tiles on the
// busiest thread, ties going to more row blocks (each thread then packs its own rows of A
// and reads B, which the threads share in the last-level cache).
void choose_grid(int64_t mt, int64_t nt, int nthreads, int* tm, int* tn) {
    int64_t best = -1;
    for (int a = 1; a <= nthreads; ++a) {
        int b = nthreads / a;
        if (a > mt || b > nt) continue;
        int64_t load = ceil_div(mt, a) * ceil_div(nt, b);
        if (best < 0 || load <= best) {
            best = load;
            *tm = a;
            *tn = b;
        }
    }
    if (best < 0) *tm = *tn = 1;
}

// Products with at most this many columns may go to the dot kernel (GemmKernel::dot), and
// only while the dot products' second operand (N x K) stays within L2.
constexpr int64_t kDotMaxN = 16;
constexpr int64_t kDotMaxOperandBytes = 256 * 1024;

// Rough cycle count of the dot-kernel path for C[M,N] = A[M,K] @ B[K,N] in this orientation,
// in orientation_cost's units (infinite where it does not apply): unpadded FMAs at a little
// under the microkernel's rate, the lane sums and C's scattered writes, and transposing B when
// its columns are not contiguous.
template <typename T>
double dot_cost(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, Mat<const T> A, Mat<const T> B) {
    constexpr int64_t W = 32 / sizeof(T);
    if (!kern.dot || A.cs != 1 || N > kDotMaxN || K < 4 * W || N * K * int64_t(sizeof(T)) > kDotMaxOperandBytes)
        return std::numeric_limits<double>::infinity();
    const double lanes_per_cycle = 2.0 * W;
    double cycles = 1.2 * double(M) * double(N) * double(K) / lanes_per_cycle;
    cycles += 3.0 * double(M) * double(N);
    if (B.rs != 1) cycles += double(K) * double(N) * (B.cs == 1 ? 0.5 : 1.5);
    return cycles;
}

// C = alpha * A @ B + beta * C by dot products between A's rows (contiguous: A.cs == 1) and
// B's columns, read in place when contiguous (B.rs == 1), else transposed once into the
// packing buffer. Rows go to threads in pairs, and columns are cut into the same blocks
// for every row pair, so each element is computed by the same kernel whatever the split.
template <typename T>
void gemm_dot(const GemmKernel<T>& kern, int nthreads, int64_t M, int64_t N, int64_t K, T alpha,
              Mat<const T> A, Mat<const T> B, T beta, Mat<T> C, const GemmEpilogue* epilogue) {
    const T* bt = B.ptr;
    int64_t ldb = B.cs;
    if (B.rs != 1) {  // Bt[j*K + p] = B(p, j)
        T* packed = t_pack_b.get<T>(N * K);
        const int64_t j4 = B.cs == 1 ? pack_transposed_4x4(N, K, B.ptr, B.rs, packed, K) : 0;
        for (int64_t j = j4; j < N; ++j)
            for (int64_t p = 0; p < K; ++p) packed[j * K + p] = B.ptr[p * B.rs + j * B.cs];
        bt = packed;
        ldb = K;
    }
    const int64_t pairs = ceil_div(M, 2), nblocks = ceil_div(N, kDotMaxCols);
    auto rows = [&](int64_t lo, int64_t hi) {  // row pairs [lo, hi)
        const int64_t r0 = 2 * lo, r1 = std::min(M, 2 * hi);
        for (int64_t i = r0; i < r1; i += 2) {
            const int nrows = static_cast<int>(std::min<int64_t>(2, M - i));
            for (int64_t q = 0; q < nblocks; ++q) {
                const int64_t j0 = N * q / nblocks, j1 = N * (q + 1) / nblocks;
                kern.dot(nrows, static_cast<int>(j1 - j0), K, alpha, A.ptr + i * A.rs, A.rs, bt + j0 * ldb, ldb,
                         beta, C.ptr + i * C.rs + j0 * C.cs, C.rs, C.cs);
            }
        }
        if (epilogue) (*epilogue)(r0, r1, 0, N);
    };
    const double flops = 2.0 * double(M) * double(N) * double(K);
    const int64_t t = std::min<int64_t>({nthreads, pairs, std::max<int64_t>(1, int64_t(flops / kMinFlopsPerThread))});
    if (t <= 1)
        rows(0, pairs);
    else
        parallel_for(0, pairs, ceil_div(pairs, 2 * t), rows);
}

// Products with at most this many rows may go to the rows kernel (GemmKernel::rows).
constexpr int64_t kRowsMaxM = 4;

// Rough cycle count of the rows-kernel path for C[M,N] = A[M,K] @ B[K,N] in this
// orientation (infinite where it does not apply): B streamed once per pair of rows, with
// about 1.5 vector loads and stores per FMA, and C's writes.
template <typename T>
double rows_cost(const GemmKernel<T>& kern, int64_t M, int64_t N, int64_t K, Mat<const T> B) {
    if (!kern.rows || M > kRowsMaxM || B.cs != 1) return std::numeric_limits<double>::infinity();
    constexpr double W = 32 / sizeof(T);
    return 1.3 * double(ceil_div(M, 2)) * double(K) * double(N) / (2.0 * W) + 2.0 * double(M) * double(N);
}

// C = alpha * A @ B + beta * C for one to kRowsMaxM rows, B's rows (contiguous: B.cs == 1)
// read in place: rows in pairs, columns in blocks of rows_width shared out to threads.
template <typename T>
void gemm_rows(const GemmKernel<T>& kern, int nthreads, int64_t M, int64_t N, int64_t K, T alpha,
               Mat<const T> A, Mat<const T> B, T beta, Mat<T> C, const GemmEpilogue* epilogue) {
    const int64_t width = kern.rows_width, nblocks = ceil_div(N, width);
    auto columns = [&](int64_t lo, int64_t hi) {  // column blocks [lo, hi)
        const int64_t j0 = lo * width, j1 = std::min(N, hi * width);
        for (int64_t i = 0; i < M; i += 2)
            for (int64_t j = j0; j < j1; j += width)
                kern.rows(static_cast<int>(std::min<int64_t>(2, M - i)), std::min(width, j1 - j), K, alpha,
                          A.ptr + i * A.rs, A.rs, A.cs, B.ptr + j, B.rs, beta, C.ptr + i * C.rs + j * C.cs, C.rs, C.cs);
        if (epilogue) (*epilogue)(0, M, j0, j1);
    };
    const double flops = 2.0 * double(M) * double(N) * double(K);
    const int64_t t = std::min<int64_t>({nthreads, nblocks, std::max<int64_t>(1, int64_t(flops / kMinFlopsPerThread))});
    if (t <= 1)
        columns(0, nblocks);
    else
        parallel_for(0, nblocks, ceil_div(nblocks, 2 * t), columns);
}

// One matrix product with a threads budget of `nthreads`.
template <typename T>
void gemm_one(const GemmKernel<T>& kern, int nthreads, int64_t M, int64_t N, int64_t K, T alpha,
              Mat<const T> A, Mat<const T> B, T beta, Mat<T> C, const GemmEpilogue* epilogue) {
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == T(0)) {
        scale_c(M, N, beta, C);
        if (epilogue) (*epilogue)(0, M, 0, N);
        return;
    }
    // C^T = B^T A^T is the same product with roles swapped; each orientation may use the
    // microkernel or, for skinny products, the dot or the rows kernel: take the lowest
    // estimated cost (ties keep the given orientation and the microkernel).
    const Mat<const T> At{A.ptr, A.cs, A.rs}, Bt{B.ptr, B.cs, B.rs};
    const double cost[6] = {orientation_cost(kern, M, N, K, A, B, C.cs), dot_cost(kern, M, N, K, A, B),
                            rows_cost(kern, M, N, K, B), orientation_cost(kern, N, M, K, Bt, At, C.rs),
                            dot_cost(kern, N, M, K, Bt, At), rows_cost(kern, N, M, K, At)};
    const int best = static_cast<int>(std::min_element(cost, cost + 6) - cost);
    GemmEpilogue swapped;
    if (best >= 3) {
        std::swap(M, N);
        std::swap(A, B);
        std::swap(A.rs, A.cs);
        std::swap(B.rs, B.cs);
        std::swap(C.rs, C.cs);
        if (epilogue) {  // the callback speaks in C's coordinates, not C^T's
            const GemmEpilogue* user = epilogue;
            swapped = [user](int64_t i0, int64_t i1, int64_t j0, int64_t j1) { (*user)(j0, j1, i0, i1); };
            epilogue = &swapped;
        }
    }
    if (best % 3 == 1) {
        gemm_dot(kern, nthreads, M, N, K, alpha, A, B, beta, C, epilogue);
        return;
    }
    if (best % 3 == 2) {
        gemm_rows(kern, nthreads, M, N, K, alpha, A, B, beta, C, epilogue);
        return;
    }
    const int64_t mt = ceil_div(M, kern.mr), nt = ceil_div(N, kern.nr);
    const double flops = 2.0 * double(M) * double(N) * double(K);
    int t = static_cast<int>(std::min<double>(nthreads, std::max(1.0, flops / kMinFlopsPerThread)));
    if (t > 1 && mt >= 2 * t) {
        gemm_shared_b(kern, t, M, N, K, alpha, A, B, beta, C, epilogue);
        return;
    }
    // Too few row panels to share out: split C's tile grid into one rectangle per thread.
    int tm = 1, tn = 1;
    choose_grid(mt, nt, t, &tm, &tn);
    if (tm * tn == 1) {
        gemm_range(kern, 0, M, 0, N, K, alpha, A, B, beta, C, epilogue);
        return;
    }
    parallel_for(0, int64_t(tm) * tn, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t w = lo; w < hi; ++w) {
            const int64_t wi = w / tn, wj = w % tn;
            // Balanced runs of whole tiles: boundaries fall on the MR / NR grid.
            const int64_t m0 = std::min(M, (mt * wi / tm) * kern.mr);
            const int64_t m1 = std::min(M, (mt * (wi + 1) / tm) * kern.mr);
            const int64_t n0 = std::min(N, (nt * wj / tn) * kern.nr);
            const int64_t n1 = std::min(N, (nt * (wj + 1) / tn) * kern.nr);
            if (m0 < m1 && n0 < n1) gemm_range(kern, m0, m1, n0, n1, K, alpha, A, B, beta, C, epilogue);
        }
    });
}

}  // namespace

template <typename T>
void gemm(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha,
          StridedMatrix<const T> A, StridedMatrix<const T> B, T beta, StridedMatrix<T> C) {
    if (batch <= 0 || M == 0 || N == 0) return;
    const GemmKernel<T> kern = kernel_for<T>(cpu_capability());
    const int nthreads = get_num_threads();
    auto one = [&](int64_t b, int threads) {
        gemm_one<T>(kern, threads, M, N, K, alpha, {A.ptr + b * A.bs, A.rs, A.cs},
                    {B.ptr + b * B.bs, B.rs, B.cs}, beta, {C.ptr + b * C.bs, C.rs, C.cs}, nullptr);
    };
    // Whole matrices per thread when the batch splits evenly (or is large enough that the
    // remainder hardly matters); otherwise each product is threaded on its own.
    if (nthreads > 1 && batch > 1 && (batch % nthreads == 0 || batch >= 4 * nthreads)) {
        parallel_for(0, batch, 1, [&](int64_t lo, int64_t hi) {
            for (int64_t b = lo; b < hi; ++b) one(b, 1);
        });
    } else {
        for (int64_t b = 0; b < batch; ++b) one(b, nthreads);
    }
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, StridedMatrix<const T> A, StridedMatrix<const T> B,
          T beta, StridedMatrix<T> C, const GemmEpilogue* epilogue) {
    if (M == 0 || N == 0) return;
    gemm_one<T>(kernel_for<T>(cpu_capability()), get_num_threads(), M, N, K, alpha, {A.ptr, A.rs, A.cs},
                {B.ptr, B.rs, B.cs}, beta, {C.ptr, C.rs, C.cs}, epilogue);
}

template void gemm<float>(int64_t, int64_t, int64_t, float, StridedMatrix<const float>,
                          StridedMatrix<const float>, float, StridedMatrix<float>, const GemmEpilogue*);
template void gemm<double>(int64_t, int64_t, int64_t, double, StridedMatrix<const double>,
                           StridedMatrix<const double>, double, StridedMatrix<double>,
                           const GemmEpilogue*);
template void gemm<float>(int64_t, int64_t, int64_t, int64_t, float, StridedMatrix<const float>,
                          StridedMatrix<const float>, float, StridedMatrix<float>);
template void gemm<double>(int64_t, int64_t, int64_t, int64_t, double, StridedMatrix<const double>,
                           StridedMatrix<const double>, double, StridedMatrix<double>);

GemmBlockSizes gemm_block_sizes(CpuCapability cap, bool fp64) {
    if (fp64) {
        const GemmKernel<double> k = kernel_for<double>(cap);
        return {k.mr, k.nr, k.mc, k.kc, k.nc};
    }
    const GemmKernel<float> k = kernel_for<float>(cap);
    return {k.mr, k.nr, k.mc, k.kc, k.nc};
}

double fma_peak_flops(bool fp64, double seconds) {
    double (*loop)(int64_t, bool) = fma_peak_loop_ref;
#if defined(FASTNN_HAVE_X86_KERNELS)
    if (cpu_capability() == CpuCapability::avx512) loop = fma_peak_loop_avx512;
    if (cpu_capability() == CpuCapability::avx2) loop = fma_peak_loop_avx2;
#endif
    using Clock = std::chrono::steady_clock;
    const int nthreads = get_num_threads();
    // Calibrate on one thread, then run every thread for about `seconds`.
    int64_t iters = 1 << 16;
    for (;;) {
        auto t0 = Clock::now();
        loop(iters, fp64);
        double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        if (dt > 0.01 || iters >= (int64_t(1) << 40)) {
            iters = std::max<int64_t>(1, int64_t(double(iters) * seconds / dt));
            break;
        }
        iters *= 4;
    }
    std::vector<double> done(nthreads, 0.0);
    auto t0 = Clock::now();
    parallel_for(0, nthreads, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t t = lo; t < hi; ++t) done[t] = loop(iters, fp64);
    });
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    double flops = 0;
    for (double d : done) flops += d;
    return flops / dt;
}

}  // namespace fastnn
