// Activation kernels: each elementwise op is one plain loop over a chunk, vectorised by the
// compiler through vmath.h (this file is built with -fno-trapping-math so that the selects
// if-convert), and threaded over chunks of kGrain elements. softmax/log_softmax walk
// (outer, D, inner) arrays: a contiguous row when inner == 1, else a block of adjacent
// columns at once (stride inner between the D elements), vectorised across the block.
#include "activation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"
#include "vmath.h"

namespace fastnn {

namespace {

constexpr int64_t kGrain = 16384;  // elements per chunk: a few microseconds of work

// f(b, e) runs a plain loop over [b, e). It is called on a local copy: the captured
// pointers and parameters then become locals, which GCC's if-conversion and vectoriser need
// (through a pointer to the shared closure they do not vectorise).
template <class F>
void elementwise(int64_t n, const F& f) {
    parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
        F local = f;
        local(b, e);
    });
}

// 1/sqrt(2), 1/sqrt(2 pi), sqrt(2/pi): the constants of gelu and its derivative.
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluKappa = 0.044715;

}  // namespace

template <class T>
void relu_forward(T* out, const T* inp, int64_t n) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T x = inp[i];
            out[i] = x <= T(0) ? T(0) : x;  // NaN fails the test and passes through
        }
    });
}

template <class T>
void relu_backward(T* dinp, const T* dout, const T* inp, int64_t n) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T g = dout[i];  // loaded unconditionally so the select vectorises
            dinp[i] = inp[i] <= T(0) ? T(0) : g;
        }
    });
}

template <class T>
void leaky_relu_forward(T* out, const T* inp, int64_t n, T slope) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T x = inp[i];
            out[i] = x > T(0) ? x : x * slope;
        }
    });
}

template <class T>
void leaky_relu_backward(T* dinp, const T* dout, const T* inp, int64_t n, T slope) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T g = dout[i];
            dinp[i] = inp[i] > T(0) ? g : g * slope;
        }
    });
}

template <class T>
void elu_forward(T* out, const T* inp, int64_t n, T alpha) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T x = inp[i];
            out[i] = x > T(0) ? x : alpha * vmath::expm1(x);
        }
    });
}

template <class T>
void elu_backward(T* dinp, const T* dout, const T* inp, int64_t n, T alpha) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T x = inp[i], g = dout[i];
            dinp[i] = x <= T(0) ? g * (alpha * vmath::exp(x)) : g;  // NaN: g, as PyTorch
        }
    });
}

template <class T>
void gelu_forward(T* out, const T* inp, int64_t n, bool approx_tanh) {
    if (approx_tanh) {
        elementwise(n, [=](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const T x = inp[i];
                const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x);
                out[i] = T(0.5) * x * (T(1) + vmath::tanh(inner));
            }
        });
    } else {
        // x Phi(x) through erfc rather than 1 + erf: no cancellation for x << 0. std::erfc
        // is a libm call, so this loop stays scalar.
        elementwise(n, [=](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const T x = inp[i];
                out[i] = T(0.5) * x * std::erfc(-x * T(kSqrtHalf));
            }
        });
    }
}

template <class T>
void gelu_backward(T* dinp, const T* dout, const T* inp, int64_t n, bool approx_tanh) {
    if (approx_tanh) {
        // d/dx [x/2 (1 + tanh u)] = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) u',
        // u = sqrt(2/pi) (x + k x^3), u' = sqrt(2/pi) (1 + 3 k x^2).
        elementwise(n, [=](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const T x = inp[i];
                const T x2 = x * x;
                const T t = vmath::tanh(T(kSqrt2OverPi) * (x + T(kGeluKappa) * x2 * x));
                const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluKappa) * x2);
                dinp[i] = dout[i] * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
            }
        });
    } else {
        // d/dx [x Phi(x)] = Phi(x) + x phi(x).
        elementwise(n, [=](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
                const T x = inp[i];
                const T cdf = T(0.5) * std::erfc(-x * T(kSqrtHalf));
                const T pdf = T(kInvSqrt2Pi) * vmath::exp(T(-0.5) * x * x);
                dinp[i] = dout[i] * (cdf + x * pdf);
            }
        });
    }
}

