// The Python module _C: the only file that includes pybind11's module machinery. Each
// binding validates its arguments (common.h), allocates outputs, releases the GIL and
// calls a stateless kernel. Arrays are taken as they are: no dtype conversion and no
// hidden copies, so an output is always written in place or rejected.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "activation.h"
#include "common.h"
#include "cpu.h"
#include "gemm/gemm.h"
#include "parallel.h"
#include "softmax_xent.h"
#include "vmath.h"

#ifndef FASTNN_VERSION
#define FASTNN_VERSION "0+unknown"
#endif

namespace py = pybind11;
using namespace fastnn;

namespace {

std::string compiler_string() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
    return "msvc " + std::to_string(_MSC_VER);
#else
    return "unknown";
#endif
}

// One operand of a (possibly batched) product, after the optional transpose: rows x cols
// with element strides, and the batch size and stride (0 when broadcast).
struct Operand {
    int64_t batch = 1, bs = 0, rows = 0, cols = 0, rs = 0, cs = 0;
};

Operand describe(const char* op, const char* name, const py::array& x, bool trans) {
    if (x.ndim() != 2 && x.ndim() != 3) {
        throw py::value_error(std::string("[") + op + "] " + name + " has shape " + shape_str(x) +
                              (std::string(op) == "matmul" ? "; matmul takes 1-D, 2-D or 3-D arrays"
                                                           : "; expected a 2-D or 3-D array"));
    }
    std::vector<int64_t> s = element_strides(x);
    const py::ssize_t d = x.ndim();
    Operand o;
    o.rows = x.shape(d - 2);
    o.cols = x.shape(d - 1);
    o.rs = s[d - 2];
    o.cs = s[d - 1];
    if (trans) {
        std::swap(o.rows, o.cols);
        std::swap(o.rs, o.cs);
    }
    if (d == 3) {
        o.batch = x.shape(0);
        o.bs = s[0];
    }
    return o;
}

template <typename T>
void call_gemm(bool reference, int64_t batch, int64_t M, int64_t N, int64_t K, double alpha,
               const py::array& a, const Operand& oa, const py::array& b, const Operand& ob,
               double beta, py::array& c, const std::vector<int64_t>& sc) {
    const size_t d = sc.size();
    StridedMatrix<const T> A{static_cast<const T*>(a.data()), oa.bs, oa.rs, oa.cs};
    StridedMatrix<const T> B{static_cast<const T*>(b.data()), ob.bs, ob.rs, ob.cs};
    StridedMatrix<T> C{static_cast<T*>(c.mutable_data()), d == 3 ? sc[0] : 0, sc[d - 2], sc[d - 1]};
    py::gil_scoped_release nogil;
    if (reference)
        gemm_ref<T>(batch, M, N, K, T(alpha), A, B, T(beta), C);
    else
        gemm<T>(batch, M, N, K, T(alpha), A, B, T(beta), C);
}

