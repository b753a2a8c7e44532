// _C_cuda: the CUDA module (the only file of cuda/ that includes pybind11). It defines
// DeviceArray, a contiguous device array (float32, float64 or int64) that owns a block of
// the caching allocator, and binds the kernels under the names and argument lists of the
// CPU module _C. Each binding checks its arguments on the host with the CPU's messages
// (csrc/shape_checks.h holds the checks both modules share), allocates outputs and calls
// the launcher; CUDA errors become RuntimeError naming the op. Without a driver or device
// the module still imports: queries answer, and creating an array raises RuntimeError.
#include <cuda_runtime.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "activation.cuh"
#include "check.cuh"
#include "conv2d.cuh"
#include "dropout.cuh"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "memory.cuh"
#include "norm.cuh"
#include "optim.cuh"
#include "pool.cuh"
#include "shape_checks.h"
#include "softmax_xent.cuh"

namespace py = pybind11;
using namespace fastnn;
namespace fc = fastnn::cuda;

namespace {

// ---- device queries ----

// The number of visible devices, or -1 with `why` set when the runtime cannot be used (no
// driver, no device, driver too old for this runtime).
int query_device_count(std::string* why) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        if (why) *why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
        cudaGetLastError();  // clear the error so a later query starts clean
        return -1;
    }
    if (count == 0 && why) *why = "no CUDA device is visible";
    return count;
}

// RuntimeError "[op] no usable CUDA device: <why>" unless device 0 can be used. Checked
// before every allocation; once a device has been found it is not asked again.
void ensure_device(const char* op) {
    static bool ok = false;
    if (ok) return;
    std::string why;
    if (query_device_count(&why) <= 0) throw std::runtime_error(op_prefix(op) + "no usable CUDA device: " + why);
    ok = true;
}

// ---- DeviceArray ----

enum class DType { f32, f64, i64 };

int64_t itemsize_of(DType t) { return t == DType::f32 ? 4 : 8; }
const char* dtype_name(DType t) { return t == DType::f32 ? "float32" : t == DType::f64 ? "float64" : "int64"; }

// A C-contiguous array in device memory. Copies share the block (reshape views it too).
struct DeviceArray {
    std::shared_ptr<fc::DeviceBlock> block;
    std::vector<int64_t> shape;
    DType dtype = DType::f32;

    int64_t size() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
    int64_t nbytes() const { return size() * itemsize_of(dtype); }
    void* data() const { return block ? block->data() : nullptr; }
    template <typename T>
    T* ptr() const { return static_cast<T*>(data()); }
    bool is_float() const { return dtype != DType::i64; }
};

DeviceArray new_device_array(const char* op, std::vector<int64_t> shape, DType dtype) {
    for (int64_t d : shape) {
        if (d < 0) throw py::value_error(op_prefix(op) + "negative dimension in shape " + shape_str(shape));
    }
    ensure_device(op);
    DeviceArray a;
    a.shape = std::move(shape);
    a.dtype = dtype;
    a.block = std::make_shared<fc::DeviceBlock>(static_cast<size_t>(a.nbytes()), op);
    return a;
}

DType dtype_from_numpy(const char* op, const py::dtype& dt) {
    if (dt.byteorder() != '>') {
        if (dt.equal(py::dtype::of<float>())) return DType::f32;
        if (dt.equal(py::dtype::of<double>())) return DType::f64;
        if (dt.equal(py::dtype::of<int64_t>())) return DType::i64;
    }
    throw py::type_error(op_prefix(op) + "unsupported dtype " + std::string(py::str(dt)) +
                         "; expected float32, float64 or int64");
}

py::dtype numpy_dtype(DType t) {
    return t == DType::f32 ? py::dtype::of<float>() : t == DType::f64 ? py::dtype::of<double>() : py::dtype::of<int64_t>();
}

DeviceArray from_numpy(py::handle h) {
    const char* op = "DeviceArray.from_numpy";
    if (!py::isinstance<py::array>(h)) {
        throw py::type_error(op_prefix(op) + "expected a numpy.ndarray, got " +
                             std::string(py::str(py::type::of(h).attr("__name__"))));
    }
    py::array a = py::reinterpret_borrow<py::array>(h);
    const DType dt = dtype_from_numpy(op, a.dtype());
    a = py::module_::import("numpy").attr("ascontiguousarray")(a);
    DeviceArray d = new_device_array(op, std::vector<int64_t>(a.shape(), a.shape() + a.ndim()), dt);
    if (d.nbytes() > 0) {
        py::gil_scoped_release nogil;
        fc::check(cudaMemcpy(d.data(), a.data(), static_cast<size_t>(d.nbytes()), cudaMemcpyHostToDevice), op,
                  "cudaMemcpy");
    }
    return d;
}

py::array to_numpy(const DeviceArray& d) {
    py::array out(numpy_dtype(d.dtype), d.shape);
    if (d.nbytes() > 0) {
        void* dst = out.mutable_data();
        py::gil_scoped_release nogil;
        // Synchronous: also reports a fault of any kernel queued before it.
        fc::check(cudaMemcpy(dst, d.data(), static_cast<size_t>(d.nbytes()), cudaMemcpyDeviceToHost),
                  "DeviceArray.numpy", "cudaMemcpy");
    }
    return out;
}

DeviceArray copy_of(const DeviceArray& a, const char* op) {
    DeviceArray c = new_device_array(op, a.shape, a.dtype);
    if (a.nbytes() > 0) {
        fc::check(cudaMemcpy(c.data(), a.data(), static_cast<size_t>(a.nbytes()), cudaMemcpyDeviceToDevice), op,
                  "cudaMemcpy");
    }
    return c;
}

// A view of the same block with another shape of the same size (one entry may be -1).
DeviceArray reshape(const DeviceArray& a, std::vector<int64_t> shape) {
    const char* op = "DeviceArray.reshape";
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1 && infer < 0) infer = static_cast<int64_t>(i);
        else if (shape[i] < 0) throw py::value_error(op_prefix(op) + "invalid shape " + shape_str(shape));
        else known *= shape[i];
    }
    if (infer >= 0) {
        if (known == 0 || a.size() % known != 0) {
            throw py::value_error(op_prefix(op) + "cannot reshape array of shape " + shape_str(a.shape) + " into " +
                                  shape_str(shape));
        }
        shape[infer] = a.size() / known;
        known *= shape[infer];
    }
    if (known != a.size()) {
        throw py::value_error(op_prefix(op) + "cannot reshape array of shape " + shape_str(a.shape) + " into " +
                              shape_str(shape));
    }
    DeviceArray v = a;
    v.shape = std::move(shape);
    return v;
}

py::tuple shape_tuple(const std::vector<int64_t>& s) {
    py::tuple t(s.size());
    for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
    return t;
}

// Version 3 of the CUDA Array Interface (numba.readthedocs.io, "CUDA Array Interface"):
// contiguous (strides None); stream 1 is the legacy default stream all kernels run on.
py::dict cuda_array_interface(const DeviceArray& a) {
    py::dict d;
    d["shape"] = shape_tuple(a.shape);
    d["typestr"] = a.dtype == DType::f32 ? "<f4" : a.dtype == DType::f64 ? "<f8" : "<i8";
    d["data"] = py::make_tuple(py::int_(reinterpret_cast<uintptr_t>(a.data())), false);
    d["version"] = 3;
    d["strides"] = py::none();
    d["stream"] = 1;
    return d;
}

// ---- DLPack (the ABI of dmlc/dlpack's dlpack.h, version 0.x "dltensor" capsules) ----

struct DLDevice {
    int32_t device_type;  // kDLCUDA = 2
    int32_t device_id;
};
struct DLDataType {
    uint8_t code;  // kDLInt = 0, kDLFloat = 2
    uint8_t bits;
    uint16_t lanes;
};
struct DLTensor {
    void* data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t* shape;
    int64_t* strides;  // nullptr: C-contiguous
    uint64_t byte_offset;
};
struct DLManagedTensor {
    DLTensor dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensor*);
};

