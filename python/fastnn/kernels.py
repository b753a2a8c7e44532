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


def _check_float(op, name, x):
    """TypeError naming the op unless x is a float32/float64 ndarray in native byte order."""
    _require_ndarray(op, name, x)
    if x.dtype not in (np.float32, np.float64) or not x.dtype.isnative:
        raise TypeError(f"[{op}] {name} has unsupported dtype {x.dtype}; expected float32 or float64")


def _ready(x):
    """Whether x can go to _C as it is: an ndarray that is C-contiguous and aligned (the
    bindings then check dtypes, shapes and values themselves, with the same messages). The
    per-op cost of small layers is mostly such Python-side checks."""
    return type(x) is np.ndarray and x.flags.c_contiguous and x.flags.aligned


def _ready_2d(x):
    return _ready(x) and x.ndim == 2


def _float_input(op, name, x):
    """x checked by _check_float, as a C-contiguous aligned array to read: a copy only when it
    is not one already (inputs may be copied; outputs and in-place state never are)."""
    _check_float(op, name, x)
    return x if x.flags.c_contiguous and x.flags.aligned else np.array(x, order="C", copy=True)


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


_ACTIVATION_PARAM = {"leaky_relu": 0.01, "elu": 1.0}


def _linear_activation(op, activation):
    """(name, parameter) of linear's `activation` argument."""
    if activation is None:
        return "none", 0.0
    if isinstance(activation, tuple) and len(activation) == 2 and activation[0] in _ACTIVATION_PARAM:
        return activation[0], float(activation[1])
    if isinstance(activation, str):
        return activation, _ACTIVATION_PARAM.get(activation, 0.0)
    raise ValueError(f"[{op}] activation must be None, a name or a (name, parameter) pair, got {activation!r}")


def linear(input, weight, bias=None, activation=None):
    """``act(input @ weight.T + bias)``, as :func:`torch.nn.functional.linear` plus an
    optional activation fused into the product's epilogue (applied to each block of the
    result while it is still in cache, saving a pass over memory).

    Args:
        input: array of shape ``(*, in_features)``.
        weight: array of shape ``(out_features, in_features)``, input's dtype.
        bias: optional array of shape ``(out_features,)``.
        activation: None, or the activation to fuse, by its functional name: ``"relu"``,
            ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"gelu_tanh"`` (gelu with
            ``approximate="tanh"``), ``"sigmoid"``, ``"tanh"``; or a pair
            ``("leaky_relu", negative_slope)`` / ``("elu", alpha)`` (defaults 0.01 and 1.0).
            The result equals that function applied to the unfused output, bit for bit.

    Shape:
        Output: ``(*, out_features)``, a new array.

    Raises:
        TypeError: non-ndarray, unsupported or mixed dtypes.
        ValueError: ``in_features`` mismatch, bad bias shape, unknown activation.

    Example:
        >>> h = linear(x, w1, b1, activation="relu")   # one pass: product, bias, relu
    """
    op = "linear"
    if activation is None and _ready_2d(input) and _ready_2d(weight) and (bias is None or _ready(bias)):
        return _C.linear(input, weight, bias, "none", 0.0)  # the common case; C++ checks the rest
    x = _float_input(op, "input", input)
    w = _float_input(op, "weight", weight)
    b = None if bias is None else _float_input(op, "bias", bias)
    if x.ndim == 0 or w.ndim != 2:
        raise ValueError(f"[{op}] expected input of shape (*, in_features) and a 2-D weight, got input of "
                         f"shape {x.shape} and weight of shape {w.shape}")
    if x.shape[-1] != w.shape[-1]:
        raise ValueError(f"[{op}] input has shape {x.shape} ({x.shape[-1]} features) but weight has shape "
                         f"{w.shape} ({w.shape[1]} input features)")
    name, param = _linear_activation(op, activation)
    rows = _prod(x.shape[:-1])  # reshape(-1, k) is ambiguous for empty arrays
    out = _C.linear(x.reshape(rows, x.shape[-1]), w, b, name, param)
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
    if _ready_2d(grad_output) and _ready_2d(input) and _ready_2d(weight):  # C++ checks the rest
        return _C.linear_backward(grad_output, input, weight, *(bool(m) for m in output_mask))
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
        _check_float(op, name, a)
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
    stride, pads, dilation, groups = _conv2d_params(op, input.shape, weight.shape, stride, padding, dilation, groups)
    x = input if input.ndim == 4 else input[np.newaxis]
    return x, stride, pads, dilation, groups