// C = alpha * op(a) @ op(b) + beta * C for 2-D or 3-D float arrays, batch dimensions
// broadcasting as in numpy.matmul. `c` is None (a new array is returned) or the array to
// overwrite, which is returned. `op` names the public function in error messages.
py::object gemm_binding(const std::string& op_name, py::handle a_h, py::handle b_h, py::handle c_h,
                        double alpha, double beta, bool trans_a, bool trans_b, bool reference) {
    const char* op = op_name.c_str();
    const bool is_matmul = op_name == "matmul";
    const char* c_name = is_matmul ? "out" : "c";
    py::array a = require_ndarray(op, "a", a_h);
    py::array b = require_ndarray(op, "b", b_h);
    require_float(op, "a", a);
    require_float(op, "b", b);
    if (!a.dtype().equal(b.dtype())) {
        throw py::type_error(std::string("[") + op + "] a has dtype " + std::string(py::str(a.dtype())) +
                             " but b has dtype " + std::string(py::str(b.dtype())) +
                             "; convert one so both match");
    }
    const Operand oa = describe(op, "a", a, trans_a);
    const Operand ob = describe(op, "b", b, trans_b);
    auto shapes = [&] {  // for error messages only: not built on the success path
        return "a has shape " + shape_str(a) + (trans_a ? " (transposed)" : "") + " and b has shape " +
               shape_str(b) + (trans_b ? " (transposed)" : "");
    };
    if (oa.cols != ob.rows) {
        throw py::value_error(std::string("[") + op + "] inner dimensions do not match: " + shapes() +
                              " (" + std::to_string(oa.cols) + " != " + std::to_string(ob.rows) + ")");
    }
    if (oa.batch != ob.batch && oa.batch != 1 && ob.batch != 1) {
        throw py::value_error(std::string("[") + op + "] batch dimensions do not broadcast: " + shapes());
    }
    const int64_t batch = oa.batch == 1 ? ob.batch : oa.batch;
    const int64_t M = oa.rows, N = ob.cols, K = oa.cols;
    std::vector<int64_t> shape{M, N};
    if (a.ndim() == 3 || b.ndim() == 3) shape.insert(shape.begin(), batch);

    py::array c;
    if (c_h.is_none()) {
        if (beta != 0.0) {
            throw py::value_error(std::string("[") + op + "] beta=" + std::to_string(beta) +
                                  " needs an array c to scale");
        }
        c = py::array(a.dtype(), shape);
    } else {
        c = require_output(op, c_name, c_h, a.dtype(), shape);
    }
    // An input that overlaps the output, or is misaligned, is read from a private copy: the
    // output is still written in place, and the caller's arrays are never modified early.
    bool copied = false;
    for (py::array* in : {&a, &b}) {
        if (!is_aligned(*in) || (!c_h.is_none() && spans_overlap(c, *in))) {
            *in = in->attr("copy")();
            copied = true;
        }
    }
    Operand ba = copied ? describe(op, "a", a, trans_a) : oa;
    Operand bb = copied ? describe(op, "b", b, trans_b) : ob;
    if (ba.batch == 1) ba.bs = 0;  // broadcast along the batch
    if (bb.batch == 1) bb.bs = 0;
    std::vector<int64_t> sc = element_strides(c);
    if (a.itemsize() == 4)
        call_gemm<float>(reference, batch, M, N, K, alpha, a, ba, b, bb, beta, c, sc);
    else
        call_gemm<double>(reference, batch, M, N, K, alpha, a, ba, b, bb, beta, c, sc);
    return std::move(c);
}

CpuCapability capability_from(const std::string& name) {
    CpuCapability cap;
    if (!parse_capability(name, &cap)) {
        throw py::value_error("unknown CPU code path '" + name + "'; expected scalar, avx2 or avx512");
    }
    return cap;
}

// ---- activation ----

// The forward of an elementwise activation: a new output, or x itself when inplace (x must
// then be a writeable C-contiguous float array, TypeError otherwise). kernel(out, in, n).
template <class K>
py::object unary_forward(const char* op, py::handle x_h, bool inplace, const K& kernel) {
    py::array x = require_float_array(op, "input", x_h);
    py::array out;
    if (inplace) {
        out = require_state(op, "input", x_h, x.dtype());
    } else {
        require_contiguous(op, "input", x);
        out = py::array(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
    }
    const int64_t n = x.size();
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        const T* in = static_cast<const T*>(x.data());
        T* o = static_cast<T*>(out.mutable_data());
        py::gil_scoped_release nogil;
        kernel(o, in, n);
    });
    return std::move(out);
}

// The two arrays of a backward (grad_output and the saved input or output): same dtype,
// same shape, C-contiguous. Returns a new array shaped like them.
py::array backward_pair(const char* op, const py::array& g, const char* saved_name, const py::array& s) {
    require_same_dtype(op, "grad_output", g, saved_name, s);
    if (std::vector<int64_t>(g.shape(), g.shape() + g.ndim()) != std::vector<int64_t>(s.shape(), s.shape() + s.ndim())) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(g) + " but " + saved_name +
                              " has shape " + shape_str(s));
    }
    require_contiguous(op, "grad_output", g);
    require_contiguous(op, saved_name, s);
    return py::array(g.dtype(), std::vector<int64_t>(g.shape(), g.shape() + g.ndim()));
}

