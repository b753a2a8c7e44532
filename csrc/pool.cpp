// 2-D pooling kernels (see pool.h). Every kernel runs one plane at a time, in a fixed
// order inside the plane, and threads over planes only, so results never depend on the
// thread count.
#include "pool.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "parallel.h"

namespace fastnn {

namespace {

// Planes per parallel_for chunk: about 32K element visits per chunk.
int64_t plane_grain(int64_t work_per_plane) {
    return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work_per_plane));
}

// Torch's max rule: a value replaces the running maximum when it is larger or NaN.
template <typename T>
inline bool takes_max(T v, T m) {
    return v > m || v != v;
}

// One output of max pooling by the general rule (any window, padding, dilation).
template <typename T>
inline void max_window(const T* plane, const PoolGeometry& g, int64_t oh, int64_t ow, T* val,
                       int64_t* idx) {
    int64_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
    // First in-range row and column of the window (torch starts its index there).
    int64_t kh0 = h0 < 0 ? (-h0 + g.DH - 1) / g.DH : 0;
    int64_t kw0 = w0 < 0 ? (-w0 + g.DW - 1) / g.DW : 0;
    T m = -std::numeric_limits<T>::infinity();
    int64_t mi = (h0 + kh0 * g.DH) * g.W + (w0 + kw0 * g.DW);
    for (int64_t kh = kh0; kh < g.KH; ++kh) {
        const int64_t ih = h0 + kh * g.DH;
        if (ih >= g.H) break;
        const T* row = plane + ih * g.W;
        for (int64_t kw = kw0; kw < g.KW; ++kw) {
            const int64_t iw = w0 + kw * g.DW;
            if (iw >= g.W) break;
            const T v = row[iw];
            if (takes_max(v, m)) {
                m = v;
                mi = ih * g.W + iw;
            }
        }
    }
    *val = m;
    *idx = mi;
}

// The common 2x2, stride 2, unpadded, undilated case on the outputs whose window lies
// fully inside the plane: four loads and three compare-selects per output, written without
// branches (random data would mispredict every other one).
template <typename T, bool WithIndices>
void max_pool2x2_plane(T* out, int64_t* ind, const T* plane, const PoolGeometry& g) {
    const int64_t W = g.W, OHf = g.H / 2, OWf = g.W / 2;
    for (int64_t oh = 0; oh < OHf; ++oh) {
        const T* r0 = plane + 2 * oh * W;
        const T* r1 = r0 + W;
        T* o = out + oh * g.OW;
        int64_t* oi = WithIndices ? ind + oh * g.OW : nullptr;
        const int64_t base = 2 * oh * W;
        int64_t ow = 0;
#if defined(__SSE2__)
        if constexpr (std::is_same_v<T, float>) {
            // Four outputs at a time: deinterleave the even (a, c) and odd (b, d) columns of
            // both rows, then select lane-wise; k holds each lane's offset in its window.
            const __m128i one = _mm_set1_epi32(1), w0 = _mm_set1_epi32(static_cast<int>(W)),
                          w1 = _mm_set1_epi32(static_cast<int>(W + 1));
            auto quad = [&](int64_t ow) {
                const __m128 u0 = _mm_loadu_ps(r0 + 2 * ow), u1 = _mm_loadu_ps(r0 + 2 * ow + 4);
                const __m128 v0 = _mm_loadu_ps(r1 + 2 * ow), v1 = _mm_loadu_ps(r1 + 2 * ow + 4);
                const __m128 a = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0));
                const __m128 b = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
                const __m128 c = _mm_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0));
                const __m128 d = _mm_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
                __m128 m = a;
                __m128i k = _mm_setzero_si128();
                auto step = [&](__m128 v, __m128i kv) {
                    const __m128 t = _mm_or_ps(_mm_cmpgt_ps(v, m), _mm_cmpunord_ps(v, v));
                    m = _mm_or_ps(_mm_and_ps(t, v), _mm_andnot_ps(t, m));
                    const __m128i ti = _mm_castps_si128(t);
                    k = _mm_or_si128(_mm_and_si128(ti, kv), _mm_andnot_si128(ti, k));
                };
                step(b, one);
                step(c, w0);
                step(d, w1);
                _mm_storeu_ps(o + ow, m);
                if (WithIndices) {
                    // index = base + 2*ow + k; plane offsets fit in 31 bits (checked by the caller)
                    const __m128i col = _mm_add_epi32(_mm_set1_epi32(static_cast<int>(base + 2 * ow)),
                                                      _mm_set_epi32(6, 4, 2, 0));
                    const __m128i idx = _mm_add_epi32(col, k);
                    const __m128i zero = _mm_setzero_si128();
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(oi + ow), _mm_unpacklo_epi32(idx, zero));
                    _mm_storeu_si128(reinterpret_cast<__m128i*>(oi + ow + 2), _mm_unpackhi_epi32(idx, zero));
                }
            };
            for (; ow + 4 <= OWf; ow += 4) quad(ow);
            // A ragged end (OW = 7 for 14x14 inputs) is one more quad overlapping the last
            // one: the outputs computed twice get the same values.
            if (ow < OWf && OWf >= 4) {
                quad(OWf - 4);
                ow = OWf;
            }
        }
