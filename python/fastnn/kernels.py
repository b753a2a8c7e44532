"""NumPy in, NumPy out: fastnn's kernels as a drop-in fast backend.

Every function takes and returns plain :class:`numpy.ndarray` objects of dtype float32
(the fast path) or float64. Inputs are never modified and never converted: an unsupported
dtype, or two inputs of different dtypes, raise :class:`TypeError`. Arrays given as outputs
(``out``, ``c``) are written in place or rejected with an error; never silently copied.
Strided and transposed views are read where they lie, without copying.
"""

import numpy as np

from . import _C

__all__ = ["matmul", "gemm"]


def _require_ndarray(op, name, x):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"[{op}] {name} must be a numpy.ndarray, got {type(x).__name__}")


def matmul(a, b, out=None):
    """Matrix product with :func:`numpy.matmul` semantics.

    Args:
        a: array of shape ``(K,)``, ``(M, K)`` or ``(batch, M, K)``.
        b: array of shape ``(K,)``, ``(K, N)`` or ``(batch, K, N)``, same dtype as ``a``.
            Batch dimensions broadcast (a batch of 1, or a 2-D operand, is used for every
            batch entry). A 1-D operand is treated as a row (``a``) or column (``b``)
            vector and that dimension is removed from the result.
        out: optional array to write the result into: exactly the result's shape and dtype,
            writeable, without overlapping elements; any strides. It is overwritten and
            returned.

    Returns:
        The product, float32 or float64 like the inputs, of shape ``(M, N)`` or
        ``(batch, M, N)`` (less any dimension removed for a 1-D operand).

    Raises:
        TypeError: an input is not an ndarray, not float32/float64, or the dtypes differ;
            ``out`` has the wrong dtype.
        ValueError: inner or batch dimensions do not match; an operand has more than 3
            dimensions; ``out`` has the wrong shape or cannot be written.
    """
    op = "matmul"
    if getattr(a, "ndim", 0) >= 2 and getattr(b, "ndim", 0) >= 2:
        return _C.gemm(op, a, b, out, 1.0, 0.0, False, False)  # the common case, checked in C++
    _require_ndarray(op, "a", a)
    _require_ndarray(op, "b", b)
    for name, x in (("a", a), ("b", b)):
        if x.ndim == 0 or x.ndim > 3:
            raise ValueError(f"[{op}] {name} has shape {x.shape}; matmul takes 1-D, 2-D or 3-D arrays")
    ka, kb = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"[{op}] inner dimensions do not match: a has shape {a.shape} and b has "
                         f"shape {b.shape} ({ka} != {kb})")
    # A 1-D operand becomes a row (a) or column (b) vector, and that axis is dropped again.
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    if out is None:
        result = _C.gemm(op, a2, b2, None, 1.0, 0.0, False, False)
        if b.ndim == 1:
            result = result[..., 0]
        if a.ndim == 1:
            result = result[..., 0, :] if b.ndim != 1 else result[..., 0]
        return result
    _require_ndarray(op, "out", out)
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        batch = None  # the kernel reports the mismatch with both shapes
    if batch is not None:
        expected = batch + a2.shape[-2:-1] * (a.ndim != 1) + b2.shape[-1:] * (b.ndim != 1)
        if out.shape != expected:
            raise ValueError(f"[{op}] out has shape {out.shape}, expected {expected}")
    out2 = out
    if b.ndim == 1:
        out2 = np.expand_dims(out2, -1)
    if a.ndim == 1:
        out2 = np.expand_dims(out2, -2)
    _C.gemm(op, a2, b2, out2, 1.0, 0.0, False, False)
    return out


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """General matrix multiply: ``C = alpha * op(a) @ op(b) + beta * C``.

    ``op(x)`` is ``x`` or, with ``trans_x=True``, its transpose (the last two axes swapped;
    nothing is copied).

    Args:
        a: array of shape ``(M, K)`` or ``(batch, M, K)`` (``(K, M)`` / ``(batch, K, M)``
            with ``trans_a``), float32 or float64.
        b: array of shape ``(K, N)`` or ``(batch, K, N)`` (``(N, K)`` ... with
            ``trans_b``), same dtype as ``a``. Batch dimensions broadcast as in matmul.
        c: optional output of shape ``(M, N)`` / ``(batch, M, N)`` and the inputs' dtype,
            writeable, any strides. It is read (when ``beta != 0``) and overwritten, and
            returned. When omitted a new array is returned and ``beta`` must be 0.
        alpha, beta: scalars. With ``beta == 0`` the old contents of ``c`` are never read,
            so NaN or Inf there do not propagate. With ``alpha == 0`` (or ``K == 0``),
            ``a`` and ``b`` are not read and ``C = beta * C``.
        trans_a, trans_b: use the transpose of ``a`` / ``b``.

    Returns:
        ``c``, or the new result array.

    Raises:
        TypeError: unsupported or mixed dtypes, or ``c`` of the wrong dtype.
        ValueError: mismatched dimensions; ``c`` of the wrong shape, read-only or with
            overlapping elements; ``beta != 0`` without ``c``.
    """
    return _C.gemm("gemm", a, b, c, float(alpha), float(beta), bool(trans_a), bool(trans_b))


