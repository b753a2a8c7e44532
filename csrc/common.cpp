// Argument checks shared by the bindings (see common.h).
#include "common.h"

#include "memory.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace fastnn {

std::string shape_str(const py::array& a) {
    return shape_str(std::vector<int64_t>(a.shape(), a.shape() + a.ndim()));
}

py::array require_ndarray(const char* op, const char* name, py::handle h) {
    if (!py::isinstance<py::array>(h)) {
        throw py::type_error(std::string("[") + op + "] " + name + " must be a numpy.ndarray, got " +
                             std::string(py::str(py::type::of(h).attr("__name__"))));
    }
    return py::reinterpret_borrow<py::array>(h);
}

void require_float(const char* op, const char* name, const py::array& a) {
    py::dtype dt = a.dtype();
    const char order = dt.byteorder();
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const bool native = order != '<';
#else
    const bool native = order != '>';
#endif
    // NPY_FLOAT and NPY_DOUBLE: the type numbers are part of NumPy's stable ABI.
    if (!native || (dt.num() != 11 && dt.num() != 12)) {
        throw py::type_error(std::string("[") + op + "] " + name + " has unsupported dtype " +
                             std::string(py::str(dt)) + "; expected float32 or float64");
    }
}

bool is_aligned(const py::array& a) {
    const int64_t item = a.itemsize();
    if (reinterpret_cast<std::uintptr_t>(a.data()) % item != 0) return false;
    for (py::ssize_t i = 0; i < a.ndim(); ++i)
        if (a.strides(i) % item != 0) return false;
    return true;
}

std::vector<int64_t> element_strides(const py::array& a) {
    const int64_t item = a.itemsize();
    std::vector<int64_t> s(a.ndim());
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s[i] = a.strides(i) / item;
    return s;
}

bool has_internal_overlap(const py::array& a) {
    std::vector<std::pair<int64_t, int64_t>> dims;  // (|stride| in bytes, size)
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        if (a.shape(i) == 0) return false;
        if (a.shape(i) > 1) dims.emplace_back(std::llabs(a.strides(i)), a.shape(i));
    }
    std::sort(dims.begin(), dims.end());
    int64_t extent = a.itemsize();  // bytes spanned by the dimensions seen so far
    for (auto [stride, n] : dims) {
        if (stride < extent) return true;
        extent += stride * (n - 1);
    }
    return false;
}

namespace {

// [lo, hi) byte span of a non-empty array.
std::pair<std::uintptr_t, std::uintptr_t> byte_span(const py::array& a) {
    auto lo = reinterpret_cast<std::uintptr_t>(a.data());
    auto hi = lo;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        int64_t step = a.strides(i) * (a.shape(i) - 1);
        if (step < 0) lo += step; else hi += step;
    }
    return {lo, hi + a.itemsize()};
}

}  // namespace

bool spans_overlap(const py::array& a, const py::array& b) {
    if (a.size() == 0 || b.size() == 0) return false;
    auto [alo, ahi] = byte_span(a);
    auto [blo, bhi] = byte_span(b);
    return alo < bhi && blo < ahi;
}

py::array require_output(const char* op, const char* name, py::handle h, const py::dtype& dtype,
                         const std::vector<int64_t>& shape) {
    py::array out = require_ndarray(op, name, h);
    auto pre = [&] { return std::string("[") + op + "] " + name + " "; };  // errors only
    if (!out.dtype().equal(dtype)) {
        throw py::type_error(pre() + "has dtype " + std::string(py::str(out.dtype())) + ", expected " +
                             std::string(py::str(dtype)) + " to match the inputs");
    }
    std::vector<int64_t> have(out.shape(), out.shape() + out.ndim());
    if (have != shape) {
        throw py::value_error(pre() + "has shape " + shape_str(have) + ", expected " + shape_str(shape));
    }
    if (!out.writeable()) throw py::value_error(pre() + "is read-only");
    if (!is_aligned(out)) throw py::value_error(pre() + "is not aligned to its element size");
    if (has_internal_overlap(out)) {
        throw py::value_error(pre() + "has overlapping elements (a broadcast or self-overlapping view "
                              "cannot be written)");
    }
    return out;
}

py::array require_float_array(const char* op, const char* name, py::handle h) {
    py::array a = require_ndarray(op, name, h);
    require_float(op, name, a);
    return a;
}

void require_same_dtype(const char* op, const char* name_a, const py::array& a, const char* name_b,
                        const py::array& b) {
    if (!a.dtype().equal(b.dtype())) {
        throw py::type_error(op_prefix(op) + name_a + " has dtype " + std::string(py::str(a.dtype())) +
                             " but " + name_b + " has dtype " + std::string(py::str(b.dtype())) +
                             "; convert one so both match");
    }
}

void require_contiguous(const char* op, const char* name, const py::array& a) {
    if (!(a.flags() & py::array::c_style) || !is_aligned(a)) {
        throw py::value_error(op_prefix(op) + name + " of shape " + shape_str(a) +
                              " must be C-contiguous and aligned");
    }
}

py::array require_state(const char* op, const char* name, py::handle h, const py::dtype& dtype) {
    if (!py::isinstance<py::array>(h)) {
        throw py::type_error(op_prefix(op) + name + " must be a numpy.ndarray updated in place, got " +
                             std::string(py::str(py::type::of(h).attr("__name__"))));
    }
    auto a = py::reinterpret_borrow<py::array>(h);
    auto pre = [&] { return op_prefix(op) + name + " (shape " + shape_str(a) + ") "; };
    if (!a.dtype().equal(dtype)) {
        throw py::type_error(pre() + "has dtype " + std::string(py::str(a.dtype())) + ", expected " +
                             std::string(py::str(dtype)) + "; it is updated in place and cannot be converted");
    }
    if (!(a.flags() & py::array::c_style) || !is_aligned(a)) {
        throw py::type_error(pre() + "must be C-contiguous and aligned; it is updated in place and "
                             "cannot be copied");
    }
    if (!a.writeable()) throw py::type_error(pre() + "is read-only; it is updated in place");
    return a;
}

namespace {

void release_cached_block(PyObject* capsule) {
    void* p = PyCapsule_GetPointer(capsule, nullptr);
    const size_t bytes = reinterpret_cast<size_t>(PyCapsule_GetContext(capsule));
    host_free(p, bytes);
}

}  // namespace

py::array new_array(const py::dtype& dtype, const std::vector<int64_t>& shape) {
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    const size_t bytes = count * static_cast<size_t>(dtype.itemsize());
    if (bytes < kHostCacheMinBytes) return py::array(dtype, shape);
    void* p = host_alloc(bytes);
    PyObject* capsule = PyCapsule_New(p, nullptr, release_cached_block);
    if (!capsule) {
        host_free(p, bytes);
        throw py::error_already_set();
    }
    PyCapsule_SetContext(capsule, reinterpret_cast<void*>(bytes));  // cannot fail on a valid capsule
    // The capsule owns the block; the array keeps the capsule alive as its base.
    return py::array(dtype, shape, p, py::reinterpret_steal<py::object>(capsule));
}

}  // namespace fastnn
