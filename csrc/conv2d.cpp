// conv2d as GEMMs over im2col tiles (see conv2d.h). Per image, output rows are processed in
// tiles whose column matrix stays in cache between im2col and the GEMM that reads it; 1x1
// stride-1 unpadded convolutions read the input in place. Gradients of the weight and bias are
// summed per fixed group of images, and the groups' partials are added in group order, so
// the bits never depend on the thread count.
#include "conv2d.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>

#include "conv2d_winograd.h"
#include "cpu.h"
#include "gemm/gemm.h"
#include "parallel.h"

namespace fastnn {

namespace {

// Target bytes of one im2col tile: large enough that the GEMM's per-call packing of the
// weights is amortised over many columns, small enough to stay in L2/L3 between the im2col
// that writes it and the GEMM that reads it.
constexpr int64_t kTileBytes = int64_t(1) << 20;
// Image groups for the weight-gradient reduction: at most this many partials, within this
// many bytes of partial gradients.
constexpr int64_t kMaxImageGroups = 32;
constexpr int64_t kPartialBytes = int64_t(64) << 20;
// Scratch buffers up to this size stay allocated per thread between calls.
constexpr size_t kKeepScratchBytes = size_t(8) << 20;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Derived sizes used throughout.
struct Geometry {
    int64_t Cg, OCg, KK, CgKK, HW, OHW;
    explicit Geometry(const Conv2dShape& s)
        : Cg(s.C / s.groups), OCg(s.OC / s.groups), KK(s.KH * s.KW), CgKK(Cg * KK),
          HW(s.H * s.W), OHW(s.OH * s.OW) {}
};

// 1x1, stride 1, no padding: the column matrix of an image is the image itself.
bool reads_input_in_place(const Conv2dShape& s) {
    return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 &&
           s.pad_bottom == 0 && s.pad_left == 0 && s.pad_right == 0;
}

// The outputs o in [0, out) whose tap o*stride + off lands inside [0, in), as [*lo, *hi).
void valid_range(int64_t off, int64_t stride, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
    const int64_t first = off >= 0 ? 0 : ceil_div(-off, stride);
    const int64_t last = in - 1 - off;  // o*stride <= last
    const int64_t end = last < 0 ? 0 : last / stride + 1;
    *lo = std::min(first, out);
    *hi = std::max(*lo, std::min(end, out));
}

// Per-thread scratch memory reused across calls, so the hot path neither allocates nor
// faults in fresh pages; a block above kKeepScratchBytes is freed when its holder ends. Each
// thread has kScratchSlots blocks: a holder of slot 1 on the calling thread stays valid while
// parallel chunks (the caller runs some) hold slot 0.
constexpr int kScratchSlots = 2;
class Scratch {
public:
    explicit Scratch(size_t bytes, int slot = 0) : buf_(tls(slot)) {
        if (buf_.size < bytes) {
            buf_.release();
            buf_.ptr = static_cast<unsigned char*>(::operator new(bytes, std::align_val_t(64)));
            buf_.size = bytes;
        }
    }
    ~Scratch() {
        if (buf_.size > kKeepScratchBytes) buf_.release();
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    template <typename T>
    T* as(size_t offset_elems = 0) const { return reinterpret_cast<T*>(buf_.ptr) + offset_elems; }

private:
    struct Block {
        unsigned char* ptr = nullptr;
        size_t size = 0;
        void release() {
            if (ptr) ::operator delete(ptr, std::align_val_t(64));
            ptr = nullptr;
            size = 0;
        }
        ~Block() { release(); }
    };
    static Block& tls(int slot) {
        thread_local Block b[kScratchSlots];
        return b[slot];
    }
    Block& buf_;
};

// Rows of the column matrix (or channels) per parallel chunk: about 16K elements of work.
int64_t grain_for(int64_t per_item) { return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, per_item)); }

// The column matrix of output rows [oh0, oh1) of one image x (C, H, W):
//   col[(c*KH + kh)*KW + kw][(oh - oh0)*OW + ow] = x[c][oh*sh - pt + kh*dh][ow*sw - pl + kw*dw]
// or 0 where the tap falls in the padding; col is (C*KH*KW) x ((oh1 - oh0)*OW) with row stride
// ld >= (oh1 - oh0)*OW (several images' columns side by side), overwritten.
// Padding is handled by ranges, never by a test per element.
template <typename T>
void im2col(T* col, int64_t ld, const T* x, const Conv2dShape& s, int64_t oh0, int64_t oh1) {
    const int64_t cols = (oh1 - oh0) * s.OW, KK = s.KH * s.KW, HW = s.H * s.W;
    // Both strides 1 and OW == W: the valid part of consecutive rows is one contiguous run of
    // x, shifted by the tap's column offset; copy it whole, then zero the wrapped columns.
    const bool flat = s.stride_h == 1 && s.stride_w == 1 && s.OW == s.W;
    parallel_for(0, s.C * KK, grain_for(cols), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t c = r / KK, kh = (r % KK) / s.KW, kw = r % s.KW;
            const T* xc = x + c * HW;
            T* dst = col + r * ld;
            const int64_t offh = kh * s.dil_h - s.pad_top, offw = kw * s.dil_w - s.pad_left;
            int64_t a, b;  // output rows of the tile with this tap inside the image
            valid_range(offh, s.stride_h, s.H, s.OH, &a, &b);
            a = std::min(std::max(a, oh0), oh1);
            b = std::max(a, std::min(b, oh1));
            zero(dst, (a - oh0) * s.OW);
            zero(dst + (b - oh0) * s.OW, (oh1 - b) * s.OW);
            if (a == b) continue;
            T* d = dst + (a - oh0) * s.OW;
            if (flat) {
                const int64_t src0 = (a + offh) * s.W + offw, len = (b - a) * s.W;
                const int64_t lo = std::max<int64_t>(0, -src0), hi = std::min(len, HW - src0);
                if (hi > lo) std::memcpy(d + lo, xc + (src0 + lo), size_t(hi - lo) * sizeof(T));
                const int64_t zl = std::min(std::max<int64_t>(-offw, 0), s.W);
                const int64_t zr = std::min(std::max<int64_t>(s.W - offw, 0), s.W);
                if (zl > 0 || zr < s.W) {
                    for (int64_t oh = a; oh < b; ++oh, d += s.W) {
                        zero(d, zl);
                        zero(d + zr, s.W - zr);
                    }
                }
                continue;
            }
            int64_t l, h;
            valid_range(offw, s.stride_w, s.W, s.OW, &l, &h);
            for (int64_t oh = a; oh < b; ++oh, d += s.OW) {
                const T* src = xc + (oh * s.stride_h + offh) * s.W + l * s.stride_w + offw;
                zero(d, l);
                if (s.stride_w == 1) {
                    std::memcpy(d + l, src, size_t(h - l) * sizeof(T));
                } else {
                    for (int64_t j = 0; j < h - l; ++j) d[l + j] = src[j * s.stride_w];
                }
                zero(d + h, s.OW - h);
            }
        }
    });
}

