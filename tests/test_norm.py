"""Tests for fastnn.kernels.batch_norm / batch_norm_forward / batch_norm_backward
(csrc/norm.*) against the float64 oracle in reference.py: training and evaluation, running
statistics updated in place with torch's rules, optional weight/bias/running stats, the
output mask, thread-count independence, and bad arguments (nothing updated on failure).
"""

import numpy as np
import pytest

from fastnn import kernels
from reference import (assert_allclose, assert_grad_matches, batch_norm_backward_ref, batch_norm_ref,
                       batch_norm_scales)

DTYPES = (np.float32, np.float64)
SHAPES = [(4, 3), (2, 5, 7), (3, 4, 5, 6), (1, 2, 3, 1), (2, 1), (7, 13, 1, 1), (1, 3, 2)]


def make(rng, shape, dtype, affine=True):
    C = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1.5).astype(dtype)
    rm = rng.standard_normal(C).astype(dtype)
    rv = (rng.random(C) + 0.5).astype(dtype)
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    return x, rm, rv, w, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_oracle(shape, training, dtype, rng):
    x, rm, rv, w, b = make(rng, shape, dtype)
    momentum, eps = 0.3, 1e-3
    ref_out, ref_mean, ref_invstd, ref_rm, ref_rv = batch_norm_ref(x, rm, rv, w, b, training, momentum, eps)
    g = rng.standard_normal(shape).astype(dtype)
    sc = batch_norm_scales(x, g, w, b, rm, rv, training, momentum, eps)
    x0, w0, b0 = x.copy(), w.copy(), b.copy()
    rm_in, rv_in = rm.copy(), rv.copy()
    out, save_mean, save_invstd = kernels.batch_norm_forward(x, rm_in, rv_in, w, b, training, momentum, eps)
    assert_allclose("batch_norm", out, ref_out, dtype=dtype, scale=sc["out"])
    assert_allclose("batch_norm", save_mean, ref_mean, dtype=dtype, scale=sc["save_mean"])
    assert_allclose("batch_norm", save_invstd, ref_invstd, dtype=dtype, scale=sc["save_invstd"])
    assert_allclose("batch_norm", rm_in, ref_rm, dtype=dtype, scale=sc["running_mean"])
    assert_allclose("batch_norm", rv_in, ref_rv, dtype=dtype, scale=sc["running_var"])
    if not training:
        assert np.array_equal(rm_in, rm) and np.array_equal(rv_in, rv)
    assert np.array_equal(x, x0) and np.array_equal(w, w0) and np.array_equal(b, b0)
    plain = kernels.batch_norm(x, rm.copy(), rv.copy(), w, b, training, momentum, eps)
    assert np.array_equal(plain, out)

    gi, gw, gb = kernels.batch_norm_backward(g, x, w, save_mean, save_invstd, training)
    r_gi, r_gw, r_gb = batch_norm_backward_ref(g, x, w, save_mean, save_invstd, training)
    assert_allclose("batch_norm_backward", gi, r_gi, dtype=dtype, scale=sc["grad_input"])
    assert_allclose("batch_norm_backward", gw, r_gw, dtype=dtype, scale=sc["grad_weight"])
    assert_allclose("batch_norm_backward", gb, r_gb, dtype=dtype, scale=sc["grad_bias"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_without_affine_or_running_stats(dtype, rng):
    x, _, _, _, _ = make(rng, (5, 4, 3), dtype)
    out, mean, invstd = kernels.batch_norm_forward(x, None, None, training=True)
    ref_out, _, _, _, _ = batch_norm_ref(x, None, None, None, None, True, 0.1, 1e-5)
    sc = batch_norm_scales(x, None, None, None, None, None, True, 0.1, 1e-5)
    assert_allclose("batch_norm", out, ref_out, dtype=dtype, scale=sc["out"])
    g = rng.standard_normal(x.shape).astype(dtype)
    gi, gw, gb = kernels.batch_norm_backward(g, x, None, mean, invstd, True, output_mask=(True, False, False))
    assert gw is None and gb is None
    sc = batch_norm_scales(x, g, None, None, None, None, True, 0.1, 1e-5)
    assert_allclose("batch_norm_backward", gi, batch_norm_backward_ref(g, x, None, mean, invstd, True)[0],
                    dtype=dtype, scale=sc["grad_input"])
    none_in, gw2, gb2 = kernels.batch_norm_backward(g, x, None, mean, invstd, True, output_mask=(False, True, True))
    assert none_in is None and gw2.shape == (4,) and gb2.shape == (4,)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_noncontiguous_input(dtype, rng):
    base, rm, rv, w, b = make(rng, (6, 3, 8, 5), dtype)
    x = base[::2, :, ::-1, 1:]
    out = kernels.batch_norm(x, rm.copy(), rv.copy(), w, b, training=True)
    sc = batch_norm_scales(x, None, w, b, rm, rv, True, 0.1, 1e-5)
    assert_allclose("batch_norm", out, batch_norm_ref(x, rm, rv, w, b, True, 0.1, 1e-5)[0], dtype=dtype,
                    scale=sc["out"])


def test_oracle_backward_matches_finite_differences(rng):
    x = rng.standard_normal((3, 2, 4))
    w, b = rng.standard_normal(2), rng.standard_normal(2)
    rm, rv = rng.standard_normal(2), rng.random(2) + 0.5
    g = rng.standard_normal(x.shape)
    for training in (True, False):
        _, mean, invstd, _, _ = batch_norm_ref(x, rm, rv, w, b, training, 0.1, 1e-5)
        gi, gw, gb = batch_norm_backward_ref(g, x, w, mean, invstd, training)
        assert_grad_matches(gi, lambda z: batch_norm_ref(z, rm, rv, w, b, training, 0.1, 1e-5)[0], x, g)
        assert_grad_matches(gw, lambda z: batch_norm_ref(x, rm, rv, z, b, training, 0.1, 1e-5)[0], w, g)
        assert_grad_matches(gb, lambda z: batch_norm_ref(x, rm, rv, w, z, training, 0.1, 1e-5)[0], b, g)


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_bits_for_1_and_2_threads(dtype, rng, same_bits_on_1_and_2_threads):
    x, rm, rv, w, b = make(rng, (16, 24, 9, 11), dtype)
    g = rng.standard_normal(x.shape).astype(dtype)

    def run():
        rm_n, rv_n = rm.copy(), rv.copy()
        out, mean, invstd = kernels.batch_norm_forward(x, rm_n, rv_n, w, b, training=True)
        return [out, mean, invstd, rm_n, rv_n, *kernels.batch_norm_backward(g, x, w, mean, invstd)]
    same_bits_on_1_and_2_threads(run)


def bad_calls():
    f, d = np.float32, np.float64
    x = np.ones((4, 3, 2), f)
    return [
        (lambda rm, rv: kernels.batch_norm(np.ones((1, 3), f), rm, rv, training=True),
         ValueError, r"\[batch_norm\] Expected more than 1 value per channel when training, got input size \(1, 3\)"),
        (lambda rm, rv: kernels.batch_norm(np.ones((1, 3, 1, 1), f), rm, rv, training=True),
         ValueError, r"Expected more than 1 value per channel"),
        (lambda rm, rv: kernels.batch_norm(np.ones((4, 2), f), rm, rv, training=True),
         ValueError, r"\[batch_norm\] running_mean has shape \(3,\) but input has 2 channels"),
        (lambda rm, rv: kernels.batch_norm(x, rm, rv, np.ones(2, f), training=True),
         ValueError, r"\[batch_norm\] weight has shape \(2,\) but input has 3 channels"),
        (lambda rm, rv: kernels.batch_norm(x, rm, rv, None, np.ones(4, f), training=True),
         ValueError, r"\[batch_norm\] bias has shape \(4,\)"),
        (lambda rm, rv: kernels.batch_norm(x, rm.astype(d), rv, training=True),
         TypeError, r"\[batch_norm\] running_mean .*has dtype float64, expected float32"),
        (lambda rm, rv: kernels.batch_norm(x, rm, np.ones(6, f)[::2], training=True),
         TypeError, r"\[batch_norm\] running_var .*must be C-contiguous"),
        (lambda rm, rv: kernels.batch_norm(x, rm, rv, np.ones(3, d), training=True),
         TypeError, r"\[batch_norm\] input has dtype float32 but weight has dtype float64"),
        (lambda rm, rv: kernels.batch_norm(x, None, None, training=False),
         ValueError, r"\[batch_norm\] running_mean and running_var must be given in evaluation mode"),
        (lambda rm, rv: kernels.batch_norm(np.ones(4, f), rm, rv, training=True),
         ValueError, r"\[batch_norm\] input has shape \(4,\); expected \(N, C\)"),
        (lambda rm, rv: kernels.batch_norm(np.ones((2, 3, 2, 2, 2), f), rm, rv, training=True),
         ValueError, r"\[batch_norm\] input has shape \(2, 3, 2, 2, 2\)"),
        (lambda rm, rv: kernels.batch_norm(x.astype(np.int64), rm, rv, training=True),
         TypeError, r"\[batch_norm\] input has unsupported dtype int64"),
        (lambda rm, rv: kernels.batch_norm(x, rm, rm, training=True),
         ValueError, r"running_mean and running_var must be different arrays"),
        (lambda rm, rv: kernels.batch_norm_backward(np.ones((4, 3), f), x, None, rm, rv),
         ValueError, r"\[batch_norm_backward\] grad_output has shape \(4, 3\) but input has shape \(4, 3, 2\)"),
        (lambda rm, rv: kernels.batch_norm_backward(x, x, None, np.ones(2, f), rv),
         ValueError, r"\[batch_norm_backward\] save_mean has shape \(2,\)"),
    ]


@pytest.mark.parametrize("index", range(len(bad_calls())))
def test_bad_arguments_update_nothing(index):
    call, exc, pattern = bad_calls()[index]
    rm, rv = np.full(3, 0.25, np.float32), np.full(3, 2.0, np.float32)
    with pytest.raises(exc, match=pattern):
        call(rm, rv)
    assert np.all(rm == 0.25) and np.all(rv == 2.0)


def test_running_stats_not_given_are_not_required_in_training(rng):
    x = rng.standard_normal((3, 2)).astype(np.float32)
    rm = np.zeros(2, np.float32)
    kernels.batch_norm(x, rm, None, training=True, momentum=1.0)
    assert np.allclose(rm, x.astype(np.float64).mean(axis=0), rtol=1e-6)


def test_empty_batch_leaves_running_stats(rng):
    x = np.zeros((0, 3, 4), np.float64)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    rm0, rv0 = rm.copy(), rv.copy()
    out, mean, invstd = kernels.batch_norm_forward(x, rm, rv, training=True)
    assert out.shape == x.shape and np.array_equal(rm, rm0) and np.array_equal(rv, rv0)
    assert np.all(mean == 0) and np.all(invstd == 0)
    gi, gw, gb = kernels.batch_norm_backward(out, x, None, mean, invstd)
    assert gi.shape == x.shape and np.all(gw == 0) and np.all(gb == 0)
