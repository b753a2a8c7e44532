// The Python module _C: the only file that includes pybind11's module machinery. Each
// binding validates its arguments (common.h), allocates outputs, releases the GIL and
// calls a stateless kernel. Arrays are taken as they are: no dtype conversion and no
// hidden copies, so an output is always written in place or rejected.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "activation.h"
#include "common.h"
#include "conv2d.h"
#include "cpu.h"
#include "dropout.h"
#include "gather.h"
#include "gemm/gemm.h"
#include "linear.h"
#include "memory.h"
#include "norm.h"
#include "optim.h"
#include "parallel.h"
#include "pool.h"
#include "shape_checks.h"
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
        c = new_array(a.dtype(), shape);
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
    py::array out = new_array(x.dtype(), std::vector<int64_t>{M, N});
    dispatch_float(x, [&](auto tag) {
        using T = decltype(tag);
        InPlaceActivation<T> act = nullptr;
        try {
            act = linear_activation<T>(activation);
        } catch (const std::invalid_argument& e) {
            throw py::value_error(std::string("[linear] ") + e.what());
        }
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
        return new_array(x.dtype(), shape);
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

// The test hook that forces one algorithm: "auto" (the plan's choice), "im2col" or "winograd".
Conv2dAlgorithm conv2d_algorithm_arg(const char* op, const std::string& name) {
    if (name == "auto") return Conv2dAlgorithm::automatic;
    if (name == "im2col") return Conv2dAlgorithm::im2col;
    if (name == "winograd") return Conv2dAlgorithm::winograd;
    throw py::value_error(op_prefix(op) + "algorithm must be 'auto', 'im2col' or 'winograd', not '" + name + "'");
}

// out = conv2d(input, weight, bias); bias is None or (OC,). All arrays C-contiguous, one
// float dtype.
py::array conv2d_forward_binding(py::handle x_h, py::handle w_h, py::handle b_h, int64_t sh, int64_t sw,
                                 int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                                 int64_t groups, bool reference, const std::string& algorithm) {
    const char* op = "conv2d";
    const Conv2dAlgorithm algo = conv2d_algorithm_arg(op, algorithm);
    py::array x = require_float_array(op, "input", x_h);
    py::array w = require_float_array(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    const bool has_bias = !b_h.is_none();
    py::array b;  // (a default py::array is an empty array, not a null handle)
    if (has_bias) {
        b = require_float_array(op, "bias", b_h);
        require_same_dtype(op, "input", x, "bias", b);
    }
    const Conv2dShape s = conv2d_shape(op, shape_of(x), shape_of(w), sh, sw, pt, pb, pl, pr, dh, dw, groups);
    if (has_bias && (b.ndim() != 1 || b.shape(0) != s.OC)) {
        throw py::value_error(op_prefix(op) + "bias has shape " + shape_str(b) + ", expected (" +
                              std::to_string(s.OC) + ",)");
    }
    require_contiguous(op, "input", x);
    require_contiguous(op, "weight", w);
    if (has_bias) require_contiguous(op, "bias", b);
    py::array out = new_array(x.dtype(), std::vector<int64_t>{s.N, s.OC, s.OH, s.OW});
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
            conv2d_forward<T>(o, xp, wp, bp, s, algo);
    });
    return out;
}

// (grad_input, grad_weight, grad_bias) of conv2d, each None unless asked for.
py::tuple conv2d_backward_binding(py::handle dy_h, py::handle x_h, py::handle w_h, int64_t sh, int64_t sw,
                                  int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                                  int64_t groups, bool need_input, bool need_weight, bool need_bias,
                                  bool reference, const std::string& algorithm) {
    const char* op = "conv2d_backward";
    const Conv2dAlgorithm algo = conv2d_algorithm_arg(op, algorithm);
    py::array dy = require_float_array(op, "grad_output", dy_h);
    py::array x = require_float_array(op, "input", x_h);
    py::array w = require_float_array(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    require_same_dtype(op, "input", x, "grad_output", dy);
    const Conv2dShape s = conv2d_shape(op, shape_of(x), shape_of(w), sh, sw, pt, pb, pl, pr, dh, dw, groups);
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
    if (need_input) dx = new_array(x.dtype(), std::vector<int64_t>{s.N, s.C, s.H, s.W});
    if (need_weight) dwt = new_array(x.dtype(), std::vector<int64_t>(w.shape(), w.shape() + 4));
    if (need_bias) db = new_array(x.dtype(), std::vector<int64_t>{s.OC});
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
            conv2d_backward<T>(dxp, dwp, dbp, dyp, xp, wp, s, algo);
    });
    return py::make_tuple(dx, dwt, db);
}

