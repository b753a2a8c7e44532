// Shape and parameter checks shared by the CPU bindings (_C) and the CUDA bindings (_C_cuda):
// they see shapes as vectors of int64 and parameters as plain numbers, never arrays, so
// both modules reject the same arguments with the same messages. Every error names the op
// ("[conv2d] ...") and is a pybind11 exception (TypeError, ValueError or IndexError).
#pragma once

#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "conv2d.h"
#include "optim.h"
#include "pool.h"
#include "softmax_xent.h"

namespace fastnn {

namespace py = pybind11;

// "[op] ": the prefix of every error message.
inline std::string op_prefix(const char* op) { return std::string("[") + op + "] "; }

// "(2, 3)" for a shape ("(4,)" for one dimension, "()" for none).
inline std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    if (shape.size() == 1) s += ",";
    return s + ")";
}

// ---- conv2d ----

// Validates 4-D input (N, C, H, W) and weight (OC, C/groups, KH, KW) shapes against the
// convolution parameters (ValueError naming the op and the shapes) and returns the geometry,
// output size included.
inline Conv2dShape conv2d_shape(const char* op, const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                                int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
                                int64_t dw, int64_t groups) {
    auto fail = [&](const std::string& msg) { throw py::value_error(op_prefix(op) + msg); };
    if (x.size() != 4) {
        fail("input has shape " + shape_str(x) + "; expected a 3-D (C, H, W) or 4-D (N, C, H, W) array");
    }
    if (w.size() != 4) fail("weight has shape " + shape_str(w) + "; expected a 4-D (OC, C/groups, KH, KW) array");
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
    s.N = x[0];
    s.C = x[1];
    s.H = x[2];
    s.W = x[3];
    s.OC = w[0];
    s.KH = w[2];
    s.KW = w[3];
    s.stride_h = sh;
    s.stride_w = sw;
    s.pad_top = pt;
    s.pad_bottom = pb;
    s.pad_left = pl;
    s.pad_right = pr;
    s.dil_h = dh;
    s.dil_w = dw;
    s.groups = groups;
    if (s.C != w[1] * groups) {
        fail("input has " + std::to_string(s.C) + " channels, weight expects " + std::to_string(w[1] * groups) +
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

// ---- optim ----

// Python's repr of a float, for messages worded as torch.optim's.
inline std::string optim_repr(double x) { return std::string(py::repr(py::float_(x))); }

inline void optim_check(const char* op, bool ok, const char* what, double value) {
    if (!ok) throw py::value_error(op_prefix(op) + "Invalid " + what + ": " + optim_repr(value));
}

// "name[i]" for error messages.
inline std::string optim_item(const char* name, size_t i) { return std::string(name) + "[" + std::to_string(i) + "]"; }

// The entries of a list or tuple argument (borrowed; the caller keeps the sequence alive).
struct OptimSeq {
    PyObject** items = nullptr;
    size_t size = 0;
};

// TypeError unless h is a list or tuple (of `what`: the array type the module takes).
inline OptimSeq optim_seq(const char* op, const char* name, py::handle h, const char* what) {
    if (!PyList_Check(h.ptr()) && !PyTuple_Check(h.ptr())) {
        throw py::type_error(op_prefix(op) + name + " must be a list or tuple of " + what + ", got " +
                             std::string(py::str(py::type::of(h).attr("__name__"))));
    }
    return {PySequence_Fast_ITEMS(h.ptr()), size_t(PySequence_Fast_GET_SIZE(h.ptr()))};
}

// Per-parameter step numbers: an int shared by all, or a list/tuple of one int per param;
// each >= 1 (the number of this update, counting from 1).
inline void optim_steps(const char* op, py::handle steps, std::vector<OptimTensor>& ts) {
    auto parse = [&](PyObject* o, const std::string& name) -> int64_t {
        if (!PyLong_Check(o) || PyBool_Check(o)) {
            throw py::type_error(op_prefix(op) + name + " must be an int, got " +
                                 std::string(py::str(py::type::of(py::handle(o)).attr("__name__"))));
        }
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || v < 1) {
            throw py::value_error(op_prefix(op) + name + " is " + std::string(py::str(py::handle(o))) +
                                  "; steps count from 1 (the first update is step 1)");
        }
        return v;
    };
    if (PyLong_Check(steps.ptr()) && !PyBool_Check(steps.ptr())) {
        const int64_t s = parse(steps.ptr(), "steps");
        for (OptimTensor& t : ts) t.step = s;
        return;
    }
    if (!PyList_Check(steps.ptr()) && !PyTuple_Check(steps.ptr())) {
        throw py::type_error(op_prefix(op) + "steps must be an int or a list/tuple of ints, got " +
                             std::string(py::str(py::type::of(steps).attr("__name__"))));
    }
    const OptimSeq seq{PySequence_Fast_ITEMS(steps.ptr()), size_t(PySequence_Fast_GET_SIZE(steps.ptr()))};
    if (seq.size != ts.size()) {
        throw py::value_error(op_prefix(op) + "steps has " + std::to_string(seq.size) + " entries but params has " +
                              std::to_string(ts.size()));
    }
    for (size_t i = 0; i < ts.size(); ++i) ts[i].step = parse(seq.items[i], optim_item("steps", i));
}

// SGD's first_step: a bool for all parameters or a list/tuple of one bool per parameter.
inline void optim_first_steps(const char* op, py::handle first_step, std::vector<OptimTensor>& ts) {
    if (PyBool_Check(first_step.ptr())) {
        for (OptimTensor& t : ts) t.first_step = first_step.ptr() == Py_True;
    } else if (PyList_Check(first_step.ptr()) || PyTuple_Check(first_step.ptr())) {
        const OptimSeq seq{PySequence_Fast_ITEMS(first_step.ptr()), size_t(PySequence_Fast_GET_SIZE(first_step.ptr()))};
        if (seq.size != ts.size()) {
            throw py::value_error(op_prefix(op) + "first_step has " + std::to_string(seq.size) +
                                  " entries but params has " + std::to_string(ts.size()));
        }
        for (size_t i = 0; i < seq.size; ++i) {
            if (!PyBool_Check(seq.items[i])) throw py::type_error(op_prefix(op) + optim_item("first_step", i) + " must be a bool");
            ts[i].first_step = seq.items[i] == Py_True;
        }
    } else {
        throw py::type_error(op_prefix(op) + "first_step must be a bool or a list/tuple of bools");
    }
}

// The hyper-parameters of each optimizer, checked as torch.optim checks them (ValueError
// "Invalid learning rate: -1.0").
inline SgdOptions sgd_options(const char* op, double lr, double momentum, double dampening, double weight_decay,
                              bool nesterov, bool maximize) {
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, momentum >= 0, "momentum value", momentum);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    if (nesterov && (momentum <= 0 || dampening != 0)) {
        throw py::value_error(op_prefix(op) + "Nesterov momentum requires a momentum and zero dampening");
    }
    SgdOptions o;
    o.lr = lr, o.momentum = momentum, o.dampening = dampening, o.weight_decay = weight_decay;
    o.nesterov = nesterov, o.maximize = maximize;
    return o;
}

inline AdamOptions adam_options(const char* op, double lr, double beta1, double beta2, double eps, double weight_decay,
                                bool amsgrad, bool maximize, bool decoupled_weight_decay) {
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, eps >= 0, "epsilon value", eps);
    optim_check(op, beta1 >= 0 && beta1 < 1, "beta parameter at index 0", beta1);
    optim_check(op, beta2 >= 0 && beta2 < 1, "beta parameter at index 1", beta2);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    AdamOptions o;
    o.lr = lr, o.beta1 = beta1, o.beta2 = beta2, o.eps = eps, o.weight_decay = weight_decay;
    o.amsgrad = amsgrad, o.maximize = maximize, o.decoupled_weight_decay = decoupled_weight_decay;
    return o;
}