// The adjoint of im2col: dx[c][ih][iw] += colg[row][column] for every tap of output rows
// [oh0, oh1) that lands inside the image. dx (C, H, W) is accumulated into (the caller
// zeroes it once per image); colg, laid out as im2col's col (row stride ld), is scratch and
// may be changed (taps in the padding are zeroed on the contiguous path). Channels are
// independent, and within a channel the rows are added in a fixed order.
template <typename T>
void col2im(T* dx, T* colg, int64_t ld, const Conv2dShape& s, int64_t oh0, int64_t oh1) {
    const int64_t cols = (oh1 - oh0) * s.OW, KK = s.KH * s.KW, HW = s.H * s.W;
    const bool flat = s.stride_h == 1 && s.stride_w == 1 && s.OW == s.W;
    parallel_for(0, s.C, grain_for(KK * cols), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            T* xc = dx + c * HW;
            for (int64_t k = 0; k < KK; ++k) {
                const int64_t kh = k / s.KW, kw = k % s.KW;
                T* src = colg + (c * KK + k) * ld;
                const int64_t offh = kh * s.dil_h - s.pad_top, offw = kw * s.dil_w - s.pad_left;
                int64_t a, b;
                valid_range(offh, s.stride_h, s.H, s.OH, &a, &b);
                a = std::min(std::max(a, oh0), oh1);
                b = std::max(a, std::min(b, oh1));
                if (a == b) continue;
                T* d = src + (a - oh0) * s.OW;
                if (flat) {
                    const int64_t zl = std::min(std::max<int64_t>(-offw, 0), s.W);
                    const int64_t zr = std::min(std::max<int64_t>(s.W - offw, 0), s.W);
                    if (zl > 0 || zr < s.W) {
                        T* e = d;
                        for (int64_t oh = a; oh < b; ++oh, e += s.W) {
                            zero(e, zl);
                            zero(e + zr, s.W - zr);
                        }
                    }
                    const int64_t src0 = (a + offh) * s.W + offw, len = (b - a) * s.W;
                    const int64_t lo = std::max<int64_t>(0, -src0), hi = std::min(len, HW - src0);
                    T* out = xc + (src0 + lo);
                    const T* in = d + lo;
                    for (int64_t j = 0; j < hi - lo; ++j) out[j] += in[j];
                    continue;
                }
                int64_t l, h;
                valid_range(offw, s.stride_w, s.W, s.OW, &l, &h);
                for (int64_t oh = a; oh < b; ++oh, d += s.OW) {
                    T* out = xc + (oh * s.stride_h + offh) * s.W + l * s.stride_w + offw;
                    const T* in = d + l;
                    if (s.stride_w == 1) {
                        for (int64_t j = 0; j < h - l; ++j) out[j] += in[j];
                    } else {
                        for (int64_t j = 0; j < h - l; ++j) out[j * s.stride_w] += in[j];
                    }
                }
            }
        }
    });
}

