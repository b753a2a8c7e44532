"""Fixtures shared by the kernel tests: every CPU code path, the thread count, a seeded RNG.

Fixtures that change process-wide state (the active CPU path, the thread count) restore it
when the test ends, pass or fail, so tests stay independent of their order.
"""

import zlib

import numpy as np
import pytest

import fastnn
from fastnn import _C

CPU_PATHS = ("scalar", "avx2", "avx512")


@pytest.fixture(params=CPU_PATHS)
def cpu_path(request):
    """Runs the test once per CPU code path, with that path active; skips the ones this CPU
    (or build) cannot run, naming the reason."""
    name = request.param
    if not _C.cpu_supports(name):
        pytest.skip(f"CPU lacks the {name} code path (best here: {_C.best_cpu_capability()})")
    saved = _C.cpu_capability()
    _C.set_cpu_capability(name)
    assert _C.cpu_capability() == name
    try:
        yield name
    finally:
        _C.set_cpu_capability(saved)


@pytest.fixture
def set_threads():
    """fastnn.set_num_threads for the test's use; the original count comes back afterwards."""
    saved = fastnn.get_num_threads()
    try:
        yield fastnn.set_num_threads
    finally:
        fastnn.set_num_threads(saved)


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's id: reproducible, and different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def same_bits_on_1_and_2_threads(set_threads):
    """check(run): calls run() on 1 and then 2 threads and asserts that the arrays it returns
    (a list, or a tuple; None entries allowed) are identical bit for bit."""
    def check(run):
        results = []
        for threads in (1, 2):
            set_threads(threads)
            results.append(list(run()))
        assert len(results[0]) == len(results[1]) > 0
        for one, two in zip(*results):
            assert (one is None and two is None) or one.tobytes() == two.tobytes()
    return check
