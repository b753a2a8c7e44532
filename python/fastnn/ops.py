"""Differentiable operations as Function subclasses over raw arrays.

Each forward takes arrays (and plain parameters) and returns new arrays; each backward
returns one new gradient per forward argument (None where not needed), shaped exactly like
that argument. Nothing here accumulates: the engine adds gradients up. Compiled kernels are
reached only through :func:`kernels`; elementwise glue uses NumPy.
"""

import numpy as np

from . import kernels as _cpu_kernels
from .autograd import Function


def kernels(*arrays):
    """The kernels module that handles these arrays: the one place a backend is chosen.
    Every array here lives in host memory, so this is :mod:`fastnn.kernels`."""
    return _cpu_kernels


def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting added or stretched, giving an array of shape."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def normalize_dims(dim, ndim, op):
    """dim (None, an int or a sequence of ints; negative counts from the end) as a sorted
    tuple of axes; None means all of them. IndexError as PyTorch for an axis out of range."""
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"[{op}] dim must be an int or a tuple of ints, got {dim!r}")
        if not lo <= d <= hi:
            raise IndexError(f"[{op}] Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})")
        out.append(int(d) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise RuntimeError(f"[{op}] dim {dim} appears multiple times in the list of dims")
    return tuple(sorted(out)) if ndim else ()


def _keep(g, shape, axes, keepdim):
    """g (a reduction's output gradient) with the reduced axes restored as size 1."""
    return g if keepdim else np.expand_dims(g, axes)


# ---- arithmetic (b may be a 0-d array holding a Python scalar) ----

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, g):
        n = ctx.needs_input_grad
        return (unbroadcast(g, ctx.shapes[0]) if n[0] else None,
                unbroadcast(g, ctx.shapes[1]) if n[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, g):
        n = ctx.needs_input_grad
        return (unbroadcast(g, ctx.shapes[0]) if n[0] else None,
                unbroadcast(-g, ctx.shapes[1]) if n[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        n = ctx.needs_input_grad
        return (unbroadcast(g * b, a.shape) if n[0] else None,
                unbroadcast(g * a, b.shape) if n[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        n = ctx.needs_input_grad
        return (unbroadcast(g / b, a.shape) if n[0] else None,
                unbroadcast(-g * a / (b * b), b.shape) if n[1] else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """a ** b for arrays a and b (b may be a 0-d scalar); PyTorch's conventions at the
    edges: no gradient to a where b == 0, none to b where a == 0 and b >= 0."""

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        n = ctx.needs_input_grad
        ga = gb = None
        if n[0]:
            ga = unbroadcast(np.where(b == 0, 0, g * b * a ** (b - 1)), a.shape).astype(a.dtype, copy=False)
        if n[1]:
            gb = np.where((a == 0) & (b >= 0), 0, g * out * np.log(np.where(a == 0, 1, a)))
            gb = unbroadcast(gb, b.shape).astype(b.dtype, copy=False)
        return ga, gb


class MatMul(Function):
    """numpy.matmul semantics (1-D operands, broadcast batch dims) on the GEMM kernel."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[np.newaxis, :] if a.ndim == 1 else a
        b2 = b[:, np.newaxis] if b.ndim == 1 else b
        g2 = g[..., np.newaxis] if b.ndim == 1 else g
        g2 = np.expand_dims(g2, -2) if a.ndim == 1 else g2
        n = ctx.needs_input_grad
        ga = unbroadcast(_matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape) if n[0] else None
        gb = unbroadcast(_matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape) if n[1] else None
        return ga, gb


def _matmul(a, b):
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return np.matmul(a, b)
    if a.ndim <= 3 and b.ndim <= 3:
        return kernels(a, b).matmul(a, b)
    # More than one batch axis: broadcast them and fold into one for the kernel.
    a2 = a[np.newaxis, :] if a.ndim == 1 else a
    b2 = b[:, np.newaxis] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a3 = np.broadcast_to(a2, batch + a2.shape[-2:]).reshape((-1,) + a2.shape[-2:])
    b3 = np.broadcast_to(b2, batch + b2.shape[-2:]).reshape((-1,) + b2.shape[-2:])
    out = kernels(a, b).matmul(a3, b3).reshape(batch + (a2.shape[-2], b2.shape[-1]))
    if b.ndim == 1:
        out = out[..., 0]
    if a.ndim == 1:
        out = out[..., 0, :] if b.ndim != 1 else out[..., 0]
    return out


# ---- elementwise math ----

class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_tensors[0]


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved_tensors[0])


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.saved_tensors[0])  # 0 at 0, as PyTorch


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, min, max):
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        out = a
        if min is not None:
            out = np.maximum(out, np.asarray(min, a.dtype))
        if max is not None:
            out = np.minimum(out, np.asarray(max, a.dtype))
        return out if out is not a else a.copy()

    @staticmethod
    def backward(ctx, g):
        (a,), (lo, hi) = ctx.saved_tensors, ctx.bounds
        keep = np.ones(a.shape, bool)  # the gradient passes where lo <= a <= hi (ends included)
        if lo is not None:
            keep &= a >= lo
        if hi is not None:
            keep &= a <= hi
        return np.where(keep, g, 0).astype(g.dtype, copy=False), None, None


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


# ---- reductions ----

class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        dtype = np.int64 if a.dtype.kind in "biu" else a.dtype  # integer sums are int64, as PyTorch
        return np.asarray(a.sum(axis=axes, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx, g):
        return np.broadcast_to(_keep(g, ctx.shape, ctx.axes, ctx.keepdim), ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = int(np.prod([a.shape[i] for i in axes]))
        return np.asarray(a.mean(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        g = _keep(g, ctx.shape, ctx.axes, ctx.keepdim) / np.asarray(ctx.count, g.dtype)
        return np.broadcast_to(g, ctx.shape), None, None


class Extremum(Function):
    """max or min of all elements; the gradient is shared evenly by all tied extrema (and by
    all NaNs when the result is NaN), as PyTorch's max()/min() without dim."""

    @staticmethod
    def forward(ctx, a, is_max):
        out = np.asarray(a.max() if is_max else a.min())
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        mask = np.isnan(a) if np.isnan(out) else (a == out)
        return (g * mask / np.asarray(mask.sum(), g.dtype)).astype(g.dtype, copy=False), None


class ExtremumDim(Function):
    """(values, indices) of max or min along one axis; indices are the first extremum's (as
    PyTorch), and the gradient goes to that element only."""

    @staticmethod
    def forward(ctx, a, axis, keepdim, is_max):
        idx = (np.argmax if is_max else np.argmin)(a, axis=axis, keepdims=True)
        values = np.take_along_axis(a, idx, axis)
        if not keepdim:
            idx, values = np.squeeze(idx, axis), np.squeeze(values, axis)
        idx = idx.astype(np.int64, copy=False)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.axis, ctx.keepdim = a.shape, axis, keepdim
        ctx.mark_non_differentiable(idx)
        return values, idx

    @staticmethod
    def backward(ctx, g, _g_indices):
        (idx,) = ctx.saved_tensors
        if not ctx.keepdim:
            idx, g = np.expand_dims(idx, ctx.axis), np.expand_dims(g, ctx.axis)
        out = np.zeros(ctx.shape, g.dtype)
        np.put_along_axis(out, idx, g, ctx.axis)
        return out, None, None, None


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        m = np.max(a, axis=axes, keepdims=True) if a.size else np.zeros([1] * a.ndim, a.dtype)
        m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) rows: no shift
        out = np.log(np.sum(np.exp(a - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else np.squeeze(out, axes)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        g = _keep(g, a.shape, ctx.axes, ctx.keepdim)
        return g * np.exp(a - out), None, None


# ---- shape and indexing ----

class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.dims)), None


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape), None


class GetItem(Function):
    """a[index] (basic or advanced NumPy indexing); the backward scatters with np.add.at so
    that repeated indices add up."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, g.dtype)
        np.add.at(out, ctx.index, g)
        return out, None


class Cat(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return (None,) + tuple(np.split(g, ctx.bounds, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, axis, *arrays):
        ctx.axis = axis
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return (None,) + tuple(np.moveaxis(g, ctx.axis, 0))


# ---- activations and softmax, on the compiled kernels ----

def _kernel_activation(name, saves):
    """A Function over the kernel pair `name` / `name`_backward. The forward's extra
    arguments (slope, alpha, dim, ...) are passed to both and get no gradient; the backward
    is given the input (saves="input") or the output (saves="output"), whichever PyTorch's
    derivative formula uses."""

    # The backward's name is built once: a fresh string per call would also fill the
    # interpreter's attribute cache with dead names.
    backward_name = name + "_backward"

    def forward(ctx, x, *params):
        out = getattr(kernels(x), name)(x, *params)
        ctx.save_for_backward(x if saves == "input" else out)
        ctx.params = params
        return out

    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        grad = getattr(kernels(g), backward_name)(g, saved, *ctx.params)
        return (grad,) + (None,) * len(ctx.params)

    cls_name = "".join(part.capitalize() for part in name.split("_"))
    return type(cls_name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward),
                                        "numpy_arithmetic": False,
                                        "__doc__": f"{name} and its gradient (saves the {saves})."})


ReLU = _kernel_activation("relu", "input")
LeakyReLU = _kernel_activation("leaky_relu", "input")
ELU = _kernel_activation("elu", "input")
GELU = _kernel_activation("gelu", "input")
Softplus = _kernel_activation("softplus", "input")
Sigmoid = _kernel_activation("sigmoid", "output")
Tanh = _kernel_activation("tanh", "output")
Softmax = _kernel_activation("softmax", "output")
LogSoftmax = _kernel_activation("log_softmax", "output")


# ---- layers ----

class Linear(Function):
    numpy_arithmetic = False  # all in the compiled kernels
    fresh_grads = True  # the kernel's new, distinct dx, dweight, dbias

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return kernels(x).linear(x, weight, bias)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return kernels(g).linear_backward(g, x, weight, output_mask=ctx.needs_input_grad)


class LinearReLU(Function):
    """``relu(linear(x))`` with the relu in the product's epilogue (the same bits as the two
    ops), and its gradient masked by the output before the linear backward. nn.Sequential
    uses it for a Linear followed by a ReLU inside the chain."""

    numpy_arithmetic = False  # all in the compiled kernels
    fresh_grads = True

    @staticmethod
    def forward(ctx, x, weight, bias):
        out = kernels(x).linear(x, weight, bias, activation="relu")
        ctx.save_for_backward(x, weight, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight, out = ctx.saved_tensors
        k = kernels(g)
        return k.linear_backward(k.relu_backward(g, out), x, weight, output_mask=ctx.needs_input_grad)


class Conv2d(Function):
    numpy_arithmetic = False  # all in the compiled kernels
    fresh_grads = True  # the kernel's new, distinct dx, dweight, dbias

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.params = (stride, padding, dilation, groups)
        return kernels(x).conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        grads = kernels(g).conv2d_backward(g, x, weight, *ctx.params, output_mask=ctx.needs_input_grad[:3])
        return grads + (None,) * 4


class MaxPool2d(Function):
    numpy_arithmetic = False  # all in the compiled kernels

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        out, indices = kernels(x).max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode,
                                             return_indices=True)
        ctx.save_for_backward(indices)
        ctx.shape = x.shape
        ctx.mark_non_differentiable(indices)
        return out, indices

    @staticmethod
    def backward(ctx, g, _g_indices):
        return (kernels(g).max_pool2d_backward(g, ctx.saved_tensors[0], ctx.shape),) + (None,) * 5


class ReLUMaxPool2d(Function):
    """``max_pool2d(relu(x))`` computed as ``relu(max_pool2d(x))``: the same values and
    gradients (relu is monotone, and a window's maximum is positive exactly when its relu'd
    maximum is), with the relu and its gradient on the pooled, smaller array. nn.Sequential
    uses it for a ReLU followed by a MaxPool2d."""

    numpy_arithmetic = False  # all in the compiled kernels

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode):
        k = kernels(x)
        pooled, indices = k.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
        ctx.save_for_backward(indices, pooled)
        ctx.shape = x.shape
        return k.relu(pooled)

    @staticmethod
    def backward(ctx, g):
        indices, pooled = ctx.saved_tensors
        k = kernels(g)
        return (k.max_pool2d_backward(k.relu_backward(g, pooled), indices, ctx.shape),) + (None,) * 5


class AvgPool2d(Function):
    numpy_arithmetic = False  # all in the compiled kernels

    @staticmethod
    def forward(ctx, x, *params):
        ctx.shape, ctx.params = x.shape, params
        return kernels(x).avg_pool2d(x, *params)

    @staticmethod
    def backward(ctx, g):
        return (kernels(g).avg_pool2d_backward(g, ctx.shape, *ctx.params),) + (None,) * len(ctx.params)


class AdaptiveAvgPool2d(Function):
    numpy_arithmetic = False  # all in the compiled kernels

    @staticmethod
    def forward(ctx, x, output_size):
        ctx.shape = x.shape
        return kernels(x).adaptive_avg_pool2d(x, output_size)

    @staticmethod
    def backward(ctx, g):
        return kernels(g).adaptive_avg_pool2d_backward(g, ctx.shape), None


class BatchNorm(Function):
    """Batch normalisation; in training the kernel updates running_mean/running_var (raw
    arrays, or None) in place. No gradient flows to the running statistics."""

    numpy_arithmetic = False  # all in the compiled kernels
    fresh_grads = True  # the kernel's new, distinct dx, dweight, dbias

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training, momentum, eps):
        _no_grad_for(ctx, "batch_norm", {1: "running_mean", 2: "running_var"})
        out, save_mean, save_invstd = kernels(x).batch_norm_forward(x, running_mean, running_var, weight, bias,
                                                                    training, momentum, eps)
        ctx.save_for_backward(x, weight, save_mean, save_invstd)
        ctx.training = training
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight, save_mean, save_invstd = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = kernels(g).batch_norm_backward(g, x, weight, save_mean, save_invstd, ctx.training,
                                                    output_mask=(n[0], n[3], n[4]))
        return gx, None, None, gw, gb, None, None, None


class Dropout(Function):
    """Training-mode dropout; the mask is regenerated from (seed, offset 0) in backward."""

    numpy_arithmetic = False  # all in the compiled kernels

    @staticmethod
    def forward(ctx, x, p, seed):
        ctx.p, ctx.seed = p, seed
        return kernels(x).dropout(x, p, True, seed=seed)

    @staticmethod
    def backward(ctx, g):
        return kernels(g).dropout_backward(g, ctx.p, seed=ctx.seed), None, None


# ---- losses ----

def _no_grad_for(ctx, op, names):
    for i, name in names.items():
        if ctx.needs_input_grad[i]:
            raise NotImplementedError(f"[{op}] the gradient with respect to {name} is not implemented")


class CrossEntropy(Function):
    numpy_arithmetic = False  # all in the compiled kernels

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        _no_grad_for(ctx, "cross_entropy", {1: "target", 2: "weight"})
        ctx.save_for_backward(x, target, weight)
        ctx.params = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
        return kernels(x).cross_entropy(x, target, weight, **ctx.params)

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        return (kernels(g).cross_entropy_backward(g, x, target, weight, **ctx.params),) + (None,) * 5


class NLLLoss(Function):
    numpy_arithmetic = False  # all in the compiled kernels

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        _no_grad_for(ctx, "nll_loss", {1: "target", 2: "weight"})
        ctx.save_for_backward(x, target, weight)
        ctx.params = dict(ignore_index=ignore_index, reduction=reduction)
        return kernels(x).nll_loss(x, target, weight, **ctx.params)

    @staticmethod
    def backward(ctx, g):
        x, target, weight = ctx.saved_tensors
        return (kernels(g).nll_loss_backward(g, x, target, weight, **ctx.params),) + (None,) * 4


# Built once: a fresh name string per call would fill the interpreter's attribute cache.
_BACKWARD_NAMES = {name: name + "_backward" for name in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss")}


class PointwiseLoss(Function):
    """mse_loss / l1_loss / huber_loss / smooth_l1_loss by name (keyword ``params`` such as
    ``delta`` or ``beta`` go to the kernel); the gradient with respect to target is the
    negation of the one with respect to input."""

    @staticmethod
    def forward(ctx, x, target, name, reduction, **params):
        ctx.save_for_backward(x, target)
        ctx.name, ctx.reduction, ctx.params = name, reduction, params
        return getattr(kernels(x), name)(x, target, reduction=reduction, **params)

    @staticmethod
    def backward(ctx, g):
        x, target = ctx.saved_tensors
        gx = getattr(kernels(g), _BACKWARD_NAMES[ctx.name])(g, x, target, reduction=ctx.reduction, **ctx.params)
        return gx, (-gx if ctx.needs_input_grad[1] else None), None, None


class BCEWithLogits(Function):
    @staticmethod
    def forward(ctx, x, target, weight, pos_weight, reduction):
        _no_grad_for(ctx, "binary_cross_entropy_with_logits", {2: "weight", 3: "pos_weight"})
        ctx.save_for_backward(x, target, weight, pos_weight)
        ctx.reduction = reduction
        return kernels(x).binary_cross_entropy_with_logits(x, target, weight, reduction=reduction,
                                                           pos_weight=pos_weight)

    @staticmethod
    def backward(ctx, g):
        x, target, weight, pos_weight = ctx.saved_tensors
        k = kernels(g)
        gx = k.binary_cross_entropy_with_logits_backward(g, x, target, weight, reduction=ctx.reduction,
                                                         pos_weight=pos_weight)
        gt = None
        if ctx.needs_input_grad[1]:
            # d/dt of w ((1 - t) x - (1 + (pw - 1) t) log sigmoid(x)) = -w (x + (pw - 1) log sigmoid(x))
            log_sig = -np.logaddexp(0, -x)
            d = -(x + (0 if pos_weight is None else pos_weight - 1) * log_sig)
            if weight is not None:
                d = d * weight
            scale = g if ctx.reduction != "mean" else g / np.asarray(max(x.size, 1), g.dtype)
            gt = (d * scale).astype(x.dtype, copy=False)
        return gx, gt, None, None, None


_BCE_EPSILON = float(np.float32(1e-12))


class BinaryCrossEntropy(Function):
    """``-w (t log(x) + (1 - t) log(1 - x))`` on probabilities x, each log clamped at -100
    and the input gradient's denominator ``x (1 - x)`` at PyTorch's EPSILON (1e-12 rounded
    to float32), as PyTorch's binary_cross_entropy."""

    @staticmethod
    def forward(ctx, x, target, weight, reduction):
        _no_grad_for(ctx, "binary_cross_entropy", {2: "weight"})
        if np.any((x < 0) | (x > 1)) or np.any(np.isnan(x)):
            raise RuntimeError("[binary_cross_entropy] all elements of input should be between 0 and 1")
        log_x = np.maximum(np.log(x), -100)
        log_1mx = np.maximum(np.log1p(-x), -100)
        loss = -(target * log_x + (1 - target) * log_1mx)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, target, weight, log_x, log_1mx)
        ctx.reduction = reduction
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        x, target, weight, log_x, log_1mx = ctx.saved_tensors
        scale = _reduction_scale(g, x, ctx.reduction)
        if weight is not None:
            scale = scale * weight
        n = ctx.needs_input_grad
        gx = (scale * (x - target) / np.maximum(x * (1 - x), _BCE_EPSILON)).astype(x.dtype, copy=False) if n[0] else None
        gt = (scale * (log_1mx - log_x)).astype(x.dtype, copy=False) if n[1] else None
        return gx, gt, None, None


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    total = np.asarray(loss.sum(dtype=np.float64) if reduction == "sum" else
                       (loss.mean(dtype=np.float64) if loss.size else np.nan))
    return total.astype(loss.dtype)


def _reduction_scale(g, x, reduction):
    """The upstream gradient as seen by each element of an elementwise loss."""
    if reduction == "none":
        return g
    if reduction == "mean":
        return np.broadcast_to(g / np.asarray(max(x.size, 1), g.dtype), x.shape)
    return np.broadcast_to(g, x.shape)
