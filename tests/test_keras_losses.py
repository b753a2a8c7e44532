"""fastnn.keras.losses against NumPy transcriptions of Keras 3's formulas (float64), with
its 1e-7 probability clipping, its reductions and sample weights; the fused softmax /
sigmoid path against the unfused formula; gradients through the losses."""

import numpy as np
import pytest

import fastnn
from fastnn import keras
from fastnn.keras import layers, losses

EPS = 1e-7
TOL = dict(rtol=1e-5, atol=1e-6)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def t(a, grad=False):
    return fastnn.tensor(np.asarray(a, np.float32), requires_grad=grad)


def clip32(p):
    """Keras's clipping as it happens in float32 (1 - 1e-7 rounds to 1 - 2**-23 there)."""
    return np.clip(np.asarray(p, np.float32), np.float32(EPS), np.float32(1 - EPS)).astype(np.float64)


def value(x):
    return float(x.data) if x.ndim == 0 else x.data


def test_mse_mae(rng):
    y, p = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    assert value(losses.MeanSquaredError()(y, t(p))) == pytest.approx(np.mean((y - p) ** 2), rel=1e-5)
    assert value(losses.MeanAbsoluteError()(y, t(p))) == pytest.approx(np.mean(np.abs(y - p)), rel=1e-5)
    np.testing.assert_allclose(value(losses.mean_squared_error(y, t(p))), np.mean((y - p) ** 2, -1), **TOL)
    w = rng.random(6)
    per = np.mean((y - p) ** 2, -1)
    assert value(losses.MeanSquaredError()(y, t(p), sample_weight=w)) == pytest.approx((per * w).sum() / 6, rel=1e-5)
    assert value(losses.MeanSquaredError(reduction="sum")(y, t(p))) == pytest.approx(per.sum(), rel=1e-5)
    np.testing.assert_allclose(value(losses.MeanSquaredError(reduction="none")(y, t(p))), per, **TOL)
    # y_true of shape (N,) against y_pred (N, 1): Keras expands the rank
    assert value(losses.MeanSquaredError()(y[:, 0], t(p[:, :1]))) == pytest.approx(np.mean((y[:, 0] - p[:, 0]) ** 2),
                                                                                   rel=1e-5)


def test_binary_crossentropy_clips_probabilities(rng):
    y = rng.integers(0, 2, (5, 2)).astype(np.float64)
    p = np.array([[0.0, 1.0], [0.3, 0.7], [1e-9, 0.5], [0.999, 0.2], [0.5, 0.5]])
    pc = clip32(p)
    per = -np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc), -1)
    assert value(losses.BinaryCrossentropy()(y, t(p))) == pytest.approx(per.mean(), rel=1e-4)
    ys = y * 0.8 + 0.5 * 0.2
    per_s = -np.mean(ys * np.log(pc) + (1 - ys) * np.log(1 - pc), -1)
    assert value(losses.BinaryCrossentropy(label_smoothing=0.2)(y, t(p))) == pytest.approx(per_s.mean(), rel=1e-4)
    z = rng.standard_normal((5, 2)) * 3
    s = 1 / (1 + np.exp(-z))
    per_l = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s), -1)
    assert value(losses.BinaryCrossentropy(from_logits=True)(y, t(z))) == pytest.approx(per_l.mean(), rel=1e-5)


def test_categorical_crossentropy(rng):
    y = np.eye(4)[rng.integers(0, 4, 6)]
    p = rng.random((6, 4)) + 0.01
    q = clip32(p / p.sum(-1, keepdims=True))  # Keras normalises, then clips
    assert value(losses.CategoricalCrossentropy()(y, t(p))) == pytest.approx(-(y * np.log(q)).sum(-1).mean(),
                                                                             rel=1e-5)
    z = rng.standard_normal((6, 4)) * 4
    ys = y * 0.9 + 0.1 / 4
    expected = -(ys * np.log(softmax(z))).sum(-1).mean()
    got = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(y, t(z))
    assert value(got) == pytest.approx(expected, rel=1e-5)
    assert losses.get("categorical_crossentropy").from_logits is False