void bind_conv2d(py::module_& m) {
    m.def("conv2d_forward", &conv2d_forward_binding, py::arg("input"), py::arg("weight"), py::arg("bias"),
          py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"),
          py::arg("pad_left"), py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"), py::arg("groups"),
          py::arg("reference") = false, py::arg("algorithm") = "auto",
          "conv2d of a 4-D NCHW input with per-side paddings (see fastnn.kernels.conv2d).");
    m.def("conv2d_backward", &conv2d_backward_binding, py::arg("grad_output"), py::arg("input"),
          py::arg("weight"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"),
          py::arg("pad_bottom"), py::arg("pad_left"), py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"),
          py::arg("groups"), py::arg("need_input"), py::arg("need_weight"), py::arg("need_bias"),
          py::arg("reference") = false, py::arg("algorithm") = "auto",
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
    m.def("conv2d_algorithm", [](int64_t C, int64_t OC, int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t dh,
                                 int64_t dw, int64_t groups, int64_t H, int64_t W) {
        Conv2dShape s{1, C, H, W, OC, KH, KW, 1, 1, sh, sw, 0, 0, 0, 0, dh, dw, groups};
        const Conv2dPlan p = conv2d_plan(s, 4);
        auto name = [](bool wino) { return std::string(wino ? "winograd" : "im2col"); };
        return py::make_tuple(name(p.winograd), name(p.winograd_input_grad));
    }, "(output algorithm, input-gradient algorithm), each 'winograd' or 'im2col', for an input "
       "plane of H x W; they depend on these parameters only.");
}

// ---- optim ----

bool same_shape(const py::array& a, const py::array& b) {
    if (a.ndim() != b.ndim()) return false;
    for (py::ssize_t d = 0; d < a.ndim(); ++d)
        if (a.shape(d) != b.shape(d)) return false;
    return true;
}

// What require_state accepts, as a predicate: an ndarray of exactly dtype dt, C-contiguous,
// aligned and writeable.
bool optim_is_state(py::handle h, const py::dtype& dt) {
    if (!py::isinstance<py::array>(h)) return false;
    auto a = py::reinterpret_borrow<py::array>(h);
    return a.dtype().equal(dt) && (a.flags() & py::array::c_style) && is_aligned(a) && a.writeable();
}

// One list of optimizer state: its argument name and value, and whether this call uses it
// (an unused list is never read and may be None).
struct OptimStateArg {
    const char* name;
    py::handle list;
    bool used;
};

// Validated arguments of a list update: the kernel's view of every parameter, and the
// arrays it points into, held so they outlive the GIL-free kernel whatever the caller
// does to its lists meanwhile.
struct OptimArgs {
    std::vector<OptimTensor> tensors;
    std::vector<py::array> keep;
};

// Checks every array of every list before anything is written: equal list lengths; params
// and used state float32/float64, C-contiguous, aligned, writeable (require_state:
// TypeError); each state and grad of its param's shape (ValueError) and dtype (TypeError);
// no two written arrays sharing memory (ValueError). A grad that is strided, misaligned or
// overlaps a written array is read from a private copy.
OptimArgs optim_args(const char* op, py::handle params_h, py::handle grads_h,
                     std::initializer_list<OptimStateArg> states) {
    const OptimSeq params = optim_seq(op, "params", params_h, "numpy.ndarray");
    const OptimSeq grads = optim_seq(op, "grads", grads_h, "numpy.ndarray");
    const size_t n = params.size;
    auto length_error = [&](const char* name, size_t len) {
        return py::value_error(op_prefix(op) + name + " has " + std::to_string(len) + " entries but params has " +
                               std::to_string(n) + "; every list holds one entry per parameter");
    };
    if (grads.size != n) throw length_error("grads", grads.size);
    std::vector<OptimSeq> seqs;
    for (const OptimStateArg& s : states) {
        if (!s.used) {
            seqs.push_back({});
            continue;
        }
        if (s.list.is_none()) {
            throw py::type_error(op_prefix(op) + s.name + " is None, but the options given use it; pass one " +
                                 "state array per parameter");
        }
        seqs.push_back(optim_seq(op, s.name, s.list, "numpy.ndarray"));
        if (seqs.back().size != n) throw length_error(s.name, seqs.back().size);
    }

    OptimArgs args;
    args.tensors.resize(n);
    args.keep.reserve(n * (2 + states.size()));
    struct Span {
        uintptr_t lo, hi;
        const char* list;
        size_t index;
    };
    std::vector<Span> written;  // byte spans of the non-empty arrays the kernel writes
    written.reserve(n * (1 + states.size()));
    std::vector<py::array> grad_arrays(n);
    const py::dtype f32 = py::dtype::of<float>(), f64 = py::dtype::of<double>();
    for (size_t i = 0; i < n; ++i) {
        // The checks run twice only on failure: first as cheap predicates, then through the
        // common.h helpers, which build the messages (names are never built on success).
        py::handle ph = params.items[i];
        py::array p;
        if (optim_is_state(ph, f32) || optim_is_state(ph, f64)) {
            p = py::reinterpret_borrow<py::array>(ph);
        } else {
            p = require_float_array(op, optim_item("params", i).c_str(), ph);
            p = require_state(op, optim_item("params", i).c_str(), p, p.dtype());
        }
        const py::dtype dt = p.dtype();
        py::handle gh = grads.items[i];
        py::array g = py::isinstance<py::array>(gh) ? py::reinterpret_borrow<py::array>(gh)
                                                    : require_float_array(op, optim_item("grads", i).c_str(), gh);
        auto check_shape = [&](const py::array& a, const char* list) {
            if (!same_shape(a, p)) {
                throw py::value_error(op_prefix(op) + optim_item(list, i) + " has shape " + shape_str(a) +
                                      " but params[" + std::to_string(i) + "] has shape " + shape_str(p));
            }
        };
        if (!g.dtype().equal(dt)) {
            require_float(op, optim_item("grads", i).c_str(), g);
            require_same_dtype(op, optim_item("params", i).c_str(), p, optim_item("grads", i).c_str(), g);
        }
        check_shape(g, "grads");
        OptimTensor& t = args.tensors[i];
        t.n = p.size();
        t.f64 = p.itemsize() == 8;
        t.param = p.mutable_data();
        if (t.n) written.push_back({uintptr_t(p.data()), uintptr_t(p.data()) + p.nbytes(), "params", i});
        size_t k = 0;
        for (const OptimStateArg& s : states) {
            if (s.used) {
                py::handle h = seqs[k].items[i];
                py::array a = optim_is_state(h, dt) ? py::reinterpret_borrow<py::array>(h)
                                                    : require_state(op, optim_item(s.name, i).c_str(), h, dt);
                check_shape(a, s.name);
                t.state[k] = a.mutable_data();
                if (t.n) written.push_back({uintptr_t(a.data()), uintptr_t(a.data()) + a.nbytes(), s.name, i});
                args.keep.push_back(std::move(a));
            }
            ++k;
        }
        args.keep.push_back(std::move(p));
        grad_arrays[i] = std::move(g);
    }
    // Written arrays must be disjoint: sorted by start, each must begin after all before end.
    std::sort(written.begin(), written.end(), [](const Span& a, const Span& b) { return a.lo < b.lo; });
    for (size_t j = 1; j < written.size(); ++j) {
        if (written[j].lo < written[j - 1].hi) {
            throw py::value_error(op_prefix(op) + optim_item(written[j - 1].list, written[j - 1].index) + " and " +
                                  optim_item(written[j].list, written[j].index) +
                                  " share memory; every parameter and state array is updated in place "
                                  "and must be distinct");
        }
    }
    // Gradients: read in place when contiguous, aligned and apart from every written array.
    for (size_t i = 0; i < n; ++i) {
        py::array& g = grad_arrays[i];
        bool copy = !(g.flags() & py::array::c_style) || !is_aligned(g);
        if (!copy && g.size() > 0) {
            const uintptr_t lo = uintptr_t(g.data()), hi = lo + g.nbytes();
            // The first written span ending after lo (spans are disjoint, so ends are sorted too).
            auto it = std::partition_point(written.begin(), written.end(), [&](const Span& s) { return s.hi <= lo; });
            copy = it != written.end() && it->lo < hi;
        }
        if (copy) g = g.attr("copy")();
        args.tensors[i].grad = g.data();
        args.keep.push_back(std::move(g));
    }
    return args;
}

void sgd_binding(py::handle params, py::handle grads, py::handle momentum_buffers, double lr, double momentum,
                 double dampening, double weight_decay, bool nesterov, bool maximize, py::handle first_step) {
    const char* op = "sgd_step_";
    const SgdOptions o = sgd_options(op, lr, momentum, dampening, weight_decay, nesterov, maximize);
    OptimArgs args = optim_args(op, params, grads, {{"momentum_buffers", momentum_buffers, momentum != 0}});
    optim_first_steps(op, first_step, args.tensors);
    py::gil_scoped_release nogil;
    sgd_step(args.tensors, o);
}

void adam_binding(py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
                  py::handle max_exp_avg_sqs, py::handle steps, double lr, double beta1, double beta2, double eps,
                  double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
    const char* op = "adam_step_";
    const AdamOptions o = adam_options(op, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay);
    OptimArgs args = optim_args(op, params, grads,
                                {{"exp_avgs", exp_avgs, true}, {"exp_avg_sqs", exp_avg_sqs, true},
                                 {"max_exp_avg_sqs", max_exp_avg_sqs, amsgrad}});
    optim_steps(op, steps, args.tensors);
    py::gil_scoped_release nogil;
    adam_step(args.tensors, o);
}

void rmsprop_binding(py::handle params, py::handle grads, py::handle square_avgs, py::handle grad_avgs,
                     py::handle momentum_buffers, double lr, double alpha, double eps, double weight_decay,
                     double momentum, bool centered, bool maximize) {
    const char* op = "rmsprop_step_";
    const RmspropOptions o = rmsprop_options(op, lr, alpha, eps, weight_decay, momentum, centered, maximize);
    OptimArgs args = optim_args(op, params, grads,
                                {{"square_avgs", square_avgs, true}, {"grad_avgs", grad_avgs, centered},
                                 {"momentum_buffers", momentum_buffers, momentum > 0}});
    py::gil_scoped_release nogil;
    rmsprop_step(args.tensors, o);
}

void adagrad_binding(py::handle params, py::handle grads, py::handle state_sums, py::handle steps, double lr,
                     double lr_decay, double weight_decay, double eps, bool maximize) {
    const char* op = "adagrad_step_";
    const AdagradOptions o = adagrad_options(op, lr, lr_decay, weight_decay, eps, maximize);
    OptimArgs args = optim_args(op, params, grads, {{"state_sums", state_sums, true}});
    optim_steps(op, steps, args.tensors);
    py::gil_scoped_release nogil;
    adagrad_step(args.tensors, o);
}

void bind_optim(py::module_& m) {
    m.def("sgd_step_", &sgd_binding, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"),
          py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"),
          py::arg("maximize"), py::arg("first_step"), "SGD update over a list of parameters, in place.");
    m.def("adam_step_", &adam_binding, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"),
          py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
          py::arg("decoupled_weight_decay"), "Adam/AdamW update over a list of parameters, in place.");
    m.def("rmsprop_step_", &rmsprop_binding, py::arg("params"), py::arg("grads"), py::arg("square_avgs"),
          py::arg("grad_avgs"), py::arg("momentum_buffers"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
          py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
          "RMSprop update over a list of parameters, in place.");
    m.def("adagrad_step_", &adagrad_binding, py::arg("params"), py::arg("grads"), py::arg("state_sums"),
          py::arg("steps"), py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"),
          py::arg("maximize"), "Adagrad update over a list of parameters, in place.");
}


// ---- pool ----

std::vector<int64_t> pool_dims(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

// input_shape of a backward: a tuple or list of ints.
std::vector<int64_t> pool_shape_arg(const char* op, py::handle h) {
    if (!py::isinstance<py::tuple>(h) && !py::isinstance<py::list>(h)) {
        throw py::type_error(op_prefix(op) + "input_shape must be a tuple of ints");
    }
    std::vector<int64_t> shape;
    for (py::handle v : h) {
        if (!py::isinstance<py::int_>(v)) throw py::type_error(op_prefix(op) + "input_shape must be a tuple of ints");
        shape.push_back(v.cast<int64_t>());
    }
    return shape;
}

// A contiguous float input of a pooling op and its shape.
std::pair<py::array, PoolShape> pool_input(const char* op, const char* name, py::handle h) {
    py::array x = require_float_array(op, name, h);
    PoolShape s = pool_shape(op, name, pool_dims(x));
    require_contiguous(op, name, x);
    return {x, s};
}

// grad_output of a pooling backward: a contiguous float array of the output's shape.
py::array pool_grad_output(const char* op, py::handle h, const std::vector<int64_t>& expected) {
    py::array g = require_float_array(op, "grad_output", h);
    if (pool_dims(g) != expected) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(g) + ", expected " +
                              shape_str(expected));
    }
    require_contiguous(op, "grad_output", g);
    return g;
}

py::object max_pool2d_binding(py::handle x_h, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                              int64_t pw, int64_t dh, int64_t dw, bool ceil_mode, bool return_indices) {
    const char* op = "max_pool2d";
    auto [x, s] = pool_input(op, "input", x_h);
    const PoolGeometry g = pool_geometry(op, s, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode);
    const std::vector<int64_t> oshape = pool_out_shape(s.lead, g.OH, g.OW);
    py::array out = new_array(x.dtype(), oshape);
    py::array ind;
    if (return_indices) ind = new_array(py::dtype::of<int64_t>(), oshape);
    int64_t* ip = return_indices ? static_cast<int64_t*>(ind.mutable_data()) : nullptr;
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = static_cast<const T*>(x.data());
        T* op_ = static_cast<T*>(out.mutable_data());
        py::gil_scoped_release nogil;
        max_pool2d_forward<T>(op_, ip, xp, g);
    });
    if (return_indices) return py::make_tuple(out, ind);
    return std::move(out);
}