// What a capsule keeps alive: the block and the shape array the tensor points to.
struct DLContext {
    DeviceArray array;
    DLManagedTensor managed;
};

void dl_deleter(DLManagedTensor* m) { delete static_cast<DLContext*>(m->manager_ctx); }

void dl_capsule_destructor(PyObject* capsule) {
    // A consumer renames the capsule "used_dltensor" and then owns the tensor; otherwise it
    // was never consumed and is freed here.
    if (PyCapsule_IsValid(capsule, "dltensor")) {
        auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
        if (m && m->deleter) m->deleter(m);
    }
}

py::capsule to_dlpack(const DeviceArray& a, py::object stream) {
    // Work is queued on the legacy default stream; a consumer on another stream must see it done.
    if (!stream.is_none() && !(py::isinstance<py::int_>(stream) && (stream.cast<int64_t>() == 1 || stream.cast<int64_t>() == -1))) {
        py::gil_scoped_release nogil;
        fc::check(cudaDeviceSynchronize(), "__dlpack__", "cudaDeviceSynchronize");
    }
    auto* ctx = new DLContext{a, {}};
    DLTensor& t = ctx->managed.dl_tensor;
    t.data = a.data();
    t.device = {2, 0};
    t.ndim = static_cast<int32_t>(a.shape.size());
    t.dtype = {static_cast<uint8_t>(a.is_float() ? 2 : 0), static_cast<uint8_t>(itemsize_of(a.dtype) * 8), 1};
    t.shape = ctx->array.shape.data();
    t.strides = nullptr;
    t.byte_offset = 0;
    ctx->managed.manager_ctx = ctx;
    ctx->managed.deleter = dl_deleter;
    PyObject* cap = PyCapsule_New(&ctx->managed, "dltensor", dl_capsule_destructor);
    if (!cap) {
        delete ctx;
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::capsule>(cap);
}

// ---- argument checks ----

std::string type_name(py::handle h) { return std::string(py::str(py::type::of(h).attr("__name__"))); }

// The argument as a DeviceArray (a copy of the handle: it keeps the block alive), else
// TypeError naming op and argument.
DeviceArray require_device(const char* op, const char* name, py::handle h) {
    if (!py::isinstance<DeviceArray>(h)) {
        throw py::type_error(op_prefix(op) + name + " must be a fastnn.cuda.DeviceArray, got " + type_name(h));
    }
    return h.cast<DeviceArray>();
}

// A float32/float64 DeviceArray, else TypeError worded as the CPU's.
DeviceArray require_float(const char* op, const char* name, py::handle h) {
    DeviceArray a = require_device(op, name, h);
    if (!a.is_float()) {
        throw py::type_error(op_prefix(op) + name + " has unsupported dtype " + dtype_name(a.dtype) +
                             "; expected float32 or float64");
    }
    return a;
}

void require_same_dtype(const char* op, const char* na, const DeviceArray& a, const char* nb, const DeviceArray& b) {
    if (a.dtype != b.dtype) {
        throw py::type_error(op_prefix(op) + na + " has dtype " + dtype_name(a.dtype) + " but " + nb + " has dtype " +
                             dtype_name(b.dtype) + "; convert one so both match");
    }
}

void require_same_shape(const char* op, const char* na, const DeviceArray& a, const char* nb, const DeviceArray& b) {
    if (a.shape != b.shape) {
        throw py::value_error(op_prefix(op) + na + " has shape " + shape_str(a.shape) + " but " + nb + " has shape " +
                              shape_str(b.shape));
    }
}

// An optional float DeviceArray of x's dtype: nullopt for None.
std::optional<DeviceArray> optional_like(const char* op, const char* name, py::handle h, const DeviceArray& x) {
    if (h.is_none()) return std::nullopt;
    DeviceArray a = require_float(op, name, h);
    require_same_dtype(op, "input", x, name, a);
    return a;
}

// A (C,) per-channel float array of x's dtype, or nullopt for None.
std::optional<DeviceArray> channel_param(const char* op, const char* name, py::handle h, const DeviceArray& x,
                                         int64_t C) {
    std::optional<DeviceArray> a = optional_like(op, name, h, x);
    if (a && a->shape != std::vector<int64_t>{C}) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(a->shape) + " but input has " +
                              std::to_string(C) + " channels; expected (" + std::to_string(C) + ",)");
    }
    return a;
}

template <typename T>
T* opt_ptr(const std::optional<DeviceArray>& a) { return a ? a->ptr<T>() : nullptr; }

// Calls f(T{}) with T = float or double per a's dtype.
template <class F>
decltype(auto) dispatch(const DeviceArray& a, F&& f) {
    if (a.dtype == DType::f32) return f(float{});
    return f(double{});
}

// ---- gemm ----

// One operand after the optional transpose: rows x cols with element strides (contiguous
// storage), and its batch and batch stride.
struct Operand {
    int64_t batch = 1, bs = 0, rows = 0, cols = 0, rs = 0, cs = 0;
};

Operand describe(const char* op, const char* name, const DeviceArray& x, bool trans) {
    const size_t d = x.shape.size();
    if (d != 2 && d != 3) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(x.shape) +
                              (std::string(op) == "matmul" ? "; matmul takes 1-D, 2-D or 3-D arrays"
                                                           : "; expected a 2-D or 3-D array"));
    }
    Operand o;
    o.rows = x.shape[d - 2];
    o.cols = x.shape[d - 1];
    o.rs = o.cols;
    o.cs = 1;
    if (trans) {
        std::swap(o.rows, o.cols);
        std::swap(o.rs, o.cs);
    }
    if (d == 3) {
        o.batch = x.shape[0];
        o.bs = x.shape[1] * x.shape[2];
    }
    return o;
}

py::object gemm_binding(const std::string& op_name, py::handle a_h, py::handle b_h, py::handle c_h, double alpha,
                        double beta, bool trans_a, bool trans_b, bool reference) {
    const char* op = op_name.c_str();
    const char* c_name = op_name == "matmul" ? "out" : "c";
    DeviceArray a = require_float(op, "a", a_h);
    DeviceArray b = require_float(op, "b", b_h);
    require_same_dtype(op, "a", a, "b", b);
    Operand oa = describe(op, "a", a, trans_a);
    Operand ob = describe(op, "b", b, trans_b);
    auto shapes = [&] {
        return "a has shape " + shape_str(a.shape) + (trans_a ? " (transposed)" : "") + " and b has shape " +
               shape_str(b.shape) + (trans_b ? " (transposed)" : "");
    };
    if (oa.cols != ob.rows) {
        throw py::value_error(op_prefix(op) + "inner dimensions do not match: " + shapes() + " (" +
                              std::to_string(oa.cols) + " != " + std::to_string(ob.rows) + ")");
    }
    if (oa.batch != ob.batch && oa.batch != 1 && ob.batch != 1) {
        throw py::value_error(op_prefix(op) + "batch dimensions do not broadcast: " + shapes());
    }
    const int64_t batch = oa.batch == 1 ? ob.batch : oa.batch;
    const int64_t M = oa.rows, N = ob.cols, K = oa.cols;
    std::vector<int64_t> shape{M, N};
    if (a.shape.size() == 3 || b.shape.size() == 3) shape.insert(shape.begin(), batch);
    DeviceArray c;
    if (c_h.is_none()) {
        if (beta != 0.0) {
            throw py::value_error(op_prefix(op) + "beta=" + std::to_string(beta) + " needs an array c to scale");
        }
        c = new_device_array(op, shape, a.dtype);
    } else {
        c = require_device(op, c_name, c_h);
        if (c.dtype != a.dtype) {
            throw py::type_error(op_prefix(op) + c_name + " has dtype " + dtype_name(c.dtype) + ", expected " +
                                 dtype_name(a.dtype) + " to match the inputs");
        }
        if (c.shape != shape) {
            throw py::value_error(op_prefix(op) + c_name + " has shape " + shape_str(c.shape) + ", expected " +
                                  shape_str(shape));
        }
        // An input sharing the output's memory is read from a private copy.
        if (c.nbytes() > 0 && a.block == c.block) a = copy_of(a, op);
        if (c.nbytes() > 0 && b.block == c.block) b = copy_of(b, op);
    }
    if (oa.batch == 1) oa.bs = 0;  // broadcast along the batch
    if (ob.batch == 1) ob.bs = 0;
    const int64_t cbs = shape.size() == 3 ? M * N : 0;
    dispatch(a, [&](auto tag) {
        using T = decltype(tag);
        StridedMatrix<const T> A{a.ptr<T>(), oa.bs, oa.rs, oa.cs};
        StridedMatrix<const T> B{b.ptr<T>(), ob.bs, ob.rs, ob.cs};
        StridedMatrix<T> C{c.ptr<T>(), cbs, N, 1};
        if (reference) fc::gemm_ref<T>(op, batch, M, N, K, T(alpha), A, B, T(beta), C);
        else fc::gemm<T>(op, batch, M, N, K, T(alpha), A, B, T(beta), C);
    });
    return py::cast(c);
}

