"""torch.nn.functional-style functions on Tensors, each one Function of :mod:`fastnn.ops`
over the compiled kernels. Names, argument names, order and defaults are PyTorch's.

``size_average`` and ``reduce`` are PyTorch's deprecated loss arguments; when given they
override ``reduction`` exactly as in PyTorch.
"""

from . import ops
from .tensor import generator

__all__ = ["linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "softmax",
           "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
           "binary_cross_entropy_with_logits", "conv2d", "max_pool2d", "avg_pool2d", "dropout"]


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
