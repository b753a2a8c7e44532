"""fastnn.keras.optimizers against NumPy (float64) transcriptions of Keras 3's update rules
over several steps: Adam (and amsgrad), AdamW, SGD (momentum, Nesterov, a learning rate
that changes mid-run), RMSprop (plain, centered, momentum), Adagrad; weight decay,
clipping, learning-rate schedules and assignment."""

import numpy as np
import pytest

import fastnn
from fastnn.keras import optimizers
from fastnn.keras.optimizers import schedules

TOL = dict(rtol=2e-5, atol=1e-6)
STEPS = 6


def run(opt, rng, shapes=((3, 4), (5,)), steps=STEPS, lr_at=None):
    """Apply `steps` random gradients; returns (initial weights, gradients, final weights)."""
    w0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [fastnn.nn.Parameter(w.copy()) for w in w0]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]
    lrs = []
    for k, g in enumerate(grads):
        if lr_at is not None and k in lr_at:
            opt.learning_rate = lr_at[k]
        lrs.append(opt.learning_rate)
        opt.apply(g, params)
    return w0, grads, [p.data.copy() for p in params], lrs


def keras_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=None):
    w = w.astype(np.float64)
    m, v, vh = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if wd:
            w = w - w * wd * lr
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        if amsgrad:
            vh = np.maximum(vh, v)
            w = w - m * alpha / (np.sqrt(vh) + eps)
        else:
            w = w - m * alpha / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam(rng, amsgrad):
    opt = optimizers.Adam(learning_rate=0.01, epsilon=1e-3, amsgrad=amsgrad)  # a large eps shows where it goes
    w0, grads, w, _ = run(opt, rng)
    for i in range(2):
        np.testing.assert_allclose(w[i], keras_adam(w0[i], [g[i] for g in grads], 0.01, eps=1e-3, amsgrad=amsgrad),
                                   **TOL)
    assert opt.iterations == STEPS


def test_adam_defaults_and_adamw(rng):
    opt = optimizers.Adam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad) == (0.001, 0.9, 0.999, 1e-7, False)
    opt = optimizers.AdamW(learning_rate=0.05)
    assert opt.weight_decay == 0.004
    w0, grads, w, _ = run(opt, rng)
    for i in range(2):
        np.testing.assert_allclose(w[i], keras_adam(w0[i], [g[i] for g in grads], 0.05, wd=0.004), **TOL)


def keras_sgd(w, grads, lrs, momentum=0.0, nesterov=False):
    w = w.astype(np.float64)
    m = np.zeros_like(w)
    for g, lr in zip(grads, lrs):
        if momentum == 0:
            w = w - lr * g
            continue
        m = momentum * m - lr * g
        w = w + (momentum * m - lr * g if nesterov else m)
    return w


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.8, True)])
def test_sgd_with_learning_rate_changes(rng, momentum, nesterov):
    opt = optimizers.SGD(learning_rate=0.1, momentum=momentum, nesterov=nesterov)
    w0, grads, w, lrs = run(opt, rng, lr_at={2: 0.03, 4: 0.0, 5: 0.2})
    assert lrs == [0.1, 0.1, 0.03, 0.03, 0.0, 0.2]
    for i in range(2):
        np.testing.assert_allclose(w[i], keras_sgd(w0[i], [g[i] for g in grads], lrs, momentum, nesterov), **TOL)


