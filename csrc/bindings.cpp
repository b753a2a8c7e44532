// The Python module _C: the only file that includes pybind11's module machinery. Each
// binding validates its arguments (common.h), allocates outputs, releases the GIL and
// calls a stateless kernel. Arrays are taken as they are: no dtype conversion and no
// hidden copies, so an output is always written in place or rejected.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "conv2d.h"
#include "cpu.h"
#include "gemm/gemm.h"
#include "linear.h"
#include "parallel.h"

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

// ---- linear ----

// The in-place activation fused into linear's epilogue, by name ("none": nullptr).
template <typename T>
InPlaceActivation<T> linear_activation(const std::string& name) {
    if (name == "none") return nullptr;
    throw py::value_error("[linear] unknown activation '" + name + "'");
}

// An optional array argument: null when `h` is None, else a C-contiguous array of like's
// dtype.
std::optional<py::array> optional_like(const char* op, const char* name, py::handle h, const py::array& like) {
    if (h.is_none()) return std::nullopt;
    py::array a = require_float_array(op, name, h);
    require_same_dtype(op, "input", like, name, a);
    require_contiguous(op, name, a);
    return a;
}

py::object linear_binding(py::handle x_h, py::handle w_h, py::handle b_h, const std::string& activation,
                          double param) {
    const char* op = "linear";
    py::array x = require_float_array(op, "input", x_h);
    py::array w = require_float_array(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    if (x.ndim() != 2 || w.ndim() != 2) {
        throw py::value_error("[linear] expected a 2-D input and a 2-D weight, got input of shape " +
                              shape_str(x) + " and weight of shape " + shape_str(w));
    }
    require_contiguous(op, "input", x);
    require_contiguous(op, "weight", w);
    const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(0);
    if (w.shape(1) != K) {
        throw py::value_error("[linear] input has shape " + shape_str(x) + " (" + std::to_string(K) +
                              " features) but weight has shape " + shape_str(w) + " (" +
                              std::to_string(w.shape(1)) + " input features)");
    }
    std::optional<py::array> b = optional_like(op, "bias", b_h, x);
    if (b && (b->ndim() != 1 || b->shape(0) != N)) {
        throw py::value_error("[linear] bias has shape " + shape_str(*b) + ", expected (" + std::to_string(N) +
                              ",) for weight of shape " + shape_str(w));
    }
    py::array out(x.dtype(), std::vector<int64_t>{M, N});
    dispatch_float(x, [&](auto tag) {
        using T = decltype(tag);
        InPlaceActivation<T> act = linear_activation<T>(activation);
        const T* bias = b ? static_cast<const T*>(b->data()) : nullptr;
        py::gil_scoped_release nogil;
        linear_forward<T>(static_cast<T*>(out.mutable_data()), static_cast<const T*>(x.data()),
                          static_cast<const T*>(w.data()), bias, M, N, K, act, param);
    });
    return std::move(out);
}

py::tuple linear_backward_binding(py::handle g_h, py::handle x_h, py::handle w_h, bool need_input,
                                  bool need_weight, bool need_bias) {
    const char* op = "linear_backward";
    py::array g = require_float_array(op, "grad_output", g_h);
    py::array x = require_float_array(op, "input", x_h);
    py::array w = require_float_array(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    require_same_dtype(op, "input", x, "grad_output", g);
    for (auto [name, a] : {std::pair<const char*, py::array*>{"grad_output", &g}, {"input", &x}, {"weight", &w}}) {
        if (a->ndim() != 2) {
            throw py::value_error(op_prefix(op) + name + " must be 2-D, got shape " + shape_str(*a));
        }
        require_contiguous(op, name, *a);
    }
    const int64_t M = x.shape(0), K = x.shape(1), N = w.shape(0);
    if (w.shape(1) != K || g.shape(0) != M || g.shape(1) != N) {
        throw py::value_error("[linear_backward] shapes do not match: grad_output " + shape_str(g) + ", input " +
                              shape_str(x) + ", weight " + shape_str(w));
    }
    auto maybe = [&](bool need, std::vector<int64_t> shape) -> py::object {
        if (!need) return py::none();
        return py::array(x.dtype(), shape);
    };
    py::object dx = maybe(need_input, {M, K}), dw = maybe(need_weight, {N, K}), db = maybe(need_bias, {N});
    dispatch_float(x, [&](auto tag) {
        using T = decltype(tag);
        auto ptr = [](py::object& a) {
            return a.is_none() ? nullptr : static_cast<T*>(py::reinterpret_borrow<py::array>(a).mutable_data());
        };
        T *pdx = ptr(dx), *pdw = ptr(dw), *pdb = ptr(db);
        py::gil_scoped_release nogil;
        linear_backward<T>(pdx, pdw, pdb, static_cast<const T*>(g.data()), static_cast<const T*>(x.data()),
                           static_cast<const T*>(w.data()), M, N, K);
    });
    return py::make_tuple(dx, dw, db);
}

void bind_linear(py::module_& m) {
    m.def("linear", &linear_binding, py::arg("input"), py::arg("weight"), py::arg("bias"),
          py::arg("activation"), py::arg("param"),
          "act(input @ weight.T + bias) for 2-D C-contiguous input (M, K) and weight (N, K).");
    m.def("linear_backward", &linear_backward_binding, py::arg("grad_output"), py::arg("input"),
          py::arg("weight"), py::arg("need_input"), py::arg("need_weight"), py::arg("need_bias"),
          "(grad_input, grad_weight, grad_bias) of input @ weight.T + bias; None where not asked.");
}

// ---- conv2d ----

// Validates a 4-D input and weight against the convolution parameters (ValueError naming
// the op and the shapes) and returns the geometry, output size included.
Conv2dShape conv2d_shape(const char* op, const py::array& x, const py::array& w, int64_t sh, int64_t sw,
                         int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                         int64_t groups) {
    auto fail = [&](const std::string& msg) { throw py::value_error(op_prefix(op) + msg); };
    if (x.ndim() != 4) {
        fail("input has shape " + shape_str(x) + "; expected a 3-D (C, H, W) or 4-D (N, C, H, W) array");
    }
    if (w.ndim() != 4) fail("weight has shape " + shape_str(w) + "; expected a 4-D (OC, C/groups, KH, KW) array");
    if (groups <= 0) fail("groups must be positive, got " + std::to_string(groups));
    if (sh <= 0 || sw <= 0) {
        fail("stride must be positive, got (" + std::to_string(sh) + ", " + std::to_string(sw) + ")");
    }
    if (dh <= 0 || dw <= 0) {
        fail("dilation must be positive, got (" + std::to_string(dh) + ", " + std::to_string(dw) + ")");
    }
    if (pt < 0 || pb < 0 || pl < 0 || pr < 0) {
        fail("padding must be non-negative, got (top, bottom, left, right) = (" + std::to_string(pt) + ", " +
             std::to_string(pb) + ", " + std::to_string(pl) + ", " + std::to_string(pr) + ")");
    }
    Conv2dShape s{};
    s.N = x.shape(0);
    s.C = x.shape(1);
    s.H = x.shape(2);
    s.W = x.shape(3);
    s.OC = w.shape(0);
    s.KH = w.shape(2);
    s.KW = w.shape(3);
    s.stride_h = sh;
    s.stride_w = sw;
    s.pad_top = pt;
    s.pad_bottom = pb;
    s.pad_left = pl;
    s.pad_right = pr;
    s.dil_h = dh;
    s.dil_w = dw;
    s.groups = groups;
    if (s.C != w.shape(1) * groups) {
        fail("input has " + std::to_string(s.C) + " channels, weight expects " + std::to_string(w.shape(1) * groups) +
             " (input shape " + shape_str(x) + ", weight shape " + shape_str(w) + ", groups=" +
             std::to_string(groups) + ")");
    }
    if (s.OC % groups != 0) {
        fail("weight has " + std::to_string(s.OC) + " output channels, not divisible by groups=" +
             std::to_string(groups));
    }
    if (s.KH < 1 || s.KW < 1) fail("weight has shape " + shape_str(w) + "; the kernel must be at least 1x1");
    s.OH = conv2d_out_size(s.H, s.KH, sh, pt + pb, dh);
    s.OW = conv2d_out_size(s.W, s.KW, sw, pl + pr, dw);
    if (s.OH < 1 || s.OW < 1) {
        fail("kernel size (" + std::to_string(s.KH) + ", " + std::to_string(s.KW) + ") with dilation (" +
             std::to_string(dh) + ", " + std::to_string(dw) + ") is larger than the padded input (" +
             std::to_string(s.H + pt + pb) + ", " + std::to_string(s.W + pl + pr) + ")");
    }
    return s;
}

// out = conv2d(input, weight, bias); bias is None or (OC,). All arrays C-contiguous, one
// float dtype.
py::array conv2d_forward_binding(py::handle x_h, py::handle w_h, py::handle b_h, int64_t sh, int64_t sw,
                                 int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                                 int64_t groups, bool reference) {
    const char* op = "conv2d";
    py::array x = require_float_array(op, "input", x_h);
    py::array w = require_float_array(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    const bool has_bias = !b_h.is_none();
    py::array b;  // (a default py::array is an empty array, not a null handle)
    if (has_bias) {
        b = require_float_array(op, "bias", b_h);
        require_same_dtype(op, "input", x, "bias", b);
    }
    const Conv2dShape s = conv2d_shape(op, x, w, sh, sw, pt, pb, pl, pr, dh, dw, groups);
    if (has_bias && (b.ndim() != 1 || b.shape(0) != s.OC)) {
        throw py::value_error(op_prefix(op) + "bias has shape " + shape_str(b) + ", expected (" +
                              std::to_string(s.OC) + ",)");
    }
    require_contiguous(op, "input", x);
    require_contiguous(op, "weight", w);
    if (has_bias) require_contiguous(op, "bias", b);
    py::array out(x.dtype(), std::vector<int64_t>{s.N, s.OC, s.OH, s.OW});
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        T* o = static_cast<T*>(out.mutable_data());
        const T* xp = static_cast<const T*>(x.data());
        const T* wp = static_cast<const T*>(w.data());
        const T* bp = has_bias ? static_cast<const T*>(b.data()) : nullptr;
        py::gil_scoped_release nogil;
        if (reference)
            conv2d_forward_ref<T>(o, xp, wp, bp, s);
        else
            conv2d_forward<T>(o, xp, wp, bp, s);
    });
    return out;
}

// (grad_input, grad_weight, grad_bias) of conv2d, each None unless asked for.
py::tuple conv2d_backward_binding(py::handle dy_h, py::handle x_h, py::handle w_h, int64_t sh, int64_t sw,
                                  int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                                  int64_t groups, bool need_input, bool need_weight, bool need_bias,
                                  bool reference) {
    const char* op = "conv2d_backward";
    py::array dy = require_float_array(op, "grad_output", dy_h);
    py::array x = require_float_array(op, "input", x_h);
    py::array w = require_float_array(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    require_same_dtype(op, "input", x, "grad_output", dy);
    const Conv2dShape s = conv2d_shape(op, x, w, sh, sw, pt, pb, pl, pr, dh, dw, groups);
    const std::vector<int64_t> out_shape{s.N, s.OC, s.OH, s.OW};
    if (std::vector<int64_t>(dy.shape(), dy.shape() + dy.ndim()) != out_shape) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(dy) + ", expected " +
                              shape_str(out_shape) + " (the output shape for input " + shape_str(x) +
                              " and weight " + shape_str(w) + ")");
    }
    require_contiguous(op, "grad_output", dy);
    require_contiguous(op, "input", x);
    require_contiguous(op, "weight", w);
    py::object dx = py::none(), dwt = py::none(), db = py::none();
    if (need_input) dx = py::array(x.dtype(), std::vector<int64_t>{s.N, s.C, s.H, s.W});
    if (need_weight) dwt = py::array(x.dtype(), std::vector<int64_t>(w.shape(), w.shape() + 4));
    if (need_bias) db = py::array(x.dtype(), std::vector<int64_t>{s.OC});
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        auto ptr = [](py::object& o) {
            return o.is_none() ? nullptr : static_cast<T*>(py::reinterpret_borrow<py::array>(o).mutable_data());
        };
        T* dxp = ptr(dx);
        T* dwp = ptr(dwt);
        T* dbp = ptr(db);
        const T* dyp = static_cast<const T*>(dy.data());
        const T* xp = static_cast<const T*>(x.data());
        const T* wp = static_cast<const T*>(w.data());
        py::gil_scoped_release nogil;
        if (reference)
            conv2d_backward_ref<T>(dxp, dwp, dbp, dyp, xp, wp, s);
        else
            conv2d_backward<T>(dxp, dwp, dbp, dyp, xp, wp, s);
    });
    return py::make_tuple(dx, dwt, db);
}

