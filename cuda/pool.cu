// Pooling kernels (see pool.cuh): one thread per output (forwards) or per input element
// (average backwards); max_pool2d_backward one thread per plane.
#include "pool.cuh"

#include <cuda/std/limits>

#include "check.cuh"
#include "device_utils.cuh"
#include "memory.cuh"

namespace fastnn {
namespace cuda {

namespace {

// Torch's max rule: a value replaces the running maximum when it is larger or NaN.
template <typename T>
__device__ inline bool takes_max(T v, T m) {
    return v > m || v != v;
}

// out[p, oh, ow] = max of the window's in-range elements, indices = ih*W + iw of the first
// maximum in row-major window order (the last NaN); a window without in-range elements
// gives -inf and the offset of its first row and column past the left padding.
template <typename T>
__global__ void max_pool2d_kernel(T* out, int64_t* indices, const T* inp, PoolGeometry g) {
    const int64_t total = g.P * g.OH * g.OW;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t ow = e % g.OW, oh = (e / g.OW) % g.OH, p = e / (g.OW * g.OH);
        const T* plane = inp + p * g.H * g.W;
        const int64_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
        const int64_t kh0 = h0 < 0 ? (-h0 + g.DH - 1) / g.DH : 0;
        const int64_t kw0 = w0 < 0 ? (-w0 + g.DW - 1) / g.DW : 0;
        T m = -::cuda::std::numeric_limits<T>::infinity();
        int64_t mi = (h0 + kh0 * g.DH) * g.W + (w0 + kw0 * g.DW);
        for (int64_t kh = kh0; kh < g.KH; ++kh) {
            const int64_t ih = h0 + kh * g.DH;
            if (ih >= g.H) break;
            for (int64_t kw = kw0; kw < g.KW; ++kw) {
                const int64_t iw = w0 + kw * g.DW;
                if (iw >= g.W) break;
                const T v = plane[ih * g.W + iw];
                if (takes_max(v, m)) {
                    m = v;
                    mi = ih * g.W + iw;
                }
            }
        }
        out[e] = m;
        if (indices) indices[e] = mi;
    }
}

// dinp[p, i] = sum of dout[p, o] with indices[p, o] == i, o ascending; one thread per plane
// (the order of the sums is the CPU's). *bad = 1 when an index is out of range.
template <typename T>
__global__ void max_pool2d_backward_kernel(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t HW,
                                           int64_t OHW, int* bad) {
    for (int64_t p = global_index(); p < P; p += global_stride()) {
        T* d = dinp + p * HW;
        for (int64_t i = 0; i < HW; ++i) d[i] = T(0);
        for (int64_t o = 0; o < OHW; ++o) {
            const int64_t i = indices[p * OHW + o];
            if (i < 0 || i >= HW) {
                *bad = 1;
                break;
            }
            d[i] += dout[p * OHW + o];
        }
    }
}

// The clipped window [h0, h1) x [w0, w1) of average-pooling output (oh, ow) and its divisor
// (csrc/pool.cpp's avg_window).
struct AvgWindow {
    int64_t h0, h1, w0, w1;
    double divisor;
};

__device__ inline AvgWindow avg_window(const PoolGeometry& g, int64_t oh, int64_t ow, bool count_include_pad,
                                       int64_t divisor_override) {
    int64_t h0 = oh * g.SH - g.PH, w0 = ow * g.SW - g.PW;
    int64_t h1 = min(h0 + g.KH, g.H + g.PH), w1 = min(w0 + g.KW, g.W + g.PW);
    const int64_t padded = (h1 - h0) * (w1 - w0);
    h0 = max(h0, int64_t(0));
    w0 = max(w0, int64_t(0));
    h1 = min(h1, g.H);
    w1 = min(w1, g.W);
    double div;
    if (divisor_override > 0)
        div = double(divisor_override);
    else if (count_include_pad)
        div = double(padded);
    else
        div = double(max(int64_t(0), h1 - h0) * max(int64_t(0), w1 - w0));
    return {h0, h1, w0, w1, div};
}

template <typename T>
__global__ void avg_pool2d_kernel(T* out, const T* inp, PoolGeometry g, bool count_include_pad,
                                  int64_t divisor_override) {
    const int64_t total = g.P * g.OH * g.OW;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t ow = e % g.OW, oh = (e / g.OW) % g.OH, p = e / (g.OW * g.OH);
        const AvgWindow w = avg_window(g, oh, ow, count_include_pad, divisor_override);
        if (w.h0 >= w.h1 || w.w0 >= w.w1) {  // no input under the window (torch: 0)
            out[e] = T(0);
            continue;
        }
        const T* plane = inp + p * g.H * g.W;
        double s = 0.0;
        for (int64_t ih = w.h0; ih < w.h1; ++ih)
            for (int64_t iw = w.w0; iw < w.w1; ++iw) s += double(plane[ih * g.W + iw]);
        out[e] = T(s / w.divisor);
    }
}

// Smallest output index whose window (start o*S - Pd, length K) can reach input index i:
// o*S - Pd + K > i, i.e. o >= (i + Pd - K) / S + 1 (floored), clamped at 0.
__device__ inline int64_t first_window(int64_t i, int64_t S, int64_t Pd, int64_t K) {
    const int64_t num = i + Pd - K;
    return num < 0 ? 0 : num / S + 1;
}

// dinp[p, ih, iw] = sum over windows containing (ih, iw), (oh, ow) ascending, of
// T(dout / divisor), accumulated in T as the CPU does.
template <typename T>
__global__ void avg_pool2d_backward_kernel(T* dinp, const T* dout, PoolGeometry g, bool count_include_pad,
                                           int64_t divisor_override) {
    const int64_t total = g.P * g.H * g.W;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t iw = e % g.W, ih = (e / g.W) % g.H, p = e / (g.W * g.H);
        const int64_t oh_end = min(g.OH, (ih + g.PH) / g.SH + 1), ow_end = min(g.OW, (iw + g.PW) / g.SW + 1);
        T acc = T(0);
        for (int64_t oh = first_window(ih, g.SH, g.PH, g.KH); oh < oh_end; ++oh) {
            for (int64_t ow = first_window(iw, g.SW, g.PW, g.KW); ow < ow_end; ++ow) {
                const AvgWindow w = avg_window(g, oh, ow, count_include_pad, divisor_override);
                if (ih < w.h0 || ih >= w.h1 || iw < w.w0 || iw >= w.w1) continue;
                acc += T(double(dout[(p * g.OH + oh) * g.OW + ow]) / w.divisor);
            }
        }
        dinp[e] = acc;
    }
}

