"""fastnn.kernels on the GPU: the same function names, arguments, semantics and error
messages, taking and returning :class:`fastnn.cuda.DeviceArray` instead of NumPy arrays.

Differences from :mod:`fastnn.kernels`: device arrays are always C-contiguous, so there are
no strided views and ``out=`` / ``c=`` must be device arrays of the exact shape and dtype;
class-index targets of :func:`cross_entropy` may be int64 device arrays or NumPy arrays
(uint8 or int64), and are checked on the host before any kernel runs. Each function's
documentation is its CPU twin's (see fastnn.kernels); results match the CPU kernels within
the per-op tolerances of tests/reference.py, and dropout masks match bit for bit.

Without a usable device every function raises RuntimeError saying why; a NumPy array given
where a device array is expected raises TypeError.
"""

import numpy as np

from .. import kernels as _cpu
from . import DeviceArray, _require

__all__ = ["matmul", "gemm", "conv2d", "conv2d_backward", "sgd_step_", "adam_step_", "rmsprop_step_",
           "adagrad_step_", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
           "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "batch_norm", "batch_norm_forward",
           "batch_norm_backward", "dropout", "dropout_backward", "relu", "relu_backward", "leaky_relu",
           "leaky_relu_backward", "elu", "elu_backward", "gelu", "gelu_backward", "sigmoid", "sigmoid_backward",
           "tanh", "tanh_backward", "softplus", "softplus_backward", "softmax", "softmax_backward", "log_softmax",
           "log_softmax_backward", "cross_entropy", "cross_entropy_backward", "add", "sub", "mul", "div", "scale",
           "sum", "mean"]


def _device(op, name, x):
    """TypeError unless x is a DeviceArray (the C++ checks say the same; this one guards
    the Python-side shape handling that comes first)."""
    if not isinstance(x, DeviceArray):
        raise TypeError(f"[{op}] {name} must be a fastnn.cuda.DeviceArray, got {type(x).__name__}")
    return x


# ---- gemm ----

def matmul(a, b, out=None):
    """:func:`fastnn.kernels.matmul` on device arrays (1-D, 2-D or 3-D, numpy.matmul rules)."""
    op = "matmul"
    m = _require(op)
    _device(op, "a", a)
    _device(op, "b", b)
    if a.ndim >= 2 and b.ndim >= 2:
        return m.gemm(op, a, b, out, 1.0, 0.0, False, False)
    for name, x in (("a", a), ("b", b)):
        if x.ndim == 0 or x.ndim > 3:
            raise ValueError(f"[{op}] {name} has shape {x.shape}; matmul takes 1-D, 2-D or 3-D arrays")
    ka, kb = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"[{op}] inner dimensions do not match: a has shape {a.shape} and b has "
                         f"shape {b.shape} ({ka} != {kb})")
    # A 1-D operand becomes a row (a) or column (b) vector, and that axis is dropped again.
    a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
    b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b

    def squeezed(shape):
        shape = shape[:-1] if b.ndim == 1 else shape
        return shape[:-2] + shape[-1:] if a.ndim == 1 and b.ndim != 1 else shape[:-1] if a.ndim == 1 else shape

    if out is None:
        result = m.gemm(op, a2, b2, None, 1.0, 0.0, False, False)
        return result.reshape(squeezed(result.shape))
    _device(op, "out", out)
    batch = a2.shape[:-2] if a2.ndim == 3 else b2.shape[:-2]
    full = batch + (a2.shape[-2], b2.shape[-1])
    if out.shape != squeezed(full):
        raise ValueError(f"[{op}] out has shape {out.shape}, expected {squeezed(full)}")
    m.gemm(op, a2, b2, out.reshape(full), 1.0, 0.0, False, False)
    return out


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """:func:`fastnn.kernels.gemm` on device arrays: ``C = alpha * op(a) @ op(b) + beta * C``
    (beta == 0 never reads C; alpha == 0 never reads a and b). Plain float32/float64
    arithmetic: no TF32."""
    return _require("gemm").gemm("gemm", a, b, c, float(alpha), float(beta), bool(trans_a), bool(trans_b))


