// conv2d kernels (see conv2d.cuh): im2col, col2im, the bias fill and sum, and the drivers
// that cut the batch into chunks whose columns fit a fixed scratch budget.
#include "conv2d.cuh"

#include <algorithm>

#include "check.cuh"
#include "device_utils.cuh"
#include "gemm.cuh"
#include "memory.cuh"

namespace fastnn {
namespace cuda {

namespace {

constexpr int64_t kColBudgetBytes = int64_t(64) << 20;  // scratch for one chunk's columns

// 1x1, stride 1, no padding: the columns are the images themselves.
bool is_direct(const Conv2dShape& s) {
    return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 && s.pad_bottom == 0 &&
           s.pad_left == 0 && s.pad_right == 0;
}

// Images per chunk: as many as fit kColBudgetBytes of columns (at least 1).
int64_t chunk_images(const Conv2dShape& s, size_t elem) {
    const int64_t per_image = s.C * s.KH * s.KW * s.OH * s.OW * int64_t(elem);
    if (per_image <= 0) return std::max<int64_t>(s.N, 1);
    return std::max<int64_t>(1, std::min<int64_t>(s.N, kColBudgetBytes / per_image));
}

// col[n, (c*KH + kh)*KW + kw, oh*OW + ow] = x[n, c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw]
// (0 outside the image). x: nb images (nb, C, H, W); col (nb, C*KH*KW, OH*OW).
template <typename T>
__global__ void im2col_kernel(T* col, const T* x, int64_t nb, Conv2dShape s) {
    const int64_t OHW = s.OH * s.OW, KK = s.KH * s.KW;
    const int64_t total = nb * s.C * KK * OHW;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t p = e % OHW, r = e / OHW;
        const int64_t kw = r % s.KW, kh = (r / s.KW) % s.KH, c = (r / KK) % s.C, n = r / (KK * s.C);
        const int64_t ih = (p / s.OW) * s.stride_h - s.pad_top + kh * s.dil_h;
        const int64_t iw = (p % s.OW) * s.stride_w - s.pad_left + kw * s.dil_w;
        const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
        col[e] = inside ? x[((n * s.C + c) * s.H + ih) * s.W + iw] : T(0);
    }
}

// dx[n, c, ih, iw] = sum over the taps (kh, kw), in that order, of the column entries that
// read pixel (ih, iw): dcol[n, (c*KH + kh)*KW + kw, oh*OW + ow] where
// oh*sh - pt + kh*dh = ih and ow*sw - pl + kw*dw = iw. Sums in double. dx (nb, C, H, W).
template <typename T>
__global__ void col2im_kernel(T* dx, const T* dcol, int64_t nb, Conv2dShape s) {
    const int64_t OHW = s.OH * s.OW, KK = s.KH * s.KW;
    const int64_t total = nb * s.C * s.H * s.W;
    for (int64_t e = global_index(); e < total; e += global_stride()) {
        const int64_t iw = e % s.W, ih = (e / s.W) % s.H, nc = e / (s.H * s.W);  // nc = n*C + c
        const T* cbase = dcol + nc * KK * OHW;
        double acc = 0.0;
        for (int64_t kh = 0; kh < s.KH; ++kh) {
            const int64_t hnum = ih + s.pad_top - kh * s.dil_h;
            if (hnum < 0 || hnum % s.stride_h != 0) continue;
            const int64_t oh = hnum / s.stride_h;
            if (oh >= s.OH) continue;
            for (int64_t kw = 0; kw < s.KW; ++kw) {
                const int64_t wnum = iw + s.pad_left - kw * s.dil_w;
                if (wnum < 0 || wnum % s.stride_w != 0) continue;
                const int64_t ow = wnum / s.stride_w;
                if (ow >= s.OW) continue;
                acc += double(cbase[(kh * s.KW + kw) * OHW + oh * s.OW + ow]);
            }
        }
        dx[e] = T(acc);
    }
}

// out[n, oc, p] = bias[oc]: the starting value the GEMM adds the product to (beta = 1).
template <typename T>
__global__ void bias_fill_kernel(T* out, const T* bias, int64_t N, int64_t OC, int64_t OHW) {
    const int64_t total = N * OC * OHW;
    for (int64_t e = global_index(); e < total; e += global_stride()) out[e] = bias[(e / OHW) % OC];
}

// dbias[oc] = sum_{n, p} dout[n, oc, p], in double; one block per channel.
template <typename T>
__global__ void bias_grad_kernel(T* dbias, const T* dout, int64_t N, int64_t OC, int64_t OHW) {
    __shared__ double scratch[32];
    for (int64_t oc = blockIdx.x; oc < OC; oc += gridDim.x) {
        double s = 0.0;
        for (int64_t e = threadIdx.x; e < N * OHW; e += blockDim.x) s += double(dout[((e / OHW) * OC + oc) * OHW + e % OHW]);
        s = block_sum(s, scratch);
        if (threadIdx.x == 0) dbias[oc] = T(s);
    }
}

}  // namespace

template <typename T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dShape& s) {
    const char* op = "conv2d";
    const int64_t OHW = s.OH * s.OW, KK = s.KH * s.KW, HW = s.H * s.W;
    const int64_t Cg = s.C / s.groups, OCg = s.OC / s.groups, Kc = Cg * KK;
    const int64_t total_out = s.N * s.OC * OHW;
    if (total_out == 0) return;
    T beta = T(0);
    if (bias) {
        bias_fill_kernel<T><<<grid_for(total_out), kThreads>>>(out, bias, s.N, s.OC, OHW);
        check_launch(op);
        beta = T(1);
    }
    const bool direct = is_direct(s);
    const int64_t chunk = chunk_images(s, sizeof(T));
    Scratch<T> col(direct ? 0 : chunk * s.C * KK * OHW, op);
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
        const int64_t nb = std::min(chunk, s.N - n0);
        const T* cols = inp + n0 * s.C * HW;  // direct: (nb, C, HW) is already (nb, C*KK, OHW)
        if (!direct) {
            im2col_kernel<T><<<grid_for(nb * s.C * KK * OHW), kThreads>>>(col.get(), inp + n0 * s.C * HW, nb, s);
            check_launch(op);
            cols = col.get();
        }
        for (int64_t g = 0; g < s.groups; ++g) {
            // out[n, g] (OCg, OHW) = W_g (OCg, Kc) @ col[n, g] (Kc, OHW) for the nb images
            StridedMatrix<const T> A{weight + g * OCg * Kc, 0, Kc, 1};
            StridedMatrix<const T> B{cols + g * Kc * OHW, s.C * KK * OHW, OHW, 1};
            StridedMatrix<T> C{out + n0 * s.OC * OHW + g * OCg * OHW, s.OC * OHW, OHW, 1};
            gemm<T>(op, nb, OCg, OHW, Kc, T(1), A, B, beta, C);
        }
    }
}

