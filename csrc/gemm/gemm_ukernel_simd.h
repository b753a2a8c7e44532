// The register-blocked microkernel, written once over a small vector-ops struct V and
// instantiated by each ISA's translation unit (gemm_ukernel_avx2.cpp, _avx512.cpp) with its
// own compiler flags. Everything here has internal linkage, so no inline function compiled
// for a wider ISA can be picked by the linker for a narrower path.
//
// V provides: T (scalar), R (register), W (lanes), zero(), set1(x), load(p), bcast(p),
// fmadd(a, b, c) = a*b + c, mul(a, b), store(p, r), fma1(a, b, c) (scalar fused a*b + c).
#pragma once

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
