"""Helpers shared by the layer modules: parameter allocation with PyTorch's device/dtype
arguments, PyTorch's default initialisation of a weight and bias, and int-or-pair parsing."""

import math

import numpy as np

from ..tensor import float32
from . import init


def factory_dtype(device, dtype, layer):
    """The dtype for a layer's new tensors (float32 by default); only 'cpu' exists here."""
    if device is not None and str(device) != "cpu":
        raise RuntimeError(f"[{layer}] device {device!r} is not available")
    dtype = float32 if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"[{layer}] parameters need a floating point dtype, got {dtype}")
    return dtype


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def reset_weight_and_bias(weight, bias):
    """PyTorch's default for Linear and ConvNd: kaiming_uniform_(weight, a=sqrt(5)), then
    the bias uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)] (zero when fan_in is 0)."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
