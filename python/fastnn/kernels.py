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
    """Gradient of :func:`elu` wrt its input: ``grad_output * alpha * exp(input)`` where
    ``input <= 0`` (so ``alpha`` at exactly 0), else ``grad_output`` (NaN included), as in PyTorch.
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


# ---- softmax_xent ----
__all__ += ["cross_entropy", "cross_entropy_backward", "nll_loss", "nll_loss_backward",
            "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
            "mse_loss", "mse_loss_backward", "l1_loss", "l1_loss_backward", "huber_loss",
            "huber_loss_backward", "smooth_l1_loss", "smooth_l1_loss_backward"]

_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}


def _reduction(op, reduction):
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"[{op}] {reduction} is not a valid value for reduction "
                         "(expected 'none', 'mean' or 'sum')")
    return _REDUCTIONS[reduction]


def _class_target(op, target):
    """Class indices as int64 (uint8 widened, as PyTorch accepts Long or Byte)."""
    if isinstance(target, np.ndarray) and target.dtype == np.uint8:
        return target.astype(np.int64)
    if isinstance(target, np.ndarray) and target.dtype.kind == "f":
        raise TypeError(f"[{op}] target of shape {target.shape} holds class indices (its shape differs "
                        f"from input's) and must be int64, got {target.dtype}")
    return _readable(target)


def _is_prob_target(input, target):
    return (isinstance(input, np.ndarray) and isinstance(target, np.ndarray) and input.ndim >= 1
            and input.shape == target.shape)


def _xent_args(op, input, target, ignore_index, reduction, label_smoothing):
    red = _reduction(op, reduction)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"[{op}] label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    prob = _is_prob_target(input, target)
    if prob:
        if target.dtype.kind != "f":
            raise TypeError(f"[{op}] target has input's shape {target.shape}, so it holds class "
                            f"probabilities and must be floating point, got {target.dtype}")
        if ignore_index >= 0:
            raise ValueError(f"[{op}] ignore_index is not supported for class-probability targets "
                             f"(got ignore_index={ignore_index})")
    return red, eps, prob


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between softmax(input) over the class axis and ``target``, fused and
    stable (log-sum-exp), with PyTorch's semantics.

    Args:
        input: logits, float32/float64, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``.
        target: either class indices (int64, or uint8) of shape ``()``, ``(N,)`` or
            ``(N, d1, ...)``, each in ``[0, C)`` or equal to ``ignore_index``; or class
            probabilities of input's exact shape and dtype.
        weight: optional ``(C,)`` per-class weights, input's dtype.
        ignore_index: class-index targets equal to it contribute 0 and are left out of the
            'mean' denominator. Must be negative for probability targets.
        reduction: 'none' (per-sample losses), 'mean' or 'sum'.
        label_smoothing: eps in [0, 1]: the target becomes ``(1 - eps) * target + eps / C``.

    'mean' for class indices divides by the sum of ``weight[target]`` over non-ignored
    samples (the count when there are no weights), for both the target and the smoothing
    term; for probabilities it divides by the number of samples ``N * d1 * ...``. A mean
    over nothing is NaN, as in PyTorch. The arguments after ``weight`` are keyword-only
    (PyTorch's positional slots there are its deprecated size_average/reduce).

    Shape: loss of shape ``(N, d1, ...)`` (``()`` for 1-D input) for 'none', else 0-d.

    Returns:
        A new array of input's dtype.

    Raises:
        TypeError: non-float input; float class indices; integer probability targets;
            dtypes differ. ValueError: shapes, unknown reduction, label_smoothing outside
            [0, 1], weight not ``(C,)``, ignore_index >= 0 with probabilities.
        IndexError: a class index outside ``[0, C)`` that is not ``ignore_index``.
    """
    op = "cross_entropy"
    red, eps, prob = _xent_args(op, input, target, ignore_index, reduction, label_smoothing)
    w = None if weight is None else _readable(weight)
    if prob:
        return _C.cross_entropy_prob(op, None, _readable(input), _readable(target), w, red, eps)
    return _C.cross_entropy(op, None, _readable(input), _class_target(op, target), w,
                            int(ignore_index), red, eps)


