// Loss kernels. Classification losses work per sample (one (n, j) position of an
// (N, C, inner) input, its C classes at stride inner) in double, threaded over samples;
// elementwise losses are plain loops over chunks. Reductions go through blocked_sum: fixed
// blocks summed in order, then the block sums in order, so any thread count gives the same
// bits.
#include "softmax_xent.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"
#include "vmath.h"

namespace fastnn {

namespace {

constexpr int64_t kGrain = 16384;     // elements per chunk
constexpr int64_t kSumBlock = 4096;   // terms per block of blocked_sum

// sum_{i < n} term(i) in double: blocks of kSumBlock terms, each summed left to right, then
// the block sums left to right. The block boundaries depend only on n.
template <class F>
double blocked_sum(int64_t n, const F& term) {
    const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
    std::vector<double> partial(blocks, 0.0);
    parallel_for(0, blocks, std::max<int64_t>(1, kGrain / kSumBlock), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t lo = b * kSumBlock, hi = std::min(n, lo + kSumBlock);
            double s = 0;
            for (int64_t i = lo; i < hi; ++i) s += term(i);
            partial[b] = s;
        }
    });
    double s = 0;
    for (double p : partial) s += p;
    return s;
}

// Samples of an (N, C, inner) array: sample i = (n, j) starts at element n C inner + j.
inline int64_t sample_base(int64_t i, int64_t C, int64_t inner) { return (i / inner) * C * inner + i % inner; }

// Runs f(i) for each of M samples, threaded in chunks of about kGrain elements.
template <class F>
void over_samples(int64_t M, int64_t C, const F& f) {
    parallel_for(0, M, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) f(i);
    });
}

// log sum_c exp(x[c * inner]) in double, max-subtracted.
template <class T>
double logsumexp(const T* x, int64_t C, int64_t inner) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < C; ++c) m = double(x[c * inner]) > m ? double(x[c * inner]) : m;
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += vmath::exp(double(x[c * inner]) - m);
    return m + std::log(s);
}

inline double wt(const double* w, int64_t c) { return w ? w[c] : 1.0; }

template <class T>
std::vector<double> weights64(const T* weight, int64_t C) {
    return weight ? std::vector<double>(weight, weight + C) : std::vector<double>();
}

// Writes per-sample values v (M of them) reduced as asked; denom is the Mean divisor.
template <class T>
void store_reduced(T* loss, const std::vector<double>& v, Reduction reduction, double denom) {
    const int64_t M = static_cast<int64_t>(v.size());
    if (reduction == Reduction::None) {
        for (int64_t i = 0; i < M; ++i) loss[i] = static_cast<T>(v[i]);
        return;
    }
    const double s = blocked_sum(M, [&](int64_t i) { return v[i]; });
    loss[0] = static_cast<T>(reduction == Reduction::Sum ? s : s / denom);
}

// sum_i w_{y_i} over non-ignored samples: the Mean divisor of the class-target losses.
inline double target_weight_sum(const int64_t* target, const double* w, int64_t M, int64_t ignore_index) {
    return blocked_sum(M, [&](int64_t i) { return target[i] == ignore_index ? 0.0 : wt(w, target[i]); });
}

// The upstream gradient of sample i.
template <class T>
double grad_of(const T* dout, int64_t i, Reduction reduction, double denom) {
    if (reduction == Reduction::None) return double(dout[i]);
    return reduction == Reduction::Sum ? double(dout[0]) : double(dout[0]) / denom;
}

}  // namespace