// The backward of an elementwise activation: kernel(dinp, dout, saved, n).
template <class K>
py::array unary_backward(const char* op, py::handle g_h, const char* saved_name, py::handle s_h, const K& kernel) {
    py::array g = require_float_array(op, "grad_output", g_h);
    py::array s = require_float_array(op, saved_name, s_h);
    py::array dinp = backward_pair(op, g, saved_name, s);
    const int64_t n = g.size();
    dispatch_float(g, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        kernel(static_cast<T*>(dinp.mutable_data()), static_cast<const T*>(g.data()),
               static_cast<const T*>(s.data()), n);
    });
    return dinp;
}

// (outer, D, inner) of x viewed around axis `dim` (negative counts from the end; a 0-d
// array has one axis of size 1, as in PyTorch). IndexError when dim is out of range.
std::vector<int64_t> split_at_dim(const char* op, const py::array& x, int64_t dim) {
    const int64_t nd = std::max<int64_t>(x.ndim(), 1);
    if (dim < -nd || dim >= nd) {
        throw py::index_error(op_prefix(op) + "Dimension out of range (expected to be in range of [" +
                              std::to_string(-nd) + ", " + std::to_string(nd - 1) + "], but got " +
                              std::to_string(dim) + ")");
    }
    if (dim < 0) dim += nd;
    if (x.ndim() == 0) return {1, 1, 1};
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < dim; ++i) outer *= x.shape(i);
    for (int64_t i = dim + 1; i < nd; ++i) inner *= x.shape(i);
    return {outer, static_cast<int64_t>(x.shape(dim)), inner};
}

template <class K>
py::array softmax_binding(const char* op, py::handle x_h, int64_t dim, const K& kernel) {
    py::array x = require_float_array(op, "input", x_h);
    require_contiguous(op, "input", x);
    const std::vector<int64_t> od = split_at_dim(op, x, dim);
    py::array out(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        kernel(static_cast<T*>(out.mutable_data()), static_cast<const T*>(x.data()), od[0], od[1], od[2]);
    });
    return out;
}

template <class K>
py::array softmax_backward_binding(const char* op, py::handle g_h, py::handle y_h, int64_t dim, const K& kernel) {
    py::array g = require_float_array(op, "grad_output", g_h);
    py::array y = require_float_array(op, "output", y_h);
    py::array dinp = backward_pair(op, g, "output", y);
    const std::vector<int64_t> od = split_at_dim(op, g, dim);
    dispatch_float(g, [&](auto t) {
        using T = decltype(t);
        py::gil_scoped_release nogil;
        kernel(static_cast<T*>(dinp.mutable_data()), static_cast<const T*>(g.data()),
               static_cast<const T*>(y.data()), od[0], od[1], od[2]);
    });
    return dinp;
}

// vmath.h's functions over a float array, for tests of their accuracy (not public API).
py::array vmath_eval(const std::string& fn, py::handle x_h) {
    const char* op = "_vmath";
    py::array x = require_float_array(op, "x", x_h);
    require_contiguous(op, "x", x);
    py::array out(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
    const int64_t n = x.size();
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        const T* in = static_cast<const T*>(x.data());
        T* o = static_cast<T*>(out.mutable_data());
        T (*f)(T) = nullptr;
        if (fn == "exp") f = vmath::exp<T>;
        else if (fn == "expm1") f = vmath::expm1<T>;
        else if (fn == "log") f = vmath::log<T>;
        else if (fn == "log1p") f = vmath::log1p<T>;
        else if (fn == "tanh") f = vmath::tanh<T>;
        else if (fn == "sigmoid") f = vmath::sigmoid<T>;
        else throw py::value_error(op_prefix(op) + "unknown function '" + fn + "'");
        for (int64_t i = 0; i < n; ++i) o[i] = f(in[i]);
    });
    return out;
}