py::array max_pool2d_backward_binding(py::handle go_h, py::handle ind_h, py::handle shape_h) {
    const char* op = "max_pool2d_backward";
    const std::vector<int64_t> input_shape = pool_shape_arg(op, shape_h);
    const PoolShape s = pool_shape(op, "input_shape", input_shape);
    py::array go = require_float_array(op, "grad_output", go_h);
    if (go.ndim() != static_cast<py::ssize_t>(input_shape.size()) ||
        !std::equal(s.lead.begin(), s.lead.end(), go.shape())) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(go) +
                              ", which does not match input_shape " + shape_str(input_shape) +
                              " in its leading dimensions");
    }
    require_contiguous(op, "grad_output", go);
    py::array ind = require_ndarray(op, "indices", ind_h);
    if (!ind.dtype().equal(py::dtype::of<int64_t>())) {
        throw py::type_error(op_prefix(op) + "indices has dtype " + std::string(py::str(ind.dtype())) +
                             ", expected int64");
    }
    if (pool_dims(ind) != pool_dims(go)) {
        throw py::value_error(op_prefix(op) + "indices has shape " + shape_str(ind) + " but grad_output has shape " +
                              shape_str(go));
    }
    require_contiguous(op, "indices", ind);
    const int64_t OH = go.shape(go.ndim() - 2), OW = go.shape(go.ndim() - 1);
    py::array dx = new_array(go.dtype(), input_shape);
    bool ok = true;
    dispatch_float(go, [&](auto t) {
        using T = decltype(t);
        const T* gp = static_cast<const T*>(go.data());
        const int64_t* ip = static_cast<const int64_t*>(ind.data());
        T* dp = static_cast<T*>(dx.mutable_data());
        py::gil_scoped_release nogil;
        ok = max_pool2d_backward<T>(dp, gp, ip, s.P, s.H, s.W, OH, OW);
    });
    if (!ok) {
        throw py::index_error(op_prefix(op) + "indices holds a value outside [0, " + std::to_string(s.H * s.W) +
                              ") for input planes of " + pool_pair_str(s.H, s.W));
    }
    return dx;
}

