"""Tests for fastnn.kernels.dropout / dropout_backward (csrc/dropout.*): the Philox4x32-10
generator against Random123's published known answers, the mask against the NumPy Philox in
reference.py, keep rates, reproducibility across thread counts, forward/backward and
offset continuation, PyTorch's special cases, bad arguments.
"""

import math

import numpy as np
import pytest

from fastnn import _C, kernels
from reference import assert_allclose, dropout_keep_ref, dropout_ref, philox4x32_10_ref

DTYPES = (np.float32, np.float64)

# Known-answer vectors published with the Random123 library (its tests/kat_vectors), by the
# authors of Philox: (counter, key, output).
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,expected", PHILOX_KAT)
def test_philox_known_answers(ctr, key, expected):
    assert _C.philox4x32_10(*ctr, *key) == expected
    assert tuple(int(w) for w in philox4x32_10_ref(ctr, key)) == expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1 / 3])
@pytest.mark.parametrize("shape,seed,offset", [((1000,), 0, 0), ((7, 11, 13), 12345, 3),
                                               ((3, 1, 5), 2 ** 64 - 1, 2 ** 40 + 1), ((1,), 7, 2 ** 63)])
def test_dropout_matches_oracle(shape, seed, offset, p, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    x0 = x.copy()
    out = kernels.dropout(x, p, seed=seed, offset=offset)
    expected = dropout_ref(x, p, seed, offset)
    assert np.array_equal(out == 0, expected == 0)
    assert_allclose("dropout", out, expected, dtype=dtype)
    assert np.array_equal(x, x0)
    g = rng.standard_normal(shape).astype(dtype)
    gi = kernels.dropout_backward(g, p, seed=seed, offset=offset)
    assert_allclose("dropout", gi, dropout_ref(g, p, seed, offset), dtype=dtype)
    assert np.array_equal(gi == 0, out == 0)  # the same mask, regenerated


@pytest.mark.parametrize("p", [0.05, 0.5, 0.8])
def test_keep_fraction(p):
    n = 1 << 18
    kept = np.count_nonzero(kernels.dropout(np.ones(n, np.float32), p, seed=2024))
    # Binomial(n, 1 - p): 6 standard deviations leave a chance below 1e-8 of a false alarm.
    assert abs(kept / n - (1 - p)) < 6 * math.sqrt(p * (1 - p) / n)


def test_mask_identical_across_threads_and_chunks(set_threads, rng):
    x = rng.standard_normal((3, 70001)).astype(np.float32)
    results = []
    for n in (1, 2):
        set_threads(n)
        results.append(kernels.dropout(x, 0.4, seed=99, offset=5))
    assert results[0].tobytes() == results[1].tobytes()


def test_offset_continuation(rng):
    x = rng.standard_normal(50001)
    full = kernels.dropout(x, 0.3, seed=11)
    for a, b in [(0, 1), (1, 2), (3, 17), (5, 50001), (12345, 40000), (49999, 50001)]:
        part = kernels.dropout(x[a:b], 0.3, seed=11, offset=a)
        assert np.array_equal(part, full[a:b])


def test_different_seeds_and_offsets_differ():
    x = np.ones(4096)
    base = kernels.dropout(x, 0.5, seed=1) != 0
    for other in (kernels.dropout(x, 0.5, seed=2), kernels.dropout(x, 0.5, seed=1 + 2 ** 32),
                  kernels.dropout(x, 0.5, seed=1, offset=1), kernels.dropout(x, 0.5, seed=1, offset=4096)):
        agree = np.mean(base == (other != 0))
        assert 0.4 < agree < 0.6  # independent masks agree on about half the elements


def test_pytorch_special_cases(rng):
    x = rng.standard_normal((4, 5))
    assert kernels.dropout(x, 0.5, training=False, seed=0) is x
    assert kernels.dropout(x, 0.0, seed=0) is x
    empty = np.zeros((0, 3))
    assert kernels.dropout(empty, 0.5, seed=0) is empty
    special = np.array([np.nan, np.inf, 1.0, -2.0])
    zeros = kernels.dropout(special, 1.0, seed=0)
    assert np.isnan(zeros[0]) and np.isnan(zeros[1]) and np.all(zeros[2:] == 0)
    nans = kernels.dropout(np.full(64, np.nan), 0.5, seed=3)
    assert np.all(np.isnan(nans))  # a dropped NaN is NaN * 0
    y = x.copy()
    r = kernels.dropout(y, 0.5, inplace=True, seed=8, offset=2)
    assert r is y and np.array_equal(y, kernels.dropout(x, 0.5, seed=8, offset=2))
    g = rng.standard_normal(7)
    g_copy = kernels.dropout_backward(g, 0.0, seed=1)
    assert g_copy is not g and np.array_equal(g_copy, g)


def test_noncontiguous_input_uses_c_order(rng):
    base = rng.standard_normal((6, 8))
    view = base[::2, ::-1]
    assert np.array_equal(kernels.dropout(view, 0.5, seed=4), kernels.dropout(view.copy(), 0.5, seed=4))
    assert np.array_equal(kernels.dropout(view, 0.5, seed=4) == 0, ~dropout_keep_ref(view.size, 0.5, 4, 0).reshape(3, 8))


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda x: kernels.dropout(x, 1.5, seed=0), ValueError,
     r"\[dropout\] dropout probability has to be between 0 and 1, but got 1.5"),
    (lambda x: kernels.dropout(x, -0.1, seed=0), ValueError, r"between 0 and 1"),
    (lambda x: kernels.dropout(x, float("nan"), seed=0), ValueError, r"between 0 and 1"),
    (lambda x: kernels.dropout_backward(x, 2.0, seed=0), ValueError, r"\[dropout_backward\] dropout probability"),
    (lambda x: kernels.dropout(x, 0.5), TypeError, r"seed"),
    (lambda x: kernels.dropout(x, 0.5, seed=-1), ValueError, r"\[dropout\] seed must be in \[0, 2\*\*64\)"),
    (lambda x: kernels.dropout(x, 0.5, seed=1.5), TypeError, r"\[dropout\] seed must be an int"),
    (lambda x: kernels.dropout(x, 0.5, seed=0, offset=2 ** 64 - 3), ValueError, r"must not exceed 2\*\*64"),
    (lambda x: kernels.dropout(x.astype(np.float16), 0.5, seed=0), TypeError, r"unsupported dtype float16"),
    (lambda x: kernels.dropout(x.tolist(), 0.5, seed=0), TypeError, r"must be a numpy.ndarray"),
    (lambda x: kernels.dropout(x[:, ::2], 0.5, inplace=True, seed=0), ValueError,
     r"\[dropout\] inplace=True needs a C-contiguous"),
])
def test_bad_arguments(call, exc, pattern):
    x = np.arange(12.0).reshape(3, 4)
    x0 = x.copy()
    with pytest.raises(exc, match=pattern):
        call(x)
    assert np.array_equal(x, x0)