void bind_activation(py::module_& m) {
    m.def("_vmath", &vmath_eval, py::arg("fn"), py::arg("x"),
          "vmath.h's exp/expm1/log/log1p/tanh/sigmoid elementwise (for accuracy tests).");
    m.def("relu", [](py::handle x, bool inplace) {
        return unary_forward("relu", x, inplace, [](auto* o, const auto* i, int64_t n) { relu_forward(o, i, n); });
    }, py::arg("input"), py::arg("inplace"));
    m.def("relu_backward", [](py::handle g, py::handle x) {
        return unary_backward("relu_backward", g, "input", x,
                              [](auto* d, const auto* g, const auto* s, int64_t n) { relu_backward(d, g, s, n); });
    }, py::arg("grad_output"), py::arg("input"));

    m.def("leaky_relu", [](py::handle x, double slope, bool inplace) {
        return unary_forward("leaky_relu", x, inplace, [slope](auto* o, const auto* i, int64_t n) {
            using T = std::remove_pointer_t<decltype(o)>;
            leaky_relu_forward(o, i, n, T(slope));
        });
    }, py::arg("input"), py::arg("negative_slope"), py::arg("inplace"));
    m.def("leaky_relu_backward", [](py::handle g, py::handle x, double slope) {
        return unary_backward("leaky_relu_backward", g, "input", x,
                              [slope](auto* d, const auto* g, const auto* s, int64_t n) {
            using T = std::remove_pointer_t<decltype(d)>;
            leaky_relu_backward(d, g, s, n, T(slope));
        });
    }, py::arg("grad_output"), py::arg("input"), py::arg("negative_slope"));

    m.def("elu", [](py::handle x, double alpha, bool inplace) {
        return unary_forward("elu", x, inplace, [alpha](auto* o, const auto* i, int64_t n) {
            using T = std::remove_pointer_t<decltype(o)>;
            elu_forward(o, i, n, T(alpha));
        });
    }, py::arg("input"), py::arg("alpha"), py::arg("inplace"));
    m.def("elu_backward", [](py::handle g, py::handle x, double alpha) {
        return unary_backward("elu_backward", g, "input", x, [alpha](auto* d, const auto* g, const auto* s, int64_t n) {
            using T = std::remove_pointer_t<decltype(d)>;
            elu_backward(d, g, s, n, T(alpha));
        });
    }, py::arg("grad_output"), py::arg("input"), py::arg("alpha"));

    m.def("gelu", [](py::handle x, bool approx_tanh) {
        return unary_forward("gelu", x, false, [approx_tanh](auto* o, const auto* i, int64_t n) {
            gelu_forward(o, i, n, approx_tanh);
        });
    }, py::arg("input"), py::arg("approx_tanh"));
    m.def("gelu_backward", [](py::handle g, py::handle x, bool approx_tanh) {
        return unary_backward("gelu_backward", g, "input", x,
                              [approx_tanh](auto* d, const auto* g, const auto* s, int64_t n) {
            gelu_backward(d, g, s, n, approx_tanh);
        });
    }, py::arg("grad_output"), py::arg("input"), py::arg("approx_tanh"));

    m.def("sigmoid", [](py::handle x) {
        return unary_forward("sigmoid", x, false, [](auto* o, const auto* i, int64_t n) { sigmoid_forward(o, i, n); });
    }, py::arg("input"));
    m.def("sigmoid_backward", [](py::handle g, py::handle y) {
        return unary_backward("sigmoid_backward", g, "output", y,
                              [](auto* d, const auto* g, const auto* s, int64_t n) { sigmoid_backward(d, g, s, n); });
    }, py::arg("grad_output"), py::arg("output"));

    m.def("tanh", [](py::handle x) {
        return unary_forward("tanh", x, false, [](auto* o, const auto* i, int64_t n) { tanh_forward(o, i, n); });
    }, py::arg("input"));
    m.def("tanh_backward", [](py::handle g, py::handle y) {
        return unary_backward("tanh_backward", g, "output", y,
                              [](auto* d, const auto* g, const auto* s, int64_t n) { tanh_backward(d, g, s, n); });
    }, py::arg("grad_output"), py::arg("output"));

    m.def("softplus", [](py::handle x, double beta, double threshold) {
        return unary_forward("softplus", x, false, [beta, threshold](auto* o, const auto* i, int64_t n) {
            using T = std::remove_pointer_t<decltype(o)>;
            softplus_forward(o, i, n, T(beta), T(threshold));
        });
    }, py::arg("input"), py::arg("beta"), py::arg("threshold"));
    m.def("softplus_backward", [](py::handle g, py::handle x, double beta, double threshold) {
        return unary_backward("softplus_backward", g, "input", x,
                              [beta, threshold](auto* d, const auto* g, const auto* s, int64_t n) {
            using T = std::remove_pointer_t<decltype(d)>;
            softplus_backward(d, g, s, n, T(beta), T(threshold));
        });
    }, py::arg("grad_output"), py::arg("input"), py::arg("beta"), py::arg("threshold"));

    m.def("softmax", [](py::handle x, int64_t dim) {
        return softmax_binding("softmax", x, dim, [](auto* o, const auto* i, int64_t a, int64_t d, int64_t b) {
            softmax_forward(o, i, a, d, b);
        });
    }, py::arg("input"), py::arg("dim"));
    m.def("softmax_backward", [](py::handle g, py::handle y, int64_t dim) {
        return softmax_backward_binding("softmax_backward", g, y, dim,
                                        [](auto* dx, const auto* g, const auto* y, int64_t a, int64_t d, int64_t b) {
            softmax_backward(dx, g, y, a, d, b);
        });
    }, py::arg("grad_output"), py::arg("output"), py::arg("dim"));
    m.def("log_softmax", [](py::handle x, int64_t dim) {
        return softmax_binding("log_softmax", x, dim, [](auto* o, const auto* i, int64_t a, int64_t d, int64_t b) {
            log_softmax_forward(o, i, a, d, b);
        });
    }, py::arg("input"), py::arg("dim"));
    m.def("log_softmax_backward", [](py::handle g, py::handle y, int64_t dim) {
        return softmax_backward_binding("log_softmax_backward", g, y, dim,
                                        [](auto* dx, const auto* g, const auto* y, int64_t a, int64_t d, int64_t b) {
            log_softmax_backward(dx, g, y, a, d, b);
        });
    }, py::arg("grad_output"), py::arg("output"), py::arg("dim"));
}