template <typename T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const Conv2dShape& s) {
    const char* op = "conv2d_backward";
    const int64_t OHW = s.OH * s.OW, KK = s.KH * s.KW, HW = s.H * s.W;
    const int64_t Cg = s.C / s.groups, OCg = s.OC / s.groups, Kc = Cg * KK;
    if (dbias && s.OC > 0) {
        const int64_t blocks = std::min<int64_t>(s.OC, 65535);
        bias_grad_kernel<T><<<static_cast<unsigned>(blocks), kThreads>>>(dbias, dout, s.N, s.OC, OHW);
        check_launch(op);
    }
    if (dweight && s.N == 0 && s.OC * Kc > 0) {  // a sum over no images
        check(cudaMemset(dweight, 0, sizeof(T) * s.OC * Kc), op, "cudaMemset");
    }
    if ((!dinp && !dweight) || s.N == 0) return;
    const bool direct = is_direct(s);
    const int64_t chunk = chunk_images(s, sizeof(T));
    Scratch<T> col(direct ? 0 : chunk * s.C * KK * OHW, op);
    for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
        const int64_t nb = std::min(chunk, s.N - n0);
        if (dweight) {
            const T* cols = inp + n0 * s.C * HW;
            if (!direct) {
                im2col_kernel<T><<<grid_for(nb * s.C * KK * OHW), kThreads>>>(col.get(), inp + n0 * s.C * HW, nb, s);
                check_launch(op);
                cols = col.get();
            }
            // dW_g (OCg, Kc) (+)= dout[n, g] (OCg, OHW) @ col[n, g]^T (OHW, Kc), one image at a
            // time in batch order (the groups are the GEMM's batch).
            for (int64_t b = 0; b < nb; ++b) {
                const int64_t n = n0 + b;
                StridedMatrix<const T> A{dout + n * s.OC * OHW, OCg * OHW, OHW, 1};
                StridedMatrix<const T> B{cols + b * s.C * KK * OHW, Kc * OHW, 1, OHW};
                StridedMatrix<T> C{dweight, OCg * Kc, Kc, 1};
                gemm<T>(op, s.groups, OCg, Kc, OHW, T(1), A, B, n == 0 ? T(0) : T(1), C);
            }
        }
        if (dinp) {
            // dcol[n, g] (Kc, OHW) = W_g^T (Kc, OCg) @ dout[n, g] (OCg, OHW), then col2im.
            T* dcols = direct ? dinp + n0 * s.C * HW : col.get();
            for (int64_t g = 0; g < s.groups; ++g) {
                StridedMatrix<const T> A{weight + g * OCg * Kc, 0, 1, Kc};
                StridedMatrix<const T> B{dout + n0 * s.OC * OHW + g * OCg * OHW, s.OC * OHW, OHW, 1};
                StridedMatrix<T> C{dcols + g * Kc * OHW, s.C * KK * OHW, OHW, 1};
                gemm<T>(op, nb, Kc, OHW, OCg, T(1), A, B, T(0), C);
            }
            if (!direct && nb * s.C * HW > 0) {
                col2im_kernel<T><<<grid_for(nb * s.C * HW), kThreads>>>(dinp + n0 * s.C * HW, col.get(), nb, s);
                check_launch(op);
            }
        }
    }
}

template void conv2d_forward<float>(float*, const float*, const float*, const float*, const Conv2dShape&);
template void conv2d_forward<double>(double*, const double*, const double*, const double*, const Conv2dShape&);
template void conv2d_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                     const Conv2dShape&);
template void conv2d_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                      const Conv2dShape&);

}  // namespace cuda
}  // namespace fastnn
