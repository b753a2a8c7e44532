// 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) on top of the GEMM:
// im2col turns each image into a (C*KH*KW) x (OH*OW) matrix, one product per group gives the
// output, col2im scatters column gradients back; 3x3 stride-1 ungrouped convolutions with
// enough channels use Winograd F(2x2, 3x3) instead (output and input gradient). Layout NCHW, weights (OC, C/groups, KH, KW),
// all C-contiguous. Kernels overwrite their outputs; nullptr outputs are not computed.
#pragma once

#include <cstdint>

namespace fastnn {

// Sizes and geometry of one convolution. Paddings are given per side (top, bottom, left,
// right) so asymmetric 'same' padding is expressible; OH and OW must equal
// out_size(H, KH, stride_h, pad_top + pad_bottom, dil_h) (and likewise for W) and be >= 1.
struct Conv2dShape {
    int64_t N, C, H, W;     // input
    int64_t OC, KH, KW;     // weight (OC, C / groups, KH, KW)
    int64_t OH, OW;         // output
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    int64_t dil_h, dil_w;
    int64_t groups;
};

// Output length along one axis: (in + pad_total - dil * (k - 1) - 1) / stride + 1, floored
// (may be < 1 when the kernel is larger than the padded input).
// Inline: the CUDA module shares it through shape_checks.h.
inline int64_t conv2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad_total, int64_t dil) {
    const int64_t span = in + pad_total - dil * (k - 1) - 1;
    if (span < 0) return 0;
    return span / stride + 1;
}

// How the optimised kernels cut the work, fixed by the shape and element size alone (never by
// the thread count, so results are bitwise independent of it): output rows per im2col tile,
// images per gradient-accumulation group (each group sums into its own partial weight
// gradient; partials are added in group order), and images per batch of the input gradient,
// whose output gradients lie side by side so that one GEMM makes all their column gradients
// (1 unless an image is one tile; a batch never straddles a group).
// winograd: whether the output and the input gradient take the Winograd F(2x2, 3x3) path
// (Conv2dAlgorithm::automatic), whose products are batched over fixed runs of 2-row tile rows.
struct Conv2dPlan {
    int64_t tile_rows, group_images, batch_images;
    bool winograd, winograd_input_grad;  // the algorithms automatic picks: output, input gradient
};
Conv2dPlan conv2d_plan(const Conv2dShape& s, int64_t elem_size);

// Which algorithm computes the output and the input gradient: the plan's choices (each its
// own), or one forced for both (for tests that check both on one shape). Forcing winograd on a shape it cannot
// do (not 3x3, stride 1, dilation 1, groups 1) throws std::invalid_argument.
enum class Conv2dAlgorithm { automatic, im2col, winograd };

// out[n, oc, oh, ow] = bias[oc] + sum_{c, kh, kw} w[oc, c, kh, kw] *
//     x[n, g*Cg + c, oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw]
// with g = oc / (OC/groups), Cg = C/groups, and x read as 0 outside the image.
// out (N, OC, OH, OW) overwritten; inp (N, C, H, W); weight (OC, C/groups, KH, KW);
// bias (OC) or nullptr (no bias).
template <typename T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dShape& s,
                    Conv2dAlgorithm algo = Conv2dAlgorithm::automatic);

// Gradients of conv2d_forward given dout = dL/dout (N, OC, OH, OW):
// dinp (N, C, H, W) = sum over the outputs each input pixel feeds of w * dout,
// dweight (OC, C/groups, KH, KW) = sum_{n, oh, ow} dout * x at the matching tap,
// dbias (OC) = sum_{n, oh, ow} dout. Each is overwritten, or skipped when nullptr.
// inp is only read when dweight is asked for, weight only when dinp is.
template <typename T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const Conv2dShape& s, Conv2dAlgorithm algo = Conv2dAlgorithm::automatic);

// Plain direct loops with the same contracts: the reference the optimised kernels are checked
// against.
template <typename T>
void conv2d_forward_ref(T* out, const T* inp, const T* weight, const T* bias, const Conv2dShape& s);
template <typename T>
void conv2d_backward_ref(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const Conv2dShape& s);

}  // namespace fastnn
