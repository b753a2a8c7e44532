"""torch.nn.functional-style functions on Tensors, each one Function of :mod:`fastnn.ops`
over the compiled kernels. Names, argument names, order and defaults are PyTorch's.

``size_average`` and ``reduce`` are PyTorch's deprecated loss arguments; when given they
override ``reduction`` exactly as in PyTorch.
"""

import numpy as np

from . import ops
from .tensor import Tensor, generator

__all__ = ["linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "softmax",
           "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
           "binary_cross_entropy_with_logits", "conv2d", "max_pool2d", "avg_pool2d", "dropout",
           "adaptive_avg_pool2d", "batch_norm", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "hinge_embedding_loss", "multi_margin_loss"]


def _inplace(input, result, inplace):
    return input._inplace(result) if inplace else result


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``. Shape: input ``(*, in)``, weight ``(out, in)``, bias
    ``(out,)``; output ``(*, out)``."""
    return ops.Linear.apply(input, weight, bias)


def relu(input, inplace=False):
    return _inplace(input, ops.ReLU.apply(input), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _inplace(input, ops.LeakyReLU.apply(input, float(negative_slope)), inplace)


def elu(input, alpha=1.0, inplace=False):
    return _inplace(input, ops.ELU.apply(input, float(alpha)), inplace)


def gelu(input, approximate="none"):
    return ops.GELU.apply(input, approximate)


def sigmoid(input):
    return ops.Sigmoid.apply(input)


def tanh(input):
    return ops.Tanh.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    return ops.Softplus.apply(input, float(beta), float(threshold))


def _softmax_input(op, input, dim, dtype):
    if dim is None:
        raise TypeError(f"[{op}] dim must be given (PyTorch's implicit choice of dim is deprecated)")
    return input if dtype is None else input.to(dtype)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Softmax along dim (required); dtype casts the input first."""
    return ops.Softmax.apply(_softmax_input("softmax", input, dim, dtype), dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """Log-softmax along dim (required); dtype casts the input first."""
    return ops.LogSoftmax.apply(_softmax_input("log_softmax", input, dim, dtype), dim)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``input`` ``(N, C, ...)`` or ``(C,)`` against class indices
    (int64) or class probabilities (input's shape); see :func:`fastnn.kernels.cross_entropy`."""
    return ops.CrossEntropy.apply(input, target, weight, int(ignore_index),
                                  _legacy_reduction(size_average, reduce, reduction), float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``."""
    return ops.NLLLoss.apply(input, target, weight, int(ignore_index),
                             _legacy_reduction(size_average, reduce, reduction))


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean squared error (input and target of the same shape)."""
    return ops.PointwiseLoss.apply(input, target, "mse_loss", _legacy_reduction(size_average, reduce, reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean absolute error (input and target of the same shape)."""
    return ops.PointwiseLoss.apply(input, target, "l1_loss", _legacy_reduction(size_average, reduce, reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid plus binary cross-entropy, fused and stable; weight and pos_weight broadcast."""
    return ops.BCEWithLogits.apply(input, target, weight, pos_weight,
                                   _legacy_reduction(size_average, reduce, reduction))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution: input ``(N, C, H, W)`` or ``(C, H, W)``, weight ``(OC, C/groups, KH, KW)``."""
    return ops.Conv2d.apply(input, weight, bias, stride, padding, dilation, groups)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling; with return_indices also the int64 flat offsets of the maxima."""
    out, indices = ops.MaxPool2d.apply(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, indices) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling."""
    return ops.AvgPool2d.apply(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                               divisor_override)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p). The mask's seed
    is drawn from the module generator (so :func:`fastnn.manual_seed` makes it
    reproducible); backward regenerates the mask from it instead of storing it."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    seed = int(generator().integers(0, 2 ** 63))
    return _inplace(input, ops.Dropout.apply(input, float(p), seed), inplace)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling to ``output_size`` (an int, or a pair whose None entries
    keep the input's size)."""
    return ops.AdaptiveAvgPool2d.apply(input, output_size)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-05):
    """Batch normalisation over axis 1 of ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``.
    In training the batch statistics are used and running_mean/running_var (Tensors or
    None) are updated in place with ``momentum`` (the running variance with the unbiased
    batch variance); otherwise the running statistics are used."""
    return ops.BatchNorm.apply(input, running_mean, running_var, weight, bias, bool(training),
                               float(momentum), float(eps))


def _same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"[{op}] Using a target size {tuple(target.shape)} that is different to the input "
                         f"size {tuple(input.shape)} is not supported. Please ensure they have the same size.")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss: ``d**2 / 2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)``, with
    ``d = input - target`` (same shapes)."""
    return ops.PointwiseLoss.apply(input, target, "huber_loss", reduction, delta=float(delta))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Smooth L1: ``d**2 / (2 beta)`` where ``|d| < beta``, else ``|d| - beta / 2``."""
    return ops.PointwiseLoss.apply(input, target, "smooth_l1_loss",
                                   _legacy_reduction(size_average, reduce, reduction), beta=float(beta))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target`` (same
    shape); ``weight`` broadcasts to the input. Each log is clamped at -100, as PyTorch."""
    _same_shape("binary_cross_entropy", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"[binary_cross_entropy] {reduction} is not a valid value for reduction")
    return ops.BinaryCrossEntropy.apply(input, target, weight, reduction)


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"[{op}] {reduction} is not a valid value for reduction")


def _mask(condition, dtype):
    return Tensor(np.asarray(condition, dtype=dtype))


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """``x`` where target is 1 and ``max(0, margin - x)`` where target is -1 (PyTorch's
    formula: the first term wherever target != -1, the second wherever target != 1)."""
    op = "hinge_embedding_loss"
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.shape != input.shape:
        t = np.broadcast_to(t, np.broadcast_shapes(t.shape, input.shape))
    hinge = (float(margin) - input).clamp(min=0)
    loss = hinge * _mask(t != 1, input.dtype) + input * _mask(t != -1, input.dtype)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), op)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """Multi-class hinge loss of scores ``input`` ``(N, C)`` or ``(C,)`` at class indices
    ``target``: ``sum_{i != y} w[y] max(0, margin - x[y] + x[i])**p / C``."""
    op = "multi_margin_loss"
    if p not in (1, 2):
        raise ValueError(f"[{op}] only p == 1 and p == 2 supported, got p={p}")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    t = (target.data if isinstance(target, Tensor) else np.asarray(target)).reshape(-1)
    if x.ndim != 2 or t.shape != (x.shape[0],):
        raise ValueError(f"[{op}] expected input (N, C) or (C,) and target (N,) or (), got input of shape "
                         f"{tuple(input.shape)} and target of shape {tuple(t.shape)}")
    n, c = x.shape
    if t.dtype.kind not in "iu":
        raise TypeError(f"[{op}] target must hold class indices (an integer dtype), got {t.dtype}")
    if n and (t.min() < 0 or t.max() >= c):
        raise IndexError(f"[{op}] target out of range: classes are 0..{c - 1}, got {t.min()}..{t.max()}")
    rows = np.arange(n)
    x_y = x[rows, t].reshape(n, 1)
    z = (float(margin) - x_y + x).clamp(min=0)
    if p == 2:
        z = z * z
    others = np.ones((n, c), dtype=x.dtype)
    others[rows, t] = 0
    if weight is not None:
        w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
        others *= w.astype(x.dtype)[t].reshape(n, 1)
    loss = (z * Tensor(others)).sum(1) / float(c)
    if input.ndim != 2:
        loss = loss.reshape(())
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), op)