py::array avg_pool2d_binding(py::handle x_h, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                             int64_t pw, bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
    const char* op = "avg_pool2d";
    auto [x, s] = pool_input(op, "input", x_h);
    if (divisor_override < 0) throw py::value_error(op_prefix(op) + "divisor_override must be positive");
    const PoolGeometry g = pool_geometry(op, s, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode);
    py::array out = new_array(x.dtype(), pool_out_shape(s.lead, g.OH, g.OW));
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = static_cast<const T*>(x.data());
        T* op_ = static_cast<T*>(out.mutable_data());
        py::gil_scoped_release nogil;
        avg_pool2d_forward<T>(op_, xp, g, count_include_pad, divisor_override);
    });
    return out;
}

py::array avg_pool2d_backward_binding(py::handle go_h, py::handle shape_h, int64_t kh,
                                      int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool ceil_mode,
                                      bool count_include_pad, int64_t divisor_override) {
    const char* op = "avg_pool2d_backward";
    const std::vector<int64_t> input_shape = pool_shape_arg(op, shape_h);
    const PoolShape s = pool_shape(op, "input_shape", input_shape);
    if (divisor_override < 0) throw py::value_error(op_prefix(op) + "divisor_override must be positive");
    const PoolGeometry g = pool_geometry(op, s, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode);
    py::array go = pool_grad_output(op, go_h, pool_out_shape(s.lead, g.OH, g.OW));
    py::array dx = new_array(go.dtype(), input_shape);
    dispatch_float(go, [&](auto t) {
        using T = decltype(t);
        const T* gp = static_cast<const T*>(go.data());
        T* dp = static_cast<T*>(dx.mutable_data());
        py::gil_scoped_release nogil;
        avg_pool2d_backward<T>(dp, gp, g, count_include_pad, divisor_override);
    });
    return dx;
}

