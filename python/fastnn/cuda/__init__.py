"""CUDA support: device queries, device arrays, the device memory cache and the kernels.

``fastnn.cuda`` always imports. When fastnn was built without CUDA, or no driver or device
is usable, :func:`is_available` is False, :func:`unavailable_reason` says why, and
creating a :class:`DeviceArray` raises :class:`RuntimeError` with that reason.

Example:
    >>> import numpy as np, fastnn.cuda as fc
    >>> if fc.is_available():
    ...     a = fc.from_numpy(np.ones((64, 32), np.float32))
    ...     b = fc.kernels.relu(fc.kernels.matmul(a, a.reshape(32, 64)))
    ...     b.numpy().shape
    (64, 64)

All kernels run on the device's legacy default stream, in order; :meth:`DeviceArray.numpy`
waits for them (and reports a kernel fault as RuntimeError), as does :func:`synchronize`.
"""

__all__ = ["DeviceArray", "device_count", "empty", "empty_cache", "from_numpy", "is_available", "kernels",
           "memory_stats", "show_config", "synchronize", "unavailable_reason", "zeros"]


def _load():
    try:
        from .. import _C_cuda
    except ImportError:
        return None
    return _C_cuda


_C_cuda = _load()

_NOT_BUILT = "fastnn was built without the CUDA module (no CUDA toolkit at build time, or FASTNN_CUDA=OFF)"


def unavailable_reason():
    """Why no CUDA device can be used (an empty string when one can)."""
    return _NOT_BUILT if _C_cuda is None else _C_cuda.unavailable_reason()


def is_available():
    """True when fastnn was built with CUDA and a usable device is present."""
    return bool(_C_cuda is not None and _C_cuda.is_available())


def device_count():
    """Number of usable CUDA devices (0 when CUDA support was not built)."""
    return 0 if _C_cuda is None else int(_C_cuda.device_count())


def _require(op):
    """The CUDA module, or RuntimeError "[op] no usable CUDA device: <why>"."""
    if _C_cuda is None:
        raise RuntimeError(f"[{op}] no usable CUDA device: {_NOT_BUILT}")
    return _C_cuda


def show_config():
    """Print the CUDA build and device status: the toolkit and architectures compiled for,
    and the device, or why CUDA is off."""
    if _C_cuda is None:
        print(f"fastnn CUDA: off: {_NOT_BUILT}")
        return
    archs = ", ".join(f"sm_{a} + compute_{a} PTX" if a.isdigit() else a for a in _C_cuda.architectures.split(";"))
    print(f"fastnn CUDA: built against CUDA {_C_cuda.cuda_version} for {archs}")
    if _C_cuda.is_available():
        print(f"  devices: {_C_cuda.device_count()}; device 0: {_C_cuda.device_name()}")
    else:
        print(f"  not usable: {_C_cuda.unavailable_reason()}")


if _C_cuda is not None:
    DeviceArray = _C_cuda.DeviceArray
else:
    class DeviceArray:
        """Placeholder for the device array type of a build without CUDA: every way of
        creating one raises RuntimeError saying so."""

        def __init__(self, *args, **kwargs):
            _require("DeviceArray")

        @staticmethod
        def from_numpy(array):
            _require("DeviceArray.from_numpy")

        @staticmethod
        def empty(shape, dtype):
            _require("DeviceArray.empty")

        @staticmethod
        def zeros(shape, dtype):
            _require("DeviceArray.zeros")


def _shape(shape):
    return (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)


def from_numpy(array):
    """A :class:`DeviceArray` copy of a float32, float64 or int64 :class:`numpy.ndarray`
    (any strides; the copy is C-contiguous).

    Raises:
        TypeError: not an ndarray, or another dtype.
        RuntimeError: no usable CUDA device (the message says why).
    """
    return _require("DeviceArray.from_numpy").DeviceArray.from_numpy(array)


def empty(shape, dtype="float32"):
    """An uninitialised :class:`DeviceArray` of ``shape`` and ``dtype`` (float32, float64, int64)."""
    return _require("DeviceArray.empty").DeviceArray.empty(_shape(shape), dtype)


def zeros(shape, dtype="float32"):
    """A zero-filled :class:`DeviceArray` of ``shape`` and ``dtype`` (float32, float64, int64)."""
    return _require("DeviceArray.zeros").DeviceArray.zeros(_shape(shape), dtype)


def synchronize():
    """Wait until every queued kernel has finished; RuntimeError for a fault in any of them."""
    _require("synchronize").synchronize()


def memory_stats():
    """Statistics of the device caching allocator, as a dict: ``allocated_bytes`` and
    ``allocated_blocks`` (held by live arrays), ``cached_bytes`` and ``cached_blocks`` (idle,
    kept for reuse), ``peak_allocated_bytes``, and ``hits`` / ``misses`` (requests served
    from the cache / by cudaMalloc). Sizes are rounded up to 512 bytes (1 MiB from 1 MiB on),
    and a cached block serves requests of its rounded size. All zeros without CUDA."""
    if _C_cuda is None:
        return {k: 0 for k in ("allocated_bytes", "allocated_blocks", "cached_bytes", "cached_blocks",
                               "peak_allocated_bytes", "hits", "misses")}
    return dict(_C_cuda.memory_stats())


def empty_cache():
    """Free every idle block of the device cache (see :func:`memory_stats`); arrays in use
    are not affected."""
    if _C_cuda is not None:
        _C_cuda.empty_cache()


from . import kernels  # noqa: E402  (needs the names above)