def cross_entropy_backward(grad_output, input, target, weight=None, *, ignore_index=-100,
                           reduction="mean", label_smoothing=0.0):
    """Gradient of :func:`cross_entropy` wrt ``input`` (the same arguments).

    ``grad_output`` is 0-d for 'mean'/'sum', shaped like the per-sample loss for 'none'.
    Per sample, with p = softmax(input): ``(1-eps) w_y (p - onehot(y)) + eps/C (sum(w) p - w)``
    for class indices (0 where ignored), ``p * sum(w t') - w t'`` for probabilities, times
    the sample's upstream gradient (divided by the 'mean' denominator).

    Returns: a new array shaped like ``input``. Raises: as :func:`cross_entropy`, and
    ValueError when grad_output has the wrong shape.
    """
    op = "cross_entropy_backward"
    red, eps, prob = _xent_args(op, input, target, ignore_index, reduction, label_smoothing)
    w = None if weight is None else _readable(weight)
    g = _readable(grad_output)
    if prob:
        return _C.cross_entropy_prob(op, g, _readable(input), _readable(target), w, red, eps)
    return _C.cross_entropy(op, g, _readable(input), _class_target(op, target), w,
                            int(ignore_index), red, eps)


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: ``-weight[y] * input[i, y]`` per sample (input holds
    log-probabilities), with PyTorch's semantics.

    Args / Shape / Raises: as :func:`cross_entropy` with class-index targets only;
    'mean' divides by the sum of ``weight[target]`` over non-ignored samples (NaN if 0).

    Returns: a new array, per-sample for 'none', else 0-d.
    """
    op = "nll_loss"
    red = _reduction(op, reduction)
    w = None if weight is None else _readable(weight)
    return _C.nll_loss(op, None, _readable(input), _class_target(op, target), w, int(ignore_index), red)


def nll_loss_backward(grad_output, input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Gradient of :func:`nll_loss` wrt ``input``: ``-weight[y] * g_i`` at the target class
    (``g`` divided by the 'mean' denominator), 0 elsewhere and for ignored samples.
    ``grad_output`` as in :func:`cross_entropy_backward`. Returns a new array shaped like input."""
    op = "nll_loss_backward"
    red = _reduction(op, reduction)
    w = None if weight is None else _readable(weight)
    return _C.nll_loss(op, _readable(grad_output), _readable(input), _class_target(op, target), w,
                       int(ignore_index), red)


def _broadcast_to_input(op, name, a, input):
    """Optional weight-like array broadcast to input's shape (a read-only copy is fine)."""
    if a is None:
        return None
    if not isinstance(a, np.ndarray) or not isinstance(input, np.ndarray):
        return a  # the kernel reports the type
    try:
        return np.ascontiguousarray(np.broadcast_to(a, input.shape))
    except ValueError:
        raise ValueError(f"[{op}] {name} of shape {a.shape} does not broadcast to input's shape "
                         f"{input.shape}") from None


def _bce_args(op, input, target, weight, pos_weight):
    if isinstance(input, np.ndarray) and isinstance(target, np.ndarray) and target.shape != input.shape:
        raise ValueError(f"[{op}] Target size ({target.shape}) must be the same as input size ({input.shape})")
    return (_broadcast_to_input(op, "weight", weight, input),
            _broadcast_to_input(op, "pos_weight", pos_weight, input))


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean", pos_weight=None):
    """``weight * ((1 - t) x - (1 + (pos_weight - 1) t) log sigmoid(x))`` elementwise, fused
    and stable for any logits, then reduced ('mean' over all elements).

    Args:
        input: logits, float32/float64, any shape.
        target: same shape and dtype (values usually in [0, 1]).
        weight, pos_weight: optional arrays broadcasting to input's shape (pos_weight usually
            ``(C,)`` against the last axis).
        reduction: 'none', 'mean' or 'sum'.

    Returns: a new array, input's shape for 'none', else 0-d.
    Raises: TypeError (dtypes), ValueError (shapes, reduction).
    """
    op = "binary_cross_entropy_with_logits"
    red = _reduction(op, reduction)
    w, pw = _bce_args(op, input, target, weight, pos_weight)
    return _C.pointwise_loss(op, -1, None, _readable(input), _readable(target), w, pw, 0.0, red)