// ---- softmax_xent ----

std::vector<int64_t> shape_of(const py::array& a) { return std::vector<int64_t>(a.shape(), a.shape() + a.ndim()); }

Reduction reduction_from(const char* op, int r) {
    if (r < 0 || r > 2) throw py::value_error(op_prefix(op) + "unknown reduction code " + std::to_string(r));
    return static_cast<Reduction>(r);
}

// A classification input viewed as (N, C, inner): (C,) is one sample, else axis 1 holds
// the classes. `sample_shape` is the shape of the per-sample loss.
struct ClassView {
    int64_t N = 1, C = 1, inner = 1;
    std::vector<int64_t> sample_shape;
};

ClassView class_view(const char* op, const py::array& x) {
    if (x.ndim() == 0) throw py::value_error(op_prefix(op) + "input must have at least one dimension (the classes), got a 0-d array");
    ClassView v;
    if (x.ndim() == 1) {
        v.C = x.shape(0);
        return v;
    }
    v.N = x.shape(0);
    v.C = x.shape(1);
    v.sample_shape.push_back(v.N);
    for (py::ssize_t i = 2; i < x.ndim(); ++i) {
        v.inner *= x.shape(i);
        v.sample_shape.push_back(x.shape(i));
    }
    return v;
}

// Class-index targets: int64, C-contiguous, shaped like the per-sample loss, every value in
// [0, C) or equal to ignore_index (IndexError naming the first bad value).
py::array check_class_target(const char* op, py::handle t_h, const ClassView& v, int64_t ignore_index) {
    py::array t = require_ndarray(op, "target", t_h);
    if (!t.dtype().equal(py::dtype::of<int64_t>())) {
        throw py::type_error(op_prefix(op) + "class-index target must be int64, got " + std::string(py::str(t.dtype())));
    }
    if (shape_of(t) != v.sample_shape) {
        throw py::value_error(op_prefix(op) + "target has shape " + shape_str(t) + ", expected " +
                              shape_str(v.sample_shape) + " for class indices");
    }
    require_contiguous(op, "target", t);
    const int64_t* y = static_cast<const int64_t*>(t.data());
    for (py::ssize_t i = 0; i < t.size(); ++i) {
        if (y[i] != ignore_index && (y[i] < 0 || y[i] >= v.C)) {
            throw py::index_error(op_prefix(op) + "Target " + std::to_string(y[i]) + " is out of bounds (" +
                                  std::to_string(v.C) + " classes)");
        }
    }
    return t;
}