template <class T>
void sigmoid_forward(T* out, const T* inp, int64_t n) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = vmath::sigmoid(inp[i]);
    });
}

template <class T>
void sigmoid_backward(T* dinp, const T* dout, const T* out, int64_t n) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dinp[i] = dout[i] * ((T(1) - out[i]) * out[i]);
    });
}

template <class T>
void tanh_forward(T* out, const T* inp, int64_t n) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = vmath::tanh(inp[i]);
    });
}

template <class T>
void tanh_backward(T* dinp, const T* dout, const T* out, int64_t n) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dinp[i] = dout[i] * (T(1) - out[i] * out[i]);
    });
}

template <class T>
void softplus_forward(T* out, const T* inp, int64_t n, T beta, T threshold) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T x = inp[i];
            const T z = x * beta;
            // log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows.
            const T az = z < T(0) ? -z : z;
            const T zp = z < T(0) ? T(0) : z;
            const T sp = (zp + vmath::log1p(vmath::exp(-az))) / beta;
            out[i] = z > threshold ? x : sp;
        }
    });
}

template <class T>
void softplus_backward(T* dinp, const T* dout, const T* inp, int64_t n, T beta, T threshold) {
    elementwise(n, [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T z = inp[i] * beta, g = dout[i];
            dinp[i] = z > threshold ? g : g * vmath::sigmoid(z);
        }
    });
}

// ---- softmax / log_softmax ----

namespace {

// Calls f(base, cnt) for runs of cnt adjacent (o, j) positions of an (outer, D, inner)
// array, starting at element offset base, threaded over positions in chunks of about kGrain
// elements. Each position's D elements are reduced by one call, in the order d = 0..D-1,
// so the result does not depend on the chunking.
template <class F>
void over_positions(int64_t outer, int64_t D, int64_t inner, const F& f) {
    const int64_t positions = outer * inner;
    const int64_t grain = D > 0 ? std::max<int64_t>(1, kGrain / D) : positions;
    parallel_for(0, positions, std::max<int64_t>(grain, 1), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e;) {
            const int64_t o = r / inner, j = r % inner;
            const int64_t cnt = std::min(e - r, inner - j);
            f(o * D * inner + j, cnt);
            r += cnt;
        }
    });
}

// Forward of both: out = exp(x - max) (then divided by the sum), or x - max - log(sum).
template <class T, bool Log>
void softmax_impl(T* out, const T* inp, int64_t outer, int64_t D, int64_t inner) {
    const T ninf = -std::numeric_limits<T>::infinity();
    if (inner == 1) {
        over_positions(outer, D, 1, [&](int64_t base, int64_t cnt) {
            for (int64_t r = 0; r < cnt; ++r) {
                const T* x = inp + base + r * D;
                T* y = out + base + r * D;
                T m = ninf;
                for (int64_t d = 0; d < D; ++d) m = x[d] > m ? x[d] : m;
                for (int64_t d = 0; d < D; ++d) y[d] = vmath::exp(x[d] - m);
                double s = 0;
                for (int64_t d = 0; d < D; ++d) s += y[d];
                if (Log) {
                    const T ls = static_cast<T>(std::log(s));
                    for (int64_t d = 0; d < D; ++d) y[d] = (x[d] - m) - ls;
                } else {
                    const T inv = static_cast<T>(1.0 / s);
                    for (int64_t d = 0; d < D; ++d) y[d] *= inv;
                }
            }
        });
        return;
    }
    over_positions(outer, D, inner, [&](int64_t base, int64_t cnt) {
        std::vector<T> m(cnt, ninf);
        std::vector<double> s(cnt, 0.0);
        for (int64_t d = 0; d < D; ++d) {
            const T* x = inp + base + d * inner;
            for (int64_t j = 0; j < cnt; ++j) m[j] = x[j] > m[j] ? x[j] : m[j];
        }
        for (int64_t d = 0; d < D; ++d) {
            const T* x = inp + base + d * inner;
            T* y = out + base + d * inner;
            for (int64_t j = 0; j < cnt; ++j) {
                y[j] = vmath::exp(x[j] - m[j]);
                s[j] += y[j];
            }
        }
        std::vector<T> f(cnt);
        for (int64_t j = 0; j < cnt; ++j) f[j] = static_cast<T>(Log ? std::log(s[j]) : 1.0 / s[j]);
        for (int64_t d = 0; d < D; ++d) {
            const T* x = inp + base + d * inner;
            T* y = out + base + d * inner;
            for (int64_t j = 0; j < cnt; ++j) y[j] = Log ? (x[j] - m[j]) - f[j] : y[j] * f[j];
        }
    });
}

