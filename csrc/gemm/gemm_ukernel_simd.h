// The register-blocked microkernel, written once over a small vector-ops struct V and
// instantiated by each ISA's translation unit (gemm_ukernel_avx2.cpp, _avx512.cpp) with its
// own compiler flags. Everything here has internal linkage, so no inline function compiled
// for a wider ISA can be picked by the linker for a narrower path.
//
// V provides: T (scalar), R (register), W (lanes), zero(), set1(x), load(p), bcast(p),
// fmadd(a, b, c) = a*b + c, mul(a, b), store(p, r), fma1(a, b, c) (scalar fused a*b + c),
// and, for the dot kernel, sum4(r0, r1, r2, r3, out): out[i] = the sum of ri's lanes.
#pragma once

#include <algorithm>
#include <cstdint>

namespace fastnn {
namespace {

// One MR x (NV*W) tile: C = alpha * A @ b + beta * C (layouts as in gemm_ukernel.h). With
// kPackedA, a is a packed panel; otherwise A(i, p) = a[i*rsa + p*csa] and m == MR.
// Full tiles with unit column stride are stored straight from the registers; partial or
// strided tiles go through a small buffer with the same arithmetic, so an element's bits do
// not depend on which kind of tile it fell in, nor on whether A was packed.
template <class V, int MR, int NV, bool kPackedA>
void gemm_ukernel_simd(int64_t m, int64_t n, int64_t k, typename V::T alpha,
                       const typename V::T* a, int64_t rsa, int64_t csa, const typename V::T* b,
                       typename V::T beta, typename V::T* c, int64_t rsc, int64_t csc,
                       const typename V::T* b_next) {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int W = V::W;
    constexpr int NR = NV * W;

    for (int i = 0; i < MR; ++i)
        if (i < m) __builtin_prefetch(c + i * rsc, 1);

    R acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();

#pragma GCC unroll 4
    for (int64_t p = 0; p < k; ++p) {
        if (b_next) {  // one row of the next panel per step: the whole panel by the end
            __builtin_prefetch(b_next + p * NR);
            if (NR * sizeof(T) > 64) __builtin_prefetch(b_next + p * NR + 64 / sizeof(T));
        }
        R bv[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * W);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            R av = V::bcast(kPackedA ? a + i : a + i * rsa);
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
        }
        a += kPackedA ? MR : csa;
        b += NR;
    }

    if (alpha != T(1)) {  // x * 1 == x exactly, so skipping the multiply changes no bits
        const R va = V::set1(alpha);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) acc[i][j] = V::mul(acc[i][j], va);
    }

    if (m == MR && n == NR && csc == 1) {
        if (beta == T(0)) {
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
                for (int j = 0; j < NV; ++j) V::store(c + i * rsc + j * W, acc[i][j]);
        } else {
            const R vb = V::set1(beta);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
                for (int j = 0; j < NV; ++j) {
                    T* ct = c + i * rsc + j * W;
                    V::store(ct, V::fmadd(vb, V::load(ct), acc[i][j]));
                }
        }
        return;
    }

    alignas(64) T tile[MR * NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) V::store(tile + i * NR + j * W, acc[i][j]);
    for (int64_t i = 0; i < m; ++i) {
        T* crow = c + i * rsc;
        const T* trow = tile + i * NR;
        if (beta == T(0)) {
            for (int64_t j = 0; j < n; ++j) crow[j * csc] = trow[j];
        } else {
            for (int64_t j = 0; j < n; ++j) crow[j * csc] = V::fma1(beta, crow[j * csc], trow[j]);
        }
    }
}

