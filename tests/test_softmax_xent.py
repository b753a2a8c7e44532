"""Losses against the float64 oracle in reference.py: cross_entropy (class indices and
probabilities, weights, ignore_index, label smoothing), nll_loss, bce_with_logits and the
regression losses; forward and backward with a random upstream gradient, every reduction,
edge shapes, bad input, and identical bits at 1 and 2 threads."""

import math

import numpy as np
import pytest

from fastnn import kernels as K
import reference as R

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("none", "mean", "sum")


def _class_count(x):
    return x.shape[0] if x.ndim == 1 else x.shape[1]


def _xent_magnitude(x, target, weight, ignore_index, eps):
    """Per-sample magnitude of the cross-entropy terms (see reference.loss_scale), and the
    'mean' denominator."""
    xr, _ = R._rows(x)
    m, c = xr.shape
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    size = 1 + 2 * np.max(np.abs(xr), axis=1, initial=0) + math.sqrt(c)
    if target.shape == x.shape:
        tt = R._rows(target)[0] * (1 - eps) + eps / c
        return np.sum(w * np.abs(tt), axis=1) * size, m
    y = target.reshape(m)
    valid = y != ignore_index
    yc = np.where(valid, y, 0)
    return ((1 - eps) * w[yc] + eps / c * np.sum(w)) * size, np.sum(w[yc] * valid)


def _check_xent(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, rng=None):
    dt = x.dtype
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    saved = [a.copy() for a in (x, target) + ((weight,) if weight is not None else ())]
    loss = K.cross_entropy(x, target, weight, **kw)
    expected = R.cross_entropy_ref(x, target, weight, **kw)
    mag, denom = _xent_magnitude(x, target, weight, ignore_index, label_smoothing)
    sample_shape = R._sample_shape(x)
    R.assert_allclose("cross_entropy", loss, expected, dtype=dt,
                      scale=R.loss_scale(mag.reshape(sample_shape), reduction, denom))
    g = rng.standard_normal(loss.shape).astype(dt)
    dx = K.cross_entropy_backward(g, x, target, weight, **kw)
    gi = np.abs(R._upstream(g, reduction, denom, mag.size))
    _, back = R._rows(x)
    scale = back(np.repeat((gi * mag)[:, None], _class_count(x), axis=1)) if x.size else 1.0
    R.assert_allclose("cross_entropy_backward", dx, R.cross_entropy_backward_ref(g, x, target, weight, **kw),
                      dtype=dt, scale=scale)
    for a, b in zip(saved, (x, target) + ((weight,) if weight is not None else ())):
        np.testing.assert_array_equal(a, b)  # nothing the caller owns is modified


def _class_target(rng, x, ignore_index=-100, n_ignored=1):
    c = _class_count(x)
    t = rng.integers(0, c, size=R._sample_shape(x))
    if t.size > n_ignored:
        t.reshape(-1)[:n_ignored] = ignore_index
    return t


