// The per-batch work of conv2d's Winograd F(2x2, 3x3) path (conv2d.cpp): gathering input
// tiles, the input and output transforms, and the 16 GEMMs between them. These are long
// elementwise loops, so this header is compiled twice: with the baseline flags (conv2d.cpp)
// and with AVX2 (conv2d_winograd_avx2.cpp, transforms of 8 floats per instruction instead
// of 4); winograd_batches_for picks one at run time. The code sits in an unnamed namespace,
// so each translation unit keeps its own copy. Only additions and subtractions (no
// products to contract into FMAs), so both give the same bits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gemm/gemm.h"

namespace fastnn {

// One call's geometry (see winograd_conv3x3 in conv2d.cpp): tiles of 2x2 outputs, TH x TW
// per image; batches of R tile rows (TB tiles) through the scratch planes V (16, Cin, .),
// M (16, Cout, .), D (16, .) with plane strides PV, PM, PD; a padded input row of WP
// elements whose columns [k0, k1) come from the image.
template <typename T>
struct WinogradPlan {
    T* out;
    const T* inp;
    const T* U;
    const T* bias;
    int64_t N, Cin, H, W, Cout, OH, OW, pt, pl, TH, TW, R, TB, PV, PM, PD, WP, k0, k1;
};

// Batches [b0, b1) of a plan, with one thread's scratch: V, M, D, Y (4, TB), row (WP).
template <typename T>
using WinogradBatchesFn = void (*)(const WinogradPlan<T>&, int64_t, int64_t, T*, T*, T*, T*, T*);

#if defined(FASTNN_HAVE_X86_KERNELS)
WinogradBatchesFn<float> winograd_batches_avx2_f32();
WinogradBatchesFn<double> winograd_batches_avx2_f64();
#endif

namespace {

// Short runs (the padding columns of each row of im2col and col2im: thousands per image) are
// stored inline; a memset call costs more than the stores.
template <typename T>
void zero(T* p, int64_t n) {
    if (n > 16) {
        std::memset(p, 0, size_t(n) * sizeof(T));
    } else {
        for (int64_t i = 0; i < n; ++i) p[i] = T(0);
    }
}

// v[xi * P + t] = (B^T d B)[xi] for the raw tiles d[r][j] = D[(4r + j) * TB + t], t < tiles.
// Restrict-qualified: with 16 loads and 16 stores per element the compiler gives up on
// checking overlap at run time and would not vectorize.
template <typename T>
void winograd_input_tiles(T* __restrict v, int64_t P, const T* __restrict D, int64_t TB, int64_t tiles) {
    for (int64_t t = 0; t < tiles; ++t) {
        T e[4][4];  // B^T d
        for (int j = 0; j < 4; ++j) {
            const T x0 = D[j * TB + t], x1 = D[(4 + j) * TB + t], x2 = D[(8 + j) * TB + t], x3 = D[(12 + j) * TB + t];
            e[0][j] = x0 - x2;
            e[1][j] = x1 + x2;
            e[2][j] = x2 - x1;
            e[3][j] = x1 - x3;
        }
        for (int i = 0; i < 4; ++i) {
            v[(4 * i) * P + t] = e[i][0] - e[i][2];
            v[(4 * i + 1) * P + t] = e[i][1] + e[i][2];
            v[(4 * i + 2) * P + t] = e[i][2] - e[i][1];
            v[(4 * i + 3) * P + t] = e[i][1] - e[i][3];
        }
    }
}

// Y[(2r + c) * TB + t] = (A^T m A)[r][c] (+ *bias) for m[xi] = m[xi * P + t], t < tiles;
// bias nullptr: none. Restrict-qualified for the same reason.
template <typename T>
void winograd_output_tiles(T* __restrict Y, int64_t TB, const T* __restrict m, int64_t P, int64_t tiles,
                           const T* bias) {
    for (int64_t t = 0; t < tiles; ++t) {
        T s0[4], s1[4];  // A^T m: its rows 0 and 1
        for (int j = 0; j < 4; ++j) {
            const T m0 = m[j * P + t], m1 = m[(4 + j) * P + t], m2 = m[(8 + j) * P + t], m3 = m[(12 + j) * P + t];
            s0[j] = m0 + m1 + m2;
            s1[j] = m1 - m2 - m3;
        }
        Y[t] = s0[0] + s0[1] + s0[2];
        Y[TB + t] = s0[1] - s0[2] - s0[3];
        Y[2 * TB + t] = s1[0] + s1[1] + s1[2];
        Y[3 * TB + t] = s1[1] - s1[2] - s1[3];
    }
    if (bias) {
        const T b = *bias;
        for (int64_t k = 0; k < 4; ++k)
            for (int64_t t = 0; t < tiles; ++t) Y[k * TB + t] += b;
    }
}

// The work of batches [b0, b1): for each, the input tiles of every channel gathered and
// transformed into V, M = U @ V (16 products), then every output channel transformed back
// and clipped into the output.
template <typename T>
void winograd_run_batches(const WinogradPlan<T>& p, int64_t b0, int64_t b1, T* V, T* M, T* D, T* Y, T* row) {
    const int64_t HW = p.H * p.W, OHW = p.OH * p.OW, TB = p.TB, TW = p.TW, WP = p.WP;
    for (int64_t b = b0; b < b1; ++b) {
        const int64_t q0 = b * p.R, q1 = std::min(p.N * p.TH, q0 + p.R), tiles = (q1 - q0) * TW;
        for (int64_t c = 0; c < p.Cin; ++c) {
            // D[4r + j][t] = d[r][j]: input (2ty - pt + r, 2tx - pl + j) of tile t.
            for (int64_t q = q0; q < q1; ++q) {
                const int64_t n = q / p.TH, ty = q % p.TH, t0 = (q - q0) * TW;
                const T* xc = p.inp + (n * p.Cin + c) * HW;
                for (int r = 0; r < 4; ++r) {
                    const int64_t ih = 2 * ty - p.pt + r;
                    if (ih < 0 || ih >= p.H) {
                        zero(row, WP);
                    } else {
                        zero(row, p.k0);
                        std::memcpy(row + p.k0, xc + ih * p.W + (p.k0 - p.pl), size_t(p.k1 - p.k0) * sizeof(T));
                        zero(row + p.k1, WP - p.k1);
                    }
                    for (int j = 0; j < 4; ++j) {
                        T* d = D + (4 * r + j) * p.PD + t0;
                        for (int64_t tx = 0; tx < TW; ++tx) d[tx] = row[2 * tx + j];
                    }
                }
            }
            winograd_input_tiles(V + c * TB, p.PV, D, p.PD, tiles);
        }
        // M[xi] (Cout x tiles) = U[xi] (Cout x Cin) @ V[xi] (Cin x tiles), 16 products.
        gemm<T>(16, p.Cout, tiles, p.Cin, T(1), {p.U, p.Cout * p.Cin, p.Cin, 1}, {V, p.PV, TB, 1}, T(0),
                {M, p.PM, TB, 1});
        // Y = A^T m A per tile, plus the bias, then clipped into the output.
        for (int64_t oc = 0; oc < p.Cout; ++oc) {
            winograd_output_tiles(Y, TB, M + oc * TB, p.PM, tiles, p.bias ? p.bias + oc : nullptr);
            for (int64_t q = q0; q < q1; ++q) {
                const int64_t n = q / p.TH, oh = 2 * (q % p.TH), t0 = (q - q0) * TW;
                T* y = p.out + (n * p.Cout + oc) * OHW + oh * p.OW;
                for (int64_t r = 0; r < std::min<int64_t>(2, p.OH - oh); ++r, y += p.OW) {
                    const T* ya = Y + (2 * r) * TB + t0;
                    const T* yb = ya + TB;
                    int64_t tx = 0;
                    for (; 2 * tx + 1 < p.OW; ++tx) {
                        y[2 * tx] = ya[tx];
                        y[2 * tx + 1] = yb[tx];
                    }
                    if (2 * tx < p.OW) y[2 * tx] = ya[tx];
                }
            }
        }
    }
}

}  // namespace

}  // namespace fastnn