void bind_conv2d(py::module_& m) {
    m.def("conv2d_forward", &conv2d_forward_binding, py::arg("input"), py::arg("weight"), py::arg("bias"),
          py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"),
          py::arg("pad_left"), py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"), py::arg("groups"),
          py::arg("reference") = false,
          "conv2d of a 4-D NCHW input with per-side paddings (see fastnn.kernels.conv2d).");
    m.def("conv2d_backward", &conv2d_backward_binding, py::arg("grad_output"), py::arg("input"),
          py::arg("weight"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"),
          py::arg("pad_bottom"), py::arg("pad_left"), py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"),
          py::arg("groups"), py::arg("need_input"), py::arg("need_weight"), py::arg("need_bias"),
          py::arg("reference") = false,
          "(grad_input, grad_weight, grad_bias) of conv2d, each None unless asked for.");
    m.def("conv2d_plan", [](int64_t N, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW,
                            int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
                            int64_t dw, int64_t groups, int64_t itemsize) {
        if (groups < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || (itemsize != 4 && itemsize != 8))
            throw py::value_error("[conv2d_plan] invalid parameters");
        Conv2dShape s{N, C, H, W, OC, KH, KW,
                      conv2d_out_size(H, KH, sh, pt + pb, dh), conv2d_out_size(W, KW, sw, pl + pr, dw),
                      sh, sw, pt, pb, pl, pr, dh, dw, groups};
        Conv2dPlan p = conv2d_plan(s, itemsize);
        return py::make_tuple(p.tile_rows, p.group_images);
    }, "(output rows per im2col tile, images per weight-gradient group) for a convolution.");
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

    bind_linear(m);
    bind_conv2d(m);
}
