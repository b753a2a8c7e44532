// Branch-free elementary functions over scalars (exp, expm1, log, log1p, tanh, sigmoid) for
// float and double, written so that GCC vectorises a plain loop calling them: no calls into
// libm, no data-dependent branches (selects only), bit casts through memcpy. Special values
// follow IEEE/libm: exp(-inf) = 0, exp(+inf) = exp(large) = inf, log(0) = -inf,
// log(x < 0) = NaN, NaN in gives NaN out. Accuracy over the whole range, measured against
// NumPy: exp, log <= 1 ulp (float) / 2 ulp (double); log1p, sigmoid, tanh <= 3; expm1 <= 3.2
// (tests/test_activation.py checks 4 ulp directly and through the kernels that use them).
//
// Constants are Stephen L. Moshier's Cephes Math Library (netlib.org/cephes): expf.c and
// logf.c (single), exp.c and log.c (double). Range reduction is Cody-Waite: x = n ln2 + r with
// ln2 split in two (C1 has few significant bits, so n * C1 is exact).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace fastnn {
namespace vmath {

inline int32_t bits_of(float x) { int32_t b; std::memcpy(&b, &x, 4); return b; }
inline int64_t bits_of(double x) { int64_t b; std::memcpy(&b, &x, 8); return b; }
inline float float_of(int32_t b) { float x; std::memcpy(&x, &b, 4); return x; }
inline double double_of(int64_t b) { double x; std::memcpy(&x, &b, 8); return x; }
template <class T> T float_of_bits(int32_t b) { return float_of(b); }
template <class T> T float_of_bits(int64_t b) { return double_of(b); }

// Round-to-nearest of |x| < 2^22 (float) / 2^51 (double), without float/int conversions
// (undefined for NaN, and without a vector instruction for 64-bit integers before
// AVX-512): adding 1.5 * 2^23 (2^52) leaves the rounded value in the low mantissa bits.
// round_to_int gives it as an integer, round_exact as a floating-point number.
template <class T> struct Magic;
template <> struct Magic<float> { static constexpr float v = 12582912.0f; };          // 1.5 * 2^23
template <> struct Magic<double> { static constexpr double v = 6755399441055744.0; };  // 1.5 * 2^52
template <class T>
inline auto round_to_int(T x) { return bits_of(x + Magic<T>::v) - bits_of(Magic<T>::v); }
template <class T>
inline T round_exact(T x) { return (x + Magic<T>::v) - Magic<T>::v; }

// 2^n for n within the normal exponent range.
inline float pow2(int32_t n) { return float_of(static_cast<int32_t>(static_cast<uint32_t>(n + 127) << 23)); }
inline double pow2(int64_t n) { return double_of(static_cast<int64_t>(static_cast<uint64_t>(n + 1023) << 52)); }

// exp(r) - 1 for |r| <= ln2/2 (the reduced argument).
inline float expm1_reduced(float r) {
    // Cephes expf.c: exp(r) = 1 + r + r^2 P(r), relative error ~1 ulp on [-ln2/2, ln2/2].
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    return p * (r * r) + r;
}
inline double expm1_reduced(double r) {
    // Cephes exp.c Pade form: exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)).
    const double rr = r * r;
    double p = 1.26177193074810590878E-4;
    p = p * rr + 3.02994407707441961300E-2;
    p = p * rr + 9.99999999999999999910E-1;
    p = p * r;
    double q = 3.00198505138664455042E-6;
    q = q * rr + 2.52448340349684104192E-3;
    q = q * rr + 2.27265548208155028766E-1;
    q = q * rr + 2.00000000000000000009E0;
    const double t = p / (q - p);
    return t + t;
}

template <class T> struct ExpConst;
template <> struct ExpConst<float> {
    // exp overflows above 88.72 and rounds to 0 below -103.97 (half the least subnormal).
    static constexpr float lo = -104.0f, hi = 89.0f;
    static constexpr float log2e = 1.44269504088896341f, c1 = 0.693359375f, c2 = -2.12194440e-4f;
};
template <> struct ExpConst<double> {
    static constexpr double lo = -746.0, hi = 710.0;
    static constexpr double log2e = 1.4426950408889634073599, c1 = 6.93145751953125E-1,
                            c2 = 1.42860682030941723212E-6;
};

// exp(x). The clamp keeps n inside [-150, 129] (float) / [-1077, 1025] (double); 2^n is
// applied as two normal factors 2^n1 * 2^n2, so results overflow to inf and underflow
// gradually through the subnormals with a single rounding. NaN passes the clamp unchanged
// (comparisons with NaN are false) and propagates through the polynomial.
template <class T>
inline T exp(T x) {
    using C = ExpConst<T>;
    x = x < C::lo ? C::lo : x;
    x = x > C::hi ? C::hi : x;
    const T nf = x * C::log2e;
    const auto n = round_to_int(nf);
    const T fn = round_exact(nf);
    const T r = (x - fn * C::c1) - fn * C::c2;
    const auto n1 = round_to_int(fn * T(0.5));
    const auto n2 = n - n1;
    return ((expm1_reduced(r) + T(1)) * pow2(n1)) * pow2(n2);
}

// exp(x) - 1, accurate near 0: the reduced approximation for |x| <= ln2/2 (float) or 1/2
// (double, the domain Cephes expm1.c uses the same Pade form on), else exp(x) - 1 (there
// the subtraction magnifies exp's error at most e^0.35 / (e^0.35 - 1) < 2.5 times).
template <class T>
inline T expm1(T x) {
    const T small = expm1_reduced(x);
    const T big = exp(x) - T(1);
    const T ax = x < 0 ? -x : x;
    return ax <= (sizeof(T) == 4 ? T(0.34657359027997264) : T(0.5)) ? small : big;
}

// Coefficients of log(1+f) = f - f^2/2 + f^3 R(f) on [sqrt(1/2) - 1, sqrt(2) - 1].
inline float log1p_reduced(float f) {
    // Cephes logf.c: polynomial of degree 8.
    float p = 7.0376836292E-2f;
    p = p * f - 1.1514610310E-1f;
    p = p * f + 1.1676998740E-1f;
    p = p * f - 1.2420140846E-1f;
    p = p * f + 1.4249322787E-1f;
    p = p * f - 1.6668057665E-1f;
    p = p * f + 2.0000714765E-1f;
    p = p * f - 2.4999993993E-1f;
    p = p * f + 3.3333331174E-1f;
    const float z = f * f;
    return f * z * p - 0.5f * z;  // log(1+f) - f
}
inline double log1p_reduced(double f) {
    // Cephes log.c: rational P(f)/Q(f) of degree 5/5 (Q monic).
    double p = 1.01875663804580931796E-4;
    p = p * f + 4.97494994976747001425E-1;
    p = p * f + 4.70579119878881725854E0;
    p = p * f + 1.44989225341610930846E1;
    p = p * f + 1.79368678507819816313E1;
    p = p * f + 7.70838733755885391666E0;
    double q = f + 1.12873587189167450590E1;
    q = q * f + 4.52279145837532221105E1;
    q = q * f + 8.29875266912776603211E1;
    q = q * f + 7.11544750618563894466E1;
    q = q * f + 2.31251620126765340583E1;
    const double z = f * f;
    return f * (z * p / q) - 0.5 * z;
}

template <class T> struct LogBits;
template <> struct LogBits<float> {
    using I = int32_t;
    static constexpr int mant = 23;
    static constexpr I bias = 126, exp_mask = 0xff, mant_mask = 0x007fffff, half = 0x3f000000;  // 0.5
    static constexpr float min_normal = 1.17549435e-38f, scale = 8388608.0f, two_mant = 8388608.0f;
};
template <> struct LogBits<double> {
    using I = int64_t;
    static constexpr int mant = 52;
    static constexpr I bias = 1022, exp_mask = 0x7ff, mant_mask = 0x000fffffffffffffLL,
                       half = 0x3fe0000000000000LL;  // bits of 0.5
    static constexpr double min_normal = 2.2250738585072014e-308, scale = 4503599627370496.0,
                            two_mant = 4503599627370496.0;  // 2^52
};

// log(x): x = m 2^e with m in [sqrt(1/2), sqrt(2)), log x = e ln2 + log(1 + (m - 1)).
// Subnormals are scaled into the normal range first; x = 0, x < 0, +inf and NaN are
// patched at the end with selects.
template <class T>
inline T log(T x) {
    using B = LogBits<T>;
    using I = typename B::I;
    const bool sub = x < B::min_normal;
    const T xs = sub ? x * B::scale : x;
    const I b = bits_of(xs);
    // The biased exponent field (0..255 / 0..2047) as a floating-point number: its bits
    // added to those of 2^23 (2^52) give 2^23 + field exactly.
    const I field = static_cast<I>(static_cast<std::make_unsigned_t<I>>(b) >> B::mant) & B::exp_mask;
    T e = (float_of_bits<T>(bits_of(B::two_mant) + field) - B::two_mant) - T(B::bias);
    e = sub ? e - T(B::mant) : e;
    const T m = float_of_bits<T>((b & B::mant_mask) | B::half);  // in [0.5, 1)
    const bool low = m < T(0.70710678118654752440);
    e = low ? e - T(1) : e;
    const T f = low ? (m + m) - T(1) : m - T(1);
    const T fe = e;
    // Cephes: e ln2 added as e C1 + e C2 (C1 = 0.693359375 exact in few bits).
    T r = log1p_reduced(f) + fe * T(-2.121944400546905827679e-4);
    r = (f + r) + fe * T(0.693359375);
    const T inf = std::numeric_limits<T>::infinity();
    r = x == inf ? inf : r;
    r = x == T(0) ? -inf : r;
    r = !(x >= T(0)) ? std::numeric_limits<T>::quiet_NaN() : r;  // x < 0 or NaN
    return r;
}

// log(1 + x), accurate near 0: with u = 1 + x rounded, log(u) * (x / (u - 1)) corrects for
// the rounding of u (Goldberg, "What every computer scientist should know about
// floating-point arithmetic", ACM Computing Surveys 23(1), 1991, Theorem 4); x itself when
// u rounds to 1. The selects compare single conditions: an || here stops GCC vectorising.
template <class T>
inline T log1p(T x) {
    const T u = T(1) + x;
    const T d = u - T(1);
    const bool tiny = d == T(0);
    const T r = log(u) * (x / (tiny ? T(1) : d));
    const T big = u == std::numeric_limits<T>::infinity() ? u : r;  // x = inf: no 0 * inf
    return tiny ? x : big;
}

// tanh(x) = sign(x) * (-t) / (t + 2) with t = expm1(-2|x|) in (-1, 0]: no overflow and full
// relative accuracy near 0.
template <class T>
inline T tanh(T x) {
    const T ax = x < 0 ? -x : x;
    const T t = expm1(T(-2) * ax);
    const T r = -t / (t + T(2));
    return x < 0 ? -r : r;
}

// 1 / (1 + exp(-x)) evaluated with e = exp(-|x|) <= 1: 1 / (1 + e) for x >= 0 and
// e / (1 + e) for x < 0, so neither side overflows or loses relative accuracy.
template <class T>
inline T sigmoid(T x) {
    const T ax = x < 0 ? -x : x;
    const T e = exp(-ax);
    const T s = T(1) / (T(1) + e);
    return x < 0 ? e * s : s;
}

}  // namespace vmath
}  // namespace fastnn