py::array adaptive_avg_pool2d_binding(py::handle x_h, int64_t oh, int64_t ow) {
    const char* op = "adaptive_avg_pool2d";
    auto [x, s] = pool_input(op, "input", x_h);
    if (oh < 0 || ow < 0) {
        throw py::value_error(op_prefix(op) + "output_size must be non-negative, got " + pool_pair_str(oh, ow));
    }
    py::array out = new_array(x.dtype(), pool_out_shape(s.lead, oh, ow));
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = static_cast<const T*>(x.data());
        T* op_ = static_cast<T*>(out.mutable_data());
        py::gil_scoped_release nogil;
        adaptive_avg_pool2d_forward<T>(op_, xp, s.P, s.H, s.W, oh, ow);
    });
    return out;
}

py::array adaptive_avg_pool2d_backward_binding(py::handle go_h, py::handle shape_h) {
    const char* op = "adaptive_avg_pool2d_backward";
    const std::vector<int64_t> input_shape = pool_shape_arg(op, shape_h);
    const PoolShape s = pool_shape(op, "input_shape", input_shape);
    py::array go = require_float_array(op, "grad_output", go_h);
    if (go.ndim() != static_cast<py::ssize_t>(input_shape.size()) ||
        !std::equal(s.lead.begin(), s.lead.end(), go.shape())) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(go) +
                              ", which does not match input_shape " + shape_str(input_shape) +
                              " in its leading dimensions");
    }
    require_contiguous(op, "grad_output", go);
    const int64_t oh = go.shape(go.ndim() - 2), ow = go.shape(go.ndim() - 1);
    py::array dx = new_array(go.dtype(), input_shape);
    dispatch_float(go, [&](auto t) {
        using T = decltype(t);
        const T* gp = static_cast<const T*>(go.data());
        T* dp = static_cast<T*>(dx.mutable_data());
        py::gil_scoped_release nogil;
        adaptive_avg_pool2d_backward<T>(dp, gp, s.P, s.H, s.W, oh, ow);
    });
    return dx;
}