// ---- conv2d ----

DeviceArray conv2d_forward_binding(py::handle x_h, py::handle w_h, py::handle b_h, int64_t sh, int64_t sw, int64_t pt,
                                   int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw, int64_t groups) {
    const char* op = "conv2d";
    DeviceArray x = require_float(op, "input", x_h);
    DeviceArray w = require_float(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    std::optional<DeviceArray> b = optional_like(op, "bias", b_h, x);
    const Conv2dShape s = conv2d_shape(op, x.shape, w.shape, sh, sw, pt, pb, pl, pr, dh, dw, groups);
    if (b && b->shape != std::vector<int64_t>{s.OC}) {
        throw py::value_error(op_prefix(op) + "bias has shape " + shape_str(b->shape) + ", expected (" +
                              std::to_string(s.OC) + ",)");
    }
    DeviceArray out = new_device_array(op, {s.N, s.OC, s.OH, s.OW}, x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::conv2d_forward<T>(out.ptr<T>(), x.ptr<T>(), w.ptr<T>(), opt_ptr<T>(b), s);
    });
    return out;
}

py::tuple conv2d_backward_binding(py::handle dy_h, py::handle x_h, py::handle w_h, int64_t sh, int64_t sw, int64_t pt,
                                  int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw, int64_t groups,
                                  bool need_input, bool need_weight, bool need_bias) {
    const char* op = "conv2d_backward";
    DeviceArray dy = require_float(op, "grad_output", dy_h);
    DeviceArray x = require_float(op, "input", x_h);
    DeviceArray w = require_float(op, "weight", w_h);
    require_same_dtype(op, "input", x, "weight", w);
    require_same_dtype(op, "input", x, "grad_output", dy);
    const Conv2dShape s = conv2d_shape(op, x.shape, w.shape, sh, sw, pt, pb, pl, pr, dh, dw, groups);
    const std::vector<int64_t> out_shape{s.N, s.OC, s.OH, s.OW};
    if (dy.shape != out_shape) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(dy.shape) + ", expected " +
                              shape_str(out_shape) + " (the output shape for input " + shape_str(x.shape) +
                              " and weight " + shape_str(w.shape) + ")");
    }
    std::optional<DeviceArray> dx, dwt, db;
    if (need_input) dx = new_device_array(op, x.shape, x.dtype);
    if (need_weight) dwt = new_device_array(op, w.shape, x.dtype);
    if (need_bias) db = new_device_array(op, {s.OC}, x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::conv2d_backward<T>(opt_ptr<T>(dx), opt_ptr<T>(dwt), opt_ptr<T>(db), dy.ptr<T>(), x.ptr<T>(), w.ptr<T>(), s);
    });
    auto obj = [](const std::optional<DeviceArray>& a) { return a ? py::cast(*a) : py::none(); };
    return py::make_tuple(obj(dx), obj(dwt), obj(db));
}

// ---- pool ----

std::vector<int64_t> shape_arg(const char* op, py::handle h) {
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

// grad_output whose leading dimensions match input_shape's.
DeviceArray pool_grad_lead(const char* op, py::handle h, const std::vector<int64_t>& input_shape, const PoolShape& s) {
    DeviceArray go = require_float(op, "grad_output", h);
    if (go.shape.size() != input_shape.size() || !std::equal(s.lead.begin(), s.lead.end(), go.shape.begin())) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(go.shape) +
                              ", which does not match input_shape " + shape_str(input_shape) +
                              " in its leading dimensions");
    }
    return go;
}

py::object max_pool2d_binding(py::handle x_h, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                              int64_t dh, int64_t dw, bool ceil_mode, bool return_indices) {
    const char* op = "max_pool2d";
    DeviceArray x = require_float(op, "input", x_h);
    const PoolShape s = pool_shape(op, "input", x.shape);
    const PoolGeometry g = pool_geometry(op, s, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode);
    const std::vector<int64_t> oshape = pool_out_shape(s.lead, g.OH, g.OW);
    DeviceArray out = new_device_array(op, oshape, x.dtype);
    std::optional<DeviceArray> ind;
    if (return_indices) ind = new_device_array(op, oshape, DType::i64);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::max_pool2d_forward<T>(out.ptr<T>(), opt_ptr<int64_t>(ind), x.ptr<T>(), g);
    });
    if (return_indices) return py::make_tuple(out, *ind);
    return py::cast(out);
}

DeviceArray max_pool2d_backward_binding(py::handle go_h, py::handle ind_h, py::handle shape_h) {
    const char* op = "max_pool2d_backward";
    const std::vector<int64_t> input_shape = shape_arg(op, shape_h);
    const PoolShape s = pool_shape(op, "input_shape", input_shape);
    DeviceArray go = pool_grad_lead(op, go_h, input_shape, s);
    DeviceArray ind = require_device(op, "indices", ind_h);
    if (ind.dtype != DType::i64) {
        throw py::type_error(op_prefix(op) + "indices has dtype " + dtype_name(ind.dtype) + ", expected int64");
    }
    if (ind.shape != go.shape) {
        throw py::value_error(op_prefix(op) + "indices has shape " + shape_str(ind.shape) +
                              " but grad_output has shape " + shape_str(go.shape));
    }
    const int64_t OH = go.shape[go.shape.size() - 2], OW = go.shape.back();
    DeviceArray dx = new_device_array(op, input_shape, go.dtype);
    bool ok = true;
    dispatch(go, [&](auto tag) {
        using T = decltype(tag);
        ok = fc::max_pool2d_backward<T>(dx.ptr<T>(), go.ptr<T>(), ind.ptr<int64_t>(), s.P, s.H, s.W, OH, OW);
    });
    if (!ok) {
        throw py::index_error(op_prefix(op) + "indices holds a value outside [0, " + std::to_string(s.H * s.W) +
                              ") for input planes of " + pool_pair_str(s.H, s.W));
    }
    return dx;
}

DeviceArray avg_pool2d_binding(py::handle x_h, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                               bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
    const char* op = "avg_pool2d";
    DeviceArray x = require_float(op, "input", x_h);
    const PoolShape s = pool_shape(op, "input", x.shape);
    if (divisor_override < 0) throw py::value_error(op_prefix(op) + "divisor_override must be positive");
    const PoolGeometry g = pool_geometry(op, s, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode);
    DeviceArray out = new_device_array(op, pool_out_shape(s.lead, g.OH, g.OW), x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::avg_pool2d_forward<T>(out.ptr<T>(), x.ptr<T>(), g, count_include_pad, divisor_override);
    });
    return out;
}