// Backward of both: softmax dinp = y (g - sum(g y)); log_softmax dinp = g - exp(y) sum(g).
template <class T, bool Log>
void softmax_backward_impl(T* dinp, const T* dout, const T* out, int64_t outer, int64_t D, int64_t inner) {
    over_positions(outer, D, inner, [&](int64_t base, int64_t cnt) {
        std::vector<double> s(cnt, 0.0);
        for (int64_t d = 0; d < D; ++d) {
            const T* g = dout + base + d * inner;
            const T* y = out + base + d * inner;
            for (int64_t j = 0; j < cnt; ++j) s[j] += Log ? double(g[j]) : double(g[j]) * double(y[j]);
        }
        std::vector<T> st(cnt);
        for (int64_t j = 0; j < cnt; ++j) st[j] = static_cast<T>(s[j]);
        for (int64_t d = 0; d < D; ++d) {
            const T* g = dout + base + d * inner;
            const T* y = out + base + d * inner;
            T* dx = dinp + base + d * inner;
            for (int64_t j = 0; j < cnt; ++j)
                dx[j] = Log ? g[j] - vmath::exp(y[j]) * st[j] : y[j] * (g[j] - st[j]);
        }
    });
}

}  // namespace

template <class T>
void softmax_forward(T* out, const T* inp, int64_t outer, int64_t D, int64_t inner) {
    softmax_impl<T, false>(out, inp, outer, D, inner);
}
template <class T>
void log_softmax_forward(T* out, const T* inp, int64_t outer, int64_t D, int64_t inner) {
    softmax_impl<T, true>(out, inp, outer, D, inner);
}
template <class T>
void softmax_backward(T* dinp, const T* dout, const T* out, int64_t outer, int64_t D, int64_t inner) {
    softmax_backward_impl<T, false>(dinp, dout, out, outer, D, inner);
}
template <class T>
void log_softmax_backward(T* dinp, const T* dout, const T* out, int64_t outer, int64_t D, int64_t inner) {
    softmax_backward_impl<T, true>(dinp, dout, out, outer, D, inner);
}

#define FASTNN_ACTIVATION_INSTANTIATE(T)                                                   \
    template void relu_forward<T>(T*, const T*, int64_t);                                  \
    template void relu_backward<T>(T*, const T*, const T*, int64_t);                       \
    template void leaky_relu_forward<T>(T*, const T*, int64_t, T);                         \
    template void leaky_relu_backward<T>(T*, const T*, const T*, int64_t, T);              \
    template void elu_forward<T>(T*, const T*, int64_t, T);                                \
    template void elu_backward<T>(T*, const T*, const T*, int64_t, T);                     \
    template void gelu_forward<T>(T*, const T*, int64_t, bool);                            \
    template void gelu_backward<T>(T*, const T*, const T*, int64_t, bool);                 \
    template void sigmoid_forward<T>(T*, const T*, int64_t);                               \
    template void sigmoid_backward<T>(T*, const T*, const T*, int64_t);                    \
    template void tanh_forward<T>(T*, const T*, int64_t);                                  \
    template void tanh_backward<T>(T*, const T*, const T*, int64_t);                       \
    template void softplus_forward<T>(T*, const T*, int64_t, T, T);                        \
    template void softplus_backward<T>(T*, const T*, const T*, int64_t, T, T);             \
    template void softmax_forward<T>(T*, const T*, int64_t, int64_t, int64_t);             \
    template void log_softmax_forward<T>(T*, const T*, int64_t, int64_t, int64_t);         \
    template void softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);  \
    template void log_softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);

FASTNN_ACTIVATION_INSTANTIATE(float)
FASTNN_ACTIVATION_INSTANTIATE(double)
#undef FASTNN_ACTIVATION_INSTANTIATE

}  // namespace fastnn