// sum(x[0:n]) in a fixed order: eight interleaved partial sums (vectorisable without
// reassociation), combined pairwise, then the tail.
template <typename T>
T row_sum(const T* x, int64_t n) {
    T acc[8] = {};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; ++l) acc[l] += x[j + l];
    T sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < n; ++j) sum += x[j];
    return sum;
}

// Images (or image groups) are shared out across threads, each GEMM then running
// single-threaded, when they split evenly or number at least two per thread (the chunks are
// claimed dynamically, so the last round's imbalance is small); otherwise each GEMM threads
// itself.
bool split_images(int64_t items) {
    const int64_t t = get_num_threads();
    return t > 1 && items > 1 && (items % t == 0 || items >= 2 * t);
}

// ---- Winograd F(2x2, 3x3) ----
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, section 4.1:
// a 2x2 output tile of a 3x3 correlation of the 4x4 input tile d with the filter g is
//     Y = A^T [ (G g G^T) (.) (B^T d B) ] A        ((.) elementwise)
// with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
// 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1]. Summed over input channels, the 16 elementwise products
// become 16 independent GEMMs, U[xi] (Cout x Cin) @ V[xi] (Cin x tiles), xi = 4*i + j the
// position in the tile: 16 multiplies per 2x2 outputs instead of 36. The only constants are
// 1 and 1/2, so small-integer data stays exact.

// Channels (in and out) from which Winograd beats im2col + GEMM: below, the GEMMs are too
// thin for the saved multiplies to pay for the transforms (measured; see the report in the
// commit that set it).
constexpr int64_t kWinogradMinChannels = 16;
// Target bytes of one batch's transformed input and products (16 x (Cin + Cout) x tiles).
// Larger batches give the 16 GEMMs more columns (their K, the channel count, is small);
// measured on Zen 3 (512 KiB L2) over 256 KiB - 8 MiB: 2 MiB was fastest at 14x14 and 56x56
// (e.g. N128 C32 14x14 -> 64, 1 thread: 13.4 ms against 14.2-20.8 at 1 MiB).
constexpr int64_t kWinogradBatchBytes = int64_t(1) << 21;

bool winograd_applies(const Conv2dShape& s) {
    return s.KH == 3 && s.KW == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dil_h == 1 && s.dil_w == 1 &&
           s.groups == 1;
}
bool winograd_pays(const Conv2dShape& s) {
    return winograd_applies(s) && s.C >= kWinogradMinChannels && s.OC >= kWinogradMinChannels;
}
// The input gradient's Winograd convolution transforms the upstream gradient (OC channels)
// into a C-channel result, and its edge tiles are larger (padding 2 - pad). Measured at 1
// thread (AVX2 transforms), it pays from 32x32 pixels, and from 24x24 when the input has 64
// channels or more: N32 C64 24x24 -> 64: 16.0 vs 19.4 ms; N32 C64 28x28 -> 32: 11.3 vs 16.5;
// but N32 C32 28x28 -> 64: 13.8 vs 13.3; N128 C32 14x14 -> 64: 14.8 vs 13.7; N128 C64 7x7
// -> 64: 8.6 vs 8.0; N32 C64 56x56 -> 64: 77.8 vs 103.8.
constexpr int64_t kWinogradMinInputGradPixels = 32 * 32;
constexpr int64_t kWinogradMinInputGradPixelsWide = 24 * 24;  // for C >= kWinogradWideChannels
constexpr int64_t kWinogradWideChannels = 64;
bool winograd_pays_input_grad(const Conv2dShape& s) {
    const int64_t min_pixels = s.C >= kWinogradWideChannels ? kWinogradMinInputGradPixelsWide
                                                            : kWinogradMinInputGradPixels;
    return winograd_pays(s) && s.H * s.W >= min_pixels;
}

