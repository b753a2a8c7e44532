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


# ---- linear ----

__all__ += ["linear", "linear_backward"]


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _float_input(op, name, x):
    """`x` as a C-contiguous array for reading (a copy only when it is not one already);
    TypeError unless it is a float32/float64 ndarray."""
    _require_ndarray(op, name, x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] {name} has unsupported dtype {x.dtype}; expected float32 or float64")
    return np.ascontiguousarray(x)


def linear(input, weight, bias=None, activation=None):
    """``act(input @ weight.T + bias)``, as :func:`torch.nn.functional.linear` plus an
    optional activation fused into the product's epilogue (applied to each block of the
    result while it is still in cache, saving a pass over memory).

    Args:
        input: array of shape ``(*, in_features)``.
        weight: array of shape ``(out_features, in_features)``, input's dtype.
        bias: optional array of shape ``(out_features,)``.
        activation: None (none) — the only one for now.

    Shape:
        Output: ``(*, out_features)``, a new array.

    Raises:
        TypeError: non-ndarray, unsupported or mixed dtypes.
        ValueError: ``in_features`` mismatch, bad bias shape, unknown activation.
    """
    op = "linear"
    x = _float_input(op, "input", input)
    w = _float_input(op, "weight", weight)
    b = None if bias is None else _float_input(op, "bias", bias)
    if x.ndim == 0 or w.ndim != 2:
        raise ValueError(f"[{op}] expected input of shape (*, in_features) and a 2-D weight, got input of "
                         f"shape {x.shape} and weight of shape {w.shape}")
    if x.shape[-1] != w.shape[-1]:
        raise ValueError(f"[{op}] input has shape {x.shape} ({x.shape[-1]} features) but weight has shape "
                         f"{w.shape} ({w.shape[1]} input features)")
    name = "none" if activation is None else activation
    rows = _prod(x.shape[:-1])  # reshape(-1, k) is ambiguous for empty arrays
    out = _C.linear(x.reshape(rows, x.shape[-1]), w, b, name, 0.0)
    return out.reshape(x.shape[:-1] + (w.shape[0],))


def linear_backward(grad_output, input, weight, output_mask=(True, True, True)):
    """Gradients of ``input @ weight.T + bias`` (no activation: apply that activation's
    backward to ``grad_output`` first).

    Args:
        grad_output: array of shape ``(*, out_features)``.
        input, weight: the forward's arguments.
        output_mask: which of (grad_input, grad_weight, grad_bias) to compute.

    Returns:
        ``(grad_input, grad_weight, grad_bias)``: new arrays of the shapes of input, weight
        and ``(out_features,)``; None for each one not asked for.
    """
    op = "linear_backward"
    g = _float_input(op, "grad_output", grad_output)
    x = _float_input(op, "input", input)
    w = _float_input(op, "weight", weight)
    if x.ndim == 0 or w.ndim != 2 or g.shape != x.shape[:-1] + w.shape[:1]:
        raise ValueError(f"[{op}] shapes do not match: grad_output {g.shape}, input {x.shape}, weight {w.shape}")
    need_input, need_weight, need_bias = (bool(m) for m in output_mask)
    rows = _prod(x.shape[:-1])
    dx, dw, db = _C.linear_backward(g.reshape(rows, w.shape[0]), x.reshape(rows, x.shape[-1]), w,
                                    need_input, need_weight, need_bias)
    return (None if dx is None else dx.reshape(x.shape)), dw, db
