// Argument checks shared by the bindings: every error names the op ("[matmul] ...") and the
// offending shapes or values, and is raised before anything the caller owns is written.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shape_checks.h"  // op_prefix, shape_str of a shape vector

namespace fastnn {

namespace py = pybind11;

// "(2, 3)" for an array's shape.
std::string shape_str(const py::array& a);

// An array's shape as a vector (what shape_checks.h takes).
inline std::vector<int64_t> shape_of(const py::array& a) { return std::vector<int64_t>(a.shape(), a.shape() + a.ndim()); }

// The argument as an ndarray, or TypeError naming op and argument.
py::array require_ndarray(const char* op, const char* name, py::handle h);

// float32 or float64 in native byte order, else TypeError.
void require_float(const char* op, const char* name, const py::array& a);

// True when a's data pointer and strides are multiples of its element size.
bool is_aligned(const py::array& a);

// Element strides of a (bytes / itemsize); a must be aligned.
std::vector<int64_t> element_strides(const py::array& a);

// True when two elements of a share memory (a zero or interleaved stride).
bool has_internal_overlap(const py::array& a);

// True when the memory spans of a and b intersect (both non-empty).
bool spans_overlap(const py::array& a, const py::array& b);

// Checks an array the op writes into: ndarray, dtype equal to `dtype`, shape equal to
// `shape`, writeable, aligned (ValueError), without internal overlap.
py::array require_output(const char* op, const char* name, py::handle h, const py::dtype& dtype,
                         const std::vector<int64_t>& shape);

// A new C-contiguous, uninitialised array of `dtype` and `shape`. Large ones take their
// memory from the host block cache (memory.h) and return it there when freed.
py::array new_array(const py::dtype& dtype, const std::vector<int64_t>& shape);

// An ndarray of float32 or float64 (TypeError otherwise).
py::array require_float_array(const char* op, const char* name, py::handle h);

// TypeError unless b has a's dtype.
void require_same_dtype(const char* op, const char* name_a, const py::array& a, const char* name_b,
                        const py::array& b);

// C-contiguous and aligned, else ValueError (the Python layer makes inputs contiguous, so
// this only fires when _C is called directly). State arrays updated in place use
// require_state instead.
void require_contiguous(const char* op, const char* name, const py::array& a);

// An array a kernel updates in place (optimizer state, running statistics): an ndarray of
// exactly `dtype`, C-contiguous, aligned and writeable, else TypeError. Never copied, so an
// update can never land on a hidden copy.
py::array require_state(const char* op, const char* name, py::handle h, const py::dtype& dtype);

// Calls f(T{}) with T = float or double per a's element size (a passed require_float).
template <class F>
decltype(auto) dispatch_float(const py::array& a, F&& f) {
    if (a.itemsize() == 4) return f(float{});
    return f(double{});
}

}  // namespace fastnn
