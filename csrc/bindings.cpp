// The Python module _C: the only file that includes pybind11's module machinery. Each
// binding validates its arguments (common.h), allocates outputs, releases the GIL and
// calls a stateless kernel. Arrays are taken as they are: no dtype conversion and no
// hidden copies, so an output is always written in place or rejected.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "cpu.h"
#include "gemm/gemm.h"
#include "optim.h"
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

// ---- optim ----

// "name[i]" for error messages.
std::string optim_item(const char* name, size_t i) { return std::string(name) + "[" + std::to_string(i) + "]"; }

// The entries of a list or tuple argument (borrowed; the caller keeps the sequence alive).
struct OptimSeq {
    PyObject** items = nullptr;
    size_t size = 0;
};

OptimSeq optim_seq(const char* op, const char* name, py::handle h) {
    if (!PyList_Check(h.ptr()) && !PyTuple_Check(h.ptr())) {
        throw py::type_error(op_prefix(op) + name + " must be a list or tuple of numpy.ndarray, got " +
                             std::string(py::str(py::type::of(h).attr("__name__"))));
    }
    return {PySequence_Fast_ITEMS(h.ptr()), size_t(PySequence_Fast_GET_SIZE(h.ptr()))};
}

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
    const OptimSeq params = optim_seq(op, "params", params_h);
    const OptimSeq grads = optim_seq(op, "grads", grads_h);
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
        seqs.push_back(optim_seq(op, s.name, s.list));
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

// Python's repr of a float, for messages worded as torch.optim's.
std::string optim_repr(double x) { return std::string(py::repr(py::float_(x))); }

void optim_check(const char* op, bool ok, const char* what, double value) {
    if (!ok) throw py::value_error(op_prefix(op) + "Invalid " + what + ": " + optim_repr(value));
}

// Per-parameter step numbers: an int shared by all, or a list/tuple of one int per param;
// each >= 1 (the number of this update, counting from 1).
void optim_steps(const char* op, py::handle steps, std::vector<OptimTensor>& ts) {
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

void sgd_binding(py::handle params, py::handle grads, py::handle momentum_buffers, double lr, double momentum,
                 double dampening, double weight_decay, bool nesterov, bool maximize, py::handle first_step) {
    const char* op = "sgd_step_";
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, momentum >= 0, "momentum value", momentum);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    if (nesterov && (momentum <= 0 || dampening != 0)) {
        throw py::value_error(op_prefix(op) + "Nesterov momentum requires a momentum and zero dampening");
    }
    OptimArgs args = optim_args(op, params, grads, {{"momentum_buffers", momentum_buffers, momentum != 0}});
    if (PyBool_Check(first_step.ptr())) {
        for (OptimTensor& t : args.tensors) t.first_step = first_step.ptr() == Py_True;
    } else if (PyList_Check(first_step.ptr()) || PyTuple_Check(first_step.ptr())) {
        const OptimSeq seq{PySequence_Fast_ITEMS(first_step.ptr()), size_t(PySequence_Fast_GET_SIZE(first_step.ptr()))};
        if (seq.size != args.tensors.size()) {
            throw py::value_error(op_prefix(op) + "first_step has " + std::to_string(seq.size) +
                                  " entries but params has " + std::to_string(args.tensors.size()));
        }
        for (size_t i = 0; i < seq.size; ++i) {
            if (!PyBool_Check(seq.items[i])) throw py::type_error(op_prefix(op) + optim_item("first_step", i) + " must be a bool");
            args.tensors[i].first_step = seq.items[i] == Py_True;
        }
    } else {
        throw py::type_error(op_prefix(op) + "first_step must be a bool or a list/tuple of bools");
    }
    SgdOptions o;
    o.lr = lr, o.momentum = momentum, o.dampening = dampening, o.weight_decay = weight_decay;
    o.nesterov = nesterov, o.maximize = maximize;
    py::gil_scoped_release nogil;
    sgd_step(args.tensors, o);
}

void adam_binding(py::handle params, py::handle grads, py::handle exp_avgs, py::handle exp_avg_sqs,
                  py::handle max_exp_avg_sqs, py::handle steps, double lr, double beta1, double beta2, double eps,
                  double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
    const char* op = "adam_step_";
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, eps >= 0, "epsilon value", eps);
    optim_check(op, beta1 >= 0 && beta1 < 1, "beta parameter at index 0", beta1);
    optim_check(op, beta2 >= 0 && beta2 < 1, "beta parameter at index 1", beta2);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    OptimArgs args = optim_args(op, params, grads,
                                {{"exp_avgs", exp_avgs, true}, {"exp_avg_sqs", exp_avg_sqs, true},
                                 {"max_exp_avg_sqs", max_exp_avg_sqs, amsgrad}});
    optim_steps(op, steps, args.tensors);
    AdamOptions o;
    o.lr = lr, o.beta1 = beta1, o.beta2 = beta2, o.eps = eps, o.weight_decay = weight_decay;
    o.amsgrad = amsgrad, o.maximize = maximize, o.decoupled_weight_decay = decoupled_weight_decay;
    py::gil_scoped_release nogil;
    adam_step(args.tensors, o);
}

void rmsprop_binding(py::handle params, py::handle grads, py::handle square_avgs, py::handle grad_avgs,
                     py::handle momentum_buffers, double lr, double alpha, double eps, double weight_decay,
                     double momentum, bool centered, bool maximize) {
    const char* op = "rmsprop_step_";
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, eps >= 0, "epsilon value", eps);
    optim_check(op, momentum >= 0, "momentum value", momentum);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    optim_check(op, alpha >= 0, "alpha value", alpha);
    OptimArgs args = optim_args(op, params, grads,
                                {{"square_avgs", square_avgs, true}, {"grad_avgs", grad_avgs, centered},
                                 {"momentum_buffers", momentum_buffers, momentum > 0}});
    RmspropOptions o;
    o.lr = lr, o.alpha = alpha, o.eps = eps, o.weight_decay = weight_decay, o.momentum = momentum;
    o.centered = centered, o.maximize = maximize;
    py::gil_scoped_release nogil;
    rmsprop_step(args.tensors, o);
}

void adagrad_binding(py::handle params, py::handle grads, py::handle state_sums, py::handle steps, double lr,
                     double lr_decay, double weight_decay, double eps, bool maximize) {
    const char* op = "adagrad_step_";
    optim_check(op, lr >= 0, "learning rate", lr);
    optim_check(op, lr_decay >= 0, "lr_decay value", lr_decay);
    optim_check(op, weight_decay >= 0, "weight_decay value", weight_decay);
    optim_check(op, eps >= 0, "epsilon value", eps);
    OptimArgs args = optim_args(op, params, grads, {{"state_sums", state_sums, true}});
    optim_steps(op, steps, args.tensors);
    AdagradOptions o;
    o.lr = lr, o.lr_decay = lr_decay, o.weight_decay = weight_decay, o.eps = eps, o.maximize = maximize;
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
    bind_optim(m);
}