DeviceArray avg_pool2d_backward_binding(py::handle go_h, py::handle shape_h, int64_t kh, int64_t kw, int64_t sh,
                                        int64_t sw, int64_t ph, int64_t pw, bool ceil_mode, bool count_include_pad,
                                        int64_t divisor_override) {
    const char* op = "avg_pool2d_backward";
    const std::vector<int64_t> input_shape = shape_arg(op, shape_h);
    const PoolShape s = pool_shape(op, "input_shape", input_shape);
    if (divisor_override < 0) throw py::value_error(op_prefix(op) + "divisor_override must be positive");
    const PoolGeometry g = pool_geometry(op, s, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode);
    DeviceArray go = require_float(op, "grad_output", go_h);
    const std::vector<int64_t> expected = pool_out_shape(s.lead, g.OH, g.OW);
    if (go.shape != expected) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(go.shape) + ", expected " +
                              shape_str(expected));
    }
    DeviceArray dx = new_device_array(op, input_shape, go.dtype);
    dispatch(go, [&](auto tag) {
        using T = decltype(tag);
        fc::avg_pool2d_backward<T>(dx.ptr<T>(), go.ptr<T>(), g, count_include_pad, divisor_override);
    });
    return dx;
}

DeviceArray adaptive_avg_pool2d_binding(py::handle x_h, int64_t oh, int64_t ow) {
    const char* op = "adaptive_avg_pool2d";
    DeviceArray x = require_float(op, "input", x_h);
    const PoolShape s = pool_shape(op, "input", x.shape);
    if (oh < 0 || ow < 0) {
        throw py::value_error(op_prefix(op) + "output_size must be non-negative, got " + pool_pair_str(oh, ow));
    }
    DeviceArray out = new_device_array(op, pool_out_shape(s.lead, oh, ow), x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::adaptive_avg_pool2d_forward<T>(out.ptr<T>(), x.ptr<T>(), s.P, s.H, s.W, oh, ow);
    });
    return out;
}

DeviceArray adaptive_avg_pool2d_backward_binding(py::handle go_h, py::handle shape_h) {
    const char* op = "adaptive_avg_pool2d_backward";
    const std::vector<int64_t> input_shape = shape_arg(op, shape_h);
    const PoolShape s = pool_shape(op, "input_shape", input_shape);
    DeviceArray go = pool_grad_lead(op, go_h, input_shape, s);
    const int64_t oh = go.shape[go.shape.size() - 2], ow = go.shape.back();
    DeviceArray dx = new_device_array(op, input_shape, go.dtype);
    dispatch(go, [&](auto tag) {
        using T = decltype(tag);
        fc::adaptive_avg_pool2d_backward<T>(dx.ptr<T>(), go.ptr<T>(), s.P, s.H, s.W, oh, ow);
    });
    return dx;
}

// ---- norm ----

// A running statistic: None, or a (C,) array of x's dtype updated in place.
std::optional<DeviceArray> running_stat(const char* op, const char* name, py::handle h, const DeviceArray& x,
                                        int64_t C) {
    if (h.is_none()) return std::nullopt;
    DeviceArray a = require_device(op, name, h);
    if (a.dtype != x.dtype) {
        throw py::type_error(op_prefix(op) + name + " (shape " + shape_str(a.shape) + ") has dtype " +
                             dtype_name(a.dtype) + ", expected " + dtype_name(x.dtype) +
                             "; it is updated in place and cannot be converted");
    }
    if (a.shape != std::vector<int64_t>{C}) {
        throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(a.shape) + " but input has " +
                              std::to_string(C) + " channels; expected (" + std::to_string(C) + ",)");
    }
    return a;
}

py::tuple batch_norm_binding(py::handle x_h, py::handle rm_h, py::handle rv_h, py::handle w_h, py::handle b_h,
                             bool training, double momentum, double eps) {
    const char* op = "batch_norm";
    DeviceArray x = require_float(op, "input", x_h);
    const auto [N, C, L] = norm_ncl(op, "input", x.shape);
    std::optional<DeviceArray> rm = running_stat(op, "running_mean", rm_h, x, C);
    std::optional<DeviceArray> rv = running_stat(op, "running_var", rv_h, x, C);
    std::optional<DeviceArray> w = channel_param(op, "weight", w_h, x, C);
    std::optional<DeviceArray> b = channel_param(op, "bias", b_h, x, C);
    if (!training && (!rm || !rv)) {
        throw py::value_error(op_prefix(op) + "running_mean and running_var must be given in evaluation mode "
                              "(training=False)");
    }
    if (training && N * L == 1) {
        throw py::value_error(op_prefix(op) + "Expected more than 1 value per channel when training, got input "
                              "size " + shape_str(x.shape));
    }
    if (rm && rv && C > 0 && rm->block == rv->block) {
        throw py::value_error(op_prefix(op) + "running_mean and running_var must be different arrays");
    }
    DeviceArray out = new_device_array(op, x.shape, x.dtype);
    DeviceArray save_mean = new_device_array(op, {C}, x.dtype), save_invstd = new_device_array(op, {C}, x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::batch_norm_forward<T>(out.ptr<T>(), save_mean.ptr<T>(), save_invstd.ptr<T>(), opt_ptr<T>(rm), opt_ptr<T>(rv),
                                  x.ptr<T>(), opt_ptr<T>(w), opt_ptr<T>(b), N, C, L, training, momentum, eps);
    });
    return py::make_tuple(out, save_mean, save_invstd);
}

py::tuple batch_norm_backward_binding(py::handle g_h, py::handle x_h, py::handle w_h, py::handle sm_h, py::handle si_h,
                                      bool training, bool need_input, bool need_weight, bool need_bias) {
    const char* op = "batch_norm_backward";
    DeviceArray x = require_float(op, "input", x_h);
    const auto [N, C, L] = norm_ncl(op, "input", x.shape);
    DeviceArray g = require_float(op, "grad_output", g_h);
    require_same_dtype(op, "input", x, "grad_output", g);
    if (g.shape != x.shape) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(g.shape) + " but input has shape " +
                              shape_str(x.shape));
    }
    std::optional<DeviceArray> w = channel_param(op, "weight", w_h, x, C);
    if (sm_h.is_none() || si_h.is_none()) {
        throw py::value_error(op_prefix(op) + "save_mean and save_invstd are required");
    }
    std::optional<DeviceArray> sm = channel_param(op, "save_mean", sm_h, x, C);
    std::optional<DeviceArray> si = channel_param(op, "save_invstd", si_h, x, C);
    std::optional<DeviceArray> dx, dw, db;
    if (need_input) dx = new_device_array(op, x.shape, x.dtype);
    if (need_weight) dw = new_device_array(op, {C}, x.dtype);
    if (need_bias) db = new_device_array(op, {C}, x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::batch_norm_backward<T>(opt_ptr<T>(dx), opt_ptr<T>(dw), opt_ptr<T>(db), g.ptr<T>(), x.ptr<T>(), opt_ptr<T>(w),
                                   opt_ptr<T>(sm), opt_ptr<T>(si), N, C, L, training);
    });
    auto obj = [](const std::optional<DeviceArray>& a) { return a ? py::cast(*a) : py::none(); };
    return py::make_tuple(obj(dx), obj(dw), obj(db));
}

// ---- dropout ----

DeviceArray dropout_binding(const std::string& op_name, py::handle x_h, py::handle out_h, double p, uint64_t seed,
                            uint64_t offset) {
    const char* op = op_name.c_str();
    const char* name = op_name == "dropout" ? "input" : "grad_output";
    DeviceArray x = require_float(op, name, x_h);
    const int64_t n = x.size();
    const uint64_t threshold = dropout_threshold(op, p, n, offset);
    const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
    DeviceArray out;
    if (out_h.is_none()) {
        out = new_device_array(op, x.shape, x.dtype);
    } else {
        out = require_device(op, "out", out_h);
        if (out.block != x.block || out.shape != x.shape) {
            throw py::value_error(op_prefix(op) + "out must be the input itself (in place) or None");
        }
    }
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::dropout_forward<T>(out.ptr<T>(), x.ptr<T>(), n, threshold, T(scale), seed, offset);
    });
    return out;
}