def test_sparse_categorical_crossentropy(rng):
    y = rng.integers(0, 5, 7)
    z = rng.standard_normal((7, 5)) * 2
    logp = np.log(softmax(z))
    expected = -logp[np.arange(7), y].mean()
    assert value(losses.SparseCategoricalCrossentropy(from_logits=True)(y, t(z))) == pytest.approx(expected, rel=1e-5)
    p = softmax(z)
    q = clip32(p)
    assert value(losses.SparseCategoricalCrossentropy()(y[:, None], t(p))) == pytest.approx(
        -np.log(q[np.arange(7), y]).mean(), rel=1e-5)
    ignored = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2)(y, t(z))
    keep = y != 2
    assert value(ignored) == pytest.approx(-(logp[np.arange(7), y] * keep).sum() / 7, rel=1e-5)
    with pytest.raises(IndexError, match=r"\[sparse_categorical_crossentropy\].*\[0, 5\)"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 5, 1, 1, 1, 1, 1]), t(p))
    with pytest.raises(ValueError, match="does not match"):
        losses.SparseCategoricalCrossentropy()(np.zeros(3, np.int64), t(p))


def test_softmax_output_fuses_with_logits_and_agrees_with_unfused_formula(rng):
    """A softmax output keeps its logits: the loss is then the stable log-softmax kernel.
    On moderate logits it equals Keras's clipped formula; on extreme logits the clipped
    formula saturates at -log(1e-7) while the fused loss stays exact and finite."""
    y = rng.integers(0, 3, 8)
    z = rng.standard_normal((8, 3))
    sm = layers.Softmax()(t(z))
    assert hasattr(sm, "_keras_logits")
    fused = value(losses.SparseCategoricalCrossentropy()(y, sm))
    unfused = -np.log(clip32(softmax(z))[np.arange(8), y]).mean()
    assert fused == pytest.approx(unfused, rel=1e-5)
    onehot = np.eye(3)[y]
    assert value(losses.CategoricalCrossentropy()(onehot, sm)) == pytest.approx(unfused, rel=1e-5)
    big = np.array([[200.0, -200.0, 0.0]])
    out = layers.Dense(3, activation="softmax")
    out.build((None, 3))
    out.set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    x = t(big, grad=True)
    loss = losses.SparseCategoricalCrossentropy()(np.array([1]), out(x))
    assert value(loss) == pytest.approx(400.0, rel=1e-5)  # -log softmax = 200 - (-200)
    loss.backward()
    assert np.all(np.isfinite(x.grad.data))
    sig = layers.Activation("sigmoid")(t([[30.0], [-30.0]]))
    assert value(losses.BinaryCrossentropy()(np.array([[0.0], [1.0]]), sig)) == pytest.approx(30.0, rel=1e-4)


def test_gradients_flow_and_match_numpy(rng):
    y = rng.standard_normal((4, 3))
    p = t(rng.standard_normal((4, 3)), grad=True)
    losses.MeanSquaredError()(y, p).backward()
    np.testing.assert_allclose(p.grad.data, 2 * (p.data - y) / 12, **TOL)
    h = t(rng.standard_normal((4, 2)), grad=True)
    yh = rng.integers(0, 2, (4, 2)).astype(np.float64)
    loss = losses.Hinge()(yh, h)
    ys = 2 * yh - 1
    assert value(loss) == pytest.approx(np.maximum(1 - ys * h.data, 0).mean(), rel=1e-5)
    loss.backward()
    np.testing.assert_allclose(h.grad.data, np.where(1 - ys * h.data > 0, -ys, 0) / 8, **TOL)


def test_get_aliases_and_errors():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("mean_absolute_error"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossentropy)
    assert isinstance(losses.get("SparseCategoricalCrossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("hinge"), losses.Hinge)
    assert isinstance(losses.get(losses.mean_squared_error), losses.MeanSquaredError)
    custom = losses.get(lambda a, b: (b - fastnn.tensor(np.asarray(a, np.float32))).abs().sum(-1))
    assert value(custom(np.zeros((2, 2)), t([[1.0, 2.0], [3.0, 4.0]]))) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="Could not interpret loss"):
        losses.get("nope")
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match=r"\[mean_squared_error\].*same shape"):
        losses.mean_squared_error(np.zeros((2, 3)), t(np.zeros((2, 4))))
    assert keras.backend.epsilon() == EPS