def binary_cross_entropy_with_logits_backward(grad_output, input, target, weight=None, *,
                                              reduction="mean", pos_weight=None):
    """Gradient of :func:`binary_cross_entropy_with_logits` wrt ``input``:
    ``g * weight * ((1 + (pos_weight - 1) t) sigmoid(x) - pos_weight t)``. ``grad_output``:
    0-d for 'mean'/'sum', input's shape for 'none'. Returns a new array shaped like input."""
    op = "binary_cross_entropy_with_logits_backward"
    red = _reduction(op, reduction)
    w, pw = _bce_args(op, input, target, weight, pos_weight)
    return _C.pointwise_loss(op, -1, _readable(grad_output), _readable(input), _readable(target), w, pw,
                             0.0, red)


def _point(op, kind, grad_output, input, target, param, reduction):
    red = _reduction(op, reduction)
    g = None if grad_output is None else _readable(grad_output)
    return _C.pointwise_loss(op, kind, g, _readable(input), _readable(target), None, None, float(param), red)


def mse_loss(input, target, *, reduction="mean"):
    """``(input - target)**2`` elementwise, reduced. input and target: same shape and float
    dtype (no broadcasting: ValueError). Returns input's shape for 'none', else 0-d.
    Raises TypeError (dtypes), ValueError (shapes, reduction). Keyword-only reduction:
    PyTorch's positional slots there are its deprecated size_average/reduce."""
    return _point("mse_loss", 0, None, input, target, 0.0, reduction)


def mse_loss_backward(grad_output, input, target, *, reduction="mean"):
    """Gradient of :func:`mse_loss` wrt input: ``2 (input - target) g`` (g divided by the
    element count for 'mean'); the gradient wrt target is its negation."""
    return _point("mse_loss_backward", 0, grad_output, input, target, 0.0, reduction)


def l1_loss(input, target, *, reduction="mean"):
    """``|input - target|`` elementwise, reduced. Shapes, returns and errors as :func:`mse_loss`."""
    return _point("l1_loss", 1, None, input, target, 0.0, reduction)


def l1_loss_backward(grad_output, input, target, *, reduction="mean"):
    """Gradient of :func:`l1_loss` wrt input: ``sign(input - target) g`` (0 where equal);
    the gradient wrt target is its negation."""
    return _point("l1_loss_backward", 1, grad_output, input, target, 0.0, reduction)


def _delta(op, name, value, allow_zero):
    value = float(value)
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"[{op}] {name} must be {'non-negative' if allow_zero else 'positive'}, got {value}")
    return value


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss of d = input - target: ``d**2 / 2`` where ``|d| < delta``, else
    ``delta (|d| - delta / 2)``. Shapes, returns and errors as :func:`mse_loss`; ValueError
    for delta <= 0."""
    op = "huber_loss"
    return _point(op, 2, None, input, target, _delta(op, "delta", delta, False), reduction)


def huber_loss_backward(grad_output, input, target, reduction="mean", delta=1.0):
    """Gradient of :func:`huber_loss` wrt input: ``clip(d, -delta, delta) g``; the gradient
    wrt target is its negation."""
    op = "huber_loss_backward"
    return _point(op, 2, grad_output, input, target, _delta(op, "delta", delta, False), reduction)


def smooth_l1_loss(input, target, *, reduction="mean", beta=1.0):
    """Smooth L1 of d = input - target: ``d**2 / (2 beta)`` where ``|d| < beta``, else
    ``|d| - beta / 2``; ``beta == 0`` is :func:`l1_loss` (as PyTorch). Shapes, returns and
    errors as :func:`mse_loss`; ValueError for beta < 0."""
    op = "smooth_l1_loss"
    beta = _delta(op, "beta", beta, True)
    return _point(op, 3 if beta > 0 else 1, None, input, target, beta, reduction)


def smooth_l1_loss_backward(grad_output, input, target, *, reduction="mean", beta=1.0):
    """Gradient of :func:`smooth_l1_loss` wrt input: ``clip(d / beta, -1, 1) g`` (sign(d) g
    for beta == 0); the gradient wrt target is its negation."""
    op = "smooth_l1_loss_backward"
    beta = _delta(op, "beta", beta, True)
    return _point(op, 3 if beta > 0 else 1, grad_output, input, target, beta, reduction)
