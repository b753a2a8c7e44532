// conv2d on the device (cross-correlation, as torch.nn.functional.conv2d), on top of the
// GEMM: im2col turns a chunk of images into (C*KH*KW, OH*OW) column matrices, one batched
// product per group gives the output; the backward multiplies by the transposed weight and
// gathers the columns back (col2im, no atomics: every input pixel sums its own taps in a
// fixed order). 1x1 stride-1 unpadded convolutions read and write the images directly.
// Layout NCHW, weights (OC, C/groups, KH, KW), all contiguous device arrays; the geometry
// is csrc/conv2d.h's Conv2dShape. Outputs are overwritten; nullptr outputs are skipped.
#pragma once

#include "conv2d.h"  // Conv2dShape

namespace fastnn {
namespace cuda {

// out[n, oc, oh, ow] = bias[oc] + sum_{c, kh, kw} w[oc, c, kh, kw] *
//     x[n, g*Cg + c, oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw], x = 0 outside.
// out (N, OC, OH, OW); inp (N, C, H, W); weight (OC, C/groups, KH, KW); bias (OC) or nullptr.
template <typename T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dShape& s);

// dinp (N, C, H, W), dweight (OC, C/groups, KH, KW), dbias (OC): each overwritten, or
// skipped when nullptr. dout (N, OC, OH, OW); inp read only for dweight, weight only for dinp.
template <typename T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const Conv2dShape& s);

}  // namespace cuda
}  // namespace fastnn