// Adaptive window of output i along an axis of n inputs and m outputs: [i n / m, ceil((i+1) n / m)).
__device__ inline int64_t adaptive_start(int64_t i, int64_t n, int64_t m) { return i * n / m; }
__device__ inline int64_t adaptive_end(int64_t i, int64_t n, int64_t m) { return ((i + 1) * n + m - 1) / m; }

template <typename T>
__global__ void adaptive_avg_pool2d_kernel(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                                           int64_t OW) {
    const int64_t total = P * OH * OW;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t j = e % OW, i = (e / OW) % OH, p = e / (OW * OH);
        const int64_t h0 = adaptive_start(i, H, OH), h1 = adaptive_end(i, H, OH);
        const int64_t w0 = adaptive_start(j, W, OW), w1 = adaptive_end(j, W, OW);
        const T* plane = inp + p * H * W;
        double s = 0.0;
        for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += double(plane[h * W + w]);
        out[e] = T(s / double((h1 - h0) * (w1 - w0)));
    }
}

// The windows containing input row h lie within outputs [floor(h m / n) - 1, ceil((h+1) m / n)]
// (clipped); each is checked exactly.
template <typename T>
__global__ void adaptive_avg_pool2d_backward_kernel(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W,
                                                    int64_t OH, int64_t OW) {
    const int64_t total = P * H * W;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t w = e % W, h = (e / W) % H, p = e / (W * H);
        const int64_t i_lo = max(int64_t(0), h * OH / H - 1), i_hi = min(OH, ((h + 1) * OH + H - 1) / H + 1);
        const int64_t j_lo = max(int64_t(0), w * OW / W - 1), j_hi = min(OW, ((w + 1) * OW + W - 1) / W + 1);
        T acc = T(0);
        for (int64_t i = i_lo; i < i_hi; ++i) {
            const int64_t h0 = adaptive_start(i, H, OH), h1 = adaptive_end(i, H, OH);
            if (h < h0 || h >= h1) continue;
            for (int64_t j = j_lo; j < j_hi; ++j) {
                const int64_t w0 = adaptive_start(j, W, OW), w1 = adaptive_end(j, W, OW);
                if (w < w0 || w >= w1) continue;
                acc += T(double(dout[(p * OH + i) * OW + j]) / double((h1 - h0) * (w1 - w0)));
            }
        }
        dinp[e] = acc;
    }
}

}  // namespace

