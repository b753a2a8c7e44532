// Optimizer updates (see optim.h). Each per-range kernel is one flat loop the compiler
// vectorises: flags that change which operations run (weight decay, amsgrad, momentum...)
// are template parameters, so the loops carry no branches; scalars are rounded to T once,
// as PyTorch does when it applies a Python float to a float32 tensor.
#include "optim.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "parallel.h"

namespace fastnn {

namespace {

// torch.lerp's formula (ATen/native/Lerp.h): exact at both ends for either weight range.
template <typename T>
inline T lerp(T a, T b, T w, bool small_w) {
    return small_w ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// The gradient as every optimizer sees it: negated to maximize, plus L2 weight decay.
template <typename T, bool WD>
inline T effective_grad(T g, T sign, T p, T wd) {
    g = g * sign;  // exact: a sign flip
    if constexpr (WD) g = g + wd * p;
    return g;
}

template <typename T, bool WD, bool MOM, bool NESTEROV>
void sgd_loop(T* __restrict param, T* __restrict buf, const T* __restrict grad, int64_t n,
              const SgdOptions& o, bool first_step) {
    const T sign = o.maximize ? T(-1) : T(1), wd = T(o.weight_decay), lr = T(o.lr);
    const T mom = T(o.momentum), damp = T(1 - o.dampening);
    if (MOM && first_step) {
        for (int64_t i = 0; i < n; ++i) {
            T g = effective_grad<T, WD>(grad[i], sign, param[i], wd);
            buf[i] = g;  // torch's first step: the buffer is the gradient, undamped
            if constexpr (NESTEROV) g = g + mom * g;
            param[i] = param[i] - lr * g;
        }
        return;
    }
    for (int64_t i = 0; i < n; ++i) {
        T g = effective_grad<T, WD>(grad[i], sign, param[i], wd);
        if constexpr (MOM) {
            const T b = mom * buf[i] + damp * g;
            buf[i] = b;
            g = NESTEROV ? g + mom * b : b;
        }
        param[i] = param[i] - lr * g;
    }
}

template <typename T, bool WD, bool AMS>
void adam_loop(T* __restrict param, T* __restrict m, T* __restrict v, T* __restrict vmax,
               const T* __restrict grad, int64_t n, const AdamOptions& o, int64_t step) {
    // Scalars in double, as torch computes them in Python, then rounded to T.
    const double bc1 = 1 - std::pow(o.beta1, double(step));
    const double bc2 = 1 - std::pow(o.beta2, double(step));
    const T neg_step_size = T(-(o.lr / bc1)), bc2_sqrt = T(std::sqrt(bc2)), eps = T(o.eps);
    const T sign = o.maximize ? T(-1) : T(1), wd = T(o.weight_decay);
    const T decay = T(o.decoupled_weight_decay ? 1 - o.lr * o.weight_decay : 1.0);
    const T w1 = T(1 - o.beta1), beta2 = T(o.beta2), w2 = T(1 - o.beta2);
    const bool small_w1 = std::fabs(1 - o.beta1) < 0.5;
    for (int64_t i = 0; i < n; ++i) {
        const T p = param[i] * decay;  // AdamW's decay comes first; decay is 1 (exact) for Adam
        const T g = effective_grad<T, WD>(grad[i], sign, param[i], wd);
        const T mi = lerp(m[i], g, w1, small_w1);
        T vi = v[i] * beta2 + w2 * g * g;
        m[i] = mi;
        v[i] = vi;
        if constexpr (AMS) {
            vi = std::max(vmax[i], vi);
            vmax[i] = vi;
        }
        const T denom = std::sqrt(vi) / bc2_sqrt + eps;
        param[i] = p + neg_step_size * (mi / denom);
    }
}

template <typename T, bool WD, bool CENTERED, bool MOM>
void rmsprop_loop(T* __restrict param, T* __restrict sq, T* __restrict ga, T* __restrict buf,
                  const T* __restrict grad, int64_t n, const RmspropOptions& o) {
    const T sign = o.maximize ? T(-1) : T(1), wd = T(o.weight_decay), neg_lr = T(-o.lr);
    const T alpha = T(o.alpha), w = T(1 - o.alpha), eps = T(o.eps), mom = T(o.momentum);
    const bool small_w = std::fabs(1 - o.alpha) < 0.5;
    for (int64_t i = 0; i < n; ++i) {
        const T g = effective_grad<T, WD>(grad[i], sign, param[i], wd);
        const T s = sq[i] * alpha + w * g * g;
        sq[i] = s;
        T avg;
        if constexpr (CENTERED) {
            const T a = lerp(ga[i], g, w, small_w);
            ga[i] = a;
            avg = std::sqrt(s - a * a) + eps;
        } else {
            avg = std::sqrt(s) + eps;
        }
        if constexpr (MOM) {
            const T b = buf[i] * mom + g / avg;
            buf[i] = b;
            param[i] = param[i] + neg_lr * b;
        } else {
            param[i] = param[i] + neg_lr * (g / avg);
        }
    }
}

template <typename T, bool WD>
void adagrad_loop(T* __restrict param, T* __restrict sum, const T* __restrict grad, int64_t n,
                  const AdagradOptions& o, int64_t step) {
    const T sign = o.maximize ? T(-1) : T(1), wd = T(o.weight_decay), eps = T(o.eps);
    const T neg_clr = T(-(o.lr / (1 + double(step - 1) * o.lr_decay)));
    for (int64_t i = 0; i < n; ++i) {
        const T g = effective_grad<T, WD>(grad[i], sign, param[i], wd);
        const T s = sum[i] + g * g;
        sum[i] = s;
        param[i] = param[i] + neg_clr * (g / (std::sqrt(s) + eps));
    }
}

// Calls f(t, lo, hi) for every (tensor, element range) of the flat index space over all
// tensors, in chunks whose boundaries are multiples of kOptimGrain whatever the thread
// count, so every element sees the same code path (vector body or tail) on 1 or N threads.
template <class F>
void for_each_range(const std::vector<OptimTensor>& ts, F&& f) {
    std::vector<int64_t> start(ts.size() + 1, 0);
    for (size_t k = 0; k < ts.size(); ++k) start[k + 1] = start[k] + ts[k].n;
    const int64_t total = start.back();
    if (total == 0) return;
    parallel_for(0, total, kOptimGrain, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end;) {
            const int64_t ce = std::min(end, (c / kOptimGrain + 1) * kOptimGrain);
            // The last tensor starting at or before c (empty tensors are skipped below).
            size_t k = size_t(std::upper_bound(start.begin(), start.end(), c) - start.begin()) - 1;
            while (c < ce) {
                while (start[k + 1] <= c) ++k;
                const int64_t hi = std::min(ce, start[k + 1]);
                f(ts[k], c - start[k], hi - start[k]);
                c = hi;
            }
        }
    });
}

// Pointer to element lo of an array of T.
template <typename T>
inline T* at(void* p, int64_t lo) { return p ? static_cast<T*>(p) + lo : nullptr; }
template <typename T>
inline const T* at(const void* p, int64_t lo) { return static_cast<const T*>(p) + lo; }

}  // namespace