#endif
        for (; ow < OWf; ++ow) {
            const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            T m = a;
            int64_t k = 0;
            bool t = takes_max(b, m);
            m = t ? b : m;
            k = t ? 1 : k;
            t = takes_max(c, m);
            m = t ? c : m;
            k = t ? W : k;
            t = takes_max(d, m);
            m = t ? d : m;
            k = t ? W + 1 : k;
            o[ow] = m;
            if (WithIndices) oi[ow] = base + 2 * ow + k;
        }
    }
}

}  // namespace

template <typename T>
void max_pool2d_forward(T* out, int64_t* indices, const T* inp, const PoolGeometry& g) {
    const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
    const bool fast = g.KH == 2 && g.KW == 2 && g.SH == 2 && g.SW == 2 && g.PH == 0 && g.PW == 0 &&
                      g.DH == 1 && g.DW == 1 && HW < (int64_t(1) << 31);
    // In the fast case only a ceil_mode remainder row/column goes through max_window.
    const int64_t OHf = fast ? g.H / 2 : 0, OWf = fast ? g.W / 2 : 0;
    parallel_for(0, g.P, plane_grain(OHW * g.KH * g.KW), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const T* plane = inp + p * HW;
            T* o = out + p * OHW;
            int64_t* oi = indices ? indices + p * OHW : nullptr;
            if (fast) {
                if (oi)
                    max_pool2x2_plane<T, true>(o, oi, plane, g);
                else
                    max_pool2x2_plane<T, false>(o, nullptr, plane, g);
            }
            for (int64_t oh = 0; oh < g.OH; ++oh) {
                const int64_t ow_begin = oh < OHf ? OWf : 0;
                for (int64_t ow = ow_begin; ow < g.OW; ++ow) {
                    int64_t idx;
                    max_window(plane, g, oh, ow, &o[oh * g.OW + ow], &idx);
                    if (oi) oi[oh * g.OW + ow] = idx;
                }
            }
        }
    });
}

namespace {

// v if keep, else +0, without a branch (the four cases come in random order).
template <typename T>
inline T select_or_zero(bool keep, T v) {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    U bits;
    std::memcpy(&bits, &v, sizeof(T));
    bits &= U(0) - static_cast<U>(keep);
    std::memcpy(&v, &bits, sizeof(T));
    return v;
}

// Backward of one plane when every index lies in its output's 2x2 cell
// [2oh, 2oh + 2) x [2ow, 2ow + 2) (what max_pool2d's fast path produces): the cells are
// disjoint, so each input element is written once, with no zeroing pass and no scatter.
// Returns false, with d partly written, as soon as a row holds an index outside its cell.
template <typename T>
bool max_pool2x2_backward_plane(T* d, const T* go, const int64_t* ind, int64_t H, int64_t W, int64_t OH,
                                int64_t OW) {
    for (int64_t oh = 0; oh < OH; ++oh) {
        T* r0 = d + 2 * oh * W;
        T* r1 = r0 + W;
        const T* g = go + oh * OW;
        const int64_t* in = ind + oh * OW;
        const int64_t base = 2 * oh * W;
        bool ok = true;
        int64_t ow = 0;
#if defined(__SSE2__)
        if constexpr (std::is_same_v<T, float>) {
            // Four outputs per step. Indices are checked as 32-bit values: the high halves
            // must be zero and the low halves non-negative (the plane has < 2^31 elements).
            const __m128i w0 = _mm_set1_epi32(static_cast<int>(W)), w1 = _mm_set1_epi32(static_cast<int>(W + 1));
            const __m128i one = _mm_set1_epi32(1), zero = _mm_setzero_si128();
            __m128i bad = zero;
            auto quad = [&](int64_t ow) {
                const __m128 i01 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + ow)));
                const __m128 i23 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + ow + 2)));
                const __m128i lo = _mm_castps_si128(_mm_shuffle_ps(i01, i23, _MM_SHUFFLE(2, 0, 2, 0)));
                const __m128i hi = _mm_castps_si128(_mm_shuffle_ps(i01, i23, _MM_SHUFFLE(3, 1, 3, 1)));
                const __m128i col = _mm_add_epi32(_mm_set1_epi32(static_cast<int>(base + 2 * ow)),
                                                  _mm_set_epi32(6, 4, 2, 0));
                const __m128i rel = _mm_sub_epi32(lo, col);
                const __m128 ma = _mm_castsi128_ps(_mm_cmpeq_epi32(rel, zero));
                const __m128 mb = _mm_castsi128_ps(_mm_cmpeq_epi32(rel, one));
                const __m128 mc = _mm_castsi128_ps(_mm_cmpeq_epi32(rel, w0));
                const __m128 md = _mm_castsi128_ps(_mm_cmpeq_epi32(rel, w1));
                const __m128i hit = _mm_castps_si128(_mm_or_ps(_mm_or_ps(ma, mb), _mm_or_ps(mc, md)));
                bad = _mm_or_si128(bad, _mm_or_si128(_mm_or_si128(hi, _mm_cmplt_epi32(lo, zero)),
                                                     _mm_andnot_si128(hit, _mm_set1_epi32(-1))));
                const __m128 gv = _mm_loadu_ps(g + ow);
                const __m128 a = _mm_and_ps(ma, gv), b = _mm_and_ps(mb, gv);
                const __m128 c = _mm_and_ps(mc, gv), dd = _mm_and_ps(md, gv);
                _mm_storeu_ps(r0 + 2 * ow, _mm_unpacklo_ps(a, b));
                _mm_storeu_ps(r0 + 2 * ow + 4, _mm_unpackhi_ps(a, b));
                _mm_storeu_ps(r1 + 2 * ow, _mm_unpacklo_ps(c, dd));
                _mm_storeu_ps(r1 + 2 * ow + 4, _mm_unpackhi_ps(c, dd));
            };
            for (; ow + 4 <= OW; ow += 4) quad(ow);
            if (ow < OW && OW >= 4) {  // a ragged end: one overlapping quad, as in the forward
                quad(OW - 4);
                ow = OW;
            }
            ok = _mm_movemask_epi8(bad) == 0;
        }