def _conv2d_params(op, input_shape, weight_shape, stride, padding, dilation, groups):
    """Checks the ranks of input (3-D or 4-D) and weight (4-D) shapes and parses the
    parameters: returns (stride, (top, bottom, left, right) padding, dilation, groups).
    Shared with fastnn.cuda.kernels."""
    if len(input_shape) not in (3, 4):
        raise ValueError(f"[{op}] input has shape {input_shape}; expected a 3-D (C, H, W) or 4-D "
                         f"(N, C, H, W) array")
    if len(weight_shape) != 4:
        raise ValueError(f"[{op}] weight has shape {weight_shape}; expected a 4-D (OC, C/groups, KH, KW) array")
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
            for size, k, s, d in zip(input_shape[-2:], weight_shape[2:], stride, dilation):
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
    return stride, pads, dilation, groups


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


# ---- pool ----

__all__ += ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
            "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"]


def _pool_pair(op, name, value):
    """An int or a sequence of one or two ints as an (h, w) pair of Python ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[-1])
    raise TypeError(f"[{op}] {name} must be an int or a tuple of two ints, got {value!r}")


def _pool_window(op, kernel_size, stride, padding):
    kh, kw = _pool_pair(op, "kernel_size", kernel_size)
    # torch: stride=None (or an empty list) means stride = kernel_size
    sh, sw = (kh, kw) if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pool_pair(op, "stride", stride)
    ph, pw = _pool_pair(op, "padding", padding)
    return kh, kw, sh, sw, ph, pw


def _pool_shape(op, input_shape):
    try:
        return tuple(int(v) for v in input_shape)
    except TypeError:
        raise TypeError(f"[{op}] input_shape must be a sequence of ints, got {input_shape!r}") from None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling with :func:`torch.nn.functional.max_pool2d` semantics.

    Output element ``(oh, ow)`` is the maximum of the window of rows
    ``oh*stride[0] - padding[0] + kh*dilation[0]`` and the matching columns; padding never
    wins (it acts as -inf). Ties keep the first maximum in row-major window order, and a NaN
    in the window propagates (the last NaN is reported), as PyTorch's CPU kernel.

    Args:
        input: float32 or float64 array of shape ``(N, C, H, W)`` or ``(C, H, W)``
            (``N`` may be 0). Non-contiguous arrays are copied first.
        kernel_size, stride, padding, dilation: an int or a pair ``(h, w)``; ``stride``
            defaults to ``kernel_size``. ``padding`` must be at most half the kernel size.
        ceil_mode: round the output size up instead of down; the last window must still
            start inside the input or the left padding.
        return_indices: also return where each maximum came from.

    Shape:
        Output ``(N, C, OH, OW)`` / ``(C, OH, OW)`` with
        ``OH = floor((H + 2*padding - dilation*(kernel-1) - 1 [+ stride-1 with ceil_mode]) / stride) + 1``
        (less one if ceil_mode would start the last window in the right padding).

    Returns:
        The pooled array (input's dtype), or ``(output, indices)`` with ``return_indices``:
        ``indices`` is int64, output's shape, holding the flat offset ``h*W + w`` of each
        maximum within its input plane (PyTorch's convention). A window that covers no
        input element at all (possible with dilation) gives -inf and, like PyTorch, an
        offset outside the plane, which :func:`max_pool2d_backward` rejects.

    Raises:
        TypeError: input not a float32/float64 ndarray; a parameter not an int or pair.
        ValueError: input not 3-D/4-D or with C, H or W of 0; kernel_size, stride or
            dilation < 1; padding < 0 or more than half the kernel; output size < 1.
    """
    op = "max_pool2d"
    x = _float_input(op, "input", input)
    kh, kw, sh, sw, ph, pw = _pool_window(op, kernel_size, stride, padding)
    dh, dw = _pool_pair(op, "dilation", dilation)
    return _C.max_pool2d(x, kh, kw, sh, sw, ph, pw, dh, dw, bool(ceil_mode), bool(return_indices))


