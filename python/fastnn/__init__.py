"""fastnn: a small, fast neural-network library with a C++ core.

The NumPy-in, NumPy-out kernels live in :mod:`fastnn.kernels`; the benchmark suite runs as
``python -m fastnn.bench``.

Two environment variables are read once, at import:

``FASTNN_CPU_CAPABILITY``
    ``scalar``, ``avx2`` or ``avx512``: force a CPU code path instead of the best one the
    CPU supports. A path the CPU cannot run is an error.
``FASTNN_NUM_THREADS``
    The initial thread count (default: the CPUs this process may use); see
    :func:`set_num_threads`.
"""

import os as _os

from . import _C

__version__ = _C.__version__

__all__ = ["__version__", "config", "cuda", "empty_cache", "get_num_threads", "kernels", "memory_stats",
           "set_num_threads", "show_config"]


def _apply_forced_capability():
    forced = _os.environ.get("FASTNN_CPU_CAPABILITY", "").strip().lower()
    if not forced:
        return
    try:
        _C.set_cpu_capability(forced)
    except ValueError as exc:
        raise RuntimeError(f"FASTNN_CPU_CAPABILITY={forced!r}: {exc}") from None


_apply_forced_capability()


def get_num_threads():
    """Number of threads fastnn's kernels use."""
    return _C.get_num_threads()


def set_num_threads(n):
    """Set the number of threads fastnn's kernels use (``n >= 1``).

    Results do not depend on the thread count: every kernel gives the same bits for any
    ``n``.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: expected n >= 1, got {n}")
    _C.set_num_threads(n)


def memory_stats():
    """The host block cache's figures, a dict: ``idle_bytes`` and ``idle_blocks`` (freed
    blocks kept for reuse), ``hits`` and ``misses`` (allocations served from it or from
    the system), ``min_block_bytes`` (smaller arrays are not cached) and
    ``max_idle_bytes`` (the most it keeps idle).

    Kernel outputs of at least ``min_block_bytes`` take their memory from this cache and
    give it back when the last array using it is freed, so that a training loop reuses the
    same blocks step after step instead of faulting in fresh pages from the system.
    """
    return dict(_C.host_cache_stats())


def empty_cache():
    """Return every idle block of the host block cache to the system (see
    :func:`memory_stats`). Arrays in use are not affected."""
    _C.host_empty_cache()


def _cuda_status():
    """(built, usable, detail) for the CUDA module."""
    try:
        from . import _C_cuda
    except ImportError:
        return False, False, "not built (no CUDA toolkit at build time, or FASTNN_CUDA=OFF)"
    if _C_cuda.is_available():
        return True, True, f"CUDA {_C_cuda.cuda_version}, {_C_cuda.device_count()} device(s)"
    return True, False, f"CUDA {_C_cuda.cuda_version}, not usable: {_C_cuda.unavailable_reason()}"


def config():
    """The build and run-time configuration as a dict (what :func:`show_config` prints)."""
    built, usable, detail = _cuda_status()
    return {
        "version": __version__,
        "compiler": _C.compiler(),
        "cpu_capability": _C.cpu_capability(),
        "best_cpu_capability": _C.best_cpu_capability(),
        "forced_cpu_capability": _os.environ.get("FASTNN_CPU_CAPABILITY") or None,
        "num_threads": _C.get_num_threads(),
        "cuda_built": built,
        "cuda_usable": usable,
        "cuda_detail": detail,
    }


def show_config():
    """Print the version, compiler, CPU code path, thread count and CUDA status."""
    c = config()
    path = c["cpu_capability"]
    if c["forced_cpu_capability"]:
        path += f" (forced by FASTNN_CPU_CAPABILITY; best supported: {c['best_cpu_capability']})"
    elif path != c["best_cpu_capability"]:
        path += f" (best supported: {c['best_cpu_capability']})"
    cuda = ("usable" if c["cuda_usable"] else "built" if c["cuda_built"] else "off") + f": {c['cuda_detail']}"
    print(f"fastnn {c['version']}")
    print(f"  compiler:      {c['compiler']}")
    print(f"  CPU code path: {path}")
    print(f"  threads:       {c['num_threads']}")
    print(f"  CUDA:          {cuda}")


from . import cuda, kernels  # noqa: E402  (need _C loaded and configured first)
from . import autograd, functional, ops  # noqa: E402
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .tensor import *  # noqa: E402,F401,F403
from .tensor import __all__ as _tensor_all  # noqa: E402
from .tensor import matmul  # noqa: E402
from . import nn  # noqa: E402  (needs the Tensor layer above)
from . import optim  # noqa: E402
from .serialization import load, save  # noqa: E402
from . import datasets, metrics, preprocessing, utils  # noqa: E402

__all__ += ["autograd", "datasets", "functional", "metrics", "nn", "optim", "preprocessing", "utils", "Function",
            "enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled", "matmul", "save", "load"] + _tensor_all
