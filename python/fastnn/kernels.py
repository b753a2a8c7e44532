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


# ---- conv2d ----
__all__ += ["conv2d", "conv2d_backward"]


def _conv2d_pair(op, name, v):
    """An int or a pair of ints as a 2-tuple (TypeError/ValueError naming op and name)."""
    items = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(items) != 2:
        raise ValueError(f"[{op}] {name} must be an int or a pair of ints, got {v!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"[{op}] {name} must be an int or a pair of ints, got {v!r}")
    return int(items[0]), int(items[1])


def _conv2d_dtypes(op, arrays):
    """TypeError unless every (name, array) is an ndarray of float32/float64, all one dtype."""
    for name, a in arrays:
        _require_ndarray(op, name, a)
        if a.dtype not in (np.float32, np.float64) or not a.dtype.isnative:
            raise TypeError(f"[{op}] {name} has unsupported dtype {a.dtype}; expected float32 or float64")
    (first, a0), *rest = arrays
    for name, a in rest:
        if a.dtype != a0.dtype:
            raise TypeError(f"[{op}] {first} has dtype {a0.dtype} but {name} has dtype {a.dtype}; "
                            f"convert one so both match")


def _conv2d_args(op, input, weight, stride, padding, dilation, groups):
    """Checks the arrays' types and ranks and parses the parameters: returns (batched input,
    stride, (top, bottom, left, right) padding, dilation, groups)."""
    _require_ndarray(op, "input", input)
    _require_ndarray(op, "weight", weight)
    if input.ndim not in (3, 4):
        raise ValueError(f"[{op}] input has shape {input.shape}; expected a 3-D (C, H, W) or 4-D "
                         f"(N, C, H, W) array")
    if weight.ndim != 4:
        raise ValueError(f"[{op}] weight has shape {weight.shape}; expected a 4-D (OC, C/groups, KH, KW) array")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"[{op}] groups must be an int, got {groups!r}")
    groups = int(groups)
    stride = _conv2d_pair(op, "stride", stride)
    dilation = _conv2d_pair(op, "dilation", dilation)
    if min(stride) <= 0:
        raise ValueError(f"[{op}] stride must be positive, got {stride}")
    if min(dilation) <= 0:
        raise ValueError(f"[{op}] dilation must be positive, got {dilation}")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            # Output ceil(in / stride), as Keras/TensorFlow's 'same' (PyTorch's for stride 1):
            # total padding max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0), the
            # smaller half before and the extra one after.
            pads = ()
            for size, k, s, d in zip(input.shape[-2:], weight.shape[2:], stride, dilation):
                out = -(-size // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
                pads += (total // 2, total - total // 2)
        else:
            raise ValueError(f"[{op}] padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    else:
        ph, pw = _conv2d_pair(op, "padding", padding)
        if ph < 0 or pw < 0:
            raise ValueError(f"[{op}] padding must be non-negative, got {(ph, pw)}")
        pads = (ph, ph, pw, pw)
    x = input if input.ndim == 4 else input[np.newaxis]
    return x, stride, pads, dilation, groups


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) with :func:`torch.nn.functional.conv2d` semantics.

    ``out[n, oc, oh, ow] = bias[oc] + sum_{c, kh, kw} weight[oc, c, kh, kw] *
    input[n, g * C/groups + c, oh * stride_h - pad_top + kh * dilation_h,
    ow * stride_w - pad_left + kw * dilation_w]`` with ``g = oc // (OC/groups)`` and the
    input read as zero in the padding.

    Args:
        input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, float32 or float64.
        weight: ``(OC, C/groups, KH, KW)``, same dtype.
        bias: ``(OC,)``, same dtype, or None.
        stride: int or ``(sH, sW)``, positive.
        padding: int or ``(pH, pW)`` (that many zeros on both sides), ``'valid'`` (none) or
            ``'same'``: output size ``ceil(H / sH)`` for any stride (as Keras/TensorFlow;
            PyTorch only allows stride 1, where the two agree), total padding
            ``max((OH - 1) * sH + (KH - 1) * dH + 1 - H, 0)`` split with the smaller half
            on top/left.
        dilation: int or ``(dH, dW)``, positive.
        groups: positive, dividing both C and OC.

    Shape:
        Output ``(N, OC, OH, OW)`` (``(OC, OH, OW)`` for unbatched input), with
        ``OH = (H + pad_top + pad_bottom - dH * (KH - 1) - 1) // sH + 1`` and likewise OW.

    Returns:
        A new array of the input's dtype.

    Raises:
        TypeError: an argument is not an ndarray, not float32/float64, the dtypes differ, or
            a parameter is not an int (pair).
        ValueError: wrong ranks, channel mismatch, OC not divisible by groups, non-positive
            groups/stride/dilation, negative padding, an unknown padding string, a kernel
            larger than the padded input, or a bias not of shape ``(OC,)``.
    """
    op = "conv2d"
    arrays = (("input", input), ("weight", weight)) + ((("bias", bias),) if bias is not None else ())
    _conv2d_dtypes(op, arrays)
    x, stride, pads, dilation, groups = _conv2d_args(op, input, weight, stride, padding, dilation, groups)
    out = _C.conv2d_forward(np.ascontiguousarray(x), np.ascontiguousarray(weight),
                            None if bias is None else np.ascontiguousarray(bias),
                            stride[0], stride[1], *pads, dilation[0], dilation[1], groups)
    return out if input.ndim == 4 else out[0]


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1,
                    output_mask=(True, True, True)):
    """Gradients of :func:`conv2d` with respect to its input, weight and bias.

    Args:
        grad_output: ``dL/d out``, shaped like conv2d's output: ``(N, OC, OH, OW)``, or
            ``(OC, OH, OW)`` for unbatched input.
        input, weight: the forward's arrays (same dtype as grad_output).
        stride, padding, dilation, groups: the forward's parameters, as in :func:`conv2d`.
        output_mask: three bools: which of (grad_input, grad_weight, grad_bias) to compute.
            What is not asked for is not computed (``input`` is only read for grad_weight,
            ``weight`` only for grad_input).

    Returns:
        ``(grad_input, grad_weight, grad_bias)``: new arrays shaped like ``input``,
        ``weight`` and ``(OC,)``, or None where output_mask is False. ``grad_weight`` and
        ``grad_bias`` sum over the batch and every output position.

    Raises:
        TypeError / ValueError: as :func:`conv2d`; ValueError also when ``grad_output`` does
            not have the output's shape or output_mask is not three bools.
    """
    op = "conv2d_backward"
    _conv2d_dtypes(op, (("grad_output", grad_output), ("input", input), ("weight", weight)))
    x, stride, pads, dilation, groups = _conv2d_args(op, input, weight, stride, padding, dilation, groups)
    mask = tuple(output_mask) if isinstance(output_mask, (tuple, list)) else None
    if mask is None or len(mask) != 3 or not all(isinstance(m, (bool, np.bool_)) for m in mask):
        raise ValueError(f"[{op}] output_mask must be three bools, got {output_mask!r}")
    if grad_output.ndim != input.ndim:
        raise ValueError(f"[{op}] grad_output has shape {grad_output.shape} but input has shape "
                         f"{input.shape}; expected the output's shape")
    dy = grad_output if input.ndim == 4 else grad_output[np.newaxis]
    dx, dw, db = _C.conv2d_backward(np.ascontiguousarray(dy), np.ascontiguousarray(x),
                                    np.ascontiguousarray(weight), stride[0], stride[1], *pads,
                                    dilation[0], dilation[1], groups, bool(mask[0]), bool(mask[1]),
                                    bool(mask[2]))
    if dx is not None and input.ndim == 3:
        dx = dx[0]
    return dx, dw, db


# ---- optim ----
# In-place optimizer updates over a list of parameters, one fused multi-threaded pass per
# call, following torch.optim's update rules operation for operation. The caller owns and
# initialises the state (zeros, as torch.optim does, unless noted) and keeps step counts.
# Common contract of every *_step_ function:
#   - params and every state array used: numpy.ndarray, float32 or float64, C-contiguous,
#     aligned and writeable (else TypeError: they are updated in place and never copied);
#     each state array has its parameter's shape and dtype. Parameters of different dtypes
#     may share a list; each parameter's arrays share its dtype.
#   - grads: arrays of each parameter's shape and dtype, any strides (a strided or
#     misaligned grad, or one sharing memory with an updated array, is read from a copy).
#   - All lists have one entry per parameter (ValueError otherwise); no two updated arrays
#     may share memory (ValueError).
#   - Every argument is checked before anything is written: on any error nothing changes.
#   - Each element is updated independently: results do not depend on the thread count.

__all__ += ["sgd_step_", "adam_step_", "rmsprop_step_", "adagrad_step_"]


def sgd_step_(params, grads, momentum_buffers, *, lr=1e-3, momentum=0.0, dampening=0.0,
              nesterov=False, weight_decay=0.0, maximize=False, first_step=False):
    """One step of :class:`torch.optim.SGD` over a list of parameters, in place.

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                     (when weight_decay != 0)
        if momentum != 0:
            b = g if first_step else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g

    Args:
        params: list or tuple of parameter arrays (overwritten).
        grads: list or tuple of gradients, one per parameter (read only).
        momentum_buffers: list or tuple of momentum buffers ``b`` (overwritten); ignored
            and may be ``None`` when ``momentum == 0``.
        lr, momentum, dampening, nesterov, weight_decay, maximize: as torch.optim.SGD.
        first_step: ``True`` when the momentum buffers are fresh (the parameter's first
            update): each buffer is set to the gradient, undamped, and its old contents are
            never read, so ``np.empty_like`` buffers will do. A bool for all parameters or a
            list/tuple of one bool per parameter. Ignored when ``momentum == 0``.

    Raises:
        TypeError: a list is not a list/tuple; an array of the wrong type, dtype or layout;
            a buffer list is ``None`` although ``momentum != 0``.
        ValueError: mismatched list lengths or shapes, shared memory, or an invalid
            hyper-parameter (``lr``, ``momentum`` or ``weight_decay`` negative; ``nesterov``
            without positive momentum and zero dampening), worded as torch.optim's.
    """
    _C.sgd_step_(params, grads, momentum_buffers, float(lr), float(momentum), float(dampening),
                 float(weight_decay), bool(nesterov), bool(maximize), first_step)


def adam_step_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr=1e-3,
               beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
               maximize=False, decoupled_weight_decay=False):
    """One step of :class:`torch.optim.Adam` (or, with ``decoupled_weight_decay=True``,
    :class:`torch.optim.AdamW`) over a list of parameters, in place.

    For each parameter ``p`` with gradient ``g`` and step number ``t``::

        g = -g if maximize else g
        if decoupled_weight_decay: p = p * (1 - lr * weight_decay)     (AdamW)
        else:                      g = g + weight_decay * p            (when weight_decay != 0)
        m = lerp(m, g, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g
        if amsgrad: vmax = max(vmax, v); v_used = vmax    (the raw v, not bias-corrected)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v_used) / sqrt(1 - beta2**t) + eps)

    ``eps`` is added outside the square root, after bias-correcting it, as torch does.

    Args:
        params: list or tuple of parameter arrays (overwritten).
        grads: list or tuple of gradients (read only).
        exp_avgs, exp_avg_sqs: first and second moments ``m``, ``v`` (overwritten; start
            at zeros).
        max_exp_avg_sqs: ``vmax`` per parameter (overwritten; start at zeros) when
            ``amsgrad``; otherwise ignored and may be ``None``.
        steps: the step number ``t`` of this update, counted from 1 (torch's ``state["step"]``
            after its increment): an int shared by all parameters, or a list/tuple of one
            int per parameter. The caller keeps and increments the counts.
        lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay: as
            torch.optim.Adam (``betas=(beta1, beta2)``).

    Raises:
        TypeError: as :func:`sgd_step_`; ``steps`` not an int or a list/tuple of ints.
        ValueError: mismatched lengths or shapes, shared memory, a step below 1, or an
            invalid hyper-parameter (negative ``lr``, ``eps`` or ``weight_decay``; a beta
            outside ``[0, 1)``), worded as torch.optim's.
    """
    _C.adam_step_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, float(lr),
                  float(beta1), float(beta2), float(eps), float(weight_decay), bool(amsgrad),
                  bool(maximize), bool(decoupled_weight_decay))


def rmsprop_step_(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr=1e-2,
                  alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                  maximize=False):
    """One step of :class:`torch.optim.RMSprop` over a list of parameters, in place.

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                     (when weight_decay != 0)
        s = alpha * s + (1 - alpha) * g * g
        if centered: a = lerp(a, g, 1 - alpha); avg = sqrt(s - a * a) + eps
        else:        avg = sqrt(s) + eps
        if momentum > 0: b = momentum * b + g / avg; p = p - lr * b
        else:            p = p - lr * g / avg

    Args:
        params: list or tuple of parameter arrays (overwritten).
        grads: list or tuple of gradients (read only).
        square_avgs: ``s`` per parameter (overwritten; start at zeros).
        grad_avgs: ``a`` per parameter (overwritten; start at zeros) when ``centered``;
            otherwise ignored and may be ``None``.
        momentum_buffers: ``b`` per parameter (overwritten; start at zeros) when
            ``momentum > 0``; otherwise ignored and may be ``None``.
        lr, alpha, eps, weight_decay, momentum, centered, maximize: as torch.optim.RMSprop.

    Raises:
        TypeError: as :func:`sgd_step_`.
        ValueError: mismatched lengths or shapes, shared memory, or an invalid
            hyper-parameter (negative ``lr``, ``eps``, ``momentum``, ``weight_decay`` or
            ``alpha``), worded as torch.optim's.
    """
    _C.rmsprop_step_(params, grads, square_avgs, grad_avgs, momentum_buffers, float(lr),
                     float(alpha), float(eps), float(weight_decay), float(momentum),
                     bool(centered), bool(maximize))


def adagrad_step_(params, grads, state_sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                  eps=1e-10, maximize=False):
    """One step of :class:`torch.optim.Adagrad` over a list of parameters, in place.

    For each parameter ``p`` with gradient ``g`` and step number ``t``::

        g = -g if maximize else g
        g = g + weight_decay * p                     (when weight_decay != 0)
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    Args:
        params: list or tuple of parameter arrays (overwritten).
        grads: list or tuple of gradients (read only).
        state_sums: ``s`` per parameter (overwritten); start at
            ``initial_accumulator_value`` (torch's default 0), which the caller fills in.
        steps: the step number ``t`` counted from 1, an int or one int per parameter, as in
            :func:`adam_step_`.
        lr, lr_decay, weight_decay, eps, maximize: as torch.optim.Adagrad.

    Raises:
        TypeError: as :func:`adam_step_`.
        ValueError: mismatched lengths or shapes, shared memory, a step below 1, or an
            invalid hyper-parameter (negative ``lr``, ``lr_decay``, ``weight_decay`` or
            ``eps``), worded as torch.optim's.
    """
    _C.adagrad_step_(params, grads, state_sums, steps, float(lr), float(lr_decay),
                     float(weight_decay), float(eps), bool(maximize))