// weight: None or a (C,) array of input's dtype. Returns nullptr data for None.
const void* check_class_weight(const char* op, py::handle w_h, const py::array& x, int64_t C, py::array* keep) {
    if (w_h.is_none()) return nullptr;
    py::array w = require_float_array(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    if (w.ndim() != 1 || w.shape(0) != C) {
        throw py::value_error(op_prefix(op) + "weight has shape " + shape_str(w) + ", expected (" +
                              std::to_string(C) + ",): one weight per class");
    }
    require_contiguous(op, "weight", w);
    *keep = w;
    return w.data();
}

py::array loss_output(const py::array& x, Reduction r, const std::vector<int64_t>& none_shape) {
    return py::array(x.dtype(), r == Reduction::None ? none_shape : std::vector<int64_t>{});
}

// grad_output: shaped like the per-sample loss for None, 0-d for Mean and Sum.
py::array check_grad_output(const char* op, py::handle g_h, const py::array& x, Reduction r,
                            const std::vector<int64_t>& none_shape) {
    py::array g = require_float_array(op, "grad_output", g_h);
    require_same_dtype(op, "input", x, "grad_output", g);
    const std::vector<int64_t> want = r == Reduction::None ? none_shape : std::vector<int64_t>{};
    if (shape_of(g) != want) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(g) + ", expected " +
                              shape_str(want) + (r == Reduction::None ? " (the per-sample loss)" : " (a 0-d array)"));
    }
    require_contiguous(op, "grad_output", g);
    return g;
}

py::array xent_class(const char* op, bool nll, py::handle g_h, py::handle x_h, py::handle t_h, py::handle w_h,
                     int64_t ignore_index, int red, double eps) {
    const Reduction r = reduction_from(op, red);
    py::array x = require_float_array(op, "input", x_h);
    require_contiguous(op, "input", x);
    const ClassView v = class_view(op, x);
    py::array t = check_class_target(op, t_h, v, ignore_index);
    py::array wkeep;
    const void* w = check_class_weight(op, w_h, x, v.C, &wkeep);
    const bool backward = !g_h.is_none();
    py::array g;
    if (backward) g = check_grad_output(op, g_h, x, r, v.sample_shape);
    py::array out = backward ? py::array(x.dtype(), shape_of(x)) : loss_output(x, r, v.sample_shape);
    dispatch_float(x, [&](auto tag) {
        using T = decltype(tag);
        const T* xp = static_cast<const T*>(x.data());
        const int64_t* tp = static_cast<const int64_t*>(t.data());
        const T* wp = static_cast<const T*>(w);
        T* op_ = static_cast<T*>(out.mutable_data());
        const T* gp = backward ? static_cast<const T*>(g.data()) : nullptr;
        py::gil_scoped_release nogil;
        if (nll && backward) nll_loss_backward(op_, gp, tp, wp, v.N, v.C, v.inner, ignore_index, r);
        else if (nll) nll_loss_forward(op_, xp, tp, wp, v.N, v.C, v.inner, ignore_index, r);
        else if (backward) cross_entropy_backward(op_, gp, xp, tp, wp, v.N, v.C, v.inner, ignore_index, eps, r);
        else cross_entropy_forward(op_, xp, tp, wp, v.N, v.C, v.inner, ignore_index, eps, r);
    });
    return out;
}

