"""The host block cache behind large kernel outputs: blocks are reused only after every
array using them is gone, outputs behave as ordinary writeable C-contiguous arrays, and
empty_cache gives idle memory back."""

import gc

import numpy as np

import fastnn
from fastnn import kernels


def big_input(rng):
    # Comfortably above the cache's minimum block size.
    n = fastnn.memory_stats()["min_block_bytes"] // 4 * 2 + 13
    return rng.standard_normal(n).astype(np.float32)


def test_large_outputs_are_ordinary_arrays(rng):
    x = big_input(rng)
    y = kernels.relu(x)
    assert y.flags.c_contiguous and y.flags.writeable and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    y[:3] = 7.0  # writeable in place
    assert (y[:3] == 7.0).all()
    assert y.ctypes.data % 64 == 0


def test_freed_blocks_are_reused(rng):
    x = big_input(rng)
    kernels.relu(x)  # the first call may go to the system
    before = fastnn.memory_stats()
    for _ in range(5):
        kernels.relu(x)  # each result dies at once and its block comes back
    after = fastnn.memory_stats()
    assert after["hits"] - before["hits"] == 5
    assert after["misses"] == before["misses"]


def test_a_block_is_not_reused_while_a_view_lives(rng):
    x = big_input(rng)
    y = kernels.relu(x)
    view = y[10:20]
    expected = view.copy()
    address = y.ctypes.data
    del y
    gc.collect()
    z = kernels.sigmoid(x)  # same size: must not take the block the view still uses
    assert z.ctypes.data != address and not np.shares_memory(z, view)
    np.testing.assert_array_equal(view, expected)
    del view
    w = kernels.tanh(x)  # now the block is free again
    np.testing.assert_allclose(w, np.tanh(x), rtol=3e-6, atol=1e-7)


def test_small_outputs_bypass_the_cache(rng):
    x = rng.standard_normal(100).astype(np.float32)
    before = fastnn.memory_stats()
    y = kernels.relu(x)
    after = fastnn.memory_stats()
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])
    assert y.flags.owndata  # NumPy's own allocation


def test_empty_cache_releases_idle_blocks(rng):
    x = big_input(rng)
    kernels.relu(x)
    assert fastnn.memory_stats()["idle_bytes"] >= x.nbytes
    held = kernels.relu(x)
    fastnn.empty_cache()
    stats = fastnn.memory_stats()
    assert stats["idle_bytes"] == 0 and stats["idle_blocks"] == 0
    np.testing.assert_array_equal(held, np.maximum(x, 0))  # arrays in use are untouched
    assert stats["max_idle_bytes"] >= stats["min_block_bytes"] > 0