# ---- activation ----
__all__ += ["relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "elu", "elu_backward",
            "gelu", "gelu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
            "softplus", "softplus_backward", "softmax", "softmax_backward", "log_softmax",
            "log_softmax_backward"]


def _readable(x):
    """x as a C-contiguous aligned array (a copy only when x is not one already). Anything
    that is not an ndarray is passed on for the kernel's checks to reject."""
    if isinstance(x, np.ndarray) and not (x.flags.c_contiguous and x.flags.aligned):
        return np.array(x, order="C", copy=True)
    return x


def relu(input, inplace=False):
    """max(x, 0) elementwise; NaN stays NaN.

    Args:
        input: float32 or float64 array of any shape.
        inplace: write the result into ``input`` (which must then be a writeable
            C-contiguous array; it is not copied) and return it.

    Shape: output has input's shape and dtype.

    Returns:
        A new array, or ``input`` itself (overwritten) when ``inplace``.

    Raises:
        TypeError: input is not a float32/float64 ndarray; with ``inplace``, input is not a
            writeable C-contiguous aligned array.
    """
    return _C.relu(input if inplace else _readable(input), bool(inplace))


def relu_backward(grad_output, input):
    """Gradient of :func:`relu` wrt its input: ``grad_output`` where ``input > 0`` (or NaN),
    else 0. Saved tensor: the forward's input.

    Shape: grad_output and input of the same shape and dtype. Returns a new array of that shape.

    Raises:
        TypeError: not float ndarrays or dtypes differ. ValueError: shapes differ.
    """
    return _C.relu_backward(_readable(grad_output), _readable(input))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x if x > 0 else negative_slope * x`` elementwise.

    Args / Shape / Returns / Raises: as :func:`relu`, plus ``negative_slope`` (float).
    """
    return _C.leaky_relu(input if inplace else _readable(input), float(negative_slope), bool(inplace))


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """Gradient of :func:`leaky_relu` wrt its input: ``grad_output`` where ``input > 0``,
    else ``negative_slope * grad_output`` (the slope applies at exactly 0, as in PyTorch).
    Saved tensor: the forward's input. Shapes and errors as :func:`relu_backward`."""
    return _C.leaky_relu_backward(_readable(grad_output), _readable(input), float(negative_slope))


def elu(input, alpha=1.0, inplace=False):
    """``x if x > 0 else alpha * (exp(x) - 1)`` elementwise.

    Args / Shape / Returns / Raises: as :func:`relu`, plus ``alpha`` (float).
    """
    return _C.elu(input if inplace else _readable(input), float(alpha), bool(inplace))


def elu_backward(grad_output, input, alpha=1.0):
    """Gradient of :func:`elu` wrt its input: ``grad_output`` where ``input > 0``, else
    ``grad_output * alpha * exp(input)`` (so ``alpha`` at exactly 0, as in PyTorch).
    Saved tensor: the forward's input. Shapes and errors as :func:`relu_backward`."""
    return _C.elu_backward(_readable(grad_output), _readable(input), float(alpha))