// A ROWS x COLS block of dot products (layouts in gemm_ukernel.h): ROWS*COLS vector
// accumulators over k's whole vectors, their lanes summed by V::sum4, then the k % W tail
// element by element in order. Every accumulator's lanes are summed the same way, so an
// element's bits depend on k alone, not on the block shape it was computed in.
template <class V, int ROWS, int COLS>
void gemm_dot_simd(int64_t k, typename V::T alpha, const typename V::T* a, int64_t lda,
                   const typename V::T* bt, int64_t ldb, typename V::T beta, typename V::T* c,
                   int64_t rsc, int64_t csc) {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int W = V::W;
    constexpr int NACC = ROWS * COLS;
    constexpr int NPAD = (NACC + 3) / 4 * 4;

    R acc[NPAD];
#pragma GCC unroll 16
    for (int i = 0; i < NPAD; ++i) acc[i] = V::zero();
    const int64_t kv = k / W * W;
#pragma GCC unroll 2
    for (int64_t p = 0; p < kv; p += W) {
        R av[ROWS];
#pragma GCC unroll 2
        for (int r = 0; r < ROWS; ++r) av[r] = V::load(a + r * lda + p);
#pragma GCC unroll 8
        for (int j = 0; j < COLS; ++j) {
            const R bv = V::load(bt + j * ldb + p);
#pragma GCC unroll 2
            for (int r = 0; r < ROWS; ++r) acc[r * COLS + j] = V::fmadd(av[r], bv, acc[r * COLS + j]);
        }
    }
    alignas(64) T sums[NPAD];
#pragma GCC unroll 4
    for (int i = 0; i < NPAD; i += 4) V::sum4(acc[i], acc[i + 1], acc[i + 2], acc[i + 3], sums + i);
    for (int64_t p = kv; p < k; ++p)
        for (int r = 0; r < ROWS; ++r)
            for (int j = 0; j < COLS; ++j) sums[r * COLS + j] = V::fma1(a[r * lda + p], bt[j * ldb + p], sums[r * COLS + j]);
    for (int r = 0; r < ROWS; ++r)
        for (int j = 0; j < COLS; ++j) {
            // alpha then beta, in the microkernel's order
            const T v = alpha != T(1) ? sums[r * COLS + j] * alpha : sums[r * COLS + j];
            T* cij = c + r * rsc + j * csc;
            *cij = beta == T(0) ? v : V::fma1(beta, *cij, v);
        }
}

// The dot kernel for any rows (1 or 2) x cols (1 to kDotMaxCols) block.
template <class V>
void gemm_dot_any(int rows, int cols, int64_t k, typename V::T alpha, const typename V::T* a, int64_t lda,
                  const typename V::T* bt, int64_t ldb, typename V::T beta, typename V::T* c, int64_t rsc,
                  int64_t csc) {
    using Fn = void (*)(int64_t, typename V::T, const typename V::T*, int64_t, const typename V::T*, int64_t,
                        typename V::T, typename V::T*, int64_t, int64_t);
    static constexpr Fn table[2][kDotMaxCols] = {
        {&gemm_dot_simd<V, 1, 1>, &gemm_dot_simd<V, 1, 2>, &gemm_dot_simd<V, 1, 3>, &gemm_dot_simd<V, 1, 4>,
         &gemm_dot_simd<V, 1, 5>, &gemm_dot_simd<V, 1, 6>},
        {&gemm_dot_simd<V, 2, 1>, &gemm_dot_simd<V, 2, 2>, &gemm_dot_simd<V, 2, 3>, &gemm_dot_simd<V, 2, 4>,
         &gemm_dot_simd<V, 2, 5>, &gemm_dot_simd<V, 2, 6>}};
    table[rows - 1][cols - 1](k, alpha, a, lda, bt, ldb, beta, c, rsc, csc);
}

// ROWS rows of C, n <= kRowsStripeBytes / sizeof(T) columns: B's rows streamed in place,
// four at a time (four sequential streams), into per-row sums kept in L1; A's elements are
// broadcast. Each element is a chain of FMAs over p in order from zero, as in the
// microkernel, so its bits do not depend on ROWS, n or the path.
constexpr int64_t kRowsStripeBytes = 8192;

