"""Identity and Linear."""


import numpy as np

from .. import functional as F
from ._util import factory_dtype, reset_weight_and_bias
from .module import Module
from .parameter import Parameter

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input; constructor arguments are accepted and ignored."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x W^T + b``.

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: learn an additive bias (default True).
        device, dtype: where and of which floating dtype the parameters are (cpu; float32).

    Shape:
        Input ``(*, in_features)``; output ``(*, out_features)``.

    Attributes:
        weight: ``(out_features, in_features)``, initialised U(-k, k) with
            ``k = 1 / sqrt(in_features)`` (kaiming_uniform_ with ``a = sqrt(5)``).
        bias: ``(out_features,)``, U(-k, k).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        dtype = factory_dtype(device, dtype, "Linear")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
