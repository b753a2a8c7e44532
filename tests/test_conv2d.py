"""Tests for fastnn.kernels.conv2d / conv2d_backward (csrc/conv2d.cpp).

Forward and every gradient are compared with the float64 shift-and-accumulate oracle in
reference.py (itself checked by finite differences here) through assert_close, with a random
upstream gradient. Also: 'same' padding at any stride, unbatched and non-contiguous inputs,
output_mask, exact integer results, thread-count independence, the reference kernels, the
CPU code paths, and bad inputs. Shapes that take the Winograd F(2x2, 3x3) path (as
_C.conv2d_algorithm reports) are checked with its own tolerance model, and on both paths.
"""

import itertools
import math

import numpy as np
import pytest

from fastnn import _C, kernels
from reference import (assert_close, assert_grad_matches, conv2d_backward_ref, conv2d_ref, conv2d_scale,
                       conv2d_winograd_scale)

DTYPES = (np.float32, np.float64)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def same_pads(hw, khw, stride, dilation):
    """(top, bottom, left, right) of 'same' padding: output ceil(in / stride), the smaller half
    of the total before."""
    pads = ()
    for size, k, s, d in zip(hw, khw, pair(stride), pair(dilation)):
        out = math.ceil(size / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += (total // 2, total - total // 2)
    return pads


def oracle_pads(x, w, padding, stride, dilation):
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return same_pads(x.shape[-2:], w.shape[2:], stride, dilation)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


def check_conv(rng, x, w, b, stride=1, padding=0, dilation=1, groups=1):
    """Runs conv2d and conv2d_backward on the arrays as given (4-D) and checks the output and
    all three gradients against the oracle, and that no input was modified."""
    dtype = x.dtype
    stride, dilation = pair(stride), pair(dilation)
    pads = oracle_pads(x, w, padding, stride, dilation)
    saved = [a.copy() for a in (x, w, b) if a is not None]
    out = kernels.conv2d(x, w, b, stride, padding, dilation, groups)
    expected = conv2d_ref(x, w, b, stride, pads, dilation, groups)
    dy = randn(rng, expected.shape, dtype)
    dx, dw, db = kernels.conv2d_backward(dy, x, w, stride, padding, dilation, groups)
    rdx, rdw, rdb = conv2d_backward_ref(dy, x, w, stride, pads, dilation, groups)
    s_out, s_dx, s_dw, s_db = conv2d_scale(dy, x, w, b, stride, pads, dilation, groups)
    n, oc, oh, ow = expected.shape
    kh, kw = w.shape[2:]
    out_algo, dx_algo = algorithm(x, w, stride, dilation, groups)
    if out_algo == "winograd":
        check_winograd_output(out, expected, x, w, b, pads)
    else:
        assert_close("conv2d", out, expected, w.shape[1] * kh * kw, scale=s_out, dtype=dtype)
    if dx_algo == "winograd":
        check_winograd_input_grad(dx, rdx, dy, w, pads)
    else:
        assert_close("conv2d_backward", dx, rdx, oc // groups * kh * kw, scale=s_dx, dtype=dtype)
    assert_close("conv2d_backward", dw, rdw, max(n * oh * ow, 1), scale=s_dw, dtype=dtype)
    assert_close("conv2d_backward", db, rdb, max(n * oh * ow, 1), scale=s_db, dtype=dtype)
    for before, after in zip(saved, [a for a in (x, w, b) if a is not None]):
        assert np.array_equal(before, after), "input modified"
    return out, (dx, dw, db)


def algorithm(x, w, stride, dilation, groups):
    """(output path, input-gradient path) the kernel takes for this input."""
    return _C.conv2d_algorithm(x.shape[-3], w.shape[0], *w.shape[2:], *pair(stride), *pair(dilation), groups,
                               *x.shape[-2:])


def check_winograd_output(out, expected, x, w, b, pads):
    """The output of a 3x3 stride-1 convolution against the oracle, with the Winograd
    tolerance model (reference.py)."""
    assert_close("conv2d_winograd", out, expected, x.shape[1], scale=conv2d_winograd_scale(x, w, b, pads),
                 dtype=x.dtype)


def check_winograd_input_grad(dx, rdx, dy, w, pads):
    """The input gradient on the Winograd path: the full correlation of dy with the flipped,
    channel-swapped weights, padded 2 - pad per side, with the same model."""
    wt = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    assert_close("conv2d_winograd", dx, rdx, w.shape[0],
                 scale=conv2d_winograd_scale(dy, wt, None, tuple(2 - p for p in pads)), dtype=dx.dtype)


# (input shape, weight shape, stride, padding, dilation, groups)
CASES = [
    ((2, 5, 6, 7), (3, 5, 1, 1), 1, 0, 1, 1),            # 1x1: input read in place
    ((2, 4, 7, 7), (3, 4, 1, 1), 2, 0, 1, 1),            # 1x1 strided
    ((2, 4, 5, 6), (3, 4, 1, 1), 1, 1, 1, 1),            # 1x1 padded
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, 1, 1),            # 3x3 'same'-sized
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 0, 1, 1),            # 3x3 valid
    ((1, 2, 11, 9), (3, 2, 5, 5), 1, 2, 1, 1),           # 5x5, batch 1, odd sizes
    ((2, 3, 9, 10), (4, 3, 2, 4), 1, (1, 2), 1, 1),      # non-square kernel and padding
    ((2, 3, 9, 10), (4, 3, 3, 3), 2, 1, 1, 1),           # stride 2
    ((2, 2, 11, 10), (3, 2, 2, 2), 3, 0, 1, 1),          # stride > kernel
    ((2, 3, 10, 11), (4, 3, 3, 3), (2, 3), (0, 1), 1, 1),
    ((2, 3, 10, 9), (4, 3, 3, 3), 2, "same", 1, 1),      # asymmetric padding
    ((2, 3, 11, 10), (4, 3, 4, 4), 3, "same", 1, 1),     # even kernel, stride 3
    ((2, 3, 9, 8), (2, 3, 2, 3), 1, "same", 1, 1),
    ((2, 3, 7, 6), (2, 3, 3, 3), 1, "valid", 1, 1),
    ((2, 3, 11, 12), (4, 3, 3, 3), 1, 2, 2, 1),          # dilation 2
    ((2, 3, 11, 12), (4, 3, 3, 2), 2, 1, (2, 1), 1),
    ((2, 3, 10, 10), (2, 3, 3, 3), 1, "same", 2, 1),
    ((2, 4, 7, 7), (6, 2, 3, 3), 1, 1, 1, 2),            # groups 2
    ((2, 4, 7, 7), (4, 1, 3, 3), 1, 1, 1, 4),            # depthwise
    ((2, 4, 9, 7), (8, 1, 3, 3), 2, 1, 1, 4),            # depthwise, channel multiplier 2
    ((2, 6, 5, 5), (6, 2, 1, 1), 1, 0, 1, 3),            # grouped 1x1 in place
    ((1, 3, 13, 11), (5, 3, 3, 3), 1, 1, 1, 1),          # primes
    ((2, 3, 5, 5), (4, 3, 7, 7), 1, 1, 1, 1),            # kernel == padded input
    ((2, 3, 4, 6), (2, 3, 4, 6), 1, 0, 1, 1),            # kernel == input
    ((3, 2, 1, 1), (4, 2, 1, 1), 1, 0, 1, 1),            # 1x1 image
    ((3, 2, 1, 1), (4, 2, 3, 3), 1, 1, 1, 1),
    ((1, 1, 7, 5), (1, 1, 3, 3), 1, 1, 1, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_parity(rng, dtype, case):
    xs, ws, stride, padding, dilation, groups = case
    x, w, b = randn(rng, xs, dtype), randn(rng, ws, dtype), randn(rng, ws[:1], dtype)
    check_conv(rng, x, w, b, stride, padding, dilation, groups)


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_bias(rng, dtype):
    x, w = randn(rng, (2, 3, 7, 8), dtype), randn(rng, (4, 3, 3, 3), dtype)
    check_conv(rng, x, w, None, 1, 1)
    assert np.array_equal(kernels.conv2d(x, w, np.zeros(4, dtype), padding=1), kernels.conv2d(x, w, padding=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_many_tiles_and_image_groups(rng, dtype):
    """Shapes that cut each image into several im2col tiles and the batch into several
    weight-gradient groups (as the kernel reports its plan)."""
    itemsize = np.dtype(dtype).itemsize
    x, w, b = randn(rng, (2, 8, 130, 60), dtype), randn(rng, (4, 8, 3, 3), dtype), randn(rng, (4,), dtype)
    tile_rows, _ = _C.conv2d_plan(2, 8, 130, 60, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, itemsize)
    assert tile_rows < 130 and 130 % tile_rows != 0
    check_conv(rng, x, w, b, 1, 1)
    x2, w2 = randn(rng, (40, 3, 6, 5), dtype), randn(rng, (4, 3, 3, 3), dtype)
    _, group_images = _C.conv2d_plan(40, 3, 6, 5, 4, 3, 3, 2, 1, 1, 1, 0, 0, 1, 1, 1, itemsize)
    assert 1 < group_images < 40
    check_conv(rng, x2, w2, b, (2, 1), (1, 0))
    check_conv(rng, randn(rng, (40, 3, 6, 5), dtype), randn(rng, (4, 3, 1, 1), dtype), b)
    # Groups of 4 images cut into input-gradient batches of 3 and 1 (float32: an image's
    # columns take ~290 KiB of the 1 MiB tile), and a last group of one image.
    check_conv(rng, randn(rng, (97, 8, 40, 26), dtype), randn(rng, (4, 8, 3, 3), dtype), b, 1, 1)


def test_empty_batch(rng):
    x, w, b = randn(rng, (0, 3, 5, 5), np.float32), randn(rng, (4, 3, 3, 3), np.float32), np.ones(4, np.float32)
    out = kernels.conv2d(x, w, b, padding=1)
    assert out.shape == (0, 4, 5, 5) and out.dtype == np.float32
    dx, dw, db = kernels.conv2d_backward(np.zeros((0, 4, 5, 5), np.float32), x, w, padding=1)
    assert dx.shape == x.shape
    assert np.array_equal(dw, np.zeros_like(w)) and np.array_equal(db, np.zeros(4, np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_channels(rng, dtype):
    """No input channels: the output is the bias; no output channels: nothing flows back."""
    x, w, b = randn(rng, (2, 0, 5, 4), dtype), randn(rng, (3, 0, 3, 3), dtype), randn(rng, (3,), dtype)
    out = kernels.conv2d(x, w, b, padding=1)
    assert np.array_equal(out, np.broadcast_to(b[None, :, None, None], (2, 3, 5, 4)))
    dy = randn(rng, out.shape, dtype)
    dx, dw, db = kernels.conv2d_backward(dy, x, w, padding=1)
    assert dx.shape == x.shape and dw.shape == w.shape
    assert_close("conv2d_backward", db, dy.astype(np.float64).sum(axis=(0, 2, 3)), 40,
                 scale=np.abs(dy.astype(np.float64)).sum(axis=(0, 2, 3)), dtype=dtype)
    x, w = randn(rng, (2, 3, 5, 4), dtype), randn(rng, (0, 3, 3, 3), dtype)
    assert kernels.conv2d(x, w, padding=1).shape == (2, 0, 5, 4)
    dx, dw, db = kernels.conv2d_backward(np.zeros((2, 0, 5, 4), dtype), x, w, padding=1)
    assert np.array_equal(dx, np.zeros_like(x)) and dw.shape == w.shape and db.shape == (0,)


def test_parameter_forms(rng):
    """Ints, pairs as tuples or lists, and NumPy integers are the same parameters."""
    x, w = randn(rng, (2, 3, 9, 8), np.float32), randn(rng, (4, 3, 3, 2), np.float32)
    want = kernels.conv2d(x, w, None, (2, 2), (1, 0), (1, 1), 1)
    assert np.array_equal(kernels.conv2d(x, w, None, 2, [1, 0], 1), want)
    assert np.array_equal(kernels.conv2d(x, w, None, np.int64(2), (np.int32(1), 0), [1, 1], np.int64(1)), want)
    dy = randn(rng, want.shape, np.float32)
    a = kernels.conv2d_backward(dy, x, w, stride=[2, 2], padding=(1, 0))
    b = kernels.conv2d_backward(dy, x, w, 2, [1, 0], 1, 1, [True, True, True])
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert np.array_equal(kernels.conv2d(x, w, padding="valid"), kernels.conv2d(x, w, padding=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched(rng, dtype):
    x, w, b = randn(rng, (3, 9, 8), dtype), randn(rng, (4, 3, 3, 3), dtype), randn(rng, (4,), dtype)
    out = kernels.conv2d(x, w, b, 2, "same")
    assert out.shape == (4, 5, 4)
    assert np.array_equal(out, kernels.conv2d(x[None], w, b, 2, "same")[0])
    dy = randn(rng, out.shape, dtype)
    dx, dw, db = kernels.conv2d_backward(dy, x, w, 2, "same")
    ex, ew, eb = kernels.conv2d_backward(dy[None], x[None], w, 2, "same")
    assert dx.shape == x.shape
    assert np.array_equal(dx, ex[0]) and np.array_equal(dw, ew) and np.array_equal(db, eb)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous(rng, dtype):
    x = randn(rng, (2, 9, 11, 3), dtype).transpose(0, 3, 1, 2)        # (2, 3, 9, 11), channels last
    w = randn(rng, (3, 3, 3, 8), dtype)[..., ::2].transpose(3, 0, 1, 2)  # (4, 3, 3, 3), strided
    b = randn(rng, (8,), dtype)[::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous and not b.flags.c_contiguous
    out, grads = check_conv(rng, x, w, b, 1, 1)
    out_c, _ = check_conv(rng, np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(b), 1, 1)
    assert np.array_equal(out, out_c)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_same_output_size(rng, stride, k):
    for h, wd in [(1, 1), (7, 8), (9, 10), (12, 5)]:
        x, w = randn(rng, (1, 2, h, wd), np.float64), randn(rng, (3, 2, k, k), np.float64)
        out = kernels.conv2d(x, w, stride=stride, padding="same")
        assert out.shape == (1, 3, math.ceil(h / stride), math.ceil(wd / stride))
        expected = conv2d_ref(x, w, None, (stride, stride), same_pads((h, wd), (k, k), stride, 1))
        assert_close("conv2d", out, expected, 2 * k * k, scale=conv2d_scale(
            None, x, w, None, (stride, stride), same_pads((h, wd), (k, k), stride, 1), (1, 1), 1)[0],
            dtype=np.float64)


@pytest.mark.parametrize("k,dilation", [(1, 1), (3, 1), (5, 1), (3, 2), (2, 1), (4, 3)])
def test_same_matches_torch_style_padding_at_stride_1(rng, k, dilation):
    """At stride 1, 'same' is PyTorch's: total (k - 1) * dilation, left gets total // 2 (so
    odd kernels give plain symmetric padding)."""
    x, w = randn(rng, (2, 3, 8, 7), np.float32), randn(rng, (4, 3, k, k), np.float32)
    out = kernels.conv2d(x, w, padding="same", dilation=dilation)
    total = (k - 1) * dilation
    pads = (total // 2, total - total // 2) * 2
    pads = (pads[0], pads[1], pads[0], pads[1])
    assert out.shape == (2, 4, 8, 7)
    if total % 2 == 0:
        assert np.array_equal(out, kernels.conv2d(x, w, padding=total // 2, dilation=dilation))
    assert np.array_equal(out, _C.conv2d_forward(x, w, None, 1, 1, *pads, dilation, dilation, 1))
    dy = randn(rng, out.shape, np.float32)
    got = kernels.conv2d_backward(dy, x, w, padding="same", dilation=dilation)
    ref = _C.conv2d_backward(dy, x, w, 1, 1, *pads, dilation, dilation, 1, True, True, True)
    assert all(np.array_equal(a, b) for a, b in zip(got, ref))


@pytest.mark.parametrize("mask", list(itertools.product((False, True), repeat=3)))
def test_output_mask(rng, mask):
    x, w = randn(rng, (3, 4, 7, 6), np.float32), randn(rng, (6, 2, 3, 3), np.float32)
    dy = randn(rng, (3, 6, 4, 3), np.float32)
    full = kernels.conv2d_backward(dy, x, w, 2, 1, 1, 2)
    got = kernels.conv2d_backward(dy, x, w, 2, 1, 1, 2, output_mask=mask)
    for want, g, f in zip(mask, got, full):
        if want:
            assert np.array_equal(g, f)
        else:
            assert g is None


@pytest.mark.parametrize("case", [
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, 1, 1),
    ((40, 3, 6, 5), (4, 3, 3, 3), 2, "same", 1, 1),
    ((3, 4, 6, 6), (4, 1, 3, 3), 1, 1, 2, 4),
    ((5, 6, 5, 4), (4, 6, 1, 1), 1, 0, 1, 1),
    ((1, 8, 130, 60), (4, 8, 3, 3), 1, 1, 1, 1),
])
def test_integers_exact(rng, case):
    """Small integers: every partial sum is exact in float32, so results equal the oracle."""
    xs, ws, stride, padding, dilation, groups = case
    ints = lambda shape: rng.integers(-2, 3, size=shape).astype(np.float32)  # noqa: E731
    x, w, b = ints(xs), ints(ws), ints(ws[:1])
    pads = oracle_pads(x, w, padding, pair(stride), pair(dilation))
    out = kernels.conv2d(x, w, b, stride, padding, dilation, groups)
    assert np.array_equal(out, conv2d_ref(x, w, b, pair(stride), pads, pair(dilation), groups))
    dy = ints(out.shape)
    got = kernels.conv2d_backward(dy, x, w, stride, padding, dilation, groups)
    ref = conv2d_backward_ref(dy, x, w, pair(stride), pads, pair(dilation), groups)
    for g, r in zip(got, ref):
        assert np.array_equal(g, r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [
    ((40, 3, 9, 8), (8, 3, 3, 3), 1, 1, 1, 1),      # images shared out across threads
    ((3, 4, 9, 8), (6, 2, 3, 3), 2, "same", 1, 2),  # too few image groups: threaded GEMMs
    ((1, 8, 130, 60), (16, 8, 3, 3), 1, 1, 1, 1),   # one image, several tiles
    ((8, 16, 9, 9), (32, 16, 1, 1), 1, 0, 1, 1),    # input read in place
])
def test_thread_count_independent(rng, set_threads, dtype, case):
    xs, ws, stride, padding, dilation, groups = case
    x, w, b = randn(rng, xs, dtype), randn(rng, ws, dtype), randn(rng, ws[:1], dtype)
    results = []
    for threads in (1, 2):
        set_threads(threads)
        out = kernels.conv2d(x, w, b, stride, padding, dilation, groups)
        dy = np.linspace(-1, 1, out.size).reshape(out.shape).astype(dtype)
        results.append((out,) + kernels.conv2d_backward(dy, x, w, stride, padding, dilation, groups))
    for a, b_ in zip(*results):
        assert np.array_equal(a, b_)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_kernels(rng, dtype):
    x, w, b = randn(rng, (2, 4, 7, 6), dtype), randn(rng, (6, 2, 3, 2), dtype), randn(rng, (6,), dtype)
    args = (2, 1, 1, 2, 0, 1, 1, 2, 2)  # stride (2, 1), pads (1, 2, 0, 1), dilation (1, 2), groups 2
    out = _C.conv2d_forward(x, w, b, *args, reference=True)
    pads = args[2:6]
    assert_close("conv2d", out, conv2d_ref(x, w, b, (2, 1), pads, (1, 2), 2), 12,
                 scale=conv2d_scale(None, x, w, b, (2, 1), pads, (1, 2), 2)[0], dtype=dtype)
    dy = randn(rng, out.shape, dtype)
    got = _C.conv2d_backward(dy, x, w, *args, True, True, True, reference=True)
    ref = conv2d_backward_ref(dy, x, w, (2, 1), pads, (1, 2), 2)
    scales = conv2d_scale(dy, x, w, b, (2, 1), pads, (1, 2), 2)[1:]
    n_sum = out.shape[0] * out.shape[2] * out.shape[3]
    for g, r, s, k in zip(got, ref, scales, (18, n_sum, n_sum)):
        assert_close("conv2d_backward", g, r, k, scale=s, dtype=dtype)


def test_cpu_paths(rng, cpu_path):
    for dtype in DTYPES:
        x, w, b = randn(rng, (3, 5, 9, 8), dtype), randn(rng, (7, 5, 3, 3), dtype), randn(rng, (7,), dtype)
        check_conv(rng, x, w, b, 1, 1)
        check_conv(rng, x, randn(rng, (6, 5, 1, 1), dtype), None)
        # The Winograd transforms have a build per code path too (baseline and AVX2).
        x, w, b = randn(rng, (2, 16, 9, 7), dtype), randn(rng, (17, 16, 3, 3), dtype), randn(rng, (17,), dtype)
        assert algorithm(x, w, 1, 1, 1)[0] == "winograd"
        check_conv(rng, x, w, b, 1, 1)
        pads = winograd_pads(x, 1)
        dy = randn(rng, (2, 17, 9, 7), dtype)
        dx, _, _ = _C.conv2d_backward(dy, x, w, 1, 1, *pads, 1, 1, 1, True, False, False, algorithm="winograd")
        check_winograd_input_grad(dx, conv2d_backward_ref(dy, x, w, (1, 1), pads)[0], dy, w, pads)


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    ((1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((2, 1), (1, 0, 2, 1), (1, 2), 2),
    ((1, 3), (0, 1, 1, 1), (2, 1), 4),
])
def test_oracle_backward_by_finite_differences(rng, stride, padding, dilation, groups):
    x, w, b = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 4 // groups, 2, 3)), rng.standard_normal(4)
    out = conv2d_ref(x, w, b, stride, padding, dilation, groups)
    dy = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward_ref(dy, x, w, stride, padding, dilation, groups)
    assert_grad_matches(dx, lambda v: conv2d_ref(v, w, b, stride, padding, dilation, groups), x, dy)
    assert_grad_matches(dw, lambda v: conv2d_ref(x, v, b, stride, padding, dilation, groups), w, dy)
    assert_grad_matches(db, lambda v: conv2d_ref(x, w, v, stride, padding, dilation, groups), b, dy)


def _arrays(dtype=np.float32):
    return (np.ones((2, 3, 6, 6), dtype), np.ones((4, 3, 3, 3), dtype), np.ones(4, dtype))


@pytest.mark.parametrize("kwargs,exc,pattern", [
    (dict(input=np.ones((3, 6, 6, 1, 1), np.float32)), ValueError, r"^\[conv2d\] input has shape .*3-D"),
    (dict(input=np.ones((6, 6), np.float32)), ValueError, r"^\[conv2d\] input has shape"),
    (dict(weight=np.ones((4, 3, 3), np.float32)), ValueError, r"^\[conv2d\] weight has shape"),
    (dict(weight=np.ones((4, 1, 3, 3), np.float32)), ValueError,
     r"^\[conv2d\] input has 3 channels, weight expects 1"),
    (dict(weight=np.ones((4, 1, 3, 3), np.float32), groups=2), ValueError,
     r"^\[conv2d\] input has 3 channels, weight expects 2"),
    (dict(input=np.ones((2, 4, 6, 6), np.float32), weight=np.ones((3, 2, 3, 3), np.float32), bias=None,
          groups=2), ValueError, r"^\[conv2d\] weight has 3 output channels, not divisible by groups=2"),
    (dict(groups=0), ValueError, r"^\[conv2d\] groups must be positive"),
    (dict(groups=-1), ValueError, r"^\[conv2d\] groups must be positive"),
    (dict(stride=0), ValueError, r"^\[conv2d\] stride must be positive"),
    (dict(stride=(1, -1)), ValueError, r"^\[conv2d\] stride must be positive"),
    (dict(dilation=0), ValueError, r"^\[conv2d\] dilation must be positive"),
    (dict(padding=-1), ValueError, r"^\[conv2d\] padding must be non-negative"),
    (dict(padding=(0, -2)), ValueError, r"^\[conv2d\] padding must be non-negative"),
    (dict(padding="full"), ValueError, r"^\[conv2d\] padding must be .*'same'"),
    (dict(padding=(1, 1, 1)), ValueError, r"^\[conv2d\] padding must be an int or a pair"),
    (dict(stride=1.5), TypeError, r"^\[conv2d\] stride must be an int"),
    (dict(groups=1.0), TypeError, r"^\[conv2d\] groups must be an int"),
    (dict(weight=np.ones((4, 3, 7, 3), np.float32)), ValueError,
     r"^\[conv2d\] kernel size \(7, 3\) .* larger than the padded input \(6, 6\)"),
    (dict(weight=np.ones((4, 3, 3, 3), np.float32), dilation=3), ValueError, r"^\[conv2d\] kernel size"),
    (dict(bias=np.ones(3, np.float32)), ValueError, r"^\[conv2d\] bias has shape \(3,\), expected \(4,\)"),
    (dict(bias=np.ones((4, 1), np.float32)), ValueError, r"^\[conv2d\] bias has shape \(4, 1\)"),
    (dict(input=np.ones((2, 3, 6, 6), np.float64)), TypeError, r"^\[conv2d\] input has dtype float64 but weight"),
    (dict(bias=np.ones(4, np.float64)), TypeError, r"^\[conv2d\] input has dtype float32 but bias"),
    (dict(input=np.ones((2, 3, 6, 6), np.float16)), TypeError, r"^\[conv2d\] input has unsupported dtype float16"),
    (dict(weight=np.ones((4, 3, 3, 3), np.int32)), TypeError, r"^\[conv2d\] weight has unsupported dtype int32"),
    (dict(input=[[[1.0]]]), TypeError, r"^\[conv2d\] input must be a numpy.ndarray"),
])
def test_errors(kwargs, exc, pattern):
    x, w, b = _arrays()
    args = dict(input=x, weight=w, bias=b)
    args.update(kwargs)
    saved = {k: v.copy() for k, v in args.items() if isinstance(v, np.ndarray)}
    with pytest.raises(exc, match=pattern):
        kernels.conv2d(**args)
    for k, v in saved.items():
        assert np.array_equal(args[k], v), f"{k} modified"


@pytest.mark.parametrize("kwargs,exc,pattern", [
    (dict(grad_output=np.ones((2, 4, 6, 5), np.float32)), ValueError,
     r"^\[conv2d_backward\] grad_output has shape \(2, 4, 6, 5\), expected \(2, 4, 6, 6\)"),
    (dict(grad_output=np.ones((4, 6, 6), np.float32)), ValueError, r"^\[conv2d_backward\] grad_output has shape"),
    (dict(grad_output=np.ones((2, 4, 6, 6), np.float64)), TypeError, r"^\[conv2d_backward\] grad_output has dtype"),
    (dict(output_mask=(True, False)), ValueError, r"^\[conv2d_backward\] output_mask must be three bools"),
    (dict(output_mask=(1, 1, 1)), ValueError, r"^\[conv2d_backward\] output_mask must be three bools"),
    (dict(weight=np.ones((4, 2, 3, 3), np.float32)), ValueError,
     r"^\[conv2d_backward\] input has 3 channels, weight expects 2"),
    (dict(padding="causal"), ValueError, r"^\[conv2d_backward\] padding must be"),
])
def test_backward_errors(kwargs, exc, pattern):
    x, w, _ = _arrays()
    args = dict(grad_output=np.ones((2, 4, 6, 6), np.float32), input=x, weight=w, padding=1)
    args.update(kwargs)
    saved = {k: v.copy() for k, v in args.items() if isinstance(v, np.ndarray)}
    with pytest.raises(exc, match=pattern):
        kernels.conv2d_backward(**args)
    for k, v in saved.items():
        assert np.array_equal(args[k], v), f"{k} modified"


def test_binding_rejects_non_contiguous():
    x, w, b = _arrays()
    with pytest.raises(ValueError, match=r"^\[conv2d\] input of shape .* must be C-contiguous"):
        _C.conv2d_forward(x.transpose(0, 1, 3, 2), w, b, 1, 1, 0, 0, 0, 0, 1, 1, 1)


# ---- Winograd F(2x2, 3x3) ----
# (input shape, OC, padding): odd and even output sizes, 1x1, 2x2 and 3x3 outputs (one tile,
# partly clipped), paddings 0, 1, 2 (more than the kernel's reach: empty edge tiles), 'same',
# asymmetric, and channel counts at and around the threshold.
WINOGRAD_CASES = [
    ((2, 16, 8, 8), 16, 1),
    ((2, 16, 9, 7), 20, 1),        # odd output: clipped edge tiles
    ((1, 17, 3, 3), 16, 0),        # 1x1 output
    ((3, 16, 4, 4), 18, 0),        # 2x2 output
    ((2, 16, 5, 5), 16, 0),        # 3x3 output
    ((1, 16, 1, 1), 16, 1),        # 1x1 image
    ((2, 16, 6, 7), 24, 2),
    ((2, 16, 6, 7), 16, 3),        # input gradient padded 2 - 3 = -1: a crop
    ((2, 19, 10, 9), 17, "same"),
    ((2, 16, 7, 6), 16, (0, 2)),
    ((1, 32, 30, 29), 40, 1),      # several tile strips per batch, primes
]


def winograd_pads(x, padding):
    return oracle_pads(x, np.zeros((1, 1, 3, 3)), padding, (1, 1), (1, 1))


def test_algorithm_choice():
    """Winograd only for 3x3, stride 1, dilation 1, groups 1 with enough channels, the input
    gradient only from 32x32 pixels; the first-layer shape (C = 1) stays on im2col."""
    wino = (32, 64, 3, 3, 1, 1, 1, 1, 1)
    assert _C.conv2d_algorithm(*wino, 14, 14) == ("winograd", "im2col")
    assert _C.conv2d_algorithm(*wino, 32, 32) == ("winograd", "winograd")
    assert _C.conv2d_algorithm(64, 64, 3, 3, 1, 1, 1, 1, 1, 56, 56) == ("winograd", "winograd")
    # With 64 input channels the input gradient's Winograd pays from 24x24; with 32, from 32x32.
    assert _C.conv2d_algorithm(64, 32, 3, 3, 1, 1, 1, 1, 1, 24, 24) == ("winograd", "winograd")
    assert _C.conv2d_algorithm(64, 32, 3, 3, 1, 1, 1, 1, 1, 23, 24) == ("winograd", "im2col")
    assert _C.conv2d_algorithm(32, 64, 3, 3, 1, 1, 1, 1, 1, 28, 28) == ("winograd", "im2col")
    assert _C.conv2d_algorithm(1, 32, 3, 3, 1, 1, 1, 1, 1, 28, 28) == ("im2col", "im2col")
    for args in [(32, 64, 3, 3, 2, 2, 1, 1, 1), (32, 64, 3, 3, 1, 1, 2, 2, 1), (32, 64, 3, 3, 1, 1, 1, 1, 2),
                 (32, 64, 5, 5, 1, 1, 1, 1, 1), (32, 64, 3, 2, 1, 1, 1, 1, 1), (32, 8, 3, 3, 1, 1, 1, 1, 1)]:
        assert _C.conv2d_algorithm(*args, 64, 64) == ("im2col", "im2col"), args


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=lambda c: "-".join(map(str, c)).replace(" ", ""))
def test_winograd_parity(rng, dtype, case):
    xs, oc, padding = case
    x, w, b = randn(rng, xs, dtype), randn(rng, (oc, xs[1], 3, 3), dtype), randn(rng, (oc,), dtype)
    assert algorithm(x, w, 1, 1, 1)[0] == "winograd"
    check_conv(rng, x, w, b, 1, padding)
    check_conv(rng, x, w, None, 1, padding)
    # The input gradient's own Winograd path (automatic only on larger planes), forced.
    pads = winograd_pads(x, padding)
    expected = conv2d_ref(x, w, b, (1, 1), pads)
    dy = randn(rng, expected.shape, dtype)
    dx, _, _ = _C.conv2d_backward(dy, x, w, 1, 1, *pads, 1, 1, 1, True, False, False, algorithm="winograd")
    check_winograd_input_grad(dx, conv2d_backward_ref(dy, x, w, (1, 1), pads)[0], dy, w, pads)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [((2, 3, 8, 7), 4, 1), ((1, 1, 7, 5), 2, "same"), ((2, 16, 9, 7), 20, 2),
                                  ((1, 16, 3, 3), 16, 0)])
@pytest.mark.parametrize("algo", ["im2col", "winograd"])
def test_both_paths(rng, dtype, case, algo):
    """Each path forced on shapes the plan would and would not give it, through the _C hook."""
    xs, oc, padding = case
    x, w, b = randn(rng, xs, dtype), randn(rng, (oc, xs[1], 3, 3), dtype), randn(rng, (oc,), dtype)
    pads = winograd_pads(x, padding)
    out = _C.conv2d_forward(x, w, b, 1, 1, *pads, 1, 1, 1, algorithm=algo)
    expected = conv2d_ref(x, w, b, (1, 1), pads)
    dy = randn(rng, expected.shape, dtype)
    dx, dw, db = _C.conv2d_backward(dy, x, w, 1, 1, *pads, 1, 1, 1, True, True, True, algorithm=algo)
    rdx, rdw, rdb = conv2d_backward_ref(dy, x, w, (1, 1), pads)
    if algo == "winograd":
        check_winograd_output(out, expected, x, w, b, pads)
        check_winograd_input_grad(dx, rdx, dy, w, pads)
    else:
        s_out, s_dx, _, _ = conv2d_scale(dy, x, w, b, (1, 1), pads, (1, 1), 1)
        assert_close("conv2d", out, expected, xs[1] * 9, scale=s_out, dtype=dtype)
        assert_close("conv2d_backward", dx, rdx, oc * 9, scale=s_dx, dtype=dtype)
    _, _, s_dw, s_db = conv2d_scale(dy, x, w, b, (1, 1), pads, (1, 1), 1)
    k = expected.shape[0] * expected.shape[2] * expected.shape[3]
    assert_close("conv2d_backward", dw, rdw, k, scale=s_dw, dtype=dtype)
    assert_close("conv2d_backward", db, rdb, k, scale=s_db, dtype=dtype)


def test_winograd_tolerance_is_tight(rng):
    """The Winograd model must not be so loose that a wrong tap passes: dropping one weight
    tap's contribution errs far beyond it."""
    x, w = randn(rng, (2, 16, 9, 8), np.float32), randn(rng, (16, 16, 3, 3), np.float32)
    expected = conv2d_ref(x, w, None, (1, 1), (1, 1, 1, 1))
    w2 = w.copy()
    w2[:, :, 1, 2] = 0
    wrong = kernels.conv2d(x, w2, padding=1)
    with pytest.raises(AssertionError):
        assert_close("conv2d_winograd", wrong, expected, 16, scale=conv2d_winograd_scale(x, w, None, (1, 1, 1, 1)),
                     dtype=np.float32)


def test_winograd_rejects_other_shapes():
    x, w = np.ones((1, 16, 6, 6), np.float32), np.ones((16, 16, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"^\[conv2d\] the Winograd path needs"):
        _C.conv2d_forward(x, w, None, 2, 2, 1, 1, 1, 1, 1, 1, 1, algorithm="winograd")
    with pytest.raises(ValueError, match=r"^\[conv2d\] algorithm must be"):
        _C.conv2d_forward(x, w, None, 1, 1, 1, 1, 1, 1, 1, 1, 1, algorithm="fft")


@pytest.mark.parametrize("case", [((2, 16, 8, 8), 16, 1), ((1, 16, 7, 9), 24, "same"), ((3, 20, 5, 5), 16, 0)])
def test_winograd_integers_exact(rng, case):
    """Small integers stay exact on the Winograd path: the filter transform only halves
    (values in multiples of 1/4, far from float32's 24 bits), the rest adds and subtracts."""
    xs, oc, padding = case
    ints = lambda shape: rng.integers(-2, 3, size=shape).astype(np.float32)  # noqa: E731
    x, w, b = ints(xs), ints((oc, xs[1], 3, 3)), ints((oc,))
    assert algorithm(x, w, 1, 1, 1)[0] == "winograd"
    pads = winograd_pads(x, padding)
    out = kernels.conv2d(x, w, b, 1, padding)
    assert np.array_equal(out, conv2d_ref(x, w, b, (1, 1), pads))
    dy = ints(out.shape)
    got = _C.conv2d_backward(dy, x, w, 1, 1, *pads, 1, 1, 1, True, True, True, algorithm="winograd")
    for g, r in zip(got, conv2d_backward_ref(dy, x, w, (1, 1), pads)):
        assert np.array_equal(g, r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [((40, 16, 9, 8), 16, 1), ((1, 32, 60, 30), 32, 1), ((3, 16, 7, 7), 20, "same")])
def test_winograd_thread_count_independent(rng, same_bits_on_1_and_2_threads, dtype, case):
    xs, oc, padding = case
    x, w, b = randn(rng, xs, dtype), randn(rng, (oc, xs[1], 3, 3), dtype), randn(rng, (oc,), dtype)
    assert algorithm(x, w, 1, 1, 1)[0] == "winograd"
    dy = randn(rng, kernels.conv2d(x, w, b, 1, padding).shape, dtype)
    same_bits_on_1_and_2_threads(lambda: (kernels.conv2d(x, w, b, 1, padding),)
                                 + kernels.conv2d_backward(dy, x, w, 1, padding))


def test_winograd_non_contiguous(rng):
    x = randn(rng, (2, 9, 11, 16), np.float32).transpose(0, 3, 1, 2)
    w = randn(rng, (16, 3, 3, 40), np.float32)[..., ::2].transpose(3, 0, 1, 2)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    assert algorithm(x, w, 1, 1, 1)[0] == "winograd"
    out, _ = check_conv(rng, x, w, None, 1, 1)
    assert np.array_equal(out, kernels.conv2d(np.ascontiguousarray(x), np.ascontiguousarray(w), padding=1))