def _gemm_ref(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """The one-thread-per-element reference GEMM (tests compare the tiled kernel with it)."""
    return _require("gemm").gemm("gemm", a, b, c, float(alpha), float(beta), bool(trans_a), bool(trans_b), True)


# ---- conv2d ----

def _conv_input(op, input, weight, stride, padding, dilation, groups):
    _device(op, "input", input)
    _device(op, "weight", weight)
    stride, pads, dilation, groups = _cpu._conv2d_params(op, input.shape, weight.shape, stride, padding,
                                                         dilation, groups)
    x = input if input.ndim == 4 else input.reshape((1,) + input.shape)
    return x, stride, pads, dilation, groups


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`fastnn.kernels.conv2d` on device arrays (im2col and the tiled GEMM)."""
    op = "conv2d"
    m = _require(op)
    x, stride, pads, dilation, groups = _conv_input(op, input, weight, stride, padding, dilation, groups)
    out = m.conv2d_forward(x, weight, bias, stride[0], stride[1], *pads, dilation[0], dilation[1], groups)
    return out if input.ndim == 4 else out.reshape(out.shape[1:])


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1,
                    output_mask=(True, True, True)):
    """:func:`fastnn.kernels.conv2d_backward` on device arrays."""
    op = "conv2d_backward"
    m = _require(op)
    _device(op, "grad_output", grad_output)
    x, stride, pads, dilation, groups = _conv_input(op, input, weight, stride, padding, dilation, groups)
    mask = tuple(output_mask) if isinstance(output_mask, (tuple, list)) else None
    if mask is None or len(mask) != 3 or not all(isinstance(v, (bool, np.bool_)) for v in mask):
        raise ValueError(f"[{op}] output_mask must be three bools, got {output_mask!r}")
    if grad_output.ndim != input.ndim:
        raise ValueError(f"[{op}] grad_output has shape {grad_output.shape} but input has shape "
                         f"{input.shape}; expected the output's shape")
    dy = grad_output if input.ndim == 4 else grad_output.reshape((1,) + grad_output.shape)
    dx, dw, db = m.conv2d_backward(dy, x, weight, stride[0], stride[1], *pads, dilation[0], dilation[1], groups,
                                   bool(mask[0]), bool(mask[1]), bool(mask[2]))
    if dx is not None and input.ndim == 3:
        dx = dx.reshape(input.shape)
    return dx, dw, db


# ---- optim (the contract of fastnn.kernels' *_step_, on lists of device arrays) ----

def sgd_step_(params, grads, momentum_buffers, *, lr=1e-3, momentum=0.0, dampening=0.0,
              nesterov=False, weight_decay=0.0, maximize=False, first_step=False):
    """:func:`fastnn.kernels.sgd_step_` on device arrays: one launch for the whole list."""
    _require("sgd_step_").sgd_step_(params, grads, momentum_buffers, float(lr), float(momentum), float(dampening),
                                    float(weight_decay), bool(nesterov), bool(maximize), first_step)


def adam_step_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr=1e-3,
               beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
               maximize=False, decoupled_weight_decay=False):
    """:func:`fastnn.kernels.adam_step_` (Adam / AdamW) on device arrays."""
    _require("adam_step_").adam_step_(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, float(lr),
                                      float(beta1), float(beta2), float(eps), float(weight_decay), bool(amsgrad),
                                      bool(maximize), bool(decoupled_weight_decay))


def rmsprop_step_(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr=1e-2,
                  alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                  maximize=False):
    """:func:`fastnn.kernels.rmsprop_step_` on device arrays."""
    _require("rmsprop_step_").rmsprop_step_(params, grads, square_avgs, grad_avgs, momentum_buffers, float(lr),
                                            float(alpha), float(eps), float(weight_decay), float(momentum),
                                            bool(centered), bool(maximize))


def adagrad_step_(params, grads, state_sums, steps, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                  eps=1e-10, maximize=False):
    """:func:`fastnn.kernels.adagrad_step_` on device arrays."""
    _require("adagrad_step_").adagrad_step_(params, grads, state_sums, steps, float(lr), float(lr_decay),
                                            float(weight_decay), float(eps), bool(maximize))


# ---- pool ----

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """:func:`fastnn.kernels.max_pool2d` on device arrays (PyTorch's tie and NaN rules;
    indices are an int64 device array)."""
    op = "max_pool2d"
    m = _require(op)
    kh, kw, sh, sw, ph, pw = _cpu._pool_window(op, kernel_size, stride, padding)
    dh, dw = _cpu._pool_pair(op, "dilation", dilation)
    return m.max_pool2d(input, kh, kw, sh, sw, ph, pw, dh, dw, bool(ceil_mode), bool(return_indices))


def max_pool2d_backward(grad_output, indices, input_shape):
    """:func:`fastnn.kernels.max_pool2d_backward` on device arrays (IndexError for an index
    outside the plane, found by the kernel and reported after it)."""
    op = "max_pool2d_backward"
    return _require(op).max_pool2d_backward(grad_output, indices, _cpu._pool_shape(op, input_shape))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """:func:`fastnn.kernels.avg_pool2d` on device arrays."""
    op = "avg_pool2d"
    m = _require(op)
    kh, kw, sh, sw, ph, pw = _cpu._pool_window(op, kernel_size, stride, padding)
    return m.avg_pool2d(input, kh, kw, sh, sw, ph, pw, bool(ceil_mode), bool(count_include_pad),
                        _cpu._avg_divisor(op, divisor_override))


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """:func:`fastnn.kernels.avg_pool2d_backward` on device arrays."""
    op = "avg_pool2d_backward"
    m = _require(op)
    kh, kw, sh, sw, ph, pw = _cpu._pool_window(op, kernel_size, stride, padding)
    return m.avg_pool2d_backward(grad_output, _cpu._pool_shape(op, input_shape), kh, kw, sh, sw, ph, pw,
                                 bool(ceil_mode), bool(count_include_pad), _cpu._avg_divisor(op, divisor_override))


def adaptive_avg_pool2d(input, output_size):
    """:func:`fastnn.kernels.adaptive_avg_pool2d` on device arrays."""
    op = "adaptive_avg_pool2d"
    m = _require(op)
    _device(op, "input", input)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        size = tuple(input.shape[-2 + i] if v is None else v for i, v in enumerate(output_size))
    else:
        size = output_size
    oh, ow = _cpu._pool_pair(op, "output_size", size)
    return m.adaptive_avg_pool2d(input, oh, ow)


def adaptive_avg_pool2d_backward(grad_output, input_shape):
    """:func:`fastnn.kernels.adaptive_avg_pool2d_backward` on device arrays."""
    op = "adaptive_avg_pool2d_backward"
    return _require(op).adaptive_avg_pool2d_backward(grad_output, _cpu._pool_shape(op, input_shape))


# ---- norm ----

def batch_norm_forward(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-05):
    """:func:`fastnn.kernels.batch_norm_forward` on device arrays: ``(output, save_mean,
    save_invstd)``; running statistics (device arrays) are updated in place in training."""
    return _require("batch_norm").batch_norm(input, running_mean, running_var, weight, bias, bool(training),
                                             float(momentum), float(eps))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    """:func:`fastnn.kernels.batch_norm` on device arrays."""
    return batch_norm_forward(input, running_mean, running_var, weight, bias, training, momentum, eps)[0]


def batch_norm_backward(grad_output, input, weight, save_mean, save_invstd, training=True,
                        output_mask=(True, True, True)):
    """:func:`fastnn.kernels.batch_norm_backward` on device arrays."""
    op = "batch_norm_backward"
    mask = tuple(bool(v) for v in output_mask)
    if len(mask) != 3:
        raise ValueError(f"[{op}] output_mask must have 3 entries, got {output_mask!r}")
    return _require(op).batch_norm_backward(grad_output, input, weight, save_mean, save_invstd, bool(training), *mask)


# ---- dropout ----

def dropout(input, p=0.5, training=True, inplace=False, *, seed, offset=0):
    """:func:`fastnn.kernels.dropout` on device arrays: the mask of ``(seed, offset)`` is
    the CPU kernel's, bit for bit."""
    op = "dropout"
    m = _require(op)
    _device(op, "input", input)
    p, seed, offset = _cpu._dropout_params(op, p, seed, offset)
    if not training or p == 0.0 or input.size == 0:
        return input
    return m.dropout(op, input, input if inplace else None, p, seed, offset)


def dropout_backward(grad_output, p, *, seed, offset=0):
    """:func:`fastnn.kernels.dropout_backward` on device arrays (a new array, also for p == 0)."""
    op = "dropout_backward"
    m = _require(op)
    _device(op, "grad_output", grad_output)
    p, seed, offset = _cpu._dropout_params(op, p, seed, offset)
    if p == 0.0 or grad_output.size == 0:
        return grad_output.copy()
    return m.dropout(op, grad_output, None, p, seed, offset)


# ---- activation ----

def relu(input, inplace=False):
    """:func:`fastnn.kernels.relu` on device arrays (``inplace`` overwrites ``input``)."""
    return _require("relu").relu(input, bool(inplace))


def relu_backward(grad_output, input):
    return _require("relu_backward").relu_backward(grad_output, input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _require("leaky_relu").leaky_relu(input, float(negative_slope), bool(inplace))


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    return _require("leaky_relu_backward").leaky_relu_backward(grad_output, input, float(negative_slope))


def elu(input, alpha=1.0, inplace=False):
    return _require("elu").elu(input, float(alpha), bool(inplace))


def elu_backward(grad_output, input, alpha=1.0):
    return _require("elu_backward").elu_backward(grad_output, input, float(alpha))


def gelu(input, approximate="none"):
    return _require("gelu").gelu(input, _cpu._gelu_approx("gelu", approximate))


def gelu_backward(grad_output, input, approximate="none"):
    return _require("gelu_backward").gelu_backward(grad_output, input, _cpu._gelu_approx("gelu_backward", approximate))


def sigmoid(input):
    return _require("sigmoid").sigmoid(input)


def sigmoid_backward(grad_output, output):
    return _require("sigmoid_backward").sigmoid_backward(grad_output, output)


def tanh(input):
    return _require("tanh").tanh(input)


def tanh_backward(grad_output, output):
    return _require("tanh_backward").tanh_backward(grad_output, output)


def softplus(input, beta=1.0, threshold=20.0):
    return _require("softplus").softplus(input, float(beta), float(threshold))


def softplus_backward(grad_output, input, beta=1.0, threshold=20.0):
    return _require("softplus_backward").softplus_backward(grad_output, input, float(beta), float(threshold))


def softmax(input, dim):
    """:func:`fastnn.kernels.softmax` on device arrays (sums in double)."""
    return _require("softmax").softmax(input, _cpu._dim("softmax", dim))


def softmax_backward(grad_output, output, dim):
    return _require("softmax_backward").softmax_backward(grad_output, output, _cpu._dim("softmax_backward", dim))


def log_softmax(input, dim):
    return _require("log_softmax").log_softmax(input, _cpu._dim("log_softmax", dim))


def log_softmax_backward(grad_output, output, dim):
    return _require("log_softmax_backward").log_softmax_backward(grad_output, output,
                                                                 _cpu._dim("log_softmax_backward", dim))


# ---- softmax_xent ----

def _xent(op, grad_output, input, target, weight, ignore_index, reduction, label_smoothing):
    m = _require(op)
    red = _cpu._reduction(op, reduction)
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"[{op}] label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    _device(op, "input", input)
    prob = (isinstance(target, DeviceArray) and input.ndim >= 1 and target.shape == input.shape
            and target.dtype.kind == "f")
    if prob:
        if ignore_index >= 0:
            raise ValueError(f"[{op}] ignore_index is not supported for class-probability targets "
                             f"(got ignore_index={ignore_index})")
        return m.cross_entropy_prob(op, grad_output, input, target, weight, red, eps)
    if isinstance(target, np.ndarray):
        if target.dtype == np.uint8:
            target = target.astype(np.int64)
        elif target.dtype.kind == "f":
            raise TypeError(f"[{op}] target of shape {target.shape} holds class indices (its shape differs "
                            f"from input's) and must be int64, got {target.dtype}")
    return m.cross_entropy(op, grad_output, input, target, weight, int(ignore_index), red, eps)


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """:func:`fastnn.kernels.cross_entropy` on device arrays: fused log-softmax and loss,
    class-index targets (an int64 device array, or a NumPy uint8/int64 array; checked on the
    host: IndexError for one out of range) or class-probability targets (a float device
    array of input's shape)."""
    return _xent("cross_entropy", None, input, target, weight, ignore_index, reduction, label_smoothing)


def cross_entropy_backward(grad_output, input, target, weight=None, *, ignore_index=-100,
                           reduction="mean", label_smoothing=0.0):
    """:func:`fastnn.kernels.cross_entropy_backward` on device arrays."""
    op = "cross_entropy_backward"
    _device(op, "grad_output", grad_output)
    return _xent(op, grad_output, input, target, weight, ignore_index, reduction, label_smoothing)


# ---- elementwise (for the Tensor layer) ----

def add(a, b):
    """``a + b`` with NumPy broadcasting; a new device array."""
    return _require("add").binary("add", a, b)


def sub(a, b):
    """``a - b`` with NumPy broadcasting."""
    return _require("sub").binary("sub", a, b)


def mul(a, b):
    """``a * b`` with NumPy broadcasting."""
    return _require("mul").binary("mul", a, b)


def div(a, b):
    """``a / b`` with NumPy broadcasting."""
    return _require("div").binary("div", a, b)


def scale(input, alpha):
    """``alpha * input``; a new device array."""
    return _require("scale").scale(input, float(alpha))


def sum(input, dim=None, keepdim=False):
    """Sum over every element (``dim=None``: a 0-d array) or along axis ``dim``, in double;
    the result has input's dtype."""
    return _require("sum").reduce("sum", input, dim, bool(keepdim))


def mean(input, dim=None, keepdim=False):
    """Mean over every element or along ``dim`` (NaN over no elements)."""
    return _require("mean").reduce("mean", input, dim, bool(keepdim))