// U[xi][o][i] = (G g G^T)[xi] for the 3x3 filters g = filt(o, i) (a callable returning a
// pointer to 9 elements with row stride rs and column stride cs). U (16, Cout, Cin), overwritten.
template <typename T, typename F>
void winograd_filters(T* U, int64_t Cout, int64_t Cin, F filt) {
    const int64_t plane = Cout * Cin;
    parallel_for(0, Cout, grain_for(Cin * 16), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o)
            for (int64_t i = 0; i < Cin; ++i) {
                T g[3][3];
                filt(o, i, g);
                T t[4][3];  // G g
                for (int c = 0; c < 3; ++c) {
                    const T e = g[0][c] + g[2][c];
                    t[0][c] = g[0][c];
                    t[1][c] = T(0.5) * (e + g[1][c]);
                    t[2][c] = T(0.5) * (e - g[1][c]);
                    t[3][c] = g[2][c];
                }
                for (int r = 0; r < 4; ++r) {  // (G g) G^T
                    const T e = t[r][0] + t[r][2];
                    T* u = U + (4 * r) * plane + o * Cin + i;
                    u[0] = t[r][0];
                    u[plane] = T(0.5) * (e + t[r][1]);
                    u[2 * plane] = T(0.5) * (e - t[r][1]);
                    u[3 * plane] = t[r][2];
                }
            }
    });
}

// n elements rounded up to whole KiB-multiples plus 16 elements: consecutive planes this far
// apart start in different cache sets.
int64_t plane_stride(int64_t n) { return ceil_div(n, 256) * 256 + 16; }

// Tile rows per batch: 2-row strips of output, TW tiles each, batches of whole strips.
int64_t winograd_batch_rows(int64_t Cin, int64_t Cout, int64_t TW, int64_t elem_size) {
    return std::max<int64_t>(1, kWinogradBatchBytes / std::max<int64_t>(1, 16 * (Cin + Cout) * TW * elem_size));
}

// The batch runner of the active CPU code path: the AVX2 build of conv2d_winograd.h on the
// avx2 and avx512 paths, this file's baseline build otherwise.
template <typename T>
WinogradBatchesFn<T> winograd_batches_for() {
#if defined(FASTNN_HAVE_X86_KERNELS)
    if (cpu_capability() != CpuCapability::scalar) {
        if constexpr (std::is_same_v<T, float>) return winograd_batches_avx2_f32();
        else return winograd_batches_avx2_f64();
    }
#endif
    return &winograd_run_batches<T>;
}

// out (N, Cout, OH, OW) = bias + the 3x3 stride-1 correlation of inp (N, Cin, H, W) with the
// filters whose transforms U (16, Cout, Cin) winograd_filters made; input pixel
// (oh - pt + kh, ow - pl + kw) feeds output (oh, ow), read as 0 outside the image (pt and pl
// may be negative: a crop). Batches of whole tile strips are fixed by the shape alone, and
// every output element is made by one batch, so the bits never depend on the thread count.
template <typename T>
void winograd_conv3x3(T* out, const T* inp, const T* U, const T* bias, int64_t N, int64_t Cin, int64_t H,
                      int64_t W, int64_t Cout, int64_t OH, int64_t OW, int64_t pt, int64_t pl) {
    const int64_t TH = ceil_div(OH, 2), TW = ceil_div(OW, 2);
    const int64_t R = std::min(N * TH, winograd_batch_rows(Cin, Cout, TW, sizeof(T)));
    const int64_t nbatches = ceil_div(N * TH, R), TB = R * TW;  // tiles per full batch
    // Per batch: V (16, Cin, TB) and M (16, Cout, TB), the GEMM's operand and result; D
    // (16, TB), one channel's raw 4x4 tiles, and Y (4, TB), one output channel's 2x2 tiles,
    // each element position a unit-stride row over the batch's tiles, so that the transforms
    // are long vector loops; one padded input row. The 16 planes of V, M and D lie
    // plane_stride apart: not a multiple of 4 KiB, else the transforms' 16 streams would fall
    // into one L1 set (measured 1.7x slower at 56x56).
    const int64_t PV = plane_stride(Cin * TB), PM = plane_stride(Cout * TB), PD = plane_stride(TB);
    const int64_t WP = 2 * TW + 2;
    const size_t scratch_elems = size_t(16 * (PV + PM + PD) + 4 * TB + WP);

    // Padded row column k is input column k - pl; zero outside [0, W).
    const int64_t k0 = std::min(WP, std::max<int64_t>(0, pl));
    const int64_t k1 = std::max(k0, std::min(WP, pl + W));
    const WinogradPlan<T> plan{out, inp, U, bias, N, Cin, H, W, Cout, OH, OW, pt, pl, TH, TW, R, TB,
                               PV, PM, PD, WP, k0, k1};
    const WinogradBatchesFn<T> run = winograd_batches_for<T>();
    auto batches = [&](int64_t b0, int64_t b1) {
        Scratch scratch(scratch_elems * sizeof(T));
        T* V = scratch.as<T>();
        T* M = V + 16 * PV;
        T* D = M + 16 * PM;
        T* Y = D + 16 * PD;
        run(plan, b0, b1, V, M, D, Y, Y + 4 * TB);
    };
    if (split_images(nbatches))
        parallel_for(0, nbatches, 1, batches);
    else
        batches(0, nbatches);
}