void bind_pool(py::module_& m) {
    m.def("max_pool2d", &max_pool2d_binding, py::arg("input"), py::arg("kh"), py::arg("kw"), py::arg("sh"),
          py::arg("sw"), py::arg("ph"), py::arg("pw"), py::arg("dh"), py::arg("dw"), py::arg("ceil_mode"),
          py::arg("return_indices"));
    m.def("max_pool2d_backward", &max_pool2d_backward_binding, py::arg("grad_output"), py::arg("indices"),
          py::arg("input_shape"));
    m.def("avg_pool2d", &avg_pool2d_binding, py::arg("input"), py::arg("kh"), py::arg("kw"), py::arg("sh"),
          py::arg("sw"), py::arg("ph"), py::arg("pw"), py::arg("ceil_mode"), py::arg("count_include_pad"),
          py::arg("divisor_override"));
    m.def("avg_pool2d_backward", &avg_pool2d_backward_binding, py::arg("grad_output"), py::arg("input_shape"),
          py::arg("kh"), py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("ph"), py::arg("pw"),
          py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"));
    m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d_binding, py::arg("input"), py::arg("oh"), py::arg("ow"));
    m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward_binding, py::arg("grad_output"),
          py::arg("input_shape"));
}

// ---- norm ----

// A per-channel parameter (weight, bias, save_mean, ...): None (when allowed), or a
// contiguous (C,) array of x's dtype. Absent arrays are None objects throughout this section
// (a default py::array is an empty array, not a null handle).
py::object norm_channel_param(const char* op, const char* name, py::handle h, const py::array& x, int64_t C) {
    if (h.is_none()) return py::none();
    py::array a = require_float_array(op, name, h);
    require_same_dtype(op, "input", x, name, a);
    if (a.ndim() != 1 || a.shape(0) != C) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(a) + " but input has " +
                              std::to_string(C) + " channels; expected (" + std::to_string(C) + ",)");
    }
    require_contiguous(op, name, a);
    return a;
}

// A running statistic: None, or an in-place (C,) state array of x's dtype.
py::object norm_running_stat(const char* op, const char* name, py::handle h, const py::array& x, int64_t C) {
    if (h.is_none()) return py::none();
    py::array a = require_state(op, name, h, x.dtype());
    if (a.ndim() != 1 || a.shape(0) != C) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(a) + " but input has " +
                              std::to_string(C) + " channels; expected (" + std::to_string(C) + ",)");
    }
    return a;
}

template <typename T>
T* norm_ptr(const py::object& a) {
    return a.is_none() ? nullptr : static_cast<T*>(py::reinterpret_borrow<py::array>(a).mutable_data());
}
template <typename T>
const T* norm_cptr(const py::object& a) {
    return a.is_none() ? nullptr : static_cast<const T*>(py::reinterpret_borrow<py::array>(a).data());
}

py::tuple batch_norm_binding(py::handle x_h, py::handle rm_h, py::handle rv_h, py::handle w_h, py::handle b_h,
                             bool training, double momentum, double eps) {
    const char* op = "batch_norm";
    py::array x = require_float_array(op, "input", x_h);
    const auto [N, C, L] = norm_ncl(op, "input", shape_of(x));
    require_contiguous(op, "input", x);
    py::object rm = norm_running_stat(op, "running_mean", rm_h, x, C);
    py::object rv = norm_running_stat(op, "running_var", rv_h, x, C);
    py::object w = norm_channel_param(op, "weight", w_h, x, C);
    py::object b = norm_channel_param(op, "bias", b_h, x, C);
    if (!training && (rm.is_none() || rv.is_none())) {
        throw py::value_error(op_prefix(op) + "running_mean and running_var must be given in evaluation mode "
                              "(training=False)");
    }
    if (training && N * L == 1) {
        throw py::value_error(op_prefix(op) + "Expected more than 1 value per channel when training, got input "
                              "size " + shape_str(x));
    }
    if (!rm.is_none() && !rv.is_none() && norm_cptr<char>(rm) == norm_cptr<char>(rv)) {
        throw py::value_error(op_prefix(op) + "running_mean and running_var must be different arrays");
    }
    py::array out = new_array(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
    py::array save_mean = new_array(x.dtype(), std::vector<int64_t>{C});
    py::array save_invstd = new_array(x.dtype(), std::vector<int64_t>{C});
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        T *yp = norm_ptr<T>(out), *smp = norm_ptr<T>(save_mean), *sip = norm_ptr<T>(save_invstd);
        T *rmp = norm_ptr<T>(rm), *rvp = norm_ptr<T>(rv);
        const T *xp = norm_cptr<T>(x), *wp = norm_cptr<T>(w), *bp = norm_cptr<T>(b);
        py::gil_scoped_release nogil;
        batch_norm_forward<T>(yp, smp, sip, rmp, rvp, xp, wp, bp, N, C, L, training, momentum, eps);
    });
    return py::make_tuple(out, save_mean, save_invstd);
}