// ---- activation ----

py::object unary_forward(const char* op, fc::Activation act, py::handle x_h, bool inplace, double p0, double p1) {
    DeviceArray x = require_float(op, "input", x_h);
    DeviceArray out = inplace ? x : new_device_array(op, x.shape, x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::activation_forward<T>(act, out.ptr<T>(), x.ptr<T>(), x.size(), p0, p1);
    });
    return inplace ? py::reinterpret_borrow<py::object>(x_h) : py::cast(out);
}

// grad_output and the saved input or output: one dtype, one shape.
DeviceArray unary_backward(const char* op, fc::Activation act, py::handle g_h, const char* saved_name, py::handle s_h,
                           double p0, double p1) {
    DeviceArray g = require_float(op, "grad_output", g_h);
    DeviceArray s = require_float(op, saved_name, s_h);
    require_same_dtype(op, "grad_output", g, saved_name, s);
    require_same_shape(op, "grad_output", g, saved_name, s);
    DeviceArray d = new_device_array(op, g.shape, g.dtype);
    dispatch(g, [&](auto tag) {
        using T = decltype(tag);
        fc::activation_backward<T>(act, d.ptr<T>(), g.ptr<T>(), s.ptr<T>(), g.size(), p0, p1);
    });
    return d;
}

DeviceArray softmax_binding(const char* op, bool log, py::handle x_h, int64_t dim) {
    DeviceArray x = require_float(op, "input", x_h);
    const std::vector<int64_t> od = split_at_dim(op, x.shape, dim);
    DeviceArray out = new_device_array(op, x.shape, x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::softmax_forward<T>(log, out.ptr<T>(), x.ptr<T>(), od[0], od[1], od[2]);
    });
    return out;
}

DeviceArray softmax_backward_binding(const char* op, bool log, py::handle g_h, py::handle y_h, int64_t dim) {
    DeviceArray g = require_float(op, "grad_output", g_h);
    DeviceArray y = require_float(op, "output", y_h);
    require_same_dtype(op, "grad_output", g, "output", y);
    require_same_shape(op, "grad_output", g, "output", y);
    const std::vector<int64_t> od = split_at_dim(op, g.shape, dim);
    DeviceArray d = new_device_array(op, g.shape, g.dtype);
    dispatch(g, [&](auto tag) {
        using T = decltype(tag);
        fc::softmax_backward<T>(log, d.ptr<T>(), g.ptr<T>(), y.ptr<T>(), od[0], od[1], od[2]);
    });
    return d;
}

void bind_activation(py::module_& m) {
    using A = fc::Activation;
    m.def("relu", [](py::handle x, bool inplace) { return unary_forward("relu", A::relu, x, inplace, 0, 0); },
          py::arg("input"), py::arg("inplace"));
    m.def("relu_backward", [](py::handle g, py::handle x) {
        return unary_backward("relu_backward", A::relu, g, "input", x, 0, 0);
    }, py::arg("grad_output"), py::arg("input"));
    m.def("leaky_relu", [](py::handle x, double slope, bool inplace) {
        return unary_forward("leaky_relu", A::leaky_relu, x, inplace, slope, 0);
    }, py::arg("input"), py::arg("negative_slope"), py::arg("inplace"));
    m.def("leaky_relu_backward", [](py::handle g, py::handle x, double slope) {
        return unary_backward("leaky_relu_backward", A::leaky_relu, g, "input", x, slope, 0);
    }, py::arg("grad_output"), py::arg("input"), py::arg("negative_slope"));
    m.def("elu", [](py::handle x, double alpha, bool inplace) {
        return unary_forward("elu", A::elu, x, inplace, alpha, 0);
    }, py::arg("input"), py::arg("alpha"), py::arg("inplace"));
    m.def("elu_backward", [](py::handle g, py::handle x, double alpha) {
        return unary_backward("elu_backward", A::elu, g, "input", x, alpha, 0);
    }, py::arg("grad_output"), py::arg("input"), py::arg("alpha"));
    m.def("gelu", [](py::handle x, bool approx_tanh) {
        return unary_forward("gelu", approx_tanh ? A::gelu_tanh : A::gelu, x, false, 0, 0);
    }, py::arg("input"), py::arg("approx_tanh"));
    m.def("gelu_backward", [](py::handle g, py::handle x, bool approx_tanh) {
        return unary_backward("gelu_backward", approx_tanh ? A::gelu_tanh : A::gelu, g, "input", x, 0, 0);
    }, py::arg("grad_output"), py::arg("input"), py::arg("approx_tanh"));
    m.def("sigmoid", [](py::handle x) { return unary_forward("sigmoid", A::sigmoid, x, false, 0, 0); },
          py::arg("input"));
    m.def("sigmoid_backward", [](py::handle g, py::handle y) {
        return unary_backward("sigmoid_backward", A::sigmoid, g, "output", y, 0, 0);
    }, py::arg("grad_output"), py::arg("output"));
    m.def("tanh", [](py::handle x) { return unary_forward("tanh", A::tanh, x, false, 0, 0); }, py::arg("input"));
    m.def("tanh_backward", [](py::handle g, py::handle y) {
        return unary_backward("tanh_backward", A::tanh, g, "output", y, 0, 0);
    }, py::arg("grad_output"), py::arg("output"));
    m.def("softplus", [](py::handle x, double beta, double threshold) {
        return unary_forward("softplus", A::softplus, x, false, beta, threshold);
    }, py::arg("input"), py::arg("beta"), py::arg("threshold"));
    m.def("softplus_backward", [](py::handle g, py::handle x, double beta, double threshold) {
        return unary_backward("softplus_backward", A::softplus, g, "input", x, beta, threshold);
    }, py::arg("grad_output"), py::arg("input"), py::arg("beta"), py::arg("threshold"));
    m.def("softmax", [](py::handle x, int64_t dim) { return softmax_binding("softmax", false, x, dim); },
          py::arg("input"), py::arg("dim"));
    m.def("softmax_backward", [](py::handle g, py::handle y, int64_t dim) {
        return softmax_backward_binding("softmax_backward", false, g, y, dim);
    }, py::arg("grad_output"), py::arg("output"), py::arg("dim"));
    m.def("log_softmax", [](py::handle x, int64_t dim) { return softmax_binding("log_softmax", true, x, dim); },
          py::arg("input"), py::arg("dim"));
    m.def("log_softmax_backward", [](py::handle g, py::handle y, int64_t dim) {
        return softmax_backward_binding("log_softmax_backward", true, g, y, dim);
    }, py::arg("grad_output"), py::arg("output"), py::arg("dim"));
}

// ---- softmax_xent ----

// grad_output: shaped like the per-sample loss for None, 0-d for Mean and Sum.
DeviceArray check_grad_output(const char* op, py::handle g_h, const DeviceArray& x, Reduction r,
                              const std::vector<int64_t>& none_shape) {
    DeviceArray g = require_float(op, "grad_output", g_h);
    require_same_dtype(op, "input", x, "grad_output", g);
    const std::vector<int64_t> want = r == Reduction::None ? none_shape : std::vector<int64_t>{};
    if (g.shape != want) {
        throw py::value_error(op_prefix(op) + "grad_output has shape " + shape_str(g.shape) + ", expected " +
                              shape_str(want) + (r == Reduction::None ? " (the per-sample loss)" : " (a 0-d array)"));
    }
    return g;
}