py::array xent_prob(const char* op, py::handle g_h, py::handle x_h, py::handle t_h, py::handle w_h, int red,
                    double eps) {
    const Reduction r = reduction_from(op, red);
    py::array x = require_float_array(op, "input", x_h);
    require_contiguous(op, "input", x);
    const ClassView v = class_view(op, x);
    py::array t = require_float_array(op, "target", t_h);
    require_same_dtype(op, "input", x, "target", t);
    if (shape_of(t) != shape_of(x)) {
        throw py::value_error(op_prefix(op) + "class-probability target has shape " + shape_str(t) +
                              " but input has shape " + shape_str(x));
    }
    require_contiguous(op, "target", t);
    py::array wkeep;
    const void* w = check_class_weight(op, w_h, x, v.C, &wkeep);
    const bool backward = !g_h.is_none();
    py::array g;
    if (backward) g = check_grad_output(op, g_h, x, r, v.sample_shape);
    py::array out = backward ? py::array(x.dtype(), shape_of(x)) : loss_output(x, r, v.sample_shape);
    dispatch_float(x, [&](auto tag) {
        using T = decltype(tag);
        const T* xp = static_cast<const T*>(x.data());
        const T* tp = static_cast<const T*>(t.data());
        const T* wp = static_cast<const T*>(w);
        T* op_ = static_cast<T*>(out.mutable_data());
        py::gil_scoped_release nogil;
        if (backward)
            cross_entropy_prob_backward(op_, static_cast<const T*>(g.data()), xp, tp, wp, v.N, v.C, v.inner, eps, r);
        else
            cross_entropy_prob_forward(op_, xp, tp, wp, v.N, v.C, v.inner, eps, r);
    });
    return out;
}

// An optional array shaped exactly like x (the Python layer broadcasts), of x's dtype.
const void* check_full_like(const char* op, const char* name, py::handle h, const py::array& x, py::array* keep) {
    if (h.is_none()) return nullptr;
    py::array a = require_float_array(op, name, h);
    require_same_dtype(op, "input", x, name, a);
    if (shape_of(a) != shape_of(x)) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(a) + " but input has shape " + shape_str(x));
    }
    require_contiguous(op, name, a);
    *keep = a;
    return a.data();
}

// Elementwise losses: bce_with_logits (kind < 0) or a PointLoss.
py::array pointwise_loss(const char* op, int kind, py::handle g_h, py::handle x_h, py::handle t_h, py::handle w_h,
                         py::handle pw_h, double param, int red) {
    const Reduction r = reduction_from(op, red);
    if (kind < -1 || kind > 3) throw py::value_error(op_prefix(op) + "unknown loss kind " + std::to_string(kind));
    py::array x = require_float_array(op, "input", x_h);
    require_contiguous(op, "input", x);
    py::array tkeep, wkeep, pwkeep;
    const void* t = check_full_like(op, "target", t_h, x, &tkeep);
    if (!t) throw py::type_error(op_prefix(op) + "target must be an array");
    const void* w = check_full_like(op, "weight", w_h, x, &wkeep);
    const void* pw = check_full_like(op, "pos_weight", pw_h, x, &pwkeep);
    const bool backward = !g_h.is_none();
    py::array g;
    if (backward) g = check_grad_output(op, g_h, x, r, shape_of(x));
    py::array out = backward ? py::array(x.dtype(), shape_of(x)) : loss_output(x, r, shape_of(x));
    const int64_t n = x.size();
    dispatch_float(x, [&](auto tag) {
        using T = decltype(tag);
        const T* xp = static_cast<const T*>(x.data());
        const T* tp = static_cast<const T*>(t);
        const T* gp = backward ? static_cast<const T*>(g.data()) : nullptr;
        T* op_ = static_cast<T*>(out.mutable_data());
        py::gil_scoped_release nogil;
        if (kind < 0) {
            const T* wp = static_cast<const T*>(w);
            const T* pwp = static_cast<const T*>(pw);
            if (backward) bce_with_logits_backward(op_, gp, xp, tp, wp, pwp, n, r);
            else bce_with_logits_forward(op_, xp, tp, wp, pwp, n, r);
        } else if (backward) {
            point_loss_backward(op_, gp, xp, tp, n, static_cast<PointLoss>(kind), param, r);
        } else {
            point_loss_forward(op_, xp, tp, n, static_cast<PointLoss>(kind), param, r);
        }
    });
    return out;
}