py::tuple batch_norm_backward_binding(py::handle g_h, py::handle x_h, py::handle w_h, py::handle sm_h,
                                      py::handle si_h, bool training, bool need_input, bool need_weight,
                                      bool need_bias) {
    const char* op = "batch_norm_backward";
    py::array x = require_float_array(op, "input", x_h);
    const auto [N, C, L] = norm_ncl(op, "input", shape_of(x));
    require_contiguous(op, "input", x);
    py::array g = require_float_array(op, "grad_output", g_h);
    require_same_dtype(op, "input", x, "grad_output", g);
    if (std::vector<int64_t>(g.shape(), g.shape() + g.ndim()) != std::vector<int64_t>(x.shape(), x.shape() + x.ndim())) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(g) + " but input has shape " +
                              shape_str(x));
    }
    require_contiguous(op, "grad_output", g);
    py::object w = norm_channel_param(op, "weight", w_h, x, C);
    if (sm_h.is_none() || si_h.is_none()) {
        throw py::value_error(op_prefix(op) + "save_mean and save_invstd are required");
    }
    py::object sm = norm_channel_param(op, "save_mean", sm_h, x, C);
    py::object si = norm_channel_param(op, "save_invstd", si_h, x, C);
    const std::vector<int64_t> shape(x.shape(), x.shape() + x.ndim());
    py::object dx = need_input ? py::object(new_array(x.dtype(), shape)) : py::object(py::none());
    py::object dw = need_weight ? py::object(new_array(x.dtype(), std::vector<int64_t>{C})) : py::object(py::none());
    py::object db = need_bias ? py::object(new_array(x.dtype(), std::vector<int64_t>{C})) : py::object(py::none());
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        T *dxp = norm_ptr<T>(dx), *dwp = norm_ptr<T>(dw), *dbp = norm_ptr<T>(db);
        const T *gp = norm_cptr<T>(g), *xp = norm_cptr<T>(x), *wp = norm_cptr<T>(w);
        const T *smp = norm_cptr<T>(sm), *sip = norm_cptr<T>(si);
        py::gil_scoped_release nogil;
        batch_norm_backward<T>(dxp, dwp, dbp, gp, xp, wp, smp, sip, N, C, L, training);
    });
    return py::make_tuple(dx, dw, db);
}

void bind_norm(py::module_& m) {
    m.def("batch_norm", &batch_norm_binding, py::arg("input"), py::arg("running_mean"), py::arg("running_var"),
          py::arg("weight"), py::arg("bias"), py::arg("training"), py::arg("momentum"), py::arg("eps"));
    m.def("batch_norm_backward", &batch_norm_backward_binding, py::arg("grad_output"), py::arg("input"),
          py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"),
          py::arg("need_input"), py::arg("need_weight"), py::arg("need_bias"));
}

// ---- dropout ----