inline RmspropOptions rmsprop_options(const char* op, double lr, double alpha, double eps, double weight_decay,
                                      double momentum, bool centered, bool maximize) {
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, eps >= 0, "epsilon value", eps);
    optim_check(op, momentum >= 0, "momentum value", momentum);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    optim_check(op, alpha >= 0, "alpha value", alpha);
    RmspropOptions o;
    o.lr = lr, o.alpha = alpha, o.eps = eps, o.weight_decay = weight_decay, o.momentum = momentum;
    o.centered = centered, o.maximize = maximize;
    return o;
}

inline AdagradOptions adagrad_options(const char* op, double lr, double lr_decay, double weight_decay, double eps,
                                      bool maximize) {
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, lr_decay >= 0, "lr_decay value", lr_decay);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    optim_check(op, eps >= 0, "epsilon value", eps);
    AdagradOptions o;
    o.lr = lr, o.lr_decay = lr_decay, o.weight_decay = weight_decay, o.eps = eps, o.maximize = maximize;
    return o;
}

// ---- pool ----

// Leading dimensions ((N, C) or (C,)) and plane size of a pooling input or input_shape:
// 3-D or 4-D, a batch of 0 allowed, C, H, W >= 1 (torch's rule).
struct PoolShape {
    std::vector<int64_t> lead;  // (N, C) or (C,)
    int64_t P = 0, H = 0, W = 0;
};