void bind_softmax_xent(py::module_& m) {
    m.def("cross_entropy", [](const std::string& op, py::handle g, py::handle x, py::handle t, py::handle w,
                              int64_t ignore_index, int red, double eps) {
        return xent_class(op.c_str(), false, g, x, t, w, ignore_index, red, eps);
    }, py::arg("op"), py::arg("grad_output"), py::arg("input"), py::arg("target"), py::arg("weight"),
       py::arg("ignore_index"), py::arg("reduction"), py::arg("label_smoothing"),
       "Class-index cross-entropy: the loss (grad_output None) or grad wrt input.");
    m.def("nll_loss", [](const std::string& op, py::handle g, py::handle x, py::handle t, py::handle w,
                         int64_t ignore_index, int red) {
        return xent_class(op.c_str(), true, g, x, t, w, ignore_index, red, 0.0);
    }, py::arg("op"), py::arg("grad_output"), py::arg("input"), py::arg("target"), py::arg("weight"),
       py::arg("ignore_index"), py::arg("reduction"));
    m.def("cross_entropy_prob", [](const std::string& op, py::handle g, py::handle x, py::handle t, py::handle w,
                                   int red, double eps) {
        return xent_prob(op.c_str(), g, x, t, w, red, eps);
    }, py::arg("op"), py::arg("grad_output"), py::arg("input"), py::arg("target"), py::arg("weight"),
       py::arg("reduction"), py::arg("label_smoothing"));
    m.def("pointwise_loss", [](const std::string& op, int kind, py::handle g, py::handle x, py::handle t,
                               py::handle w, py::handle pw, double param, int red) {
        return pointwise_loss(op.c_str(), kind, g, x, t, w, pw, param, red);
    }, py::arg("op"), py::arg("kind"), py::arg("grad_output"), py::arg("input"), py::arg("target"),
       py::arg("weight"), py::arg("pos_weight"), py::arg("param"), py::arg("reduction"),
       "kind -1: binary_cross_entropy_with_logits; 0..3: mse, l1, huber, smooth_l1.");
}

}  // namespace

PYBIND11_MODULE(_C, m) {
    m.doc() = "fastnn C++ kernels (private: use fastnn.kernels)";
    m.attr("__version__") = FASTNN_VERSION;

    m.def("gemm", &gemm_binding, py::arg("op"), py::arg("a"), py::arg("b"), py::arg("c"),
          py::arg("alpha"), py::arg("beta"), py::arg("trans_a"), py::arg("trans_b"),
          py::arg("reference") = false,
          "C = alpha * op(a) @ op(b) + beta * C over strided 2-D/3-D float arrays.");

    m.def("get_num_threads", &get_num_threads);
    m.def("set_num_threads", [](int n) {
        if (n < 1) throw py::value_error("set_num_threads: expected n >= 1, got " + std::to_string(n));
        set_num_threads(n);
    }, py::arg("n"));

    m.def("cpu_capability", []() { return std::string(capability_name(cpu_capability())); });
    m.def("best_cpu_capability", []() { return std::string(capability_name(best_capability())); });
    m.def("set_cpu_capability", [](const std::string& name) {
        CpuCapability cap = capability_from(name);
        if (!cpu_supports(cap)) {
            throw py::value_error("CPU code path '" + name + "' is not supported here (this CPU and build "
                                  "support: best is '" + capability_name(best_capability()) + "')");
        }
        set_cpu_capability(cap);
    }, py::arg("name"));
    m.def("cpu_supports", [](const std::string& name) { return cpu_supports(capability_from(name)); },
          py::arg("name"));
    m.def("gemm_block_sizes", [](const std::string& name, bool fp64) {
        GemmBlockSizes b = gemm_block_sizes(capability_from(name), fp64);
        return py::make_tuple(b.mr, b.nr, b.mc, b.kc, b.nc);
    }, py::arg("name"), py::arg("fp64"),
       "(MR, NR, MC, KC, NC) of a code path's GEMM microkernel.");
    m.def("compiler", &compiler_string);
    m.def("fma_peak_flops", [](bool fp64, double seconds) {
        if (!(seconds > 0 && seconds <= 60)) throw py::value_error("fma_peak_flops: seconds must be in (0, 60]");
        py::gil_scoped_release nogil;
        return fma_peak_flops(fp64, seconds);
    }, py::arg("fp64") = false, py::arg("seconds") = 0.2,
       "Measured peak FLOP/s of the active code path on get_num_threads() threads.");
    bind_activation(m);
    bind_softmax_xent(m);
}