// Class-index targets: an int64 DeviceArray, or an int64 ndarray (checked, then copied to
// the device), shaped like the per-sample loss. Every value is checked on the host, in
// [0, C) or equal to ignore_index (IndexError naming the first bad one), before any kernel.
DeviceArray check_class_target(const char* op, py::handle t_h, const ClassView& v, int64_t ignore_index) {
    auto check_shape = [&](const std::vector<int64_t>& shape) {
        if (shape != v.sample_shape) {
            throw py::value_error(op_prefix(op) + "target has shape " + shape_str(shape) + ", expected " +
                                  shape_str(v.sample_shape) + " for class indices");
        }
    };
    if (py::isinstance<py::array>(t_h)) {
        py::array host = py::reinterpret_borrow<py::array>(t_h);
        if (!host.dtype().equal(py::dtype::of<int64_t>())) {
            throw py::type_error(op_prefix(op) + "class-index target must be int64, got " +
                                 std::string(py::str(host.dtype())));
        }
        check_shape(std::vector<int64_t>(host.shape(), host.shape() + host.ndim()));
        host = py::module_::import("numpy").attr("ascontiguousarray")(host);
        check_class_indices(op, static_cast<const int64_t*>(host.data()), host.size(), v.C, ignore_index);
        return from_numpy(host);
    }
    DeviceArray t = require_device(op, "target", t_h);
    if (t.dtype != DType::i64) {
        throw py::type_error(op_prefix(op) + "class-index target must be int64, got " + dtype_name(t.dtype));
    }
    check_shape(t.shape);
    const py::array host = to_numpy(t);  // read back for the check
    check_class_indices(op, static_cast<const int64_t*>(host.data()), host.size(), v.C, ignore_index);
    return t;
}

DeviceArray xent_class(const char* op, py::handle g_h, py::handle x_h, py::handle t_h, py::handle w_h,
                       int64_t ignore_index, int red, double eps) {
    const Reduction r = reduction_from(op, red);
    DeviceArray x = require_float(op, "input", x_h);
    const ClassView v = class_view(op, x.shape);
    DeviceArray t = check_class_target(op, t_h, v, ignore_index);
    std::optional<DeviceArray> w = optional_like(op, "weight", w_h, x);
    if (w && w->shape != std::vector<int64_t>{v.C}) {
        throw py::value_error(op_prefix(op) + "weight has shape " + shape_str(w->shape) + ", expected (" +
                              std::to_string(v.C) + ",): one weight per class");
    }
    const bool backward = !g_h.is_none();
    DeviceArray g;
    if (backward) g = check_grad_output(op, g_h, x, r, v.sample_shape);
    DeviceArray out = new_device_array(op, backward ? x.shape : (r == Reduction::None ? v.sample_shape : std::vector<int64_t>{}),
                                       x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        if (backward)
            fc::cross_entropy_backward<T>(out.ptr<T>(), g.ptr<T>(), x.ptr<T>(), t.ptr<int64_t>(), opt_ptr<T>(w), v.N, v.C,
                                          v.inner, ignore_index, eps, r);
        else
            fc::cross_entropy_forward<T>(out.ptr<T>(), x.ptr<T>(), t.ptr<int64_t>(), opt_ptr<T>(w), v.N, v.C, v.inner,
                                         ignore_index, eps, r);
    });
    return out;
}

DeviceArray xent_prob(const char* op, py::handle g_h, py::handle x_h, py::handle t_h, py::handle w_h, int red,
                      double eps) {
    const Reduction r = reduction_from(op, red);
    DeviceArray x = require_float(op, "input", x_h);
    const ClassView v = class_view(op, x.shape);
    DeviceArray t = require_float(op, "target", t_h);
    require_same_dtype(op, "input", x, "target", t);
    if (t.shape != x.shape) {
        throw py::value_error(op_prefix(op) + "class-probability target has shape " + shape_str(t.shape) +
                              " but input has shape " + shape_str(x.shape));
    }
    std::optional<DeviceArray> w = optional_like(op, "weight", w_h, x);
    if (w && w->shape != std::vector<int64_t>{v.C}) {
        throw py::value_error(op_prefix(op) + "weight has shape " + shape_str(w->shape) + ", expected (" +
                              std::to_string(v.C) + ",): one weight per class");
    }
    const bool backward = !g_h.is_none();
    DeviceArray g;
    if (backward) g = check_grad_output(op, g_h, x, r, v.sample_shape);
    DeviceArray out = new_device_array(op, backward ? x.shape : (r == Reduction::None ? v.sample_shape : std::vector<int64_t>{}),
                                       x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        if (backward)
            fc::cross_entropy_prob_backward<T>(out.ptr<T>(), g.ptr<T>(), x.ptr<T>(), t.ptr<T>(), opt_ptr<T>(w), v.N, v.C,
                                               v.inner, eps, r);
        else
            fc::cross_entropy_prob_forward<T>(out.ptr<T>(), x.ptr<T>(), t.ptr<T>(), opt_ptr<T>(w), v.N, v.C, v.inner, eps, r);
    });
    return out;
}

// ---- optim ----

struct OptimStateArg {
    const char* name;
    py::handle list;
    bool used;
};

// Validated arguments of a list update, and the arrays they point into (kept alive).
struct OptimArgs {
    std::vector<OptimTensor> tensors;
    std::vector<DeviceArray> keep;
};

// Every array of every list checked before anything is written: equal list lengths;
// params and used state float DeviceArrays; each state and grad of its param's shape
// (ValueError) and dtype (TypeError); no two written arrays sharing a block (ValueError).
// A grad sharing a block with a written array is read from a copy.
OptimArgs optim_args(const char* op, py::handle params_h, py::handle grads_h, std::initializer_list<OptimStateArg> states) {
    const char* what = "fastnn.cuda.DeviceArray";
    const OptimSeq params = optim_seq(op, "params", params_h, what);
    const OptimSeq grads = optim_seq(op, "grads", grads_h, what);
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
        seqs.push_back(optim_seq(op, s.name, s.list, what));
        if (seqs.back().size != n) throw length_error(s.name, seqs.back().size);
    }
    OptimArgs args;
    args.tensors.resize(n);
    std::vector<std::pair<const fc::DeviceBlock*, std::string>> written;  // non-empty written blocks
    std::vector<DeviceArray> grad_arrays(n);
    for (size_t i = 0; i < n; ++i) {
        const std::string pname = optim_item("params", i);
        DeviceArray p = require_float(op, pname.c_str(), params.items[i]);
        const std::string gname = optim_item("grads", i);
        DeviceArray g = require_float(op, gname.c_str(), grads.items[i]);
        require_same_dtype(op, pname.c_str(), p, gname.c_str(), g);
        auto check_shape = [&](const DeviceArray& a, const std::string& name) {
            if (a.shape != p.shape) {
                throw py::value_error(op_prefix(op) + name + " has shape " + shape_str(a.shape) + " but " + pname +
                                      " has shape " + shape_str(p.shape));
            }
        };
        check_shape(g, gname);
        OptimTensor& t = args.tensors[i];
        t.n = p.size();
        t.f64 = p.dtype == DType::f64;
        t.param = p.data();
        if (t.n) written.emplace_back(p.block.get(), pname);
        size_t k = 0;
        for (const OptimStateArg& s : states) {
            if (s.used) {
                const std::string sname = optim_item(s.name, i);
                DeviceArray a = require_device(op, sname.c_str(), seqs[k].items[i]);
                if (a.dtype != p.dtype) {
                    throw py::type_error(op_prefix(op) + sname + " (shape " + shape_str(a.shape) + ") has dtype " +
                                         dtype_name(a.dtype) + ", expected " + dtype_name(p.dtype) +
                                         "; it is updated in place and cannot be converted");
                }
                check_shape(a, sname);
                t.state[k] = a.data();
                if (t.n) written.emplace_back(a.block.get(), sname);
                args.keep.push_back(std::move(a));
            }
            ++k;
        }
        args.keep.push_back(std::move(p));
        grad_arrays[i] = std::move(g);
    }
    std::sort(written.begin(), written.end());
    for (size_t j = 1; j < written.size(); ++j) {
        if (written[j].first == written[j - 1].first) {
            throw py::value_error(op_prefix(op) + written[j - 1].second + " and " + written[j].second +
                                  " share memory; every parameter and state array is updated in place "
                                  "and must be distinct");
        }
    }
    for (size_t i = 0; i < n; ++i) {
        DeviceArray& g = grad_arrays[i];
        const fc::DeviceBlock* gb = g.block.get();
        const bool shared = g.size() > 0 && std::any_of(written.begin(), written.end(),
                                                        [&](const auto& w) { return w.first == gb; });
        if (shared) g = copy_of(g, op);
        args.tensors[i].grad = g.data();
        args.keep.push_back(std::move(g));
    }
    return args;
}