// The Winograd path of conv2d_forward: filters transformed once per call.
template <typename T>
void winograd_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dShape& s) {
    Scratch uscratch(size_t(16 * s.OC * s.C) * sizeof(T), 1);
    T* U = uscratch.as<T>();
    winograd_filters(U, s.OC, s.C, [&](int64_t oc, int64_t c, T g[3][3]) {
        const T* w = weight + (oc * s.C + c) * 9;
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) g[a][b] = w[3 * a + b];
    });
    winograd_conv3x3(out, inp, U, bias, s.N, s.C, s.H, s.W, s.OC, s.OH, s.OW, s.pad_top, s.pad_left);
}

// The input gradient by Winograd: dinp is the full correlation of dout with the filters
// rotated by 180 degrees and with in/out channels swapped, g'[c][oc] = w[oc][c] flipped, so
// input pixel (ih, iw) collects dout[ih + pt - kh][iw + pl - kw]: padding 2 - pt, 2 - pl.
template <typename T>
void winograd_input_grad(T* dinp, const T* dout, const T* weight, const Conv2dShape& s) {
    Scratch uscratch(size_t(16 * s.OC * s.C) * sizeof(T), 1);
    T* U = uscratch.as<T>();
    winograd_filters(U, s.C, s.OC, [&](int64_t c, int64_t oc, T g[3][3]) {
        const T* w = weight + (oc * s.C + c) * 9;
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) g[a][b] = w[3 * (2 - a) + (2 - b)];
    });
    winograd_conv3x3<T>(dinp, dout, U, nullptr, s.N, s.OC, s.OH, s.OW, s.C, s.H, s.W, 2 - s.pad_top,
                        2 - s.pad_left);
}

// Whether the output (input_grad false) or the input gradient takes the Winograd path.
bool use_winograd(const Conv2dShape& s, Conv2dAlgorithm algo, bool input_grad) {
    if (algo == Conv2dAlgorithm::im2col) return false;
    if (algo == Conv2dAlgorithm::winograd) {
        if (!winograd_applies(s))
            throw std::invalid_argument("[conv2d] the Winograd path needs a 3x3 kernel, stride 1, dilation 1 and groups 1");
        return true;
    }
    return input_grad ? winograd_pays_input_grad(s) : winograd_pays(s);
}

}  // namespace

Conv2dPlan conv2d_plan(const Conv2dShape& s, int64_t elem_size) {
    Conv2dPlan p;
    const bool direct = reads_input_in_place(s);
    if (direct) {
        p.tile_rows = std::max<int64_t>(s.OH, 1);
    } else {
        const int64_t row_bytes = std::max<int64_t>(1, s.C * s.KH * s.KW * s.OW * elem_size);
        p.tile_rows = std::min(std::max<int64_t>(s.OH, 1), std::max<int64_t>(1, kTileBytes / row_bytes));
    }
    const int64_t partial_bytes = std::max<int64_t>(1, s.OC * (s.C / std::max<int64_t>(s.groups, 1)) *
                                                           s.KH * s.KW * elem_size);
    const int64_t max_groups = std::min(kMaxImageGroups, std::max<int64_t>(1, kPartialBytes / partial_bytes));
    p.group_images = std::max<int64_t>(1, ceil_div(s.N, max_groups));
    // Whole images whose column gradients (and output gradients, copied side by side) fit
    // one tile's bytes together. In place, the columns are the input itself and cannot be
    // laid side by side without a copy.
    p.batch_images = 1;
    if (!direct && p.tile_rows >= s.OH) {
        const int64_t image_bytes =
            std::max<int64_t>(1, std::max(s.C * s.KH * s.KW, s.OC) * s.OH * s.OW * elem_size);
        p.batch_images = std::min(p.group_images, std::max<int64_t>(1, kTileBytes / image_bytes));
    }
    p.winograd = winograd_pays(s);
    p.winograd_input_grad = winograd_pays_input_grad(s);
    return p;
}