inline PoolShape pool_shape(const char* op, const char* name, const std::vector<int64_t>& shape) {
    const size_t d = shape.size();
    bool ok = d == 3 || d == 4;
    for (size_t i = (d == 4 ? 1 : 0); ok && i < d; ++i) ok = shape[i] >= 1;
    if (ok && d == 4) ok = shape[0] >= 0;
    if (!ok) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(shape) +
                              "; expected (N, C, H, W) or (C, H, W) with C, H, W >= 1");
    }
    PoolShape s;
    s.lead.assign(shape.begin(), shape.end() - 2);
    s.P = 1;
    for (int64_t v : s.lead) s.P *= v;
    s.H = shape[d - 2];
    s.W = shape[d - 1];
    return s;
}

inline std::vector<int64_t> pool_out_shape(std::vector<int64_t> lead, int64_t h, int64_t w) {
    lead.push_back(h);
    lead.push_back(w);
    return lead;
}

inline std::string pool_pair_str(int64_t a, int64_t b) {
    return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

// Checks the window parameters and computes the output plane, as torch does:
// kernel_size, stride, dilation >= 1; 0 <= padding <= kernel_size / 2; output size >= 1.
inline PoolGeometry pool_geometry(const char* op, const PoolShape& s, int64_t kh, int64_t kw, int64_t sh,
                                  int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, bool ceil_mode) {
    auto bad = [&](const std::string& what) { return py::value_error(op_prefix(op) + what); };
    if (kh < 1 || kw < 1) throw bad("kernel_size must be positive, got " + pool_pair_str(kh, kw));
    if (sh < 1 || sw < 1) throw bad("stride must be positive, got " + pool_pair_str(sh, sw));
    if (dh < 1 || dw < 1) throw bad("dilation must be positive, got " + pool_pair_str(dh, dw));
    if (ph < 0 || pw < 0) throw bad("padding must be non-negative, got " + pool_pair_str(ph, pw));
    if (ph > kh / 2 || pw > kw / 2) {
        throw bad("pad should be at most half of kernel size, but got padding=" + pool_pair_str(ph, pw) +
                  " and kernel_size=" + pool_pair_str(kh, kw));
    }
    PoolGeometry g;
    g.P = s.P;
    g.H = s.H;
    g.W = s.W;
    g.KH = kh; g.KW = kw; g.SH = sh; g.SW = sw; g.PH = ph; g.PW = pw; g.DH = dh; g.DW = dw;
    g.OH = pool_output_size(s.H, kh, sh, ph, dh, ceil_mode);
    g.OW = pool_output_size(s.W, kw, sw, pw, dw, ceil_mode);
    if (g.OH < 1 || g.OW < 1) {
        throw bad("input plane " + pool_pair_str(s.H, s.W) + " gives output size " + pool_pair_str(g.OH, g.OW) +
                  " with kernel_size=" + pool_pair_str(kh, kw) + ", stride=" + pool_pair_str(sh, sw) + ", padding=" +
                  pool_pair_str(ph, pw) + ", dilation=" + pool_pair_str(dh, dw) + "; output size is too small");
    }
    return g;
}

// ---- norm ----

// (N, C, L) of a batch_norm input (N, C), (N, C, L) or (N, C, H, W), else ValueError.
inline std::array<int64_t, 3> norm_ncl(const char* op, const char* name, const std::vector<int64_t>& x) {
    if (x.size() < 2 || x.size() > 4) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(x) +
                              "; expected (N, C), (N, C, L) or (N, C, H, W)");
    }
    int64_t L = 1;
    for (size_t i = 2; i < x.size(); ++i) L *= x[i];
    return {x[0], x[1], L};
}