#endif
        for (; ow < OW; ++ow) {
            const int64_t rel = in[ow] - (base + 2 * ow);
            const T v = g[ow];
            ok &= rel == 0 || rel == 1 || rel == W || rel == W + 1;
            r0[2 * ow] = select_or_zero(rel == 0, v);
            r0[2 * ow + 1] = select_or_zero(rel == 1, v);
            r1[2 * ow] = select_or_zero(rel == W, v);
            r1[2 * ow + 1] = select_or_zero(rel == W + 1, v);
        }
        if (!ok) return false;
        for (int64_t w = 2 * OW; w < W; ++w) r0[w] = r1[w] = T(0);  // an odd last column
    }
    for (int64_t h = 2 * OH; h < H; ++h)  // an odd last row
        std::memset(d + h * W, 0, sizeof(T) * W);
    return true;
}

}  // namespace

template <typename T>
bool max_pool2d_backward(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                         int64_t OH, int64_t OW) {
    const int64_t HW = H * W, OHW = OH * OW;
    // Output planes that tile the input with 2x2 cells (up to an odd last row or column)
    // first try the cell path; any other indices take the general scatter.
    const bool cells = HW < (int64_t(1) << 31) && (H == 2 * OH || H == 2 * OH + 1) &&
                       (W == 2 * OW || W == 2 * OW + 1);
    std::atomic<bool> ok{true};
    parallel_for(0, P, plane_grain(HW + OHW), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1 && ok.load(std::memory_order_relaxed); ++p) {
            T* d = dinp + p * HW;
            const T* go = dout + p * OHW;
            const int64_t* ind = indices + p * OHW;
            if (cells && max_pool2x2_backward_plane(d, go, ind, H, W, OH, OW)) continue;
            std::memset(d, 0, sizeof(T) * HW);
            for (int64_t o = 0; o < OHW; ++o) {
                const int64_t i = ind[o];
                if (i < 0 || i >= HW) {
                    ok.store(false, std::memory_order_relaxed);
                    return;
                }
                d[i] += go[o];
            }
        }
    });
    return ok.load();
}

namespace {

// Window of average-pooling output (oh, ow): clipped bounds [h0, h1) x [w0, w1) and divisor.
struct AvgWindow {
    int64_t h0, h1, w0, w1;
    double divisor;
};

inline AvgWindow avg_window(const PoolGeometry& g, int64_t oh, int64_t ow, bool count_include_pad,
                            int64_t divisor_override) {
    int64_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
    int64_t h1 = std::min(h0 + g.KH, g.H + g.PH), w1 = std::min(w0 + g.KW, g.W + g.PW);
    const int64_t padded = (h1 - h0) * (w1 - w0);
    h0 = std::max<int64_t>(h0, 0);
    w0 = std::max<int64_t>(w0, 0);
    h1 = std::min(h1, g.H);
    w1 = std::min(w1, g.W);
    double div;
    if (divisor_override > 0)
        div = static_cast<double>(divisor_override);
    else if (count_include_pad)
        div = static_cast<double>(padded);
    else
        div = static_cast<double>(std::max<int64_t>(0, h1 - h0) * std::max<int64_t>(0, w1 - w0));
    return {h0, h1, w0, w1, div};
}

}  // namespace