void bind_optim(py::module_& m) {
    m.def("sgd_step_", [](py::handle params, py::handle grads, py::handle bufs, double lr, double momentum,
                          double dampening, double weight_decay, bool nesterov, bool maximize, py::handle first_step) {
        const char* op = "sgd_step_";
        const SgdOptions o = sgd_options(op, lr, momentum, dampening, weight_decay, nesterov, maximize);
        OptimArgs args = optim_args(op, params, grads, {{"momentum_buffers", bufs, momentum != 0}});
        optim_first_steps(op, first_step, args.tensors);
        fc::sgd_step(args.tensors, o);
    }, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("lr"), py::arg("momentum"),
       py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"), py::arg("first_step"));
    m.def("adam_step_", [](py::handle params, py::handle grads, py::handle m1, py::handle m2, py::handle vmax,
                           py::handle steps, double lr, double beta1, double beta2, double eps, double weight_decay,
                           bool amsgrad, bool maximize, bool decoupled) {
        const char* op = "adam_step_";
        const AdamOptions o = adam_options(op, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled);
        OptimArgs args = optim_args(op, params, grads, {{"exp_avgs", m1, true}, {"exp_avg_sqs", m2, true},
                                                        {"max_exp_avg_sqs", vmax, amsgrad}});
        optim_steps(op, steps, args.tensors);
        fc::adam_step(args.tensors, o);
    }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
       py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
       py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"));
    m.def("rmsprop_step_", [](py::handle params, py::handle grads, py::handle sq, py::handle ga, py::handle bufs,
                              double lr, double alpha, double eps, double weight_decay, double momentum, bool centered,
                              bool maximize) {
        const char* op = "rmsprop_step_";
        const RmspropOptions o = rmsprop_options(op, lr, alpha, eps, weight_decay, momentum, centered, maximize);
        OptimArgs args = optim_args(op, params, grads, {{"square_avgs", sq, true}, {"grad_avgs", ga, centered},
                                                        {"momentum_buffers", bufs, momentum > 0}});
        fc::rmsprop_step(args.tensors, o);
    }, py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("grad_avgs"), py::arg("momentum_buffers"),
       py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
       py::arg("centered"), py::arg("maximize"));
    m.def("adagrad_step_", [](py::handle params, py::handle grads, py::handle sums, py::handle steps, double lr,
                              double lr_decay, double weight_decay, double eps, bool maximize) {
        const char* op = "adagrad_step_";
        const AdagradOptions o = adagrad_options(op, lr, lr_decay, weight_decay, eps, maximize);
        OptimArgs args = optim_args(op, params, grads, {{"state_sums", sums, true}});
        optim_steps(op, steps, args.tensors);
        fc::adagrad_step(args.tensors, o);
    }, py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("steps"), py::arg("lr"), py::arg("lr_decay"),
       py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"));
}

// ---- elementwise ----

DeviceArray binary_binding(const std::string& name, py::handle a_h, py::handle b_h) {
    const char* op = name.c_str();
    fc::BinaryOp bop;
    if (name == "add") bop = fc::BinaryOp::add;
    else if (name == "sub") bop = fc::BinaryOp::sub;
    else if (name == "mul") bop = fc::BinaryOp::mul;
    else if (name == "div") bop = fc::BinaryOp::div;
    else throw py::value_error("[binary] unknown op '" + name + "'");
    DeviceArray a = require_float(op, "a", a_h);
    DeviceArray b = require_float(op, "b", b_h);
    require_same_dtype(op, "a", a, "b", b);
    // NumPy's broadcasting: align the shapes at the right; each pair equal or one of them 1.
    const size_t nd = std::max(a.shape.size(), b.shape.size());
    if (nd > size_t(fc::kMaxDims)) {
        throw py::value_error(op_prefix(op) + "at most " + std::to_string(fc::kMaxDims) + " dimensions are supported");
    }
    fc::BroadcastShape s;
    s.ndim = static_cast<int>(nd);
    std::vector<int64_t> out_shape(nd);
    int64_t sa = 1, sb = 1;  // contiguous strides, built from the last axis
    for (size_t k = 0; k < nd; ++k) {
        const size_t d = nd - 1 - k;
        const int64_t da = k < a.shape.size() ? a.shape[a.shape.size() - 1 - k] : 1;
        const int64_t db = k < b.shape.size() ? b.shape[b.shape.size() - 1 - k] : 1;
        if (da != db && da != 1 && db != 1) {
            throw py::value_error(op_prefix(op) + "shapes " + shape_str(a.shape) + " and " + shape_str(b.shape) +
                                  " do not broadcast");
        }
        out_shape[d] = da == 1 ? db : da;
        s.shape[d] = out_shape[d];
        s.a_stride[d] = da == 1 ? 0 : sa;
        s.b_stride[d] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
    }
    DeviceArray out = new_device_array(op, out_shape, a.dtype);
    dispatch(a, [&](auto tag) {
        using T = decltype(tag);
        fc::binary<T>(bop, out.ptr<T>(), a.ptr<T>(), b.ptr<T>(), s, out.size());
    });
    return out;
}

DeviceArray scale_binding(py::handle x_h, double alpha) {
    DeviceArray x = require_float("scale", "input", x_h);
    DeviceArray out = new_device_array("scale", x.shape, x.dtype);
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::scale<T>(out.ptr<T>(), x.ptr<T>(), T(alpha), x.size());
    });
    return out;
}

// sum or mean over everything (dim None) or along one axis; keepdim keeps it as size 1.
DeviceArray reduce_binding(const std::string& name, py::handle x_h, py::handle dim_h, bool keepdim) {
    const char* op = name.c_str();
    const bool mean = name == "mean";
    DeviceArray x = require_float(op, "input", x_h);
    if (dim_h.is_none()) {
        const int64_t n = x.size();
        std::vector<int64_t> shape = keepdim ? std::vector<int64_t>(x.shape.size(), 1) : std::vector<int64_t>{};
        DeviceArray out = new_device_array(op, shape, x.dtype);
        const double factor = !mean ? 1.0 : n > 0 ? 1.0 / double(n) : std::nan("");  // mean of nothing: NaN
        dispatch(x, [&](auto tag) {
            using T = decltype(tag);
            fc::sum_all<T>(out.ptr<T>(), x.ptr<T>(), n, factor);
        });
        return out;
    }
    if (!py::isinstance<py::int_>(dim_h) || py::isinstance<py::bool_>(dim_h)) {
        throw py::type_error(op_prefix(op) + "dim must be an int or None, got " + type_name(dim_h));
    }
    int64_t dim = dim_h.cast<int64_t>();
    const std::vector<int64_t> od = split_at_dim(op, x.shape, dim);
    if (dim < 0) dim += std::max<int64_t>(int64_t(x.shape.size()), 1);
    std::vector<int64_t> shape = x.shape;
    if (!shape.empty()) {
        if (keepdim) shape[dim] = 1;
        else shape.erase(shape.begin() + dim);
    }
    DeviceArray out = new_device_array(op, shape, x.dtype);
    const double factor = mean ? (od[1] > 0 ? 1.0 / double(od[1]) : std::nan("")) : 1.0;
    dispatch(x, [&](auto tag) {
        using T = decltype(tag);
        fc::sum_dim<T>(out.ptr<T>(), x.ptr<T>(), od[0], od[1], od[2], factor);
    });
    return out;
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
    m.doc() = "fastnn CUDA module (private: use fastnn.cuda)";
    m.attr("cuda_version") = FASTNN_CUDA_VERSION;
    m.attr("architectures") = FASTNN_CUDA_ARCHITECTURES;

    m.def("device_count", []() {
        const int n = query_device_count(nullptr);
        return n < 0 ? 0 : n;
    }, "Number of CUDA devices the runtime can use (0 without a driver or device).");
    m.def("is_available", []() { return query_device_count(nullptr) > 0; },
          "True when at least one CUDA device is usable.");
    m.def("unavailable_reason", []() {
        std::string why;
        const int n = query_device_count(&why);
        return n > 0 ? std::string() : why;
    }, "Why no CUDA device is usable, or an empty string when one is.");
    m.def("device_name", []() {
        ensure_device("device_name");
        cudaDeviceProp prop;
        fc::check(cudaGetDeviceProperties(&prop, 0), "device_name", "cudaGetDeviceProperties");
        return std::string(prop.name) + " (compute capability " + std::to_string(prop.major) + "." +
               std::to_string(prop.minor) + ")";
    });
    m.def("synchronize", []() {
        ensure_device("synchronize");
        py::gil_scoped_release nogil;
        fc::check(cudaDeviceSynchronize(), "synchronize", "cudaDeviceSynchronize");
    }, "Wait for every queued kernel; raises RuntimeError for a fault in any of them.");
    m.def("memory_stats", []() {
        const fc::DeviceCacheStats st = fc::device_cache_stats();
        py::dict d;
        d["allocated_bytes"] = st.allocated_bytes;
        d["allocated_blocks"] = st.allocated_blocks;
        d["cached_bytes"] = st.cached_bytes;
        d["cached_blocks"] = st.cached_blocks;
        d["peak_allocated_bytes"] = st.peak_allocated_bytes;
        d["hits"] = st.hits;
        d["misses"] = st.misses;
        return d;
    });
    m.def("empty_cache", []() { fc::device_empty_cache(); });

    py::class_<DeviceArray>(m, "DeviceArray", "A C-contiguous array in CUDA device memory (see fastnn.cuda).")
        .def_static("from_numpy", &from_numpy, py::arg("array"),
                    "A device copy of a float32, float64 or int64 ndarray (any layout).")
        .def_static("empty", [](std::vector<int64_t> shape, py::handle dtype) {
            return new_device_array("DeviceArray.empty", std::move(shape),
                                    dtype_from_numpy("DeviceArray.empty", py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype))));
        }, py::arg("shape"), py::arg("dtype"))
        .def_static("zeros", [](std::vector<int64_t> shape, py::handle dtype) {
            DeviceArray a = new_device_array("DeviceArray.zeros", std::move(shape),
                                             dtype_from_numpy("DeviceArray.zeros", py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype))));
            if (a.nbytes() > 0) fc::check(cudaMemset(a.data(), 0, static_cast<size_t>(a.nbytes())), "DeviceArray.zeros", "cudaMemset");
            return a;
        }, py::arg("shape"), py::arg("dtype"))
        .def("numpy", &to_numpy, "A host copy as a new numpy.ndarray (waits for queued kernels).")
        .def("copy", [](const DeviceArray& a) { return copy_of(a, "DeviceArray.copy"); })
        .def("reshape", [](const DeviceArray& a, py::args args) {
            std::vector<int64_t> shape;
            if (args.size() == 1 && (py::isinstance<py::tuple>(args[0]) || py::isinstance<py::list>(args[0]))) {
                for (py::handle v : args[0]) shape.push_back(v.cast<int64_t>());
            } else {
                for (py::handle v : args) shape.push_back(v.cast<int64_t>());
            }
            return reshape(a, std::move(shape));
        }, "A view of the same memory with another shape (one entry may be -1).")
        .def_property_readonly("shape", [](const DeviceArray& a) { return shape_tuple(a.shape); })
        .def_property_readonly("dtype", [](const DeviceArray& a) { return numpy_dtype(a.dtype); })
        .def_property_readonly("ndim", [](const DeviceArray& a) { return a.shape.size(); })
        .def_property_readonly("size", &DeviceArray::size)
        .def_property_readonly("nbytes", &DeviceArray::nbytes)
        .def_property_readonly("itemsize", [](const DeviceArray& a) { return itemsize_of(a.dtype); })
        .def_property_readonly("contiguous", [](const DeviceArray&) { return true; })
        .def_property_readonly("device", [](const DeviceArray&) { return 0; })
        .def_property_readonly("data_ptr", [](const DeviceArray& a) { return reinterpret_cast<uintptr_t>(a.data()); })
        .def_property_readonly("__cuda_array_interface__", &cuda_array_interface)
        .def("__dlpack__", [](const DeviceArray& a, py::object stream, py::kwargs) { return to_dlpack(a, stream); },
             py::arg("stream") = py::none())
        .def("__dlpack_device__", [](const DeviceArray&) { return py::make_tuple(2, 0); })
        .def("__len__", [](const DeviceArray& a) {
            if (a.shape.empty()) throw py::type_error("len() of a 0-d DeviceArray");
            return a.shape[0];
        })
        .def("__repr__", [](const DeviceArray& a) {
            return "DeviceArray(shape=" + shape_str(a.shape) + ", dtype=" + dtype_name(a.dtype) + ", device='cuda:0')";
        });

    m.def("gemm", &gemm_binding, py::arg("op"), py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha"),
          py::arg("beta"), py::arg("trans_a"), py::arg("trans_b"), py::arg("reference") = false,
          "C = alpha * op(a) @ op(b) + beta * C over 2-D/3-D device arrays.");
    m.def("conv2d_forward", &conv2d_forward_binding, py::arg("input"), py::arg("weight"), py::arg("bias"),
          py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"), py::arg("pad_left"),
          py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"), py::arg("groups"));
    m.def("conv2d_backward", &conv2d_backward_binding, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
          py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_bottom"), py::arg("pad_left"),
          py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"), py::arg("groups"), py::arg("need_input"),
          py::arg("need_weight"), py::arg("need_bias"));
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
    m.def("batch_norm", &batch_norm_binding, py::arg("input"), py::arg("running_mean"), py::arg("running_var"),
          py::arg("weight"), py::arg("bias"), py::arg("training"), py::arg("momentum"), py::arg("eps"));
    m.def("batch_norm_backward", &batch_norm_backward_binding, py::arg("grad_output"), py::arg("input"),
          py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), py::arg("need_input"),
          py::arg("need_weight"), py::arg("need_bias"));
    m.def("dropout", &dropout_binding, py::arg("op"), py::arg("input"), py::arg("out"), py::arg("p"), py::arg("seed"),
          py::arg("offset"));
    bind_activation(m);
    m.def("cross_entropy", [](const std::string& op, py::handle g, py::handle x, py::handle t, py::handle w,
                              int64_t ignore_index, int red, double eps) {
        return xent_class(op.c_str(), g, x, t, w, ignore_index, red, eps);
    }, py::arg("op"), py::arg("grad_output"), py::arg("input"), py::arg("target"), py::arg("weight"),
       py::arg("ignore_index"), py::arg("reduction"), py::arg("label_smoothing"));
    m.def("cross_entropy_prob", [](const std::string& op, py::handle g, py::handle x, py::handle t, py::handle w,
                                   int red, double eps) {
        return xent_prob(op.c_str(), g, x, t, w, red, eps);
    }, py::arg("op"), py::arg("grad_output"), py::arg("input"), py::arg("target"), py::arg("weight"),
       py::arg("reduction"), py::arg("label_smoothing"));
    bind_optim(m);
    m.def("binary", &binary_binding, py::arg("op"), py::arg("a"), py::arg("b"));
    m.def("scale", &scale_binding, py::arg("input"), py::arg("alpha"));
    m.def("reduce", &reduce_binding, py::arg("op"), py::arg("input"), py::arg("dim"), py::arg("keepdim"));
}
