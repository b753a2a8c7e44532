"""Tensor: a NumPy array plus what autograd needs, and the creation functions.

Storage: ``Tensor.data`` IS the underlying :class:`numpy.ndarray` (not a Tensor, unlike
PyTorch's ``.data``); operations never modify it in place except the in-place methods
(``add_``, ``-=``, ...). Dtypes are NumPy dtypes (``fastnn.float32 == np.dtype('float32')``);
float32 is the default. Random creation functions draw from one module-level
:class:`numpy.random.Generator`, reseeded by :func:`manual_seed`.
"""

import weakref
from collections import namedtuple

import numpy as np

from . import ops
from .autograd import _root_grads, _run_backward, is_grad_enabled

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_generator = np.random.default_rng()

__all__ = ["Tensor", "tensor", "from_numpy", "from_dlpack", "zeros", "ones", "full", "empty", "arange", "rand",
           "randn", "randint", "randint_like", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like",
           "randn_like", "manual_seed", "cat", "stack", "split", "float32", "float64", "int32",
           "int64", "uint8", "bool_"]


def manual_seed(seed):
    """Reseed the generator behind rand/randn/randint/dropout (one NumPy Generator for the
    whole module; not per thread)."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator():
    """The module's NumPy Generator (what :func:`manual_seed` reseeds)."""
    return _generator


_values_max = namedtuple("max", ["values", "indices"])
_values_min = namedtuple("min", ["values", "indices"])


def _is_float(dtype):
    return dtype.kind == "f"


def _category(dtype):
    return {"b": 0, "u": 1, "i": 1, "f": 2}.get(dtype.kind, 3)


def _result_dtype(a, b):
    """PyTorch's promotion for a Tensor op with b (a Tensor or a Python scalar): a higher
    category (bool < integer < float) wins outright; a Python float meeting an integer
    tensor gives float32; within a category the wider dtype wins, scalars never widen."""
    if isinstance(b, Tensor):
        da, db = a.dtype, b.dtype
        if _category(da) != _category(db):
            return da if _category(da) > _category(db) else db
        return np.promote_types(da, db)
    cat_b = 0 if isinstance(b, (bool, np.bool_)) else 1 if isinstance(b, (int, np.integer)) else 2
    if cat_b > _category(a.dtype):
        return {1: int64, 2: float32}[cat_b]
    return a.dtype


def _operands(a, b):
    """(a, b) ready for a binary Function: both cast to the result dtype (differentiably),
    a Python scalar as a 0-d array."""
    if not isinstance(b, Tensor):
        if isinstance(b, np.ndarray):
            b = Tensor(b)
        elif not isinstance(b, (int, float, bool, np.number, np.bool_)):
            return None, None
    dt = _result_dtype(a, b)
    a = a if a.dtype == dt else a.to(dt)
    if isinstance(b, Tensor):
        return a, (b if b.dtype == dt else b.to(dt))
    return a, np.asarray(b, dtype=dt)


def _binary(fn, a, b, reflected=False):
    x, y = _operands(a, b)
    if x is None:
        return NotImplemented
    if reflected:
        if not isinstance(y, Tensor):
            y = Tensor(y)
        x, y = y, x
    return fn.apply(x, y)