SHAPES = [(5, 4), (4,), (3, 4, 2, 3), (1, 1), (7, 13), (2, 3, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(dtype, shape, reduction, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    c = _class_count(x)
    for weight in (None, rng.uniform(0.2, 3.0, c).astype(dtype)):
        for eps in (0.0, 0.25, 1.0):
            _check_xent(x, _class_target(rng, x), weight, reduction=reduction, label_smoothing=eps, rng=rng)
            # a non-negative ignore_index that is also a valid class
            _check_xent(x, _class_target(rng, x, ignore_index=0, n_ignored=2), weight, ignore_index=0,
                        reduction=reduction, label_smoothing=eps, rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(dtype, shape, reduction, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    p = rng.uniform(0, 1, shape).astype(dtype)
    for weight in (None, rng.uniform(0.2, 3.0, _class_count(x)).astype(dtype)):
        for eps in (0.0, 0.3):
            _check_xent(x, p, weight, reduction=reduction, label_smoothing=eps, rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_extreme_logits(dtype, reduction, rng):
    x = rng.choice([-100.0, 100.0, 0.0], size=(9, 6)).astype(dtype)
    x[3] = 1e8  # all-equal huge row
    x[4] = -1e8
    t = rng.integers(0, 6, 9)
    _check_xent(x, t, reduction=reduction, label_smoothing=0.1, rng=rng)
    _check_xent(x, rng.uniform(0, 1, x.shape).astype(dtype), reduction=reduction, rng=rng)
    loss = K.cross_entropy(x, t, reduction="none")
    assert np.all(np.isfinite(loss))
    assert loss[3] == pytest.approx(math.log(6), rel=1e-6)
    # one class: log_softmax is 0 whatever the logit
    one = K.cross_entropy(np.full((4, 1), 123.0, dtype), np.zeros(4, np.int64), reduction="none")
    np.testing.assert_array_equal(one, np.zeros(4, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_empty_and_all_ignored(dtype, rng):
    x = np.zeros((0, 4), dtype)
    t = np.zeros(0, np.int64)
    assert np.isnan(K.cross_entropy(x, t))  # torch: mean over nothing is NaN
    assert K.cross_entropy(x, t, reduction="sum") == 0
    assert K.cross_entropy(x, t, reduction="none").shape == (0,)
    assert np.isnan(K.cross_entropy(x, x))
    assert np.isnan(K.cross_entropy(x, t, label_smoothing=0.1))
    assert K.cross_entropy_backward(np.array(1.0, dtype), x, t).shape == (0, 4)
    xs = rng.standard_normal((3, 4)).astype(dtype)
    ignored = np.full(3, -100)
    assert np.isnan(K.cross_entropy(xs, ignored))
    assert np.isnan(K.nll_loss(xs, ignored))
    assert K.cross_entropy(xs, ignored, reduction="sum") == 0
    np.testing.assert_array_equal(K.cross_entropy_backward(np.array(1.0, dtype), xs, ignored, reduction="sum"),
                                  np.zeros((3, 4), dtype))
    _check_xent(xs, ignored, reduction="none", label_smoothing=0.2, rng=rng)


def test_cross_entropy_non_contiguous(rng):
    x = rng.standard_normal((6, 10)).astype(np.float32)
    _check_xent(x.T, rng.integers(0, 6, 10), reduction="mean", label_smoothing=0.1, rng=rng)
    _check_xent(x[:, ::2], rng.integers(0, 5, 6)[::-1], reduction="none", rng=rng)
    p = rng.uniform(0, 1, (10, 6)).astype(np.float32)
    _check_xent(x.T, p.T.copy().T, reduction="sum", rng=rng)  # both non-contiguous
    w = rng.uniform(0.5, 2, 10).astype(np.float32)
    _check_xent(x, rng.integers(0, 10, 6), w[::-1], reduction="mean", rng=rng)


def test_cross_entropy_uint8_target(rng):
    x = rng.standard_normal((5, 3))
    t = rng.integers(0, 3, 5)
    assert K.cross_entropy(x, t.astype(np.uint8)) == K.cross_entropy(x, t)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES[:1] + SHAPES[2:])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(dtype, shape, reduction, rng):
    x = R.log_softmax_ref(rng.standard_normal(shape), 1).astype(dtype)
    c = x.shape[1]
    for weight in (None, rng.uniform(0.2, 3.0, c).astype(dtype)):
        for ignore_index in (-100, 1 % c):
            t = _class_target(rng, x, ignore_index=ignore_index)
            kw = dict(ignore_index=ignore_index, reduction=reduction)
            loss = K.nll_loss(x, t, weight, **kw)
            xr = R._rows(x)[0]
            w = np.ones(c) if weight is None else weight.astype(np.float64)
            mag = np.max(np.abs(xr), axis=1) * np.max(w)
            yv = t.reshape(-1)
            denom = np.sum(w[np.where(yv != ignore_index, yv, 0)] * (yv != ignore_index))
            R.assert_allclose("nll_loss", loss, R.nll_loss_ref(x, t, weight, **kw), dtype=dtype,
                              scale=R.loss_scale(mag.reshape(t.shape), reduction, denom))
            g = rng.standard_normal(loss.shape).astype(dtype)
            R.assert_allclose("nll_loss_backward", K.nll_loss_backward(g, x, t, weight, **kw),
                              R.nll_loss_backward_ref(g, x, t, weight, **kw), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0,), (1,), (7, 5), (2, 3, 11)])
def test_bce_with_logits(dtype, reduction, shape, rng):
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    if x.size > 2:
        x.reshape(-1)[:2] = (-100, 100)
    t = rng.uniform(0, 1, shape).astype(dtype)
    last = shape[-1]
    for weight, pos_weight in ((None, None), (rng.uniform(0, 2, shape).astype(dtype), None),
                               (None, rng.uniform(0, 3, last).astype(dtype)),
                               (rng.uniform(0, 2, last).astype(dtype), rng.uniform(0, 3, shape).astype(dtype))):
        kw = dict(reduction=reduction, pos_weight=pos_weight)
        loss = K.binary_cross_entropy_with_logits(x, t, weight, **kw)
        wb = 1 if weight is None else np.broadcast_to(weight.astype(np.float64), shape)
        pwb = 1 if pos_weight is None else np.broadcast_to(pos_weight.astype(np.float64), shape)
        mag = np.abs(wb) * (1 + 2 * np.abs(x.astype(np.float64))) * (1 + np.abs(pwb)) * np.ones(shape)
        R.assert_allclose("binary_cross_entropy_with_logits", loss,
                          R.binary_cross_entropy_with_logits_ref(x, t, weight, **kw), dtype=dtype,
                          scale=R.loss_scale(mag, reduction, x.size))
        g = rng.standard_normal(loss.shape).astype(dtype)
        R.assert_allclose("binary_cross_entropy_with_logits_backward",
                          K.binary_cross_entropy_with_logits_backward(g, x, t, weight, **kw),
                          R.binary_cross_entropy_with_logits_backward_ref(g, x, t, weight, **kw), dtype=dtype)


POINT = [("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.7}), ("smooth_l1_loss", {"beta": 0.6}),
         ("smooth_l1_loss", {"beta": 0.0})]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", POINT)
@pytest.mark.parametrize("shape", [(0,), (1,), (13,), (4, 9), (3, 2, 4099)])
def test_point_losses(dtype, reduction, name, kw, shape, rng):
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    t = (rng.standard_normal(shape) * 2).astype(dtype)
    if x.size:
        t.reshape(-1)[0] = x.reshape(-1)[0]  # d == 0: sign(0) = 0
    param = next(iter(kw.values()), 1.0)
    loss = getattr(K, name)(x, t, reduction=reduction, **kw)
    d = np.abs(x.astype(np.float64)) + np.abs(t.astype(np.float64))
    mag = d * d + d  # |terms| and the rounding of x - t inside them
    with np.errstate(invalid="ignore"):
        expected = R.point_loss_ref(name, x, t, reduction, param)
    R.assert_allclose(name, loss, expected, dtype=dtype, scale=R.loss_scale(mag, reduction, x.size))
    g = rng.standard_normal(loss.shape).astype(dtype)
    with np.errstate(invalid="ignore"):
        expected = R.point_loss_backward_ref(name, g, x, t, reduction, param)
    got = getattr(K, name + "_backward")(g, x, t, reduction=reduction, **kw)
    R.assert_allclose(name + "_backward", got, expected, dtype=dtype,
                      scale=np.abs(R._upstream(g, reduction, x.size, x.size)).reshape(shape) * (1 + d))


def test_huber_positional_order(rng):
    x, t = rng.standard_normal(5), rng.standard_normal(5)
    assert K.huber_loss(x, t, "sum", 0.5) == K.huber_loss(x, t, reduction="sum", delta=0.5)


# ---- the oracle's backwards against finite differences ----

def test_oracle_backwards(rng):
    x = rng.standard_normal((3, 4, 2))
    t = np.array([[0, 3], [-100, 1], [2, 2]])
    p = rng.uniform(0, 1, (3, 4, 2))
    w = rng.uniform(0.5, 2, 4)
    for target in (t, p):
        for red in REDUCTIONS:
            kw = dict(weight=w, reduction=red, label_smoothing=0.2)
            g = rng.standard_normal(R.cross_entropy_ref(x, target, **kw).shape)
            R.assert_grad_matches(R.cross_entropy_backward_ref(g, x, target, **kw),
                                  lambda v: R.cross_entropy_ref(v, target, **kw), x, g)
    for red in REDUCTIONS:
        kw = dict(weight=w, reduction=red, ignore_index=1)
        t2 = np.where(t < 0, 0, t)
        g = rng.standard_normal(R.nll_loss_ref(x, t2, **kw).shape)
        R.assert_grad_matches(R.nll_loss_backward_ref(g, x, t2, **kw), lambda v: R.nll_loss_ref(v, t2, **kw), x, g)
        tb = rng.uniform(0, 1, x.shape)
        kw = dict(weight=rng.uniform(0, 2, 2), reduction=red, pos_weight=rng.uniform(0, 3, 2))
        g = rng.standard_normal(R.binary_cross_entropy_with_logits_ref(x, tb, **kw).shape)
        R.assert_grad_matches(R.binary_cross_entropy_with_logits_backward_ref(g, x, tb, **kw),
                              lambda v: R.binary_cross_entropy_with_logits_ref(v, tb, **kw), x, g)
        for name, kwp in POINT:
            param = next(iter(kwp.values()), 1.0)
            tp = x + rng.choice([-1, 1], x.shape) * rng.uniform(0.05, 2, x.shape)  # off the kinks
            tp = np.where(np.abs(np.abs(x - tp) - param) < 1e-3, tp + 0.01, tp)
            g = rng.standard_normal(R.point_loss_ref(name, x, tp, red, param).shape)
            R.assert_grad_matches(R.point_loss_backward_ref(name, g, x, tp, red, param),
                                  lambda v: R.point_loss_ref(name, v, tp, red, param), x, g)


# ---- bad input ----

def test_errors_name_the_problem(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    before = x.copy()
    t = np.array([0, 1, 2])
    with pytest.raises(IndexError, match=r"\[cross_entropy\] Target 5 is out of bounds"):
        K.cross_entropy(x, np.array([0, 5, 1]))
    with pytest.raises(IndexError, match=r"\[nll_loss\] Target -3 is out of bounds"):
        K.nll_loss(x, np.array([0, -3, 1]))
    with pytest.raises(IndexError, match=r"\[cross_entropy_backward\] Target 4 is out of bounds"):
        K.cross_entropy_backward(np.array(1.0, np.float32), x, np.array([0, 4, 1]))
    with pytest.raises(TypeError, match=r"\[cross_entropy\] target of shape \(3,\) holds class indices"):
        K.cross_entropy(x, t.astype(np.float32))
    with pytest.raises(TypeError, match=r"\[cross_entropy\] class-index target must be int64, got int32"):
        K.cross_entropy(x, t.astype(np.int32))
    with pytest.raises(TypeError, match=r"\[cross_entropy\] target has input's shape .* must be floating point"):
        K.cross_entropy(x, np.zeros((3, 4), np.int64))
    with pytest.raises(TypeError, match=r"\[cross_entropy\] input has dtype float32 but target has dtype float64"):
        K.cross_entropy(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] ignore_index is not supported"):
        K.cross_entropy(x, np.zeros((3, 4), np.float32), ignore_index=1)
    with pytest.raises(ValueError, match=r"\[cross_entropy\] target has shape \(2,\), expected \(3,\)"):
        K.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\[cross_entropy\] foo is not a valid value for reduction"):
        K.cross_entropy(x, t, reduction="foo")
    for eps in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"\[cross_entropy\] label_smoothing must be between 0.0 and 1.0"):
            K.cross_entropy(x, t, label_smoothing=eps)
    with pytest.raises(ValueError, match=r"\[cross_entropy\] weight has shape \(3,\), expected \(4,\)"):
        K.cross_entropy(x, t, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"\[nll_loss\] weight has shape \(4, 1\), expected \(4,\)"):
        K.nll_loss(x, t, np.ones((4, 1), np.float32))
    with pytest.raises(TypeError, match=r"\[cross_entropy\] input has dtype float32 but weight has dtype float64"):
        K.cross_entropy(x, t, np.ones(4))
    with pytest.raises(ValueError, match=r"\[cross_entropy_backward\] grad_output has shape \(3,\), expected \(\) \(a 0-d array\)"):
        K.cross_entropy_backward(np.ones(3, np.float32), x, t)
    with pytest.raises(ValueError, match=r"\[cross_entropy\] input must have at least one dimension"):
        K.cross_entropy(np.array(1.0), np.array(0))
    with pytest.raises(TypeError, match=r"\[cross_entropy\] input"):
        K.cross_entropy(x.astype(np.int64), t)
    with pytest.raises(ValueError, match=r"\[binary_cross_entropy_with_logits\] Target size"):
        K.binary_cross_entropy_with_logits(x, np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[binary_cross_entropy_with_logits\] pos_weight of shape \(3,\) does not broadcast"):
        K.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"\[mse_loss\] target has shape \(3, 3\) but input has shape \(3, 4\)"):
        K.mse_loss(x, np.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match=r"\[l1_loss\] input has dtype float32 but target has dtype float64"):
        K.l1_loss(x, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\[huber_loss\] delta must be positive"):
        K.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match=r"\[smooth_l1_loss\] beta must be non-negative"):
        K.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match=r"\[mse_loss_backward\] grad_output has shape \(\), expected \(3, 4\)"):
        K.mse_loss_backward(np.array(1.0, np.float32), x, x, reduction="none")
    np.testing.assert_array_equal(x, before)


def test_identical_bits_across_threads(rng, same_bits_on_1_and_2_threads):
    x = (rng.standard_normal((3000, 11)) * 5).astype(np.float32)
    t = rng.integers(0, 11, 3000)
    t[::7] = -100
    p = rng.uniform(0, 1, x.shape).astype(np.float32)
    w = rng.uniform(0.5, 2, 11).astype(np.float32)
    y = rng.standard_normal((50, 1001)).astype(np.float32)
    z = rng.standard_normal((50, 1001)).astype(np.float32)
    g = np.array(0.7, np.float32)

    def run():
        out = []
        for red in ("mean", "sum"):
            out += [K.cross_entropy(x, t, w, reduction=red, label_smoothing=0.1),
                    K.cross_entropy_backward(g, x, t, w, reduction=red, label_smoothing=0.1),
                    K.cross_entropy(x, p, w, reduction=red), K.nll_loss(x, t, w, reduction=red),
                    K.binary_cross_entropy_with_logits(y, z, reduction=red)]
            out += [getattr(K, name)(y, z, reduction=red, **kw) for name, kw in POINT]
        return out

    same_bits_on_1_and_2_threads(run)
