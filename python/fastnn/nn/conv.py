"""Conv2d."""


import numpy as np

from .. import functional as F
from ._util import factory_dtype, pair, reset_weight_and_bias
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution (cross-correlation) over ``(N, C, H, W)`` or ``(C, H, W)`` input.

    Args:
        in_channels, out_channels: channel counts (both divisible by ``groups``).
        kernel_size, stride, dilation: an int or a pair.
        padding: an int, a pair, ``'valid'`` (none) or ``'same'`` (output size equals input
            size; stride 1 only, as PyTorch).
        groups: channel groups; bias: learn a per-channel bias.
        padding_mode: ``'zeros'`` only.
        device, dtype: cpu; the parameters' floating dtype (float32).

    Shape:
        Output ``(N, out_channels, OH, OW)`` with
        ``OH = (H + 2 padding - dilation (KH - 1) - 1) // stride + 1`` (likewise OW).

    Attributes:
        weight: ``(out_channels, in_channels / groups, KH, KW)``, kaiming_uniform_ with
            ``a = sqrt(5)``; bias: ``(out_channels,)``, U(-k, k), ``k = 1 / sqrt(fan_in)``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        dtype = factory_dtype(device, dtype, "Conv2d")
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in pair(stride)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], "
                             f"but got padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise NotImplementedError(f"[Conv2d] padding_mode={padding_mode!r} is not supported; only 'zeros'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride)
        self.padding = padding if isinstance(padding, str) else pair(padding)
        self.dilation = pair(dilation)
        self.transposed = False
        self.output_padding = (0, 0)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + self.kernel_size, dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"[Conv2d] expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                             f"{tuple(input.shape)}")
        if input.shape[-3] != self.in_channels:
            raise ValueError(f"[Conv2d] input of shape {tuple(input.shape)} has {input.shape[-3]} channels, "
                             f"but the layer expects in_channels={self.in_channels} (weight of shape "
                             f"{tuple(self.weight.shape)})")
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
