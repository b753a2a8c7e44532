// 2-D pooling kernels (max, average, adaptive average) over C-contiguous planes. Every
// kernel sees the input as P = N*C independent planes of H x W and the output as P planes
// of OH x OW, threads over planes, and overwrites its outputs (never accumulates into them).
// Window geometry and edge rules follow torch.nn.functional exactly (see PoolGeometry).
#pragma once

#include <cstdint>

namespace fastnn {

// The windows of one pooling op. Output element (oh, ow) reads input rows
// oh*SH - PH + kh*DH (kh in [0, KH)) and columns ow*SW - PW + kw*DW (kw in [0, KW)); rows
// and columns outside [0, H) x [0, W) are padding. OH, OW come from pool_output_size.
struct PoolGeometry {
    int64_t P = 0;            // planes: N*C
    int64_t H = 0, W = 0;     // input plane
    int64_t OH = 0, OW = 0;   // output plane
    int64_t KH = 1, KW = 1;   // window
    int64_t SH = 1, SW = 1;   // stride
    int64_t PH = 0, PW = 0;   // padding (implicit: -inf for max, 0 for average)
    int64_t DH = 1, DW = 1;   // dilation (1 for average pooling)
};

// Output length of one spatial dimension, as torch computes it:
//   floor((in + 2*pad - dil*(k-1) - 1 + (ceil_mode ? stride-1 : 0)) / stride) + 1,
// less one when ceil_mode would start the last window in the right padding (it must start
// inside the input or the left padding). May be < 1; the caller rejects that.
// Inline: the CUDA module shares it through shape_checks.h.
inline int64_t pool_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil_mode) {
    const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;  // floor division
    if (ceil_mode && (out - 1) * stride >= in + pad) --out;
    return out;
}

// out[p, oh, ow] = max over the window's in-range elements of inp[p, ih, iw];
// indices[p, oh, ow] = ih*W + iw of that maximum: the FIRST maximum in row-major window
// order, except that a NaN always wins (the last NaN in window order), as torch's CPU kernel.
// A window of only -inf gives -inf and its first in-range position; a window with no
// in-range element (dilation can skip a whole small plane) gives -inf and the offset of its
// first row and column past the left padding, outside the plane, as torch does.
// inp (P, H, W); out, indices (P, OH, OW) overwritten; indices may be nullptr (not wanted).
// 2x2 windows with stride 2, no padding, no dilation take a dedicated tight loop.
template <typename T>
void max_pool2d_forward(T* out, int64_t* indices, const T* inp, const PoolGeometry& g);

// dinp[p, i] = sum of dout[p, o] over the outputs o of plane p with indices[p, o] == i,
// added in increasing o (so the result does not depend on the thread count). A plane whose
// indices all lie in their output's 2x2 cell (2x2 stride-2 pooling) is written directly.
// dout, indices (P, OH, OW); dinp (P, H, W) overwritten. Returns false, after stopping
// early, when an index lies outside [0, H*W) (dinp is then unspecified).
template <typename T>
bool max_pool2d_backward(T* dinp, const T* dout, const int64_t* indices, int64_t P, int64_t H, int64_t W,
                         int64_t OH, int64_t OW);

// out[p, oh, ow] = (sum of inp[p, ih, iw] over the window's in-range elements) / divisor,
// where, with h0 = oh*SH - PH, h1 = min(h0 + KH, H + PH) (likewise w0, w1):
//   divisor = divisor_override                         when divisor_override > 0,
//           = (h1 - h0) * (w1 - w0)                     when count_include_pad (a window that
//             runs past the padded edge in ceil_mode counts only up to that edge),
//           = number of in-range elements               otherwise.
// Sums accumulate in double. inp (P, H, W); out (P, OH, OW) overwritten. g.DH = g.DW = 1.
template <typename T>
void avg_pool2d_forward(T* out, const T* inp, const PoolGeometry& g, bool count_include_pad,
                        int64_t divisor_override);

// dinp[p, ih, iw] = sum over the windows (oh, ow) containing (ih, iw) of
// dout[p, oh, ow] / divisor(oh, ow), added in increasing (oh, ow).
// dout (P, OH, OW); dinp (P, H, W) overwritten.
template <typename T>
void avg_pool2d_backward(T* dinp, const T* dout, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override);

// Adaptive average pooling: out[p, i, j] = mean of inp[p, h0:h1, w0:w1] with
// h0 = floor(i*H/OH), h1 = ceil((i+1)*H/OH) (likewise w), torch's windows. Sums in double.
// inp (P, H, W); out (P, OH, OW) overwritten. H, W >= 1.
template <typename T>
void adaptive_avg_pool2d_forward(T* out, const T* inp, int64_t P, int64_t H, int64_t W, int64_t OH,
                                 int64_t OW);

// dinp[p, h, w] = sum over the windows (i, j) containing (h, w) of dout[p, i, j] / |window|,
// added in increasing (i, j). dout (P, OH, OW); dinp (P, H, W) overwritten.
template <typename T>
void adaptive_avg_pool2d_backward(T* dinp, const T* dout, int64_t P, int64_t H, int64_t W, int64_t OH,
                                  int64_t OW);

}  // namespace fastnn