template <typename T>
void max_pool2d_forward(T* out, int64_t* indices, const T* inp, const PoolGeometry& g) {
    const int64_t total = g.P * g.OH * g.OW;
    if (total == 0) return;
    max_pool2d_kernel<T><<<grid_for(total), kThreads>>>(out, indices, inp, g);
    check_launch("max_pool2d");
}

template <typename T>
bool max_pool2d_backward(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                         int64_t OH, int64_t OW) {
    const char* op = "max_pool2d_backward";
    if (P * H * W == 0) return true;
    Scratch<int> bad(1, op);
    check(cudaMemset(bad.get(), 0, sizeof(int)), op, "cudaMemset");
    max_pool2d_backward_kernel<T><<<grid_for(P, 64), 64>>>(dinp, dout, indices, P, H * W, OH * OW, bad.get());
    check_launch(op);
    int flag = 0;
    check(cudaMemcpy(&flag, bad.get(), sizeof(int), cudaMemcpyDeviceToHost), op, "reading the index check");
    return flag == 0;
}

template <typename T>
void avg_pool2d_forward(T* out, const T* inp, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override) {
    const int64_t total = g.P * g.OH * g.OW;
    if (total == 0) return;
    avg_pool2d_kernel<T><<<grid_for(total), kThreads>>>(out, inp, g, count_include_pad, divisor_override);
    check_launch("avg_pool2d");
}

template <typename T>
void avg_pool2d_backward(T* dinp, const T* dout, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override) {
    const int64_t total = g.P * g.H * g.W;
    if (total == 0) return;
    avg_pool2d_backward_kernel<T><<<grid_for(total), kThreads>>>(dinp, dout, g, count_include_pad, divisor_override);
    check_launch("avg_pool2d_backward");
}

template <typename T>
void adaptive_avg_pool2d_forward(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int64_t total = P * OH * OW;
    if (total == 0) return;
    adaptive_avg_pool2d_kernel<T><<<grid_for(total), kThreads>>>(out, inp, P, H, W, OH, OW);
    check_launch("adaptive_avg_pool2d");
}

template <typename T>
void adaptive_avg_pool2d_backward(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH,
                                  int64_t OW) {
    const int64_t total = P * H * W;
    if (total == 0) return;
    adaptive_avg_pool2d_backward_kernel<T><<<grid_for(total), kThreads>>>(dinp, dout, P, H, W, OH, OW);
    check_launch("adaptive_avg_pool2d_backward");
}

#define FASTNN_CUDA_POOL_INSTANTIATE(T)                                                                  \
    template void max_pool2d_forward<T>(T*, int64_t*, const T*, const PoolGeometry&);                    \
    template bool max_pool2d_backward<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t, \
                                         int64_t);                                                       \
    template void avg_pool2d_forward<T>(T*, const T*, const PoolGeometry&, bool, int64_t);               \
    template void avg_pool2d_backward<T>(T*, const T*, const PoolGeometry&, bool, int64_t);              \
    template void adaptive_avg_pool2d_forward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t); \
    template void adaptive_avg_pool2d_backward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
FASTNN_CUDA_POOL_INSTANTIATE(float)
FASTNN_CUDA_POOL_INSTANTIATE(double)
#undef FASTNN_CUDA_POOL_INSTANTIATE

}  // namespace cuda
}  // namespace fastnn