// ---- dropout ----

// Checks p in [0, 1] and that offset + n stays below 2^64 (ValueError); returns the keep
// threshold round((1 - p) 2^32): word < threshold keeps, so 2^32 keeps everything (p = 0)
// and 0 nothing (p = 1).
inline uint64_t dropout_threshold(const char* op, double p, int64_t n, uint64_t offset) {
    if (!(p >= 0.0 && p <= 1.0)) {
        throw py::value_error(op_prefix(op) + "dropout probability has to be between 0 and 1, but got " +
                              std::to_string(p));
    }
    if (n > 0 && offset > ~uint64_t(0) - static_cast<uint64_t>(n - 1)) {
        throw py::value_error(op_prefix(op) + "offset + number of elements must not exceed 2**64");
    }
    return static_cast<uint64_t>(std::nearbyint(std::ldexp(1.0 - p, 32)));
}

// ---- activation ----

// (outer, D, inner) of a shape viewed around axis `dim` (negative counts from the end; a
// 0-d array has one axis of size 1, as in PyTorch). IndexError when dim is out of range.
inline std::vector<int64_t> split_at_dim(const char* op, const std::vector<int64_t>& x, int64_t dim) {
    const int64_t nd = std::max<int64_t>(static_cast<int64_t>(x.size()), 1);
    if (dim < -nd || dim >= nd) {
        throw py::index_error(op_prefix(op) + "Dimension out of range (expected to be in range of [" +
                              std::to_string(-nd) + ", " + std::to_string(nd - 1) + "], but got " +
                              std::to_string(dim) + ")");
    }
    if (dim < 0) dim += nd;
    if (x.empty()) return {1, 1, 1};
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < dim; ++i) outer *= x[i];
    for (int64_t i = dim + 1; i < nd; ++i) inner *= x[i];
    return {outer, x[dim], inner};
}

// ---- softmax_xent ----

inline Reduction reduction_from(const char* op, int r) {
    if (r < 0 || r > 2) throw py::value_error(op_prefix(op) + "unknown reduction code " + std::to_string(r));
    return static_cast<Reduction>(r);
}

// A classification input viewed as (N, C, inner): (C,) is one sample, else axis 1 holds
// the classes. `sample_shape` is the shape of the per-sample loss.
struct ClassView {
    int64_t N = 1, C = 1, inner = 1;
    std::vector<int64_t> sample_shape;
};

inline ClassView class_view(const char* op, const std::vector<int64_t>& x) {
    if (x.empty()) {
        throw py::value_error(op_prefix(op) + "input must have at least one dimension (the classes), got a 0-d array");
    }
    ClassView v;
    if (x.size() == 1) {
        v.C = x[0];
        return v;
    }
    v.N = x[0];
    v.C = x[1];
    v.sample_shape.push_back(v.N);
    for (size_t i = 2; i < x.size(); ++i) {
        v.inner *= x[i];
        v.sample_shape.push_back(x[i]);
    }
    return v;
}

// IndexError naming the first class-index target outside [0, C) that is not ignore_index;
// y holds n targets in host memory. Checked before any kernel runs (a device never asserts).
inline void check_class_indices(const char* op, const int64_t* y, int64_t n, int64_t C, int64_t ignore_index) {
    for (int64_t i = 0; i < n; ++i) {
        if (y[i] != ignore_index && (y[i] < 0 || y[i] >= C)) {
            throw py::index_error(op_prefix(op) + "Target " + std::to_string(y[i]) + " is out of bounds (" +
                                  std::to_string(C) + " classes)");
        }
    }
}

}  // namespace fastnn