template <typename T>
void conv2d_forward(T* out, const T* inp, const T* weight, const T* bias, const Conv2dShape& s,
                    Conv2dAlgorithm algo) {
    const Geometry g(s);
    const bool wino = use_winograd(s, algo, false);
    if (s.N == 0 || s.OC == 0) return;
    if (wino && s.C > 0) {
        winograd_forward(out, inp, weight, bias, s);
        return;
    }
    const bool direct = reads_input_in_place(s);
    const Conv2dPlan plan = conv2d_plan(s, sizeof(T));
    const int64_t col_elems = direct ? 0 : s.C * g.KK * plan.tile_rows * s.OW;
    const StridedMatrix<const T> Wm{weight, g.OCg * g.CgKK, g.CgKK, 1};

    auto images = [&](int64_t n0, int64_t n1) {
        Scratch scratch(size_t(col_elems) * sizeof(T));
        T* col = scratch.as<T>();
        for (int64_t n = n0; n < n1; ++n) {
            const T* x = inp + n * s.C * g.HW;
            T* y = out + n * s.OC * g.OHW;
            for (int64_t oh0 = 0; oh0 < s.OH; oh0 += plan.tile_rows) {
                const int64_t oh1 = std::min(s.OH, oh0 + plan.tile_rows), cols = (oh1 - oh0) * s.OW;
                T* yt = y + oh0 * s.OW;
                const T* B = x;
                int64_t ldb = g.HW;
                if (!direct) {
                    im2col(col, cols, x, s, oh0, oh1);
                    B = col;
                    ldb = cols;
                }
                // The bias is fused: the tile starts as the bias and the GEMM adds onto it.
                T beta = T(0);
                if (bias) {
                    for (int64_t oc = 0; oc < s.OC; ++oc) std::fill_n(yt + oc * g.OHW, cols, bias[oc]);
                    beta = T(1);
                }
                // One product per group: Y_g (OCg x cols) = W_g (OCg x CgKK) @ col_g (CgKK x cols).
                gemm<T>(s.groups, g.OCg, cols, g.CgKK, T(1), Wm, {B, g.CgKK * ldb, ldb, 1}, beta,
                        {yt, g.OCg * g.OHW, g.OHW, 1});
            }
        }
    };
    if (split_images(s.N))
        parallel_for(0, s.N, 1, images);
    else
        images(0, s.N);
}

