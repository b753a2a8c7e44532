"""Helpers shared by the layer modules: parameter allocation with PyTorch's device/dtype
arguments, and int-or-pair parsing."""

import numpy as np

from ..tensor import float32


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
