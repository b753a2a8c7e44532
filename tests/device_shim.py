"""Runs the CPU kernel tests on another backend: a stand-in for a kernel module (fastnn.kernels
or fastnn._C) whose functions take and return NumPy arrays but compute on a device.

Each call copies its NumPy array arguments (also inside lists and tuples) to the device,
calls the backend's function of the same name, copies array results back, and writes every
writeable argument back from its device copy, so in-place updates (optimizer state,
running statistics, ``inplace=True``, ``out=``) land in the caller's arrays. A result that
is an argument's device copy comes back as that very argument. An array passed twice is
copied once, so both arguments name the same device array.

Backends: ``cuda`` (fastnn.cuda.kernels / fastnn._C_cuda on DeviceArrays) and ``loopback``
(the CPU modules on private C-contiguous copies), which checks this harness itself on
machines without a GPU.
"""

import numpy as np

import fastnn
import fastnn.cuda

_DEVICE_DTYPES = (np.float32, np.float64, np.int64)


class Backend:
    """to_device/to_host/pointer of one kind of device array."""

    def __init__(self, name):
        self.name = name
        if name == "cuda":
            self.array_type = fastnn.cuda.DeviceArray
            self.to_device = fastnn.cuda.from_numpy
            self.to_host = lambda d: d.numpy()
            self.pointer = lambda d: (d.data_ptr, d.shape)
            self.kernels = fastnn.cuda.kernels
            self.raw = fastnn.cuda._C_cuda
        else:
            self.array_type = np.ndarray
            self.to_device = lambda a: np.array(a, order="C", copy=True)
            self.to_host = lambda d: np.array(d, copy=True)
            self.pointer = lambda d: (d.__array_interface__["data"][0], d.shape)
            self.kernels = fastnn.kernels
            self.raw = fastnn._C


class Shim:
    """The functions of `module` (a name-for-name twin of the CPU module it replaces) behind
    NumPy-in, NumPy-out conversion on `backend`."""

    def __init__(self, backend, module, fallback=None):
        self._backend = backend
        self._module = module
        self._fallback = fallback  # the CPU module, for names the backend does not have

    def __getattr__(self, name):
        if self._fallback is not None and not hasattr(self._module, name):
            return getattr(self._fallback, name)
        fn = getattr(self._module, name)
        if not callable(fn):
            return fn
        backend = self._backend

        def call(*args, **kwargs):
            converted = {}  # id(ndarray) -> (ndarray, device copy)

            def down(x):
                if isinstance(x, np.ndarray) and x.dtype in _DEVICE_DTYPES and x.dtype.isnative:
                    if id(x) not in converted:
                        converted[id(x)] = (x, backend.to_device(x))
                    return converted[id(x)][1]
                if isinstance(x, list):
                    return [down(v) for v in x]
                if isinstance(x, tuple) and any(isinstance(v, np.ndarray) for v in x):
                    return tuple(down(v) for v in x)
                return x

            result = fn(*(down(a) for a in args), **{k: down(v) for k, v in kwargs.items()})
            by_pointer = {}
            for host, dev in converted.values():
                if host.flags.writeable:
                    host[...] = backend.to_host(dev)
                by_pointer[backend.pointer(dev)] = host

            def up(r):
                if isinstance(r, backend.array_type):
                    same = by_pointer.get(backend.pointer(r))
                    return same if same is not None else backend.to_host(r)
                if isinstance(r, tuple):
                    return tuple(up(v) for v in r)
                if isinstance(r, list):
                    return [up(v) for v in r]
                return r

            return up(result)

        call.__name__ = name
        return call
