"""Tests for fastnn.kernels' pooling (csrc/pool.*): max_pool2d, avg_pool2d,
adaptive_avg_pool2d and their backwards, against the float64 oracles in reference.py, with
torch's window, padding, ceil_mode, divisor, tie and NaN rules; thread-count independence;
bad arguments.
"""

import numpy as np
import pytest

from fastnn import kernels
from reference import (adaptive_avg_pool2d_windows, assert_allclose, assert_grad_matches,
                       avg_pool2d_windows, max_pool2d_backward_ref, max_pool2d_backward_scale,
                       max_pool2d_ref, pool_output_size, window_avg_backward_ref, window_avg_ref)

DTYPES = (np.float32, np.float64)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def assert_same_values(out, ref, dtype):
    """max_pool2d selects elements, so it must equal the oracle exactly (NaN for NaN; the
    tolerance model's u * |inf| would be NaN, hence this direct comparison)."""
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == ref.shape
    assert np.array_equal(out.astype(np.float64), ref, equal_nan=True)


# (shape, kernel_size, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 8, 8), 2, None, 0, 1, False),       # the 2x2 fast path
    ((2, 3, 7, 9), 2, 2, 0, 1, True),           # fast path plus ceil_mode remainders
    ((1, 2, 7, 9), 2, 2, 0, 1, False),          # odd sizes: last row/column dropped
    ((2, 2, 9, 7), 3, 2, 1, 1, False),          # overlapping windows with padding
    ((2, 2, 9, 7), 3, 2, 1, 1, True),
    ((1, 3, 11, 13), (3, 2), (1, 2), (1, 0), (2, 1), False),  # dilation, uneven pairs
    ((3, 10, 5), 5, 3, 2, 1, True),             # 3-D input, window past the edge
    ((1, 1, 1, 1), 1, 1, 0, 1, False),
    ((1, 1, 2, 3), 3, 1, 1, 1, True),
    ((2, 5, 13, 17), (2, 3), 1, (1, 1), 2, True),
    ((2, 3, 12, 10), 3, 2, 1, 1, False),        # output tiles the input in 2x2 cells, 3x3 windows
    ((2, 3, 13, 11), 2, 2, 0, 1, False),        # 2x2 cells with an odd last row and column
    ((2, 3, 14, 14), 2, 2, 0, 1, False),        # a ragged end (7 outputs): overlapping quads
    ((1, 2, 6, 30), 2, 2, 0, 1, True),          # 15 outputs a row, ceil_mode
]