def keras_rmsprop(w, grads, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    w = w.astype(np.float64)
    vel, avg, mom = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        vel = rho * vel + (1 - rho) * g * g
        if centered:
            avg = rho * avg + (1 - rho) * g
            den = vel - avg ** 2 + eps
        else:
            den = vel + eps
        inc = lr * g / np.sqrt(den)
        if momentum > 0:
            mom = momentum * mom + inc
            w = w - mom
        else:
            w = w - inc
    return w


@pytest.mark.parametrize("centered,momentum", [(False, 0.0), (True, 0.0), (False, 0.5), (True, 0.7)])
def test_rmsprop(rng, centered, momentum):
    opt = optimizers.RMSprop(learning_rate=0.01, momentum=momentum, centered=centered, epsilon=1e-2)
    w0, grads, w, _ = run(opt, rng)
    for i in range(2):
        np.testing.assert_allclose(w[i], keras_rmsprop(w0[i], [g[i] for g in grads], 0.01, momentum=momentum,
                                                       eps=1e-2, centered=centered), **TOL)


def test_adagrad(rng):
    opt = optimizers.Adagrad(learning_rate=0.1, epsilon=1e-2)
    w0, grads, w, _ = run(opt, rng)
    for i in range(2):
        acc = np.full(w0[i].shape, 0.1)
        ref = w0[i].astype(np.float64)
        for g in grads:
            acc = acc + g[i] ** 2
            ref = ref - 0.1 * g[i] / np.sqrt(acc + 1e-2)
        np.testing.assert_allclose(w[i], ref, **TOL)
    exported = opt._export_slots()["accumulator"][0]
    np.testing.assert_allclose(exported, 0.1 + sum(g[0].astype(np.float64) ** 2 for g in grads), rtol=1e-5)


def test_weight_decay_and_clipping(rng):
    w0, grads, w, _ = run(optimizers.SGD(learning_rate=0.1, weight_decay=0.5), rng)
    for i in range(2):
        ref = w0[i].astype(np.float64)
        for g in grads:
            ref = ref - ref * 0.5 * 0.1
            ref = ref - 0.1 * g[i]
        np.testing.assert_allclose(w[i], ref, **TOL)
    w0, grads, w, _ = run(optimizers.SGD(learning_rate=1.0, clipnorm=0.5), rng, steps=1)
    for i in range(2):
        g = grads[0][i].astype(np.float64)
        np.testing.assert_allclose(w[i], w0[i] - g * 0.5 / max(np.linalg.norm(g), 0.5), **TOL)
    w0, grads, w, _ = run(optimizers.SGD(learning_rate=1.0, global_clipnorm=0.5), rng, steps=1)
    gn = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads[0]))
    for i in range(2):
        np.testing.assert_allclose(w[i], w0[i] - grads[0][i] * 0.5 / gn, **TOL)
    w0, grads, w, _ = run(optimizers.SGD(learning_rate=1.0, clipvalue=0.3), rng, steps=1)
    np.testing.assert_allclose(w[0], w0[0] - np.clip(grads[0][0], -0.3, 0.3), **TOL)


def test_schedules_and_learning_rate_attribute(rng):
    sched = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=sched)
    w0, grads, w, lrs = run(opt, rng, steps=4)
    np.testing.assert_allclose(lrs, [0.1 * 0.5 ** (k / 2) for k in range(4)])
    np.testing.assert_allclose(w[1], keras_sgd(w0[1], [g[1] for g in grads], lrs), **TOL)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.5
    assert schedules.ExponentialDecay(1.0, 3, 0.1, staircase=True)(5) == pytest.approx(0.1)
    assert schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])(3) == 0.5
    assert schedules.InverseTimeDecay(1.0, 1, 0.5)(2) == pytest.approx(0.5)
    opt = optimizers.Adam()
    opt.learning_rate = 0.02
    assert isinstance(opt.learning_rate, float) and opt.learning_rate == 0.02


def test_get_and_bad_arguments():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("adagrad"), optimizers.Adagrad)
    assert isinstance(optimizers.get("AdamW"), optimizers.AdamW)
    assert optimizers.SGD().learning_rate == 0.01 and optimizers.RMSprop().rho == 0.9
    assert optimizers.Adagrad().initial_accumulator_value == 0.1
    with pytest.raises(ValueError, match="Could not interpret optimizer"):
        optimizers.get("lbfgs")
    with pytest.raises(ValueError, match="`lr` is no longer supported"):
        optimizers.Adam(lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    opt = optimizers.Adam()
    p = fastnn.nn.Parameter(np.zeros(3, np.float32))
    opt.apply([np.ones(3, np.float32)], [p])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([np.ones(3, np.float32)], [fastnn.nn.Parameter(np.zeros(3, np.float32))])
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\)"):
        opt.apply([np.ones(2, np.float32)], [p])