template <typename T>
void sgd_update(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdOptions& o,
                bool first_step) {
    const bool wd = o.weight_decay != 0;
    if (o.momentum == 0) {
        if (wd) sgd_loop<T, true, false, false>(param, nullptr, grad, n, o, false);
        else sgd_loop<T, false, false, false>(param, nullptr, grad, n, o, false);
    } else if (o.nesterov) {
        if (wd) sgd_loop<T, true, true, true>(param, momentum_buffer, grad, n, o, first_step);
        else sgd_loop<T, false, true, true>(param, momentum_buffer, grad, n, o, first_step);
    } else {
        if (wd) sgd_loop<T, true, true, false>(param, momentum_buffer, grad, n, o, first_step);
        else sgd_loop<T, false, true, false>(param, momentum_buffer, grad, n, o, first_step);
    }
}

template <typename T>
void adam_update(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
                 const AdamOptions& o, int64_t step) {
    // Decoupled decay scales the parameter instead of adding to the gradient.
    const bool wd = o.weight_decay != 0 && !o.decoupled_weight_decay;
    if (o.amsgrad) {
        if (wd) adam_loop<T, true, true>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, o, step);
        else adam_loop<T, false, true>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, o, step);
    } else {
        if (wd) adam_loop<T, true, false>(param, exp_avg, exp_avg_sq, nullptr, grad, n, o, step);
        else adam_loop<T, false, false>(param, exp_avg, exp_avg_sq, nullptr, grad, n, o, step);
    }
}