def max_case_args(case):
    shape, k, s, p, d, ceil = case
    s_pair = pair(k) if s is None else pair(s)
    return shape, pair(k), s_pair, pair(p), pair(d), ceil


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_matches_oracle(case, dtype, rng):
    shape, k, s, p, d, ceil = max_case_args(case)
    x = rng.standard_normal(shape).astype(dtype)
    x0 = x.copy()
    out, ind = kernels.max_pool2d(x, case[1], case[2], case[3], case[4], ceil, return_indices=True)
    ref, ref_ind = max_pool2d_ref(x, k, s, p, d, ceil)
    assert_allclose("max_pool2d", out, ref, dtype=dtype)
    assert ind.dtype == np.int64 and np.array_equal(ind, ref_ind)
    assert np.array_equal(x, x0)
    plain = kernels.max_pool2d(x, case[1], case[2], case[3], case[4], ceil)
    assert np.array_equal(plain, out)

    g = rng.standard_normal(out.shape).astype(dtype)
    gi = kernels.max_pool2d_backward(g, ind, x.shape)
    assert_allclose("max_pool2d_backward", gi, max_pool2d_backward_ref(g, ind, x.shape), dtype=dtype,
                    scale=max_pool2d_backward_scale(g, ind, x.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_ties_and_nan(dtype, rng):
    # Few distinct values: most windows hold ties. NaN and -inf sprinkled in.
    x = rng.integers(0, 3, size=(3, 4, 10, 37)).astype(dtype)  # wide rows: several vector steps
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.05] = -np.inf
    x[0, 0] = -np.inf  # a whole plane of -inf
    for k, s, p, d, ceil in [(2, 2, 0, 1, True), (3, 1, 1, 1, False), (3, 2, 1, 2, True)]:
        out, ind = kernels.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
        ref, ref_ind = max_pool2d_ref(x, pair(k), pair(s), pair(p), pair(d), ceil)
        assert_same_values(out, ref, dtype)
        assert np.array_equal(ind, ref_ind)
        # Each index points at its reported value, and ties resolve to the first maximum.
        flat = x.reshape(x.shape[:2] + (-1,))
        picked = np.take_along_axis(flat, ind.reshape(ind.shape[:2] + (-1,)), axis=-1).reshape(out.shape)
        assert np.array_equal(picked, out, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_backward_any_indices(dtype, rng):
    # Indices inside each output's 2x2 cell (the direct-write path), the same with one index
    # moved out of its cell in one plane (that plane falls back to the scatter), and
    # arbitrary in-range indices with repeats.
    shape, oshape = (2, 3, 9, 8), (2, 3, 4, 4)
    g = rng.standard_normal(oshape).astype(dtype)
    oh, ow = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    cell = (2 * oh) * 8 + 2 * ow + rng.choice([0, 1, 8, 9], size=oshape)
    moved = cell.copy()
    moved[1, 2, 3, 1] = 0
    anywhere = rng.integers(0, 9 * 8, size=oshape)
    for ind in (cell, moved, anywhere):
        gi = kernels.max_pool2d_backward(g, ind, shape)
        assert_allclose("max_pool2d_backward", gi, max_pool2d_backward_ref(g, ind, shape), dtype=dtype,
                        scale=max_pool2d_backward_scale(g, ind, shape))


def test_max_pool2d_window_without_input():
    # With dilation a window can miss the input entirely (rows -1 and 1 of a 1-row plane):
    # torch gives -inf and the flat offset of the window's first row/column after skipping
    # the left padding, which lies outside the plane.
    x = np.arange(7, dtype=np.float32).reshape(1, 1, 1, 7)
    out, ind = kernels.max_pool2d(x, 2, (3, 2), (1, 0), (2, 1), return_indices=True)
    assert np.all(out == -np.inf) and ind.tolist() == [[[[7, 9, 11]]]]
    with pytest.raises(IndexError, match=r"outside \[0, 7\)"):
        kernels.max_pool2d_backward(out, ind, x.shape)


def test_max_pool2d_tie_picks_first_nan_wins():
    x = np.array([[[[1, 3, 3, 2], [0, 3, 1, 1], [np.nan, 1, np.nan, 2], [1, 1, 1, np.nan]]]], np.float32)
    out, ind = kernels.max_pool2d(x, 2, return_indices=True)
    assert ind[0, 0, 0, 0] == 1 and ind[0, 0, 0, 1] == 2      # first of the tied 3s
    assert np.isnan(out[0, 0, 1, 0]) and ind[0, 0, 1, 0] == 8
    assert np.isnan(out[0, 0, 1, 1]) and ind[0, 0, 1, 1] == 15  # the last NaN in scan order


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_noncontiguous_and_empty_batch(dtype, rng):
    base = rng.standard_normal((4, 3, 12, 10)).astype(dtype)
    x = base[::2, :, 1:, ::-1]
    out, ind = kernels.max_pool2d(x, 3, 2, 1, return_indices=True)
    ref, ref_ind = max_pool2d_ref(x, (3, 3), (2, 2), (1, 1), (1, 1), False)
    assert_allclose("max_pool2d", out, ref, dtype=dtype)
    assert np.array_equal(ind, ref_ind)
    g = rng.standard_normal(out.shape).astype(dtype)[..., ::-1]
    gi = kernels.max_pool2d_backward(g, ind, x.shape)
    assert_allclose("max_pool2d_backward", gi, max_pool2d_backward_ref(g, ind, x.shape), dtype=dtype,
                    scale=max_pool2d_backward_scale(g, ind, x.shape))
    empty = np.zeros((0, 2, 6, 6), dtype)
    e_out, e_ind = kernels.max_pool2d(empty, 2, return_indices=True)
    assert e_out.shape == (0, 2, 3, 3) and e_ind.shape == (0, 2, 3, 3)
    assert kernels.max_pool2d_backward(e_out, e_ind, empty.shape).shape == empty.shape


# (shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((2, 3, 8, 8), 2, None, 0, False, True, None),
    ((1, 1, 5, 5), 3, 2, 1, True, True, None),     # ceil window past the padded edge
    ((1, 1, 5, 5), 2, 2, 0, True, True, None),     # the last window counts only up to H
    ((2, 2, 7, 9), 3, 2, 1, True, False, None),
    ((2, 2, 7, 9), (3, 2), (2, 1), (1, 1), False, True, 5),
    ((3, 11, 13), 5, 3, 2, True, True, None),
    ((1, 2, 1, 1), 1, 1, 0, False, True, None),
    ((1, 2, 6, 7), 4, 1, 2, True, False, 3),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool2d_matches_oracle(case, dtype, rng):
    shape, k, s, p, ceil, cip, div = case
    x = rng.standard_normal(shape).astype(dtype)
    OH, OW, wins = avg_pool2d_windows(shape[-2], shape[-1], pair(k), pair(k) if s is None else pair(s),
                                      pair(p), ceil, cip, div)
    out = kernels.avg_pool2d(x, k, s, p, ceil, cip, div)
    ref, scale = window_avg_ref(x, OH, OW, wins)
    assert_allclose("avg_pool2d", out, ref, dtype=dtype, scale=scale)
    g = rng.standard_normal(out.shape).astype(dtype)
    gi = kernels.avg_pool2d_backward(g, x.shape, k, s, p, ceil, cip, div)
    ref_gi, gscale = window_avg_backward_ref(g, x.shape, wins)
    assert_allclose("avg_pool2d_backward", gi, ref_gi, dtype=dtype, scale=gscale)


def test_avg_pool2d_divisor_rules():
    # All-ones input: each output equals (in-range elements) / divisor, so the divisor rule
    # shows directly.
    x = np.ones((1, 1, 5, 5))
    inc = kernels.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    assert inc[0, 0, 0, 0] == 4 / 9 and inc[0, 0, 1, 1] == 1.0
    exc = kernels.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert np.all(exc == 1.0)
    edge = kernels.avg_pool2d(x, 2, 2, 0, ceil_mode=True)  # last window [4, 6) clipped to 5
    assert edge.shape == (1, 1, 3, 3) and np.all(edge == 1.0)
    over = kernels.avg_pool2d(x, 2, 2, 0, divisor_override=3)
    assert np.all(over == 4 / 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", [((2, 3, 7, 9), (3, 4)), ((2, 3, 7, 9), 1), ((3, 5, 7), (None, 3)),
                                        ((1, 2, 4, 6), (8, 11)), ((2, 1, 13, 17), (5, None)),
                                        ((1, 1, 30, 40), (1, 1))])
def test_adaptive_avg_pool2d_matches_oracle(shape, size, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)[..., ::-1]  # non-contiguous as well
    sz = (size, size) if isinstance(size, int) else size
    OH = shape[-2] if sz[0] is None else sz[0]
    OW = shape[-1] if sz[1] is None else sz[1]
    _, _, wins = adaptive_avg_pool2d_windows(shape[-2], shape[-1], OH, OW)
    out = kernels.adaptive_avg_pool2d(x, size)
    ref, scale = window_avg_ref(x, OH, OW, wins)
    assert_allclose("adaptive_avg_pool2d", out, ref, dtype=dtype, scale=scale)
    g = rng.standard_normal(out.shape).astype(dtype)
    gi = kernels.adaptive_avg_pool2d_backward(g, x.shape)
    ref_gi, gscale = window_avg_backward_ref(g, x.shape, wins)
    assert_allclose("adaptive_avg_pool2d_backward", gi, ref_gi, dtype=dtype, scale=gscale)


def test_oracle_backwards_match_finite_differences(rng):
    x = rng.standard_normal((2, 7, 6))  # distinct values: max is differentiable here
    for k, s, p, d, ceil in [((3, 3), (2, 2), (1, 1), (1, 1), True), ((2, 3), (1, 2), (1, 0), (2, 1), False)]:
        out, ind = max_pool2d_ref(x, k, s, p, d, ceil)
        g = rng.standard_normal(out.shape)
        assert_grad_matches(max_pool2d_backward_ref(g, ind, x.shape),
                            lambda z: max_pool2d_ref(z, k, s, p, d, ceil)[0], x, g)
    for cip, div in [(True, None), (False, None), (True, 4)]:
        OH, OW, wins = avg_pool2d_windows(7, 6, (3, 2), (2, 2), (1, 1), True, cip, div)
        g = rng.standard_normal((2, OH, OW))
        assert_grad_matches(window_avg_backward_ref(g, x.shape, wins)[0],
                            lambda z: window_avg_ref(z, OH, OW, wins)[0], x, g)
    OH, OW, wins = adaptive_avg_pool2d_windows(7, 6, 4, 5)
    g = rng.standard_normal((2, OH, OW))
    assert_grad_matches(window_avg_backward_ref(g, x.shape, wins)[0],
                        lambda z: window_avg_ref(z, OH, OW, wins)[0], x, g)


def test_oracle_output_size_counts_windows():
    # The number of window starts oh*s - p that lie inside the input or the left padding
    # and (floor mode) whose window ends inside the right padding.
    for n in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    for d in (1, 2):
                        span = d * (k - 1) + 1
                        floor_n = sum(1 for o in range(n + 2 * p) if o * s + span <= n + 2 * p)
                        ceil_n = sum(1 for o in range(n + 2 * p) if o * s < n + p and
                                     (o == 0 or (o - 1) * s + span < n + 2 * p))
                        if floor_n >= 1:  # below 1 the op raises; the formula may go negative
                            assert pool_output_size(n, k, s, p, d, False) == floor_n
                            assert pool_output_size(n, k, s, p, d, True) == ceil_n


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_bits_for_1_and_2_threads(dtype, rng, same_bits_on_1_and_2_threads):
    x = rng.standard_normal((8, 16, 20, 18)).astype(dtype)

    def run():
        out, ind = kernels.max_pool2d(x, 3, 1, 1, return_indices=True)
        f2, i2 = kernels.max_pool2d(x, 2, return_indices=True)
        g = np.cos(np.arange(out.size, dtype=dtype)).reshape(out.shape)
        avg = kernels.avg_pool2d(x, 3, 2, 1, True, False)
        ad = kernels.adaptive_avg_pool2d(x, (5, 7))
        return [out, ind, f2, i2, kernels.max_pool2d_backward(g, ind, x.shape), avg,
                kernels.avg_pool2d_backward(np.ones_like(avg), x.shape, 3, 2, 1, True, False), ad,
                kernels.adaptive_avg_pool2d_backward(np.sin(ad), x.shape)]
    same_bits_on_1_and_2_threads(run)


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda x: kernels.max_pool2d(x, 0), ValueError, r"\[max_pool2d\] kernel_size must be positive"),
    (lambda x: kernels.max_pool2d(x, 2, -1), ValueError, r"\[max_pool2d\] stride must be positive"),
    (lambda x: kernels.max_pool2d(x, 2, 1, 0, 0), ValueError, r"\[max_pool2d\] dilation must be positive"),
    (lambda x: kernels.max_pool2d(x, 3, 1, -1), ValueError, r"padding must be non-negative"),
    (lambda x: kernels.max_pool2d(x, 3, 2, 2), ValueError, r"pad should be at most half of kernel size.*\(2, 2\)"),
    (lambda x: kernels.max_pool2d(x, 3, 2, 2, dilation=2), ValueError, r"pad should be at most half"),
    (lambda x: kernels.max_pool2d(x, 9), ValueError, r"\[max_pool2d\] input plane \(6, 7\).*too small"),
    (lambda x: kernels.max_pool2d(x[0, 0], 2), ValueError, r"\[max_pool2d\] input has shape \(6, 7\)"),
    (lambda x: kernels.max_pool2d(x[None], 2), ValueError, r"expected \(N, C, H, W\) or \(C, H, W\)"),
    (lambda x: kernels.max_pool2d(x[:, :0], 2), ValueError, r"input has shape \(2, 0, 6, 7\)"),
    (lambda x: kernels.max_pool2d(x.astype(np.int32), 2), TypeError, r"\[max_pool2d\] input has unsupported dtype"),
    (lambda x: kernels.max_pool2d(x.tolist(), 2), TypeError, r"must be a numpy.ndarray"),
    (lambda x: kernels.max_pool2d(x, 2.0), TypeError, r"kernel_size must be an int"),
    (lambda x: kernels.avg_pool2d(x, 3, 1, 2), ValueError, r"\[avg_pool2d\] pad should be at most half"),
    (lambda x: kernels.avg_pool2d(x, 2, divisor_override=0), ValueError, r"divisor_override must be positive"),
    (lambda x: kernels.avg_pool2d(x, 8), ValueError, r"\[avg_pool2d\] .*too small"),
    (lambda x: kernels.adaptive_avg_pool2d(x, (-1, 2)), ValueError, r"output_size must be non-negative"),
    (lambda x: kernels.adaptive_avg_pool2d(x, "a"), TypeError, r"output_size must be an int"),
    (lambda x: kernels.max_pool2d_backward(np.zeros((2, 3, 3, 3)), np.zeros((2, 3, 3, 3), np.int32), x.shape),
     TypeError, r"indices has dtype int32, expected int64"),
    (lambda x: kernels.max_pool2d_backward(np.zeros((2, 3, 3, 3)), np.zeros((2, 3, 3, 2), np.int64), x.shape),
     ValueError, r"indices has shape \(2, 3, 3, 2\) but grad_output has shape \(2, 3, 3, 3\)"),
    (lambda x: kernels.max_pool2d_backward(np.zeros((2, 3, 3, 3)), np.full((2, 3, 3, 3), 42), x.shape),
     IndexError, r"\[max_pool2d_backward\] indices holds a value outside \[0, 42\)"),
    (lambda x: kernels.max_pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), np.full((2, 3, 3, 3), 2 ** 32), x.shape),
     IndexError, r"indices holds a value outside"),
    (lambda x: kernels.max_pool2d_backward(np.zeros((2, 4, 3, 3)), np.zeros((2, 4, 3, 3), np.int64), x.shape),
     ValueError, r"grad_output has shape \(2, 4, 3, 3\), which does not match input_shape \(2, 3, 6, 7\)"),
])
def test_bad_arguments(call, exc, pattern):
    x = np.arange(2 * 3 * 6 * 7, dtype=np.float64).reshape(2, 3, 6, 7)
    x0 = x.copy()
    with pytest.raises(exc, match=pattern):
        call(x)
    assert np.array_equal(x, x0)


def test_avg_pool2d_backward_checks_grad_shape():
    with pytest.raises(ValueError, match=r"\[avg_pool2d_backward\] grad_output has shape \(2, 3, 2, 2\), "
                                         r"expected \(2, 3, 3, 3\)"):
        kernels.avg_pool2d_backward(np.zeros((2, 3, 2, 2)), (2, 3, 6, 7), 2)