def max_pool2d_backward(grad_output, indices, input_shape):
    """Gradient of :func:`max_pool2d` with respect to its input.

    ``grad_input.reshape(P, H*W)[p, indices[p, o]] += grad_output[p, o]`` for every plane
    ``p`` and output ``o``; where windows overlap (stride < kernel) an input element sums
    the gradients of every output it was the maximum of, always in increasing output order,
    so the result is identical for any thread count.

    Args:
        grad_output: float32/float64 array, the shape of max_pool2d's output.
        indices: the int64 indices max_pool2d returned (same shape as ``grad_output``).
        input_shape: the shape of max_pool2d's input, ``(N, C, H, W)`` or ``(C, H, W)``.

    Returns:
        A new array ``grad_input`` of ``input_shape`` and grad_output's dtype.

    Raises:
        TypeError: grad_output not a float ndarray, indices not int64.
        ValueError: shapes that do not match each other or ``input_shape``.
        IndexError: an index outside ``[0, H*W)``.
    """
    op = "max_pool2d_backward"
    go = _float_input(op, "grad_output", grad_output)
    _require_ndarray(op, "indices", indices)
    return _C.max_pool2d_backward(go, np.ascontiguousarray(indices), _pool_shape(op, input_shape))


def _avg_divisor(op, divisor_override):
    if divisor_override is None:
        return 0
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
        raise TypeError(f"[{op}] divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override <= 0:
        raise ValueError(f"[{op}] divisor_override must be positive, got {divisor_override}")
    return int(divisor_override)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling with :func:`torch.nn.functional.avg_pool2d` semantics.

    Each output is the sum of the window's in-range elements divided by: ``divisor_override``
    when given; else, with ``count_include_pad``, the window's size counting the zero
    padding but clipped at the padded edge (a ceil_mode window that runs past
    ``H + padding`` counts only up to it); else the number of in-range elements. Sums are
    accumulated in float64.

    Args:
        input: float32 or float64 array ``(N, C, H, W)`` or ``(C, H, W)``.
        kernel_size, stride, padding: an int or a pair; ``stride`` defaults to
            ``kernel_size``; ``padding`` at most half the kernel size.
        ceil_mode, count_include_pad, divisor_override: as above.

    Shape:
        As :func:`max_pool2d` with dilation 1.

    Returns:
        A new array of the input's dtype.

    Raises:
        TypeError / ValueError: as :func:`max_pool2d`; ``divisor_override`` <= 0.
    """
    op = "avg_pool2d"
    x = _float_input(op, "input", input)
    kh, kw, sh, sw, ph, pw = _pool_window(op, kernel_size, stride, padding)
    return _C.avg_pool2d(x, kh, kw, sh, sw, ph, pw, bool(ceil_mode), bool(count_include_pad),
                         _avg_divisor(op, divisor_override))


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Every input element receives ``grad_output / divisor`` from each window it lies in
    (added in increasing output order). The pooling arguments must be those of the forward.

    Args:
        grad_output: float32/float64 array, the shape of avg_pool2d's output.
        input_shape: the forward input's shape.
        kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override: as
            given to :func:`avg_pool2d`.

    Returns:
        A new array ``grad_input`` of ``input_shape`` and grad_output's dtype.

    Raises:
        TypeError / ValueError: as :func:`avg_pool2d`; grad_output not of the output's shape.
    """
    op = "avg_pool2d_backward"
    go = _float_input(op, "grad_output", grad_output)
    kh, kw, sh, sw, ph, pw = _pool_window(op, kernel_size, stride, padding)
    return _C.avg_pool2d_backward(go, _pool_shape(op, input_shape), kh, kw, sh, sw, ph, pw, bool(ceil_mode),
                                  bool(count_include_pad), _avg_divisor(op, divisor_override))


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling with :func:`torch.nn.functional.adaptive_avg_pool2d`
    semantics: output ``(i, j)`` averages rows ``floor(i*H/OH)`` to ``ceil((i+1)*H/OH)``
    (exclusive) and the matching columns. ``output_size=1`` is global average pooling.

    Args:
        input: float32 or float64 array ``(N, C, H, W)`` or ``(C, H, W)``.
        output_size: an int or a pair ``(OH, OW)``; a ``None`` entry keeps that input size.

    Returns:
        A new array ``(N, C, OH, OW)`` / ``(C, OH, OW)`` of the input's dtype (sums in
        float64).

    Raises:
        TypeError: input not a float ndarray; output_size not an int, pair or None entries.
        ValueError: input not 3-D/4-D or with C, H or W of 0; a negative output size.
    """
    op = "adaptive_avg_pool2d"
    x = _float_input(op, "input", input)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        size = tuple(x.shape[-2 + i] if v is None else v for i, v in enumerate(output_size))
    else:
        size = output_size
    oh, ow = _pool_pair(op, "output_size", size)
    return _C.adaptive_avg_pool2d(x, oh, ow)


def adaptive_avg_pool2d_backward(grad_output, input_shape):
    """Gradient of :func:`adaptive_avg_pool2d`: every input element receives
    ``grad_output[i, j] / window_size(i, j)`` from each window ``(i, j)`` it lies in.

    Args:
        grad_output: float32/float64 array ``(N, C, OH, OW)`` / ``(C, OH, OW)``.
        input_shape: the forward input's shape.

    Returns:
        A new array ``grad_input`` of ``input_shape`` and grad_output's dtype.

    Raises:
        TypeError / ValueError: as :func:`adaptive_avg_pool2d`; mismatched leading dimensions.
    """
    op = "adaptive_avg_pool2d_backward"
    go = _float_input(op, "grad_output", grad_output)
    return _C.adaptive_avg_pool2d_backward(go, _pool_shape(op, input_shape))


# ---- norm ----

__all__ += ["batch_norm", "batch_norm_forward", "batch_norm_backward"]


def _norm_input(op, name, x):
    return None if x is None else _float_input(op, name, x)


def batch_norm_forward(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-05):
    """:func:`batch_norm`, also returning what :func:`batch_norm_backward` needs.

    Returns:
        ``(output, save_mean, save_invstd)``: ``save_mean`` and ``save_invstd`` have shape
        ``(C,)`` and the input's dtype. In training they are the batch mean and
        ``1 / sqrt(biased batch variance + eps)`` (0 and 0 for an empty batch); in evaluation,
        ``running_mean`` and ``1 / sqrt(running_var + eps)``.

    Everything else (arguments, updates, errors) is as :func:`batch_norm`.
    """
    op = "batch_norm"
    x = _norm_input(op, "input", input)
    w = _norm_input(op, "weight", weight)
    b = _norm_input(op, "bias", bias)
    return _C.batch_norm(x, running_mean, running_var, w, b, bool(training), float(momentum), float(eps))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    """Batch normalisation with :func:`torch.nn.functional.batch_norm` semantics.

    ``out = (input - mean) / sqrt(var + eps) * weight + bias`` per channel (axis 1). In
    training, ``mean`` and ``var`` are the batch's (the biased variance) over every axis but
    1, and the running statistics, when given, are updated in place:
    ``running_mean = (1 - momentum) * running_mean + momentum * mean`` and
    ``running_var = (1 - momentum) * running_var + momentum * var * M / (M - 1)`` (the
    unbiased variance; ``M`` values per channel). In evaluation the running statistics are
    used and left unchanged. Sums run in float64, in an order that does not depend on the
    thread count.

    Args:
        input: float32 or float64 array ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``.
        running_mean, running_var: ``(C,)`` arrays of the input's dtype, C-contiguous and
            writeable (updated in place, never copied), or None (training only: then nothing
            is updated).
        weight, bias: optional ``(C,)`` arrays of the input's dtype (1 and 0 when None).
        training: use batch statistics and update the running ones.
        momentum, eps: as above.

    Shape:
        Output: the input's shape and dtype.

    Returns:
        The normalised array (a new array). :func:`batch_norm_forward` also returns the
        statistics for the backward.

    Raises:
        TypeError: arrays of other dtypes; a running statistic that is not a C-contiguous,
            writeable ndarray of the input's dtype.
        ValueError: input not 2-D to 4-D; a ``(C,)`` argument of another length; evaluation
            without running statistics; training with one value per channel ("Expected more
            than 1 value per channel when training"). Nothing is updated when an error is
            raised.
    """
    return batch_norm_forward(input, running_mean, running_var, weight, bias, training, momentum, eps)[0]


def batch_norm_backward(grad_output, input, weight, save_mean, save_invstd, training=True,
                        output_mask=(True, True, True)):
    """Gradients of :func:`batch_norm` given :func:`batch_norm_forward`'s saved statistics.

    With ``xhat = (input - save_mean) * save_invstd`` and ``M`` values per channel:
    ``grad_bias = sum(grad_output)``, ``grad_weight = sum(grad_output * xhat)`` (sums over
    every axis but 1), and ``grad_input = weight * save_invstd * (grad_output -
    grad_bias / M - xhat * grad_weight / M)`` in training (the batch statistics depend on
    the input) or ``weight * save_invstd * grad_output`` in evaluation.

    Args:
        grad_output: array of the input's shape and dtype.
        input: the forward's input.
        weight: the forward's weight, or None (1).
        save_mean, save_invstd: as returned by :func:`batch_norm_forward`.
        training: the forward's ``training``.
        output_mask: which of ``(grad_input, grad_weight, grad_bias)`` to compute.

    Returns:
        ``(grad_input, grad_weight, grad_bias)``, new arrays; None where the mask is False.

    Raises:
        TypeError / ValueError: as :func:`batch_norm` for mismatched dtypes or shapes.
    """
    op = "batch_norm_backward"
    g = _norm_input(op, "grad_output", grad_output)
    x = _norm_input(op, "input", input)
    w = _norm_input(op, "weight", weight)
    sm = _norm_input(op, "save_mean", save_mean)
    si = _norm_input(op, "save_invstd", save_invstd)
    mask = tuple(bool(v) for v in output_mask)
    if len(mask) != 3:
        raise ValueError(f"[{op}] output_mask must have 3 entries, got {output_mask!r}")
    return _C.batch_norm_backward(g, x, w, sm, si, bool(training), *mask)


# ---- dropout ----

__all__ += ["dropout", "dropout_backward"]


def _dropout_args(op, name, x, p, seed, offset):
    _check_float(op, name, x)
    return _dropout_params(op, p, seed, offset)


def _dropout_params(op, p, seed, offset):
    """(p, seed, offset) checked as dropout takes them (shared with fastnn.cuda.kernels)."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"[{op}] dropout probability has to be between 0 and 1, but got {p}")
    for arg, value in (("seed", seed), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"[{op}] {arg} must be an int, got {value!r}")
        if not 0 <= int(value) < 2 ** 64:
            raise ValueError(f"[{op}] {arg} must be in [0, 2**64), got {value}")
    return p, int(seed), int(offset)


def dropout(input, p=0.5, training=True, inplace=False, *, seed, offset=0):
    """Dropout with :func:`torch.nn.functional.dropout` semantics and a reproducible mask.

    Each element is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``, or
    zeroed (as ``input * 0``: NaN and Inf stay NaN, as in PyTorch). Element ``i`` (in
    C order) keeps or drops by the Philox4x32-10 word at stream position ``offset + i``
    under key ``seed`` (Salmon et al., SC 2011): word ``j % 4`` of the block at counter
    ``j // 4``, kept when below ``round((1 - p) * 2**32)``. So the mask depends only on
    ``(seed, offset)``, not on the thread count, and a slice ``input[a:b]`` of a 1-D array
    dropped with ``offset=a`` gets exactly that slice of the full mask. Give each call its
    own stream range (e.g. advance ``offset`` by ``input.size``) for independent masks.

    Args:
        input: float32 or float64 array, any shape.
        p: probability of an element being zeroed, in ``[0, 1]``.
        training: when False (or ``p == 0``, or ``input`` is empty) ``input`` itself is
            returned, as PyTorch does.
        inplace: overwrite ``input`` (which must be C-contiguous and writeable) and return it.
        seed: the generator key, an int in ``[0, 2**64)`` (keyword-only, required).
        offset: stream position of the first element, an int >= 0.

    Returns:
        A new array of the input's shape and dtype, or ``input`` itself (see above).
        ``p == 1`` gives zeros (NaN where ``input`` is NaN or infinite).

    Raises:
        TypeError: input not a float32/float64 ndarray; seed or offset not an int.
        ValueError: p outside [0, 1]; seed or offset out of range, or offset + input.size
            beyond 2**64; inplace on a non-contiguous or read-only array.
    """
    op = "dropout"
    p, seed, offset = _dropout_args(op, "input", input, p, seed, offset)
    if not training or p == 0.0 or input.size == 0:
        return input
    if inplace:
        return _C.dropout(op, input, input, p, seed, offset)
    return _C.dropout(op, np.ascontiguousarray(input), None, p, seed, offset)


def dropout_backward(grad_output, p, *, seed, offset=0):
    """Gradient of :func:`dropout` (training mode): ``grad_output * mask / (1 - p)``, the
    mask regenerated from the forward's ``(seed, offset)`` (nothing is stored).

    Args:
        grad_output: float32/float64 array of the forward input's shape.
        p, seed, offset: exactly as given to the forward.

    Returns:
        A new array ``grad_input`` (also when ``p == 0``: then a copy of ``grad_output``).

    Raises:
        As :func:`dropout`.
    """
    op = "dropout_backward"
    p, seed, offset = _dropout_args(op, "grad_output", grad_output, p, seed, offset)
    g = np.ascontiguousarray(grad_output)
    if p == 0.0 or g.size == 0:
        return g.copy() if g is grad_output else g
    return _C.dropout(op, g, None, p, seed, offset)


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