template <typename T>
void conv2d_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                     const Conv2dShape& s, Conv2dAlgorithm algo) {
    if (!dinp && !dweight && !dbias) return;
    if (dinp && use_winograd(s, algo, true) && s.N > 0 && s.C > 0 && s.OC > 0) {
        // The weight and bias gradients stay on the GEMM path; the input gradient is a
        // Winograd convolution of its own.
        conv2d_backward(static_cast<T*>(nullptr), dweight, dbias, dout, inp, weight, s, Conv2dAlgorithm::im2col);
        winograd_input_grad(dinp, dout, weight, s);
        return;
    }
    const Geometry g(s);
    const int64_t wsize = s.OC * g.CgKK;
    if (s.N == 0) {
        if (dweight) zero(dweight, wsize);
        if (dbias) zero(dbias, s.OC);
        return;
    }
    const bool direct = reads_input_in_place(s);
    const Conv2dPlan plan = conv2d_plan(s, sizeof(T));
    const int64_t G = plan.group_images, ngroups = ceil_div(s.N, G), B = plan.batch_images;
    const int64_t tile_elems = s.C * g.KK * plan.tile_rows * s.OW;
    const int64_t col_elems = (dweight && !direct) ? tile_elems : 0;
    const int64_t colg_elems = (dinp && !direct) ? tile_elems * B : 0;
    const int64_t dyb_elems = (B > 1 && dinp) ? s.OC * g.OHW * B : 0;

    // Each group's weight gradient, transposed: (C/groups*KH*KW) x OC, so that the product
    // col @ dY^T that makes it reads the column matrix in place and writes whole rows of a
    // contiguous result (measured ~25% faster than dY @ col^T into dweight's layout).
    Scratch wscratch(dweight ? size_t(ngroups * wsize) * sizeof(T) : 0, 1);
    T* const wpart = wscratch.as<T>();
    // Bias partial sums of groups 1.. (group 0 sums straight into dbias).
    std::unique_ptr<T[]> bpart(dbias && ngroups > 1 ? new T[size_t((ngroups - 1) * s.OC)] : nullptr);

    auto groups = [&](int64_t q0, int64_t q1) {
        Scratch scratch(size_t(col_elems + colg_elems + dyb_elems) * sizeof(T));
        T* col = scratch.as<T>();
        T* colg = scratch.as<T>(size_t(col_elems));
        T* dyb = scratch.as<T>(size_t(col_elems + colg_elems));
        for (int64_t q = q0; q < q1; ++q) {
            T* dwt = dweight ? wpart + q * wsize : nullptr;
            T* db = !dbias ? nullptr : q == 0 ? dbias : bpart.get() + (q - 1) * s.OC;
            bool first = true;  // the group's first product overwrites its partials
            const int64_t qend = std::min(s.N, (q + 1) * G);
            // Batches of nb images, each cut into tiles of output rows (one tile when nb > 1).
            for (int64_t n0 = q * G; n0 < qend; n0 += B) {
                const int64_t nb = std::min(B, qend - n0);
                for (int64_t oh0 = 0; oh0 < s.OH; oh0 += plan.tile_rows) {
                    const int64_t oh1 = std::min(s.OH, oh0 + plan.tile_rows), cols = (oh1 - oh0) * s.OW;
                    const int64_t ld = nb * cols;
                    // dY of the batch as one (OC x ld) matrix for the input gradient: in place
                    // for one image, else its images' rows copied side by side.
                    const T* dy = dout + n0 * s.OC * g.OHW + oh0 * s.OW;
                    int64_t ldy = g.OHW;
                    if (nb > 1 && dinp) {
                        for (int64_t i = 0; i < nb; ++i)
                            for (int64_t oc = 0; oc < s.OC; ++oc)
                                std::memcpy(dyb + oc * ld + i * cols, dy + i * s.OC * g.OHW + oc * g.OHW,
                                            size_t(cols) * sizeof(T));
                    }
                    for (int64_t i = 0; i < nb; ++i) {
                        const T* dyi = dout + (n0 + i) * s.OC * g.OHW + oh0 * s.OW;
                        if (db) {
                            for (int64_t oc = 0; oc < s.OC; ++oc) {
                                const T v = row_sum(dyi + oc * g.OHW, cols);
                                db[oc] = first && i == 0 ? v : db[oc] + v;
                            }
                        }
                        if (dwt) {
                            // One image at a time, reading its dY in place: a longer K (several
                            // images) measured no faster, and would need dY copied.
                            const T* X = inp + (n0 + i) * s.C * g.HW;
                            int64_t ldx = g.HW;
                            if (!direct) {
                                im2col(col, cols, X, s, oh0, oh1);
                                X = col;
                                ldx = cols;
                            }
                            // dW_g^T (CgKK x OCg) (+)= col_g (CgKK x cols) @ dY_g^T (cols x OCg).
                            gemm<T>(s.groups, g.CgKK, g.OCg, cols, T(1), {X, g.CgKK * ldx, ldx, 1},
                                    {dyi, g.OCg * g.OHW, 1, g.OHW}, first && i == 0 ? T(0) : T(1),
                                    {dwt, g.OCg, s.OC, 1});
                        }
                    }
                    if (nb > 1) {
                        dy = dyb;
                        ldy = ld;
                    }
                    if (dinp) {
                        // colgrad_g (CgKK x ld) = W_g^T (CgKK x OCg) @ dY_g (OCg x ld); in place,
                        // that is dx itself.
                        const StridedMatrix<const T> Wt{weight, g.OCg * g.CgKK, 1, g.CgKK};
                        const StridedMatrix<const T> dY{dy, g.OCg * ldy, ldy, 1};
                        T* dx = dinp + n0 * s.C * g.HW;
                        if (direct) {
                            gemm<T>(s.groups, g.CgKK, cols, g.OCg, T(1), Wt, dY, T(0), {dx, g.CgKK * g.HW, g.HW, 1});
                        } else {
                            gemm<T>(s.groups, g.CgKK, ld, g.OCg, T(1), Wt, dY, T(0), {colg, g.CgKK * ld, ld, 1});
                            for (int64_t i = 0; i < nb; ++i) {
                                T* dxi = dx + i * s.C * g.HW;
                                if (oh0 == 0) zero(dxi, s.C * g.HW);
                                col2im(dxi, colg + i * cols, ld, s, oh0, oh1);
                            }
                        }
                    }
                    first = false;
                }
            }
        }
    };
    if (split_images(ngroups))
        parallel_for(0, ngroups, 1, groups);
    else
        groups(0, ngroups);

    // Partials added in group order, element by element (any split of elements gives the
    // same bits): into group 0's, which is then transposed into dweight.
    auto reduce = [&](T* dst, const T* parts, int64_t size) {
        parallel_for(0, size, int64_t(1) << 14, [&](int64_t i0, int64_t i1) {
            for (int64_t q = 1; q < ngroups; ++q) {
                const T* p = parts + (q - 1) * size;
                for (int64_t i = i0; i < i1; ++i) dst[i] += p[i];
            }
        });
    };
    if (dweight) {
        T* sum = wpart;
        if (ngroups > 1) reduce(sum, sum + wsize, wsize);
        for (int64_t oc = 0; oc < s.OC; ++oc)
            for (int64_t k = 0; k < g.CgKK; ++k) dweight[oc * g.CgKK + k] = sum[k * s.OC + oc];
    }
    if (dbias && ngroups > 1) reduce(dbias, bpart.get(), s.OC);
}