// out = inp * mask / (1 - p) with the mask of (seed, offset); `out_h` None (a new array)
// or the input itself (in place: C-contiguous, aligned, writeable).
py::array dropout_binding(const std::string& op_name, py::handle x_h, py::handle out_h, double p, uint64_t seed,
                          uint64_t offset) {
    const char* op = op_name.c_str();
    const char* name = op_name == "dropout" ? "input" : "grad_output";
    py::array x = require_float_array(op, name, x_h);
    const int64_t n = x.size();
    const uint64_t threshold = dropout_threshold(op, p, n, offset);
    py::array out;
    if (out_h.is_none()) {
        require_contiguous(op, name, x);
        out = new_array(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
    } else {
        out = require_ndarray(op, "out", out_h);
        if (!out.is(x)) throw py::value_error(op_prefix(op) + "out must be the input itself (in place) or None");
        if (!(x.flags() & py::array::c_style) || !is_aligned(x) || !x.writeable()) {
            throw py::value_error(op_prefix(op) + "inplace=True needs a C-contiguous, aligned, writeable input; " +
                                  name + " of shape " + shape_str(x) + " is not");
        }
    }
    const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
    dispatch_float(x, [&](auto t) {
        using T = decltype(t);
        const T* xp = static_cast<const T*>(x.data());
        T* yp = static_cast<T*>(out.mutable_data());
        py::gil_scoped_release nogil;
        dropout_forward<T>(yp, xp, n, threshold, static_cast<T>(scale), seed, offset);
    });
    return out;
}

void bind_dropout(py::module_& m) {
    m.def("dropout", &dropout_binding, py::arg("op"), py::arg("input"), py::arg("out"), py::arg("p"),
          py::arg("seed"), py::arg("offset"));
    m.def("philox4x32_10", [](uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
        const uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1};
        uint32_t r[4];
        philox4x32_10(r, ctr, key);
        return py::make_tuple(r[0], r[1], r[2], r[3]);
    }, "Philox4x32-10 of counter (c0..c3) under key (k0, k1): four 32-bit words.");
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
        out = new_array(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
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
    return new_array(g.dtype(), std::vector<int64_t>(g.shape(), g.shape() + g.ndim()));
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

template <class K>
py::array softmax_binding(const char* op, py::handle x_h, int64_t dim, const K& kernel) {
    py::array x = require_float_array(op, "input", x_h);
    require_contiguous(op, "input", x);
    const std::vector<int64_t> od = split_at_dim(op, shape_of(x), dim);
    py::array out = new_array(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
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
    const std::vector<int64_t> od = split_at_dim(op, shape_of(g), dim);
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
    py::array out = new_array(x.dtype(), std::vector<int64_t>(x.shape(), x.shape() + x.ndim()));
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
    check_class_indices(op, static_cast<const int64_t*>(t.data()), t.size(), v.C, ignore_index);
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
    return new_array(x.dtype(), r == Reduction::None ? none_shape : std::vector<int64_t>{});
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
    const ClassView v = class_view(op, shape_of(x));
    py::array t = check_class_target(op, t_h, v, ignore_index);
    py::array wkeep;
    const void* w = check_class_weight(op, w_h, x, v.C, &wkeep);
    const bool backward = !g_h.is_none();
    py::array g;
    if (backward) g = check_grad_output(op, g_h, x, r, v.sample_shape);
    py::array out = backward ? new_array(x.dtype(), shape_of(x)) : loss_output(x, r, v.sample_shape);
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
    const ClassView v = class_view(op, shape_of(x));
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
    py::array out = backward ? new_array(x.dtype(), shape_of(x)) : loss_output(x, r, v.sample_shape);
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
    py::array out = backward ? new_array(x.dtype(), shape_of(x)) : loss_output(x, r, shape_of(x));
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

    m.def("host_cache_stats", []() {
        HostCacheStats st = host_cache_stats();
        py::dict d;
        d["idle_bytes"] = st.idle_bytes;
        d["idle_blocks"] = st.idle_blocks;
        d["hits"] = st.hits;
        d["misses"] = st.misses;
        d["min_block_bytes"] = kHostCacheMinBytes;
        d["max_idle_bytes"] = kHostCacheMaxIdleBytes;
        return d;
    });
    m.def("host_empty_cache", []() { host_empty_cache(); });

    // out[i] = src[index[i]] along the first axis (negative indices count from the end), for
    // the data loaders: a C-contiguous src of any plain dtype, a 1-D int64 index.
    m.def("gather_rows", [](py::handle src_h, py::handle index_h) {
        py::array src = require_ndarray("gather_rows", "src", src_h);
        py::array index = require_ndarray("gather_rows", "index", index_h);
        if (src.ndim() < 1)
            throw py::value_error("[gather_rows] src must have at least one dimension, got a 0-d array");
        if (src.dtype().kind() == 'O')
            throw py::type_error("[gather_rows] src of dtype object cannot be copied as raw rows");
        require_contiguous("gather_rows", "src", src);
        if (index.ndim() != 1 || index.dtype().kind() != 'i' || index.itemsize() != 8)
            throw py::type_error("[gather_rows] index must be a 1-D int64 array, got " + shape_str(index) + " " +
                                 std::string(py::str(index.dtype())));
        const int64_t rows = src.shape(0), n = index.shape(0), step = index.strides(0) / 8;
        const int64_t* raw = static_cast<const int64_t*>(index.data());
        std::vector<int64_t> idx(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
            const int64_t v = raw[i * step];
            if (v < -rows || v >= rows)
                throw py::index_error("[gather_rows] index " + std::to_string(v) + " is out of bounds for axis 0 with size " +
                                      std::to_string(rows));
            idx[static_cast<size_t>(i)] = v < 0 ? v + rows : v;
        }
        std::vector<int64_t> shape{n};
        int64_t row_bytes = src.itemsize();
        for (py::ssize_t d = 1; d < src.ndim(); ++d) {
            shape.push_back(src.shape(d));
            row_bytes *= src.shape(d);
        }
        py::array out = new_array(src.dtype(), shape);
        const char* from = static_cast<const char*>(src.data());
        char* to = static_cast<char*>(out.mutable_data());
        {
            py::gil_scoped_release nogil;
            gather_rows(from, row_bytes, idx.data(), n, to);
        }
        return out;
    }, py::arg("src"), py::arg("index"));

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
    bind_optim(m);
    bind_pool(m);
    bind_norm(m);
    bind_dropout(m);
    bind_activation(m);
    bind_softmax_xent(m);
}
