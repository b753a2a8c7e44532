// AVX-512F microkernels (compiled with -mavx512f; selected at run time only on CPUs with
// AVX-512F). float: 12x32 tile (24 zmm accumulators of the 32); double: 12x16.
// KC is kept smaller than on AVX2 so the KC x NR micro-panel of B (NR twice as wide) still
// fits a 32-48 KiB L1.
#include <immintrin.h>

#include "gemm/gemm_ukernel.h"
#include "gemm/gemm_ukernel_simd.h"

namespace fastnn {
namespace {

struct Avx512F32 {
    using T = float;
    using R = __m512;
    static constexpr int W = 16;
    static R zero() { return _mm512_setzero_ps(); }
    static R set1(T x) { return _mm512_set1_ps(x); }
    static R load(const T* p) { return _mm512_loadu_ps(p); }
    static R bcast(const T* p) { return _mm512_set1_ps(*p); }
    static R fmadd(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
    static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
    static void store(T* p, R r) { _mm512_storeu_ps(p, r); }
    static T fma1(T a, T b, T c) { return __builtin_fmaf(a, b, c); }
};

struct Avx512F64 {
    using T = double;
    using R = __m512d;
    static constexpr int W = 8;
    static R zero() { return _mm512_setzero_pd(); }
    static R set1(T x) { return _mm512_set1_pd(x); }
    static R load(const T* p) { return _mm512_loadu_pd(p); }
    static R bcast(const T* p) { return _mm512_set1_pd(*p); }
    static R fmadd(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
    static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
    static void store(T* p, R r) { _mm512_storeu_pd(p, r); }
    static T fma1(T a, T b, T c) { return __builtin_fma(a, b, c); }
};

}  // namespace

GemmKernel<float> gemm_kernel_avx512_f32() {
    return {12, 32, 192, 192, 4064, &gemm_ukernel_simd<Avx512F32, 12, 2, true>,
            &gemm_ukernel_simd<Avx512F32, 12, 2, false>, nullptr, nullptr, 0};
}

GemmKernel<double> gemm_kernel_avx512_f64() {
    return {12, 16, 96, 192, 4064, &gemm_ukernel_simd<Avx512F64, 12, 2, true>,
            &gemm_ukernel_simd<Avx512F64, 12, 2, false>, nullptr, nullptr, 0};
}

double fma_peak_loop_avx512(int64_t iters, bool fp64) {
    return fp64 ? fma_peak_simd<Avx512F64>(iters) : fma_peak_simd<Avx512F32>(iters);
}

}  // namespace fastnn