def _raw_index(index):
    """A Tensor index (or Tensors inside a tuple/list index) as its array."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(_raw_index(i) for i in index)
    if isinstance(index, list):
        return np.asarray([i.data if isinstance(i, Tensor) else i for i in index])
    return index


def _size_args(size):
    """zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) all mean shape (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _infer_shape(shape, numel):
    """shape with a -1 entry resolved; RuntimeError as PyTorch when it cannot hold numel."""
    if shape.count(-1) > 1:
        raise RuntimeError("[reshape] only one dimension can be inferred")
    known = int(np.prod([s for s in shape if s != -1]))
    if -1 in shape and known != 0 and numel % known == 0:
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if -1 in shape or any(s < 0 for s in shape) or int(np.prod(shape)) != numel:
        raise RuntimeError(f"[reshape] shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Args:
        data: a NumPy array (wrapped as is, without a copy) or anything :func:`tensor`
            accepts (copied, with its dtype rules).
        requires_grad: record operations on this tensor for :meth:`backward`.

    Attributes:
        data: the underlying numpy.ndarray.
        grad: a Tensor of the same shape holding accumulated gradients, or None.
        grad_fn: the node that produced this tensor, or None for a leaf.
    """

    __array_ufunc__ = None  # NumPy defers to Tensor's reflected operators (ndarray + Tensor)

    # The version counter, as in PyTorch: a one-element list shared by the tensors that are
    # views of one array, raised by every in-place write. A node that saved an array for
    # backward keeps the box and the version it saw, and backward refuses a changed one
    # instead of computing with overwritten values. Created on first need.
    _vbox = None

    def __init__(self, data, requires_grad=False):
        self.data = data if isinstance(data, np.ndarray) else _to_array(data, None)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _from_op(cls, data, node, output_nr):
        t = cls(data)
        t.grad_fn, t._output_nr, t._requires_grad = node, output_nr, True
        return t

    # ---- autograd attributes ----

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        if value and not _is_float(self.dtype):
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self.grad_fn is not None:
            if self.grad_fn._retained is None:
                self.grad_fn._retained = {}
            self.grad_fn._retained[self._output_nr] = weakref.ref(self)

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate the gradient of this tensor into the leaves' ``.grad`` (see
        :func:`fastnn.autograd.backward`)."""
        _run_backward([self], _root_grads([self], [gradient]), retain_graph)

    def detach(self):
        """A new leaf sharing this tensor's data (and version counter), not requiring grad."""
        t = Tensor(self.data)
        t._vbox = self._version_box()
        return t

    @property
    def _version(self):
        """How many in-place writes this tensor's array (or a view of it) has had."""
        return self._vbox[0] if self._vbox is not None else 0

    def _version_box(self):
        box = self._vbox
        if box is None:
            box = self._vbox = [0]
        return box

    def _bump_version(self):
        if self._vbox is None:
            self._vbox = [1]
        else:
            self._vbox[0] += 1

    def detach_(self):
        self.grad_fn, self._requires_grad = None, False
        return self

    # ---- array attributes ----

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        return "cpu"

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        if dim is None:
            return self.data.shape
        return self.data.shape[ops.normalize_dims(dim, self.ndim, "size")[0]]

    def numel(self):
        return int(self.data.size)

    def element_size(self):
        return self.data.itemsize

    def item(self):
        if self.data.size != 1:
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted to Scalar")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        """The underlying array itself (shares memory)."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.data

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        if dtype is not None and np.dtype(dtype) != a.dtype:
            if copy is False:
                raise ValueError("converting the dtype needs a copy, but copy=False")
            return a.astype(dtype)
        return a.copy() if copy else a

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """The DLPack capsule of the underlying array (shares memory), for
        ``torch.from_dlpack``, ``numpy.from_dlpack`` and other DLPack consumers."""
        if self.requires_grad:
            raise RuntimeError("Can't export a Tensor that requires grad to DLPack. Use tensor.detach() first.")
        kwargs = {"stream": stream}
        if max_version is not None:
            kwargs["max_version"] = max_version
        if dl_device is not None:
            kwargs["dl_device"] = dl_device
        if copy is not None:
            kwargs["copy"] = copy
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {'more than one value' if self.data.size else 'no values'} is ambiguous")
        return bool(self.data.reshape(()))

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.size != 1 or self.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self):
        a = self.data
        if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)):
            finite = a[np.isfinite(a)]
            big = np.abs(finite).max() if finite.size else 0
            integral = np.all(finite == np.round(finite))
            if integral and big < 1e8:
                opts = dict(floatmode="unique", precision=0)
            elif big >= 1e8 or (np.abs(finite[finite != 0]).min() < 1e-4 if np.any(finite != 0) else False):
                opts = dict(floatmode="fixed", precision=4, formatter={"float_kind": lambda v: f"{v:.4e}"})
            else:
                opts = dict(floatmode="fixed", precision=4)
        else:
            opts = {}
        body = np.array2string(a, separator=", ", prefix="tensor(", **opts)
        extras = []
        if a.dtype not in (float32, int64, bool_):
            extras.append(f"dtype=fastnn.{a.dtype.name}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # ---- conversion ----

    def to(self, *args, dtype=None, device=None, copy=False):
        """A tensor of another dtype (differentiable); a device other than 'cpu' is rejected."""
        for a in args:
            if isinstance(a, str):
                device = a
            else:
                dtype = a
        if device is not None and str(device) != "cpu":
            raise RuntimeError(f"[to] device {device!r} is not available")
        if dtype is None or np.dtype(dtype) == self.dtype:
            return self.clone() if copy else self
        return ops.Cast.apply(self, np.dtype(dtype))

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def bool(self):
        return self.to(bool_)

    def type(self, dtype=None):
        return self.dtype if dtype is None else self.to(dtype)

    def clone(self):
        return ops.Clone.apply(self)

    def contiguous(self):
        return self if self.data.flags.c_contiguous else self.clone()

    def cpu(self):
        return self

    # ---- arithmetic ----

    def __add__(self, other):
        return _binary(ops.Add, self, other)

    def __radd__(self, other):
        return _binary(ops.Add, self, other, reflected=True)

    def __sub__(self, other):
        return _binary(ops.Sub, self, other)

    def __rsub__(self, other):
        return _binary(ops.Sub, self, other, reflected=True)

    def __mul__(self, other):
        return _binary(ops.Mul, self, other)

    def __rmul__(self, other):
        return _binary(ops.Mul, self, other, reflected=True)

    def __truediv__(self, other):
        if not _is_float(self.dtype) and not (isinstance(other, Tensor) and _is_float(other.dtype)) \
                and not isinstance(other, float):
            return self.float() / other  # true division of integers gives float32, as PyTorch
        return _binary(ops.Div, self, other)

    def __rtruediv__(self, other):
        if not _is_float(self.dtype) and not isinstance(other, float):
            return other / self.float()
        return _binary(ops.Div, self, other, reflected=True)

    def __pow__(self, other):
        return _binary(ops.Pow, self, other)

    def __rpow__(self, other):
        return _binary(ops.Pow, self, other, reflected=True)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        if not isinstance(other, Tensor):
            return NotImplemented
        return matmul(self, other)

    def __rmatmul__(self, other):
        if isinstance(other, np.ndarray):
            return matmul(Tensor(other), self)
        return NotImplemented

    def matmul(self, other):
        return matmul(self, other)

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def neg(self):
        return -self

    # ---- comparisons (no gradient; bool results) ----

    def _compare(self, other, fn):
        b = other.data if isinstance(other, Tensor) else other
        return Tensor(np.asarray(fn(self.data, b)))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # ---- in-place ----

    def _inplace(self, result):
        """Make self hold result. Without recording, result is written into self's own
        memory (views and shared arrays see it). When recording, a leaf that requires grad
        is refused, as in PyTorch; any other tensor takes over result's array and node."""
        if result.grad_fn is None:
            if not np.can_cast(result.dtype, self.dtype, "same_kind"):
                raise RuntimeError(f"result type {result.dtype} can't be cast to the desired output type {self.dtype}")
            self.data[...] = result.data
            self._bump_version()
            return self
        if self.is_leaf and self.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        if result.dtype != self.dtype or result.shape != self.shape:
            raise RuntimeError(f"in-place operation changes shape {self.shape} / dtype {self.dtype} to "
                               f"{result.shape} / {result.dtype}")
        # The node that computed result refers to self as an input; it must keep seeing
        # self's old value and node, so it gets a stand-in holding them.
        old = Tensor(self.data)
        old.grad_fn, old._output_nr, old._requires_grad, old._vbox = \
            self.grad_fn, self._output_nr, self._requires_grad, self._vbox
        node = result.grad_fn
        node._inputs = tuple(old if t is self else t for t in node._inputs)
        # self takes over result's array, a new one: arrays saved from self's old value stay
        # intact (so, unlike a write into memory, this leaves the version as it is) and
        # self no longer shares a version counter with views of the old array.
        self.data, self.grad_fn, self._output_nr, self._requires_grad, self._vbox = \
            result.data, node, result._output_nr, True, result._vbox
        return self

    def _recording(self, *others):
        return is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (self,) + others)

    def _inplace_op(self, fn, other):
        if not self._recording(other):
            b = other.data if isinstance(other, Tensor) else other
            return self._inplace(Tensor(np.asarray(fn(self.data, b))))
        if self.is_leaf and self.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        return self._inplace(fn(self, other))

    def __iadd__(self, other):
        return self._inplace_op(lambda a, b: a + b, other)

    def __isub__(self, other):
        return self._inplace_op(lambda a, b: a - b, other)

    def __imul__(self, other):
        return self._inplace_op(lambda a, b: a * b, other)

    def __itruediv__(self, other):
        return self._inplace_op(lambda a, b: a / b, other)

    def add_(self, other, alpha=1):
        return self.__iadd__(other * alpha if alpha != 1 else other)

    def sub_(self, other, alpha=1):
        return self.__isub__(other * alpha if alpha != 1 else other)

    def mul_(self, other):
        return self.__imul__(other)

    def div_(self, other):
        return self.__itruediv__(other)

    def _fill(self, values):
        if is_grad_enabled() and self.requires_grad:
            if self.is_leaf:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            raise RuntimeError("[fill] in-place filling of a tensor in a recorded graph is not supported; "
                               "use it under no_grad")
        self.data[...] = values
        self._bump_version()
        return self

    def zero_(self):
        return self._fill(0)

    def fill_(self, value):
        return self._fill(value)

    def copy_(self, src):
        return self._fill(np.broadcast_to(src.data if isinstance(src, Tensor) else src, self.shape))

    def uniform_(self, a=0.0, b=1.0):
        return self._fill(_generator.uniform(a, b, self.shape))

    def normal_(self, mean=0.0, std=1.0):
        return self._fill(_generator.normal(mean, std, self.shape))

    def __setitem__(self, index, value):
        if self._recording(value):
            raise RuntimeError("[__setitem__] indexed assignment is not differentiable; use it under no_grad")
        self.data[_raw_index(index)] = value.data if isinstance(value, Tensor) else value
        self._bump_version()

    # ---- reductions ----

    def sum(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return ops.Sum.apply(x, ops.normalize_dims(dim, x.ndim, "sum"), keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if not _is_float(x.dtype):
            raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating "
                               f"point or complex dtype. Got: {x.dtype}")
        return ops.Mean.apply(x, ops.normalize_dims(dim, x.ndim, "mean"), keepdim)

    def _extremum(self, dim, keepdim, is_max):
        op = "max" if is_max else "min"
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   "Specify the reduction dim with the 'dim' argument.")
            return ops.Extremum.apply(self, is_max)
        if isinstance(dim, Tensor):
            return (maximum if is_max else minimum)(self, dim)
        (axis,) = ops.normalize_dims(dim, self.ndim, op)
        if self.ndim and self.shape[axis] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
        if self.ndim == 0:
            return (_values_max if is_max else _values_min)(self.clone(), Tensor(np.zeros((), np.int64)))
        values, indices = ops.ExtremumDim.apply(self, axis, keepdim, is_max)
        return (_values_max if is_max else _values_min)(values, indices)

    def max(self, dim=None, keepdim=False):
        """Largest element; with ``dim``, the namedtuple (values, indices) along dim (the
        first maximum's index). Without dim, tied maxima share the gradient evenly."""
        return self._extremum(dim, keepdim, True)

    def min(self, dim=None, keepdim=False):
        """As :meth:`max`, for the smallest element."""
        return self._extremum(dim, keepdim, False)

    def argmax(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor(np.asarray(np.argmax(self.data), np.int64))
        (axis,) = ops.normalize_dims(dim, self.ndim, "argmax")
        return Tensor(np.argmax(self.data, axis=axis, keepdims=keepdim).astype(np.int64))

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor(np.asarray(np.argmin(self.data), np.int64))
        (axis,) = ops.normalize_dims(dim, self.ndim, "argmin")
        return Tensor(np.argmin(self.data, axis=axis, keepdims=keepdim).astype(np.int64))

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance over dim with Bessel's correction ``correction`` (default 1;
        ``unbiased=False`` means 0): ``sum((x - mean)**2) / max(N - correction, 0)``."""
        if isinstance(dim, bool):  # var(False): the legacy unbiased-only form
            dim, unbiased = None, dim
        if correction is None:
            correction = 0 if unbiased is False else 1
        axes = ops.normalize_dims(dim, self.ndim, "var")
        n = int(np.prod([self.shape[i] for i in axes]))
        centered = self - self.mean(axes, keepdim=True)
        return (centered * centered).sum(axes, keepdim=keepdim) / float(max(n - correction, 0))

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Square root of :meth:`var` (same arguments)."""
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def logsumexp(self, dim, keepdim=False):
        return ops.LogSumExp.apply(self, ops.normalize_dims(dim, self.ndim, "logsumexp"), keepdim)

    # ---- elementwise ----

    def exp(self):
        return ops.Exp.apply(self._floating())

    def log(self):
        return ops.Log.apply(self._floating())

    def sqrt(self):
        return ops.Sqrt.apply(self._floating())

    def abs(self):
        return ops.Abs.apply(self)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        return ops.Clamp.apply(self, min, max)

    clip = clamp

    def relu(self):
        return ops.ReLU.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self._floating())

    def tanh(self):
        return ops.Tanh.apply(self._floating())

    def softmax(self, dim):
        return ops.Softmax.apply(self._floating(), dim)

    def log_softmax(self, dim):
        return ops.LogSoftmax.apply(self._floating(), dim)

    def _floating(self):
        return self if _is_float(self.dtype) else self.float()

    # ---- shape ----

    def reshape(self, *shape):
        target = _infer_shape(_size_args(shape), self.numel())
        return self if target == self.shape else ops.Reshape.apply(self, target)

    view = reshape

    def view_as(self, other):
        return self.reshape(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = (ops.normalize_dims(d, self.ndim, "flatten")[0] for d in (start_dim, end_dim))
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        return self.reshape(self.shape[:s] + (int(np.prod(self.shape[s:e + 1])),) + self.shape[e + 1:])

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        axes = tuple(ops.normalize_dims(d, self.ndim, "permute")[0] for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise RuntimeError(f"permute(): dims {list(dims)} are not a permutation of the {self.ndim} dims")
        return ops.Permute.apply(self, axes)

    def transpose(self, dim0, dim1):
        if self.ndim == 0:
            return self
        d0, d1 = (ops.normalize_dims(d, self.ndim, "transpose")[0] for d in (dim0, dim1))
        axes = list(range(self.ndim))
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return ops.Permute.apply(self, tuple(axes))

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self):
        return ops.Permute.apply(self, tuple(reversed(range(self.ndim))))

    def squeeze(self, dim=None):
        axes = ops.normalize_dims(dim, self.ndim, "squeeze")
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in axes and n == 1)))

    def unsqueeze(self, dim):
        (axis,) = ops.normalize_dims(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def expand(self, *sizes):
        sizes = _size_args(sizes)
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        return ops.Expand.apply(self, shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def split(self, split_size_or_sections, dim=0):
        return split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        n = self.shape[ops.normalize_dims(dim, self.ndim, "chunk")[0]]
        return split(self, max(-(-n // chunks), 1), dim)

    def __getitem__(self, index):
        return ops.GetItem.apply(self, _raw_index(index))


def _to_array(data, dtype):
    """tensor()'s conversion: NumPy arrays and scalars keep their dtype; Python floats give
    float32, ints int64, bools bool, unless dtype says otherwise. Always a new array."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        return np.array(data, dtype=dtype, copy=True)
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [d.data if isinstance(d, Tensor) else d for d in data]
    a = np.array(data)
    if dtype is None:
        kind = a.dtype.kind
        dtype = {"f": float32, "i": int64, "u": int64, "b": bool_}.get(kind)
        if dtype is None:
            raise TypeError(f"[tensor] could not infer dtype of {type(data).__name__}")
    return a.astype(dtype, copy=False)


def tensor(data, dtype=None, requires_grad=False):
    """A new leaf Tensor holding a copy of data (see :func:`_to_array` for the dtype rules)."""
    return Tensor(_to_array(data, None if dtype is None else np.dtype(dtype)), requires_grad=requires_grad)


def from_numpy(ndarray):
    """A Tensor sharing ndarray's memory (no copy): changes to either show in the other."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    return Tensor(ndarray)


def from_dlpack(ext_tensor):
    """A Tensor sharing the memory of any object exporting a CPU DLPack capsule (a NumPy
    array, a PyTorch CPU tensor, ...): no copy."""
    try:
        array = np.from_dlpack(ext_tensor)
    except (TypeError, AttributeError) as exc:
        raise TypeError(f"[from_dlpack] {type(ext_tensor).__name__} does not export a DLPack capsule") from exc
    return Tensor(array)


def _new(array, dtype, requires_grad):
    return Tensor(array if dtype is None else array.astype(dtype, copy=False), requires_grad=requires_grad)


def zeros(*size, dtype=None, requires_grad=False):
    return Tensor(np.zeros(_size_args(size), dtype or float32), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return Tensor(np.ones(_size_args(size), dtype or float32), requires_grad=requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    return Tensor(np.empty(_size_args(size), dtype or float32), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    """Filled with fill_value; the dtype is inferred from it as :func:`tensor` does."""
    dtype = np.dtype(dtype) if dtype is not None else _to_array(fill_value, None).dtype
    return Tensor(np.full(_size_args((size,)), fill_value, dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Values in [start, end) by step: int64 when all three are ints, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
        dtype = int64 if ints else float32
    return Tensor(np.arange(start, end, step).astype(dtype), requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad=False):
    """Uniform on [0, 1), from the module generator."""
    return _new(_generator.random(_size_args(size), dtype=np.float32 if dtype is None or np.dtype(dtype) == float32
                                  else np.float64), dtype, requires_grad)


def randn(*size, dtype=None, requires_grad=False):
    """Standard normal, from the module generator."""
    return _new(_generator.standard_normal(_size_args(size), dtype=np.float32 if dtype is None or
                                           np.dtype(dtype) == float32 else np.float64), dtype, requires_grad)


def randint(*args, size=None, dtype=None, requires_grad=False):
    """randint(high, size) or randint(low, high, size): uniform integers in [low, high), int64."""
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint() expects (high, size) or (low, high, size)")
    return _new(_generator.integers(low, high, _size_args((size,)), dtype=np.int64), dtype, requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, requires_grad=False):
    """randint_like(input, high) or randint_like(input, low, high): uniform integers in
    [low, high) with input's shape and dtype."""
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def zeros_like(input, dtype=None, requires_grad=False):
    return zeros(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def ones_like(input, dtype=None, requires_grad=False):
    return ones(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def empty_like(input, dtype=None, requires_grad=False):
    return empty(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype, requires_grad=requires_grad)


def rand_like(input, dtype=None, requires_grad=False):
    return rand(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input, dtype=None, requires_grad=False):
    return randn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def matmul(input, other):
    """Matrix product with torch.matmul semantics (1-D operands, broadcast batch dims)."""
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"[matmul] both arguments need at least 1 dimension, got {input.shape} and {other.shape}")
    ka = input.shape[-1]
    kb = other.shape[0] if other.ndim == 1 else other.shape[-2]
    if ka != kb:
        raise RuntimeError(f"[matmul] shapes {input.shape} and {other.shape} cannot be multiplied ({ka} != {kb})")
    a, b = _operands(input, other)
    return ops.MatMul.apply(a, b)


def maximum(input, other):
    return Tensor(np.maximum(input.data, other.data))


def minimum(input, other):
    return Tensor(np.minimum(input.data, other.data))


def _same_dtype(tensors):
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = _result_dtype(Tensor(np.empty(0, dt)), t)
    return [t if t.dtype == dt else t.to(dt) for t in tensors]


def cat(tensors, dim=0):
    """Concatenate along an existing axis (all other sizes equal)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    (axis,) = ops.normalize_dims(dim, tensors[0].ndim, "cat")
    for t in tensors[1:]:
        if t.ndim != tensors[0].ndim or t.shape[:axis] + t.shape[axis + 1:] != \
                tensors[0].shape[:axis] + tensors[0].shape[axis + 1:]:
            raise RuntimeError(f"[cat] Sizes of tensors must match except in dimension {dim}: got shapes "
                               f"{tensors[0].shape} and {t.shape}")
    return ops.Cat.apply(axis, *_same_dtype(tensors))


def stack(tensors, dim=0):
    """Join along a new axis (all shapes equal)."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"[stack] stack expects each tensor to be equal size, but got {tensors[0].shape} "
                               f"and {t.shape}")
    (axis,) = ops.normalize_dims(dim, tensors[0].ndim + 1, "stack")
    return ops.Stack.apply(axis, *_same_dtype(tensors))


def split(tensor, split_size_or_sections, dim=0):
    """Views (differentiable slices) of tensor along dim: pieces of split_size (the last
    possibly smaller), or of the given list of sizes (which must sum to the size)."""
    (axis,) = ops.normalize_dims(dim, tensor.ndim, "split")
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise RuntimeError(f"split expects split_size be positive, but got split_size={step}")
        sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {dim}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        index = (slice(None),) * axis + (slice(start, start + s),)
        out.append(tensor[index])
        start += s
    return tuple(out)