template <typename T>
void conv2d_forward_ref(T* out, const T* inp, const T* weight, const T* bias, const Conv2dShape& s) {
    const Geometry g(s);
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t oc = 0; oc < s.OC; ++oc) {
            const int64_t c0 = (oc / g.OCg) * g.Cg;
            for (int64_t oh = 0; oh < s.OH; ++oh)
                for (int64_t ow = 0; ow < s.OW; ++ow) {
                    T acc = bias ? bias[oc] : T(0);
                    for (int64_t c = 0; c < g.Cg; ++c)
                        for (int64_t kh = 0; kh < s.KH; ++kh) {
                            const int64_t ih = oh * s.stride_h - s.pad_top + kh * s.dil_h;
                            if (ih < 0 || ih >= s.H) continue;
                            for (int64_t kw = 0; kw < s.KW; ++kw) {
                                const int64_t iw = ow * s.stride_w - s.pad_left + kw * s.dil_w;
                                if (iw < 0 || iw >= s.W) continue;
                                acc += weight[((oc * g.Cg + c) * s.KH + kh) * s.KW + kw] *
                                       inp[((n * s.C + c0 + c) * s.H + ih) * s.W + iw];
                            }
                        }
                    out[((n * s.OC + oc) * s.OH + oh) * s.OW + ow] = acc;
                }
        }
}

template <typename T>
void conv2d_backward_ref(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp, const T* weight,
                         const Conv2dShape& s) {
    const Geometry g(s);
    if (dinp) zero(dinp, s.N * s.C * g.HW);
    if (dweight) zero(dweight, s.OC * g.CgKK);
    if (dbias) zero(dbias, s.OC);
    for (int64_t n = 0; n < s.N; ++n)
        for (int64_t oc = 0; oc < s.OC; ++oc) {
            const int64_t c0 = (oc / g.OCg) * g.Cg;
            for (int64_t oh = 0; oh < s.OH; ++oh)
                for (int64_t ow = 0; ow < s.OW; ++ow) {
                    const T d = dout[((n * s.OC + oc) * s.OH + oh) * s.OW + ow];
                    if (dbias) dbias[oc] += d;
                    for (int64_t c = 0; c < g.Cg; ++c)
                        for (int64_t kh = 0; kh < s.KH; ++kh) {
                            const int64_t ih = oh * s.stride_h - s.pad_top + kh * s.dil_h;
                            if (ih < 0 || ih >= s.H) continue;
                            for (int64_t kw = 0; kw < s.KW; ++kw) {
                                const int64_t iw = ow * s.stride_w - s.pad_left + kw * s.dil_w;
                                if (iw < 0 || iw >= s.W) continue;
                                const int64_t wi = ((oc * g.Cg + c) * s.KH + kh) * s.KW + kw;
                                const int64_t xi = ((n * s.C + c0 + c) * s.H + ih) * s.W + iw;
                                if (dweight) dweight[wi] += d * inp[xi];
                                if (dinp) dinp[xi] += d * weight[wi];
                            }
                        }
                }
        }
}

#define FASTNN_CONV2D_INSTANTIATE(T)                                                                  \
    template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dShape&, Conv2dAlgorithm); \
    template void conv2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dShape&,       \
                                     Conv2dAlgorithm);                                                   \
    template void conv2d_forward_ref<T>(T*, const T*, const T*, const T*, const Conv2dShape&);        \
    template void conv2d_backward_ref<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dShape&);
FASTNN_CONV2D_INSTANTIATE(float)
FASTNN_CONV2D_INSTANTIATE(double)
#undef FASTNN_CONV2D_INSTANTIATE

}  // namespace fastnn