template <typename T>
void rmsprop_update(T* param, T* square_avg, T* grad_avg, T* momentum_buffer, const T* grad,
                    int64_t n, const RmspropOptions& o) {
    const bool wd = o.weight_decay != 0, mom = o.momentum > 0;
    // Four flag combinations per weight-decay setting; listed out rather than generated.
    auto run = [&](auto wd_tag) {
        constexpr bool WD = decltype(wd_tag)::value;
        if (o.centered) {
            if (mom) rmsprop_loop<T, WD, true, true>(param, square_avg, grad_avg, momentum_buffer, grad, n, o);
            else rmsprop_loop<T, WD, true, false>(param, square_avg, grad_avg, nullptr, grad, n, o);
        } else {
            if (mom) rmsprop_loop<T, WD, false, true>(param, square_avg, nullptr, momentum_buffer, grad, n, o);
            else rmsprop_loop<T, WD, false, false>(param, square_avg, nullptr, nullptr, grad, n, o);
        }
    };
    if (wd) run(std::true_type{});
    else run(std::false_type{});
}

template <typename T>
void adagrad_update(T* param, T* state_sum, const T* grad, int64_t n, const AdagradOptions& o,
                    int64_t step) {
    if (o.weight_decay != 0) adagrad_loop<T, true>(param, state_sum, grad, n, o, step);
    else adagrad_loop<T, false>(param, state_sum, grad, n, o, step);
}

template void sgd_update<float>(float*, float*, const float*, int64_t, const SgdOptions&, bool);
template void sgd_update<double>(double*, double*, const double*, int64_t, const SgdOptions&, bool);
template void adam_update<float>(float*, float*, float*, float*, const float*, int64_t,
                                 const AdamOptions&, int64_t);
template void adam_update<double>(double*, double*, double*, double*, const double*, int64_t,
                                  const AdamOptions&, int64_t);
template void rmsprop_update<float>(float*, float*, float*, float*, const float*, int64_t,
                                    const RmspropOptions&);
template void rmsprop_update<double>(double*, double*, double*, double*, const double*, int64_t,
                                     const RmspropOptions&);
template void adagrad_update<float>(float*, float*, const float*, int64_t, const AdagradOptions&, int64_t);
template void adagrad_update<double>(double*, double*, const double*, int64_t, const AdagradOptions&,
                                     int64_t);

void sgd_step(const std::vector<OptimTensor>& ts, const SgdOptions& o) {
    for_each_range(ts, [&](const OptimTensor& t, int64_t lo, int64_t hi) {
        if (t.f64)
            sgd_update<double>(at<double>(t.param, lo), at<double>(t.state[0], lo), at<double>(t.grad, lo),
                               hi - lo, o, t.first_step);
        else
            sgd_update<float>(at<float>(t.param, lo), at<float>(t.state[0], lo), at<float>(t.grad, lo),
                              hi - lo, o, t.first_step);
    });
}

void adam_step(const std::vector<OptimTensor>& ts, const AdamOptions& o) {
    for_each_range(ts, [&](const OptimTensor& t, int64_t lo, int64_t hi) {
        if (t.f64)
            adam_update<double>(at<double>(t.param, lo), at<double>(t.state[0], lo), at<double>(t.state[1], lo),
                                at<double>(t.state[2], lo), at<double>(t.grad, lo), hi - lo, o, t.step);
        else
            adam_update<float>(at<float>(t.param, lo), at<float>(t.state[0], lo), at<float>(t.state[1], lo),
                               at<float>(t.state[2], lo), at<float>(t.grad, lo), hi - lo, o, t.step);
    });
}

void rmsprop_step(const std::vector<OptimTensor>& ts, const RmspropOptions& o) {
    for_each_range(ts, [&](const OptimTensor& t, int64_t lo, int64_t hi) {
        if (t.f64)
            rmsprop_update<double>(at<double>(t.param, lo), at<double>(t.state[0], lo), at<double>(t.state[1], lo),
                                   at<double>(t.state[2], lo), at<double>(t.grad, lo), hi - lo, o);
        else
            rmsprop_update<float>(at<float>(t.param, lo), at<float>(t.state[0], lo), at<float>(t.state[1], lo),
                                  at<float>(t.state[2], lo), at<float>(t.grad, lo), hi - lo, o);
    });
}

void adagrad_step(const std::vector<OptimTensor>& ts, const AdagradOptions& o) {
    for_each_range(ts, [&](const OptimTensor& t, int64_t lo, int64_t hi) {
        if (t.f64)
            adagrad_update<double>(at<double>(t.param, lo), at<double>(t.state[0], lo), at<double>(t.grad, lo),
                                   hi - lo, o, t.step);
        else
            adagrad_update<float>(at<float>(t.param, lo), at<float>(t.state[0], lo), at<float>(t.grad, lo),
                                  hi - lo, o, t.step);
    });
}

}  // namespace fastnn