template <class T>
void cross_entropy_forward(T* loss, const T* inp, const int64_t* target, const T* weight, int64_t N,
                           int64_t C, int64_t inner, int64_t ignore_index, double label_smoothing,
                           Reduction reduction) {
    const int64_t M = N * inner;
    const std::vector<double> wv = weights64(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    const double eps = label_smoothing;
    std::vector<double> v(M);
    over_samples(M, C, [&](int64_t i) {
        const int64_t y = target[i];
        if (y == ignore_index) { v[i] = 0; return; }
        const T* x = inp + sample_base(i, C, inner);
        const double lse = logsumexp(x, C, inner);
        double l = wt(w, y) * (lse - double(x[y * inner]));
        if (eps > 0) {
            double smooth = 0;
            for (int64_t c = 0; c < C; ++c) smooth += wt(w, c) * (lse - double(x[c * inner]));
            l = (1 - eps) * l + eps / double(C) * smooth;
        }
        v[i] = l;
    });
    const double denom = reduction == Reduction::Mean ? target_weight_sum(target, w, M, ignore_index) : 1.0;
    store_reduced(loss, v, reduction, denom);
}

template <class T>
void cross_entropy_backward(T* dinp, const T* dout, const T* inp, const int64_t* target, const T* weight,
                            int64_t N, int64_t C, int64_t inner, int64_t ignore_index,
                            double label_smoothing, Reduction reduction) {
    const int64_t M = N * inner;
    const std::vector<double> wv = weights64(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    const double eps = label_smoothing;
    double W = 0;
    for (int64_t c = 0; c < C; ++c) W += wt(w, c);
    const double denom = reduction == Reduction::Mean ? target_weight_sum(target, w, M, ignore_index) : 1.0;
    over_samples(M, C, [&](int64_t i) {
        const int64_t base = sample_base(i, C, inner);
        const T* x = inp + base;
        T* dx = dinp + base;
        const int64_t y = target[i];
        if (y == ignore_index) {
            for (int64_t c = 0; c < C; ++c) dx[c * inner] = T(0);
            return;
        }
        const double g = grad_of(dout, i, reduction, denom);
        const double lse = logsumexp(x, C, inner);
        const double a = g * (1 - eps) * wt(w, y), b = g * eps / double(C);
        for (int64_t c = 0; c < C; ++c) {
            const double p = vmath::exp(double(x[c * inner]) - lse);
            dx[c * inner] = static_cast<T>(a * (p - (c == y ? 1.0 : 0.0)) + b * (W * p - wt(w, c)));
        }
    });
}

template <class T>
void cross_entropy_prob_forward(T* loss, const T* inp, const T* target, const T* weight, int64_t N,
                                int64_t C, int64_t inner, double label_smoothing, Reduction reduction) {
    const int64_t M = N * inner;
    const std::vector<double> wv = weights64(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    const double eps = label_smoothing;
    std::vector<double> v(M);
    over_samples(M, C, [&](int64_t i) {
        const int64_t base = sample_base(i, C, inner);
        const T* x = inp + base;
        const T* t = target + base;
        const double lse = logsumexp(x, C, inner);
        double l = 0;
        for (int64_t c = 0; c < C; ++c) {
            const double tc = (1 - eps) * double(t[c * inner]) + eps / double(C);
            l += wt(w, c) * tc * (lse - double(x[c * inner]));
        }
        v[i] = l;
    });
    store_reduced(loss, v, reduction, double(M));
}

template <class T>
void cross_entropy_prob_backward(T* dinp, const T* dout, const T* inp, const T* target, const T* weight,
                                 int64_t N, int64_t C, int64_t inner, double label_smoothing,
                                 Reduction reduction) {
    const int64_t M = N * inner;
    const std::vector<double> wv = weights64(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    const double eps = label_smoothing;
    over_samples(M, C, [&](int64_t i) {
        const int64_t base = sample_base(i, C, inner);
        const T* x = inp + base;
        const T* t = target + base;
        T* dx = dinp + base;
        const double g = grad_of(dout, i, reduction, double(M));
        const double lse = logsumexp(x, C, inner);
        double wt_sum = 0;  // sum_k w_k t'_k
        for (int64_t c = 0; c < C; ++c) wt_sum += wt(w, c) * ((1 - eps) * double(t[c * inner]) + eps / double(C));
        for (int64_t c = 0; c < C; ++c) {
            const double tc = (1 - eps) * double(t[c * inner]) + eps / double(C);
            const double p = vmath::exp(double(x[c * inner]) - lse);
            dx[c * inner] = static_cast<T>(g * (p * wt_sum - wt(w, c) * tc));
        }
    });
}

template <class T>
void nll_loss_forward(T* loss, const T* inp, const int64_t* target, const T* weight, int64_t N, int64_t C,
                      int64_t inner, int64_t ignore_index, Reduction reduction) {
    const int64_t M = N * inner;
    const std::vector<double> wv = weights64(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    std::vector<double> v(M);
    over_samples(M, 1, [&](int64_t i) {
        const int64_t y = target[i];
        v[i] = y == ignore_index ? 0.0 : -wt(w, y) * double(inp[sample_base(i, C, inner) + y * inner]);
    });
    const double denom = reduction == Reduction::Mean ? target_weight_sum(target, w, M, ignore_index) : 1.0;
    store_reduced(loss, v, reduction, denom);
}

template <class T>
void nll_loss_backward(T* dinp, const T* dout, const int64_t* target, const T* weight, int64_t N, int64_t C,
                       int64_t inner, int64_t ignore_index, Reduction reduction) {
    const int64_t M = N * inner;
    const std::vector<double> wv = weights64(weight, C);
    const double* w = weight ? wv.data() : nullptr;
    const double denom = reduction == Reduction::Mean ? target_weight_sum(target, w, M, ignore_index) : 1.0;
    over_samples(M, C, [&](int64_t i) {
        T* dx = dinp + sample_base(i, C, inner);
        for (int64_t c = 0; c < C; ++c) dx[c * inner] = T(0);
        const int64_t y = target[i];
        if (y != ignore_index) dx[y * inner] = static_cast<T>(-wt(w, y) * grad_of(dout, i, reduction, denom));
    });
}

namespace {

// log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), in double.
inline double log_sigmoid(double x) {
    return (x < 0 ? x : 0.0) - vmath::log1p(vmath::exp(x < 0 ? x : -x));
}

template <class T>
double bce_term(const T* inp, const T* target, const T* weight, const T* pos_weight, int64_t i) {
    const double x = inp[i], t = target[i];
    const double lw = pos_weight ? 1 + (double(pos_weight[i]) - 1) * t : 1.0;
    const double l = (1 - t) * x - lw * log_sigmoid(x);
    return weight ? double(weight[i]) * l : l;
}

// Writes an elementwise loss term(i) over n elements, reduced as asked (Mean divides by n).
// The 'none' loop runs on a local copy of term so that its captures become locals (GCC
// vectorises it then; through the shared closure it does not).
template <class T, class F>
void elementwise_loss(T* loss, int64_t n, Reduction reduction, const F& term) {
    if (reduction == Reduction::None) {
        parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
            F f = term;
            for (int64_t i = b; i < e; ++i) loss[i] = static_cast<T>(f(i));
        });
        return;
    }
    const double s = blocked_sum(n, term);
    loss[0] = static_cast<T>(reduction == Reduction::Sum ? s : s / double(n));
}

// dinp[i] = g_i dterm(i), the reduction's branch taken outside the loops.
template <class T, class F>
void elementwise_grad(T* dinp, const T* dout, int64_t n, Reduction reduction, const F& dterm) {
    const double c = reduction == Reduction::None ? 0.0 : grad_of(dout, 0, reduction, double(n));
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
        F f = dterm;
        if (reduction == Reduction::None) {
            for (int64_t i = b; i < e; ++i) dinp[i] = static_cast<T>(double(dout[i]) * f(i));
        } else {
            for (int64_t i = b; i < e; ++i) dinp[i] = static_cast<T>(c * f(i));
        }
    });
}

}  // namespace

template <class T>
void bce_with_logits_forward(T* loss, const T* inp, const T* target, const T* weight, const T* pos_weight,
                             int64_t n, Reduction reduction) {
    elementwise_loss(loss, n, reduction, [=](int64_t i) { return bce_term(inp, target, weight, pos_weight, i); });
}

template <class T>
void bce_with_logits_backward(T* dinp, const T* dout, const T* inp, const T* target, const T* weight,
                              const T* pos_weight, int64_t n, Reduction reduction) {
    elementwise_grad(dinp, dout, n, reduction, [=](int64_t i) {
        const double x = inp[i], t = target[i];
        const double pw = pos_weight ? double(pos_weight[i]) : 1.0;
        const double lw = 1 + (pw - 1) * t;
        const double d = lw * vmath::sigmoid(x) - pw * t;
        return weight ? double(weight[i]) * d : d;
    });
}

namespace {

// The loss of d = x - t and its derivative, per kind (selects only, so the loops vectorise).
template <PointLoss K>
inline double point_term(double d, double param) {
    const double a = std::fabs(d);
    if (K == PointLoss::MSE) return d * d;
    if (K == PointLoss::L1) return a;
    if (K == PointLoss::Huber) return a < param ? 0.5 * d * d : param * (a - 0.5 * param);
    return a < param ? 0.5 * d * d / param : a - 0.5 * param;  // SmoothL1
}

// d loss / d x as PyTorch's backward formulas write it.
template <PointLoss K>
inline double point_dterm(double d, double param) {
    if (K == PointLoss::MSE) return 2 * d;
    if (K == PointLoss::L1) return d > 0 ? 1.0 : (d < 0 ? -1.0 : d);  // sign, NaN kept
    if (K == PointLoss::Huber) return d <= -param ? -param : (d >= param ? param : d);
    return d <= -param ? -1.0 : (d >= param ? 1.0 : d / param);  // SmoothL1
}

template <PointLoss K, class T>
void point_forward(T* loss, const T* inp, const T* target, int64_t n, double param, Reduction reduction) {
    elementwise_loss(loss, n, reduction,
                     [=](int64_t i) { return point_term<K>(double(inp[i]) - double(target[i]), param); });
}

template <PointLoss K, class T>
void point_backward(T* dinp, const T* dout, const T* inp, const T* target, int64_t n, double param,
                    Reduction reduction) {
    elementwise_grad(dinp, dout, n, reduction,
                     [=](int64_t i) { return point_dterm<K>(double(inp[i]) - double(target[i]), param); });
}

}  // namespace

template <class T>
void point_loss_forward(T* loss, const T* inp, const T* target, int64_t n, PointLoss kind, double param,
                        Reduction reduction) {
    switch (kind) {
        case PointLoss::MSE: return point_forward<PointLoss::MSE>(loss, inp, target, n, param, reduction);
        case PointLoss::L1: return point_forward<PointLoss::L1>(loss, inp, target, n, param, reduction);
        case PointLoss::Huber: return point_forward<PointLoss::Huber>(loss, inp, target, n, param, reduction);
        case PointLoss::SmoothL1: return point_forward<PointLoss::SmoothL1>(loss, inp, target, n, param, reduction);
    }
}

template <class T>
void point_loss_backward(T* dinp, const T* dout, const T* inp, const T* target, int64_t n, PointLoss kind,
                         double param, Reduction reduction) {
    switch (kind) {
        case PointLoss::MSE: return point_backward<PointLoss::MSE>(dinp, dout, inp, target, n, param, reduction);
        case PointLoss::L1: return point_backward<PointLoss::L1>(dinp, dout, inp, target, n, param, reduction);
        case PointLoss::Huber:
            return point_backward<PointLoss::Huber>(dinp, dout, inp, target, n, param, reduction);
        case PointLoss::SmoothL1:
            return point_backward<PointLoss::SmoothL1>(dinp, dout, inp, target, n, param, reduction);
    }
}

#define FASTNN_XENT_INSTANTIATE(T)                                                                         \
    template void cross_entropy_forward<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t,       \
                                           int64_t, int64_t, double, Reduction);                           \
    template void cross_entropy_backward<T>(T*, const T*, const T*, const int64_t*, const T*, int64_t,     \
                                            int64_t, int64_t, int64_t, double, Reduction);                 \
    template void cross_entropy_prob_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t,        \
                                                int64_t, double, Reduction);                               \
    template void cross_entropy_prob_backward<T>(T*, const T*, const T*, const T*, const T*, int64_t,      \
                                                 int64_t, int64_t, double, Reduction);                     \
    template void nll_loss_forward<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t, int64_t,   \
                                      int64_t, Reduction);                                                 \
    template void nll_loss_backward<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t, int64_t,  \
                                       int64_t, Reduction);                                                \
    template void bce_with_logits_forward<T>(T*, const T*, const T*, const T*, const T*, int64_t,          \
                                             Reduction);                                                   \
    template void bce_with_logits_backward<T>(T*, const T*, const T*, const T*, const T*, const T*,        \
                                              int64_t, Reduction);                                         \
    template void point_loss_forward<T>(T*, const T*, const T*, int64_t, PointLoss, double, Reduction);    \
    template void point_loss_backward<T>(T*, const T*, const T*, const T*, int64_t, PointLoss, double,     \
                                         Reduction);

FASTNN_XENT_INSTANTIATE(float)
FASTNN_XENT_INSTANTIATE(double)
#undef FASTNN_XENT_INSTANTIATE

}  // namespace fastnn
