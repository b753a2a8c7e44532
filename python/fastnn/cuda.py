"""CUDA device queries. The CUDA kernels themselves are not part of this build yet."""

__all__ = ["is_available", "device_count"]


def _module():
    try:
        from . import _C_cuda
    except ImportError:
        return None
    return _C_cuda


def is_available():
    """True when fastnn was built with CUDA and a usable device is present."""
    m = _module()
    return bool(m is not None and m.is_available())


def device_count():
    """Number of usable CUDA devices (0 when CUDA support was not built)."""
    m = _module()
    return 0 if m is None else int(m.device_count())