template <typename T>
void avg_pool2d_forward(T* out, const T* inp, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override) {
    const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
    parallel_for(0, g.P, plane_grain(OHW * g.KH * g.KW), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const T* plane = inp + p * HW;
            T* o = out + p * OHW;
            for (int64_t oh = 0; oh < g.OH; ++oh) {
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const AvgWindow w = avg_window(g, oh, ow, count_include_pad, divisor_override);
                    if (w.h0 >= w.h1 || w.w0 >= w.w1) {  // no input under the window (torch: 0)
                        o[oh * g.OW + ow] = T(0);
                        continue;
                    }
                    double s = 0.0;
                    for (int64_t ih = w.h0; ih < w.h1; ++ih)
                        for (int64_t iw = w.w0; iw < w.w1; ++iw) s += plane[ih * g.W + iw];
                    o[oh * g.OW + ow] = static_cast<T>(s / w.divisor);
                }
            }
        }
    });
}

template <typename T>
void avg_pool2d_backward(T* dinp, const T* dout, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override) {
    const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
    parallel_for(0, g.P, plane_grain(HW + OHW * g.KH * g.KW), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            T* d = dinp + p * HW;
            const T* go = dout + p * OHW;
            std::memset(d, 0, sizeof(T) * HW);
            for (int64_t oh = 0; oh < g.OH; ++oh) {
                for (int64_t ow = 0; ow < g.OW; ++ow) {
                    const AvgWindow w = avg_window(g, oh, ow, count_include_pad, divisor_override);
                    const T share = static_cast<T>(go[oh * g.OW + ow] / w.divisor);
                    for (int64_t ih = w.h0; ih < w.h1; ++ih)
                        for (int64_t iw = w.w0; iw < w.w1; ++iw) d[ih * g.W + iw] += share;
                }
            }
        }
    });
}

template <typename T>
void adaptive_avg_pool2d_forward(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                                 int64_t OW) {
    const int64_t HW = H * W, OHW = OH * OW;
    parallel_for(0, P, plane_grain(HW + OHW), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const T* plane = inp + p * HW;
            T* o = out + p * OHW;
            for (int64_t i = 0; i < OH; ++i) {
                const int64_t h0 = i * H / OH, h1 = ((i + 1) * H + OH - 1) / OH;
                for (int64_t j = 0; j < OW; ++j) {
                    const int64_t w0 = j * W / OW, w1 = ((j + 1) * W + OW - 1) / OW;
                    double s = 0.0;
                    for (int64_t h = h0; h < h1; ++h)
                        for (int64_t w = w0; w < w1; ++w) s += plane[h * W + w];
                    o[i * OW + j] = static_cast<T>(s / static_cast<double>((h1 - h0) * (w1 - w0)));
                }
            }
        }
    });
}

template <typename T>
void adaptive_avg_pool2d_backward(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH,
                                  int64_t OW) {
    const int64_t HW = H * W, OHW = OH * OW;
    parallel_for(0, P, plane_grain(HW + OHW), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            T* d = dinp + p * HW;
            const T* go = dout + p * OHW;
            std::memset(d, 0, sizeof(T) * HW);
            for (int64_t i = 0; i < OH; ++i) {
                const int64_t h0 = i * H / OH, h1 = ((i + 1) * H + OH - 1) / OH;
                for (int64_t j = 0; j < OW; ++j) {
                    const int64_t w0 = j * W / OW, w1 = ((j + 1) * W + OW - 1) / OW;
                    const T share = static_cast<T>(go[i * OW + j] / static_cast<double>((h1 - h0) * (w1 - w0)));
                    for (int64_t h = h0; h < h1; ++h)
                        for (int64_t w = w0; w < w1; ++w) d[h * W + w] += share;
                }
            }
        }
    });
}

#define FASTNN_POOL_INSTANTIATE(T)                                                                     \
    template void max_pool2d_forward<T>(T*, int64_t*, const T*, const PoolGeometry&);                  \
    template bool max_pool2d_backward<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t, \
                                         int64_t);                                                             \
    template void avg_pool2d_forward<T>(T*, const T*, const PoolGeometry&, bool, int64_t);             \
    template void avg_pool2d_backward<T>(T*, const T*, const PoolGeometry&, bool, int64_t);            \
    template void adaptive_avg_pool2d_forward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t,     \
                                                 int64_t);                                             \
    template void adaptive_avg_pool2d_backward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t,    \
                                                  int64_t);
FASTNN_POOL_INSTANTIATE(float)
FASTNN_POOL_INSTANTIATE(double)
#undef FASTNN_POOL_INSTANTIATE

}  // namespace fastnn