def _gelu_approx(op, approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"[{op}] approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate == "tanh"


def gelu(input, approximate="none"):
    """Gaussian error linear unit: ``x * Phi(x)`` (``approximate='none'``), or
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (``approximate='tanh'``).

    Args:
        input: float32 or float64 array of any shape.
        approximate: ``'none'`` or ``'tanh'``.

    Shape: output has input's shape and dtype. Returns a new array.

    Raises:
        TypeError: input is not a float32/float64 ndarray. ValueError: unknown ``approximate``.
    """
    return _C.gelu(_readable(input), _gelu_approx("gelu", approximate))


def gelu_backward(grad_output, input, approximate="none"):
    """Gradient of :func:`gelu` wrt its input (``Phi(x) + x phi(x)`` times grad_output for
    the exact form). Saved tensor: the forward's input. Shapes and errors as
    :func:`relu_backward`; ValueError for an unknown ``approximate``."""
    return _C.gelu_backward(_readable(grad_output), _readable(input),
                            _gelu_approx("gelu_backward", approximate))


def sigmoid(input):
    """``1 / (1 + exp(-x))`` elementwise, without overflow for any x.

    Shape: output has input's shape and dtype. Returns a new array.
    Raises: TypeError: input is not a float32/float64 ndarray.
    """
    return _C.sigmoid(_readable(input))


def sigmoid_backward(grad_output, output):
    """Gradient of :func:`sigmoid` wrt its input: ``grad_output * y * (1 - y)``.
    Saved tensor: the forward's OUTPUT ``y``. Shapes and errors as :func:`relu_backward`."""
    return _C.sigmoid_backward(_readable(grad_output), _readable(output))


def tanh(input):
    """Hyperbolic tangent elementwise.

    Shape: output has input's shape and dtype. Returns a new array.
    Raises: TypeError: input is not a float32/float64 ndarray.
    """
    return _C.tanh(_readable(input))


def tanh_backward(grad_output, output):
    """Gradient of :func:`tanh` wrt its input: ``grad_output * (1 - y**2)``.
    Saved tensor: the forward's OUTPUT ``y``. Shapes and errors as :func:`relu_backward`."""
    return _C.tanh_backward(_readable(grad_output), _readable(output))


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta x)) / beta`` elementwise, or ``x`` itself where
    ``beta * x > threshold`` (PyTorch's rule, for numerical stability).

    Shape: output has input's shape and dtype. Returns a new array.
    Raises: TypeError: input is not a float32/float64 ndarray.
    """
    return _C.softplus(_readable(input), float(beta), float(threshold))


def softplus_backward(grad_output, input, beta=1.0, threshold=20.0):
    """Gradient of :func:`softplus` wrt its input: ``grad_output * sigmoid(beta x)``, or
    ``grad_output`` where ``beta * x > threshold``. Saved tensor: the forward's input.
    Shapes and errors as :func:`relu_backward`."""
    return _C.softplus_backward(_readable(grad_output), _readable(input), float(beta), float(threshold))


def _dim(op, dim):
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"[{op}] dim must be an int, got {type(dim).__name__}")
    return int(dim)


def softmax(input, dim):
    """``exp(x - max) / sum(exp(x - max))`` along axis ``dim`` (max-subtracted, so stable for
    any finite logits).

    Args:
        input: float32 or float64 array of any shape (0-d counts as one axis of size 1).
        dim: the axis, negative counting from the end. Required, as in PyTorch.

    Shape: output has input's shape and dtype. Returns a new array.

    Raises:
        TypeError: input is not a float32/float64 ndarray; dim is not an int.
        IndexError: dim out of range.
    """
    return _C.softmax(_readable(input), _dim("softmax", dim))


def softmax_backward(grad_output, output, dim):
    """Gradient of :func:`softmax` wrt its input: ``y * (g - sum(g * y, dim))``. Saved
    tensor: the forward's OUTPUT ``y``. Returns a new array shaped like ``output``.

    Raises: TypeError (dtypes), ValueError (shapes differ), IndexError (dim out of range).
    """
    return _C.softmax_backward(_readable(grad_output), _readable(output), _dim("softmax_backward", dim))


def log_softmax(input, dim):
    """``x - max - log(sum(exp(x - max)))`` along axis ``dim``. Args, Shape, Raises as
    :func:`softmax`. Returns a new array."""
    return _C.log_softmax(_readable(input), _dim("log_softmax", dim))


def log_softmax_backward(grad_output, output, dim):
    """Gradient of :func:`log_softmax` wrt its input: ``g - exp(y) * sum(g, dim)``. Saved
    tensor: the forward's OUTPUT ``y``. Returns a new array; errors as :func:`softmax_backward`."""
    return _C.log_softmax_backward(_readable(grad_output), _readable(output),
                                   _dim("log_softmax_backward", dim))