template <class V, int ROWS>
void gemm_rows_simd(int64_t n, int64_t k, typename V::T alpha, const typename V::T* a, int64_t rsa,
                    int64_t csa, const typename V::T* b, int64_t ldb, typename V::T beta, typename V::T* c,
                    int64_t rsc, int64_t csc) {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int W = V::W;
    constexpr int64_t S = kRowsStripeBytes / sizeof(T);
    alignas(64) T acc[ROWS][S];
    for (int r = 0; r < ROWS; ++r) std::fill(acc[r], acc[r] + n, T(0));
    const int64_t nv = n / W * W;
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        const T* b0 = b + p * ldb;
        R av[ROWS][4];
        for (int r = 0; r < ROWS; ++r)
            for (int q = 0; q < 4; ++q) av[r][q] = V::bcast(a + r * rsa + (p + q) * csa);
        for (int64_t j = 0; j < nv; j += W) {
            const R x0 = V::load(b0 + j), x1 = V::load(b0 + ldb + j);
            const R x2 = V::load(b0 + 2 * ldb + j), x3 = V::load(b0 + 3 * ldb + j);
#pragma GCC unroll 2
            for (int r = 0; r < ROWS; ++r) {
                R s = V::load(acc[r] + j);
                s = V::fmadd(av[r][0], x0, s);
                s = V::fmadd(av[r][1], x1, s);
                s = V::fmadd(av[r][2], x2, s);
                s = V::fmadd(av[r][3], x3, s);
                V::store(acc[r] + j, s);
            }
        }
        for (int64_t j = nv; j < n; ++j)
            for (int r = 0; r < ROWS; ++r)
                for (int q = 0; q < 4; ++q) acc[r][j] = V::fma1(a[r * rsa + (p + q) * csa], b0[q * ldb + j], acc[r][j]);
    }
    for (; p < k; ++p)
        for (int r = 0; r < ROWS; ++r) {
            const T ap = a[r * rsa + p * csa];
            for (int64_t j = 0; j < n; ++j) acc[r][j] = V::fma1(ap, b[p * ldb + j], acc[r][j]);
        }
    for (int r = 0; r < ROWS; ++r) {
        T* crow = c + r * rsc;
        for (int64_t j = 0; j < n; ++j) {
            const T x = alpha != T(1) ? acc[r][j] * alpha : acc[r][j];  // alpha then beta, as the microkernel
            crow[j * csc] = beta == T(0) ? x : V::fma1(beta, crow[j * csc], x);
        }
    }
}

template <class V>
void gemm_rows_any(int rows, int64_t n, int64_t k, typename V::T alpha, const typename V::T* a, int64_t rsa,
                   int64_t csa, const typename V::T* b, int64_t ldb, typename V::T beta, typename V::T* c,
                   int64_t rsc, int64_t csc) {
    if (rows == 2)
        gemm_rows_simd<V, 2>(n, k, alpha, a, rsa, csa, b, ldb, beta, c, rsc, csc);
    else
        gemm_rows_simd<V, 1>(n, k, alpha, a, rsa, csa, b, ldb, beta, c, rsc, csc);
}

// NACC independent FMA chains per thread, enough to cover the FMA latency on every
// current x86 core; returns the FLOPs performed.
template <class V>
double fma_peak_simd(int64_t iters) {
    using T = typename V::T;
    using R = typename V::R;
    constexpr int NACC = 12;
    R acc[NACC];
    for (int i = 0; i < NACC; ++i) acc[i] = V::set1(T(i) * T(0.001));
    const R x = V::set1(T(0.999999)), y = V::set1(T(0.5));
    for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < NACC; ++i) acc[i] = V::fmadd(acc[i], x, y);
    }
    alignas(64) T out[V::W];
    T sum = 0;
    for (int i = 0; i < NACC; ++i) {
        V::store(out, acc[i]);
        for (int j = 0; j < V::W; ++j) sum += out[j];
    }
    // Using the sum keeps the loop alive; it is finite by construction.
    return sum == sum ? double(iters) * NACC * V::W * 2 : 0.0;
}

}  // namespace
}  // namespace fastnn
