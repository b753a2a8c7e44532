"""fastnn.keras.regularizers: penalty values and gradients against NumPy formulas, get /
serialize round trips, layer.losses (weights in Keras's layout, activity penalties of the
last call, frozen layers), fit / evaluate / train_on_batch adding the penalties exactly as
a hand-written NumPy training loop does, and saving a model with regularizers."""

import numpy as np
import pytest

import fastnn
from fastnn import keras
from fastnn.keras import layers, optimizers, regularizers


@pytest.fixture(autouse=True)
def _fresh():
    keras.backend.clear_session()
    fastnn.manual_seed(0)


def leaf(a):
    t = fastnn.Tensor(np.asarray(a))
    t.requires_grad_()
    return t


def orthogonal_np(x, factor, mode):
    """Keras's OrthogonalRegularizer in float64 NumPy: rows (or columns) scaled to unit
    norm, the mean absolute off-diagonal entry of their Gram matrix, times factor / 2."""
    x = np.asarray(x, np.float64)
    if mode == "columns":
        x = x.T
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-7)
    gram = unit @ unit.T
    n = x.shape[0]
    off = np.abs(gram[~np.eye(n, dtype=bool)]).sum()
    return factor * 0.5 * off / (n * (n - 1) / 2)


# ---- the regularizers ----

def test_penalty_values_and_gradients(rng):
    x = rng.standard_normal((7, 5)).astype(np.float32)
    x64 = x.astype(np.float64)
    cases = [
        (regularizers.L1(0.3), 0.3 * np.abs(x64).sum(), 0.3 * np.sign(x64)),
        (regularizers.L2(0.2), 0.2 * (x64 ** 2).sum(), 0.4 * x64),
        (regularizers.L1L2(l1=0.1, l2=0.05), 0.1 * np.abs(x64).sum() + 0.05 * (x64 ** 2).sum(),
         0.1 * np.sign(x64) + 0.1 * x64),
        (regularizers.L1L2(l2=0.05), 0.05 * (x64 ** 2).sum(), 0.1 * x64),
        (regularizers.L1L2(), 0.0, np.zeros_like(x64)),
    ]
    for reg, value, grad in cases:
        t = leaf(x)
        out = reg(t)
        assert out.shape == () and out.dtype == fastnn.float32
        np.testing.assert_allclose(out.item(), value, rtol=1e-5, atol=1e-7, err_msg=repr(reg))
        upstream = float(rng.uniform(0.5, 2.0))
        out.backward(fastnn.Tensor(np.float32(upstream)))
        np.testing.assert_allclose(t.grad.numpy(), upstream * grad, rtol=1e-5, atol=1e-7, err_msg=repr(reg))
    # NumPy arrays are accepted as well
    assert regularizers.L2(0.5)(x).item() == pytest.approx(0.5 * (x64 ** 2).sum(), rel=1e-5)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_regularizer_value_and_finite_difference_gradient(rng, mode):
    x = rng.standard_normal((6, 4))
    reg = regularizers.OrthogonalRegularizer(factor=0.7, mode=mode)
    np.testing.assert_allclose(reg(x.astype(np.float32)).item(), orthogonal_np(x, 0.7, mode), rtol=1e-5)
    t = leaf(x)  # float64 end to end, so central differences are exact enough
    reg(t).backward()
    eps, numeric = 1e-6, np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        numeric[idx] = (orthogonal_np(hi, 0.7, mode) - orthogonal_np(lo, 0.7, mode)) / (2 * eps)
    np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=1e-5, atol=1e-8)
    # orthonormal rows cost nothing; a zero row neither costs nor gives NaN gradients
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    assert abs(regularizers.OrthogonalRegularizer(1.0)(q.astype(np.float32)).item()) < 1e-6
    z = leaf(np.vstack([x[:3], np.zeros((1, 4))]))
    regularizers.OrthogonalRegularizer(1.0, mode="rows")(z).backward()
    assert np.isfinite(z.grad.numpy()).all()


def test_bad_arguments():
    for cls, kwargs, name in [(regularizers.L1, {"l1": -1.0}, "l1"), (regularizers.L2, {"l2": float("inf")}, "l2"),
                              (regularizers.L1L2, {"l2": "a"}, "l2"),
                              (regularizers.OrthogonalRegularizer, {"factor": -0.1}, "factor")]:
        with pytest.raises(ValueError, match=rf"\[{cls.__name__}\] Invalid value for argument {name}"):
            cls(**kwargs)
    with pytest.raises(ValueError, match=r"\[OrthogonalRegularizer\].*mode"):
        regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match=r"\[OrthogonalRegularizer\].*rank 2.*\(2, 3, 4\)"):
        regularizers.OrthogonalRegularizer()(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[regularizers.get\].*'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match=r"\[regularizers.get\]"):
        regularizers.get(0.5)
    with pytest.raises(ValueError, match=r"\[regularizers.get\]"):
        layers.Dense(2, kernel_regularizer=3)
    with pytest.raises(ValueError, match=r"\[regularizers.deserialize\].*'L3'"):
        regularizers.get({"class_name": "L3", "config": {}})
    with pytest.raises(ValueError, match=r"\[regularizers.serialize\]"):
        regularizers.serialize(lambda w: w.sum())
    with pytest.raises(NotImplementedError, match=r"\[Dense\] kernel_constraint"):
        layers.Dense(2, kernel_constraint="non_neg")


def test_get_and_config_round_trips():
    assert regularizers.get(None) is None
    defaults = {"l1": (regularizers.L1, {"l1": 0.01}), "l2": (regularizers.L2, {"l2": 0.01}),
                "l1_l2": (regularizers.L1L2, {"l1": 0.0, "l2": 0.0}), "L2": (regularizers.L2, {"l2": 0.01}),
                "orthogonal_regularizer": (regularizers.OrthogonalRegularizer, {"factor": 0.01, "mode": "rows"})}
    for name, (cls, config) in defaults.items():
        reg = regularizers.get(name)
        assert type(reg) is cls and reg.get_config() == config
    assert regularizers.l1 is regularizers.L1 and regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.L1(None).l1 == 0.01 and regularizers.L2(None).l2 == 0.01
    reg = regularizers.L1L2(l1=0.25, l2=0.5)
    assert regularizers.get(reg) is reg
    assert type(regularizers.get(regularizers.L2)) is regularizers.L2
    fn = lambda w: w.sum()  # noqa: E731
    assert regularizers.get(fn) is fn
    for original in [reg, regularizers.OrthogonalRegularizer(0.3, "columns"), regularizers.L1(0.125)]:
        config = regularizers.serialize(original)
        again = regularizers.get(config)
        assert type(again) is type(original) and again.get_config() == original.get_config()
        again = type(original).from_config(original.get_config())
        assert again.get_config() == original.get_config()
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.5}}).l2 == 0.5
    assert regularizers.Regularizer()(np.ones(3)) == 0.0


# ---- layer.losses ----

def test_dense_weight_penalties_use_keras_layout_and_current_values(rng):
    layer = layers.Dense(3, kernel_regularizer=regularizers.OrthogonalRegularizer(0.5),
                         bias_regularizer=regularizers.L1(0.2))
    layer(rng.standard_normal((2, 5)).astype(np.float32))
    kernel, bias = rng.standard_normal((5, 3)), rng.standard_normal(3)
    layer.set_weights([kernel, bias])
    losses = layer.losses
    assert len(losses) == 2
    # rows of the (in, units) kernel: 5 rows, so a (units, in) layout would give another value
    np.testing.assert_allclose(losses[0].item(), orthogonal_np(kernel, 0.5, "rows"), rtol=1e-5)
    assert orthogonal_np(kernel.T, 0.5, "rows") != pytest.approx(losses[0].item(), rel=1e-3)
    np.testing.assert_allclose(losses[1].item(), 0.2 * np.abs(bias).sum(), rtol=1e-5)
    layer.set_weights([2 * kernel, np.zeros(3)])  # recomputed from the new values
    assert layer.losses[1].item() == 0.0


def test_conv2d_and_batchnorm_penalties(rng):
    weights_map = rng.standard_normal((3, 2, 4, 5))  # Keras's (kh, kw, in, filters)
    conv = layers.Conv2D(5, (3, 2), kernel_regularizer=lambda k: (k * fastnn.Tensor(weights_map.astype(np.float32)))
                         .sum(), bias_regularizer="l2")
    conv(rng.standard_normal((1, 6, 6, 4)).astype(np.float32))
    kernel, bias = conv.get_weights()
    bias = rng.standard_normal(5).astype(np.float32)
    conv.set_weights([kernel, bias])
    values = [t.item() for t in conv.losses]
    np.testing.assert_allclose(values, [(kernel.astype(np.float64) * weights_map).sum(),
                                        0.01 * (bias.astype(np.float64) ** 2).sum()], rtol=1e-5)
    bn = layers.BatchNormalization(gamma_regularizer=regularizers.L2(0.3), beta_regularizer=regularizers.L1(0.1))
    bn(rng.standard_normal((4, 3)).astype(np.float32))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    np.testing.assert_allclose([t.item() for t in bn.losses], [0.3 * (gamma ** 2).sum(), 0.1 * np.abs(beta).sum()],
                               rtol=1e-5)


def test_activity_penalty_is_from_the_last_call_and_not_divided_by_batch(rng):
    layer = layers.Dense(4, activation="relu", activity_regularizer=regularizers.L2(0.1))
    assert layer.losses == []
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y = layer(x).detach().numpy().astype(np.float64)
    (penalty,) = layer.losses
    np.testing.assert_allclose(penalty.item(), 0.1 * (y ** 2).sum(), rtol=1e-5)
    y2 = layer(x[:2]).detach().numpy().astype(np.float64)
    assert len(layer.losses) == 1  # replaced, not accumulated
    np.testing.assert_allclose(layer.losses[0].item(), 0.1 * (y2 ** 2).sum(), rtol=1e-5)


def test_activity_penalties_inside_a_sequential_see_channels_last_outputs(rng):
    probe = rng.standard_normal((5, 5, 2)).astype(np.float32)  # one sample's (H, W, C) output
    seen = []

    def layout_sensitive(out):
        seen.append(tuple(out.shape))
        return (out * fastnn.Tensor(probe)).sum()

    model = keras.Sequential([keras.Input((6, 6, 1)),
                              layers.Conv2D(2, 2, activation="relu", activity_regularizer=layout_sensitive),
                              layers.Flatten(), layers.Dense(3, activity_regularizer=regularizers.L1(0.05))])
    x = rng.standard_normal((2, 6, 6, 1)).astype(np.float32)
    model(x)
    conv_out = keras.Sequential([keras.Input((6, 6, 1)), model.layers[0]])(x).detach().numpy().astype(np.float64)
    out = model(x).detach().numpy().astype(np.float64)
    assert seen[-1] == (2, 5, 5, 2)
    values = [t.item() for t in model.losses]
    np.testing.assert_allclose(values, [(conv_out * probe).sum(), 0.05 * np.abs(out).sum()], rtol=1e-5)


def test_add_weight_regularizer_add_loss_and_frozen_layers(rng):
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones", regularizer="l1")
            self.c = self.add_weight(shape=(2,), initializer="ones", trainable=False, regularizer="l2")

        def call(self, x):
            self.add_loss((x * x).mean())
            return x * self.s

    layer = Scale()
    x = rng.standard_normal((4, 3)).astype(np.float32)
    layer(x)
    # the call's add_loss first, then the trainable weight's penalty (the frozen one has none)
    np.testing.assert_allclose([t.item() for t in layer.losses], [(x.astype(np.float64) ** 2).mean(), 0.03],
                               rtol=1e-5)
    dense = layers.Dense(2, kernel_regularizer="l2", activity_regularizer="l1")
    model = keras.Sequential([keras.Input((3,)), dense])
    model(x)
    assert len(model.losses) == 2
    dense.trainable = False  # Keras counts only trainable weights' penalties
    assert len(model.losses) == 1


def test_penalties_are_differentiable_in_a_pytorch_style_loop(rng):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, kernel_regularizer=regularizers.L2(0.25),
                                                                bias_regularizer=regularizers.L1(0.5))])
    kernel, bias = rng.standard_normal((3, 2)), rng.standard_normal(2)
    model.set_weights([kernel, bias])
    total = sum(model.losses[1:], model.losses[0])
    total.backward()
    dense = model.layers[0]
    # fastnn stores the kernel as (units, in)
    np.testing.assert_allclose(dense.weight.grad.numpy(), (0.5 * kernel).T, rtol=1e-5)
    np.testing.assert_allclose(dense.bias.grad.numpy(), 0.5 * np.sign(bias), rtol=1e-6)


# ---- training ----

def reference_regularized_training(x, y, weights, lr, batch_size, epochs):
    """Plain NumPy SGD on Dense(4, relu; kernel L2(0.05), activity L2(0.01)) -> Dense(2;
    kernel L1(0.02), bias L1L2(0.01, 0.03)) with the MSE loss plus every penalty.
    Returns the final weights and each epoch's mean loss."""
    w1, b1, w2, b2 = (w.astype(np.float64) for w in weights)
    epoch_losses = []
    for _ in range(epochs):
        batch_losses = []
        for s in range(0, len(x), batch_size):
            xb, yb = x[s:s + batch_size].astype(np.float64), y[s:s + batch_size].astype(np.float64)
            z1 = xb @ w1 + b1
            h = np.maximum(z1, 0)
            out = h @ w2 + b2
            loss = ((out - yb) ** 2).mean() + 0.05 * (w1 ** 2).sum() + 0.01 * (h ** 2).sum() + \
                0.02 * np.abs(w2).sum() + 0.01 * np.abs(b2).sum() + 0.03 * (b2 ** 2).sum()
            batch_losses.append(loss)
            dout = 2 * (out - yb) / out.size
            dw2 = h.T @ dout + 0.02 * np.sign(w2)
            db2 = dout.sum(0) + 0.01 * np.sign(b2) + 0.06 * b2
            dz1 = (dout @ w2.T + 0.02 * h) * (z1 > 0)
            dw1 = xb.T @ dz1 + 0.1 * w1
            db1 = dz1.sum(0)
            w1, b1, w2, b2 = w1 - lr * dw1, b1 - lr * db1, w2 - lr * dw2, b2 - lr * db2
        epoch_losses.append(np.mean(batch_losses))
    return [w1, b1, w2, b2], epoch_losses


def regularized_model():
    return keras.Sequential([
        keras.Input((5,)),
        layers.Dense(4, activation="relu", kernel_regularizer=regularizers.L2(0.05),
                     activity_regularizer=regularizers.L2(0.01)),
        layers.Dense(2, kernel_regularizer=regularizers.L1(0.02),
                     bias_regularizer=regularizers.L1L2(l1=0.01, l2=0.03)),
    ])


def test_fit_adds_the_penalties_exactly_as_a_hand_written_loop(rng):
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    model = regularized_model()
    start = model.get_weights()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    expected, losses = reference_regularized_training(x, y, start, 0.1, 8, 3)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=2e-5)
    # without the penalties the same start trains elsewhere: the test can tell them apart
    plain = keras.Sequential([keras.Input((5,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    plain.set_weights(start)
    plain.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    plain.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert not np.allclose(plain.get_weights()[0], expected[0], rtol=1e-3)


def test_evaluate_and_train_on_batch_include_the_penalties(rng):
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    model = regularized_model()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse", loss_weights=2.0)
    w1, b1, w2, b2 = (w.astype(np.float64) for w in model.get_weights())
    h = np.maximum(x @ w1 + b1, 0)
    out = h @ w2 + b2
    penalties = 0.05 * (w1 ** 2).sum() + 0.01 * (h ** 2).sum() + 0.02 * np.abs(w2).sum() + \
        0.01 * np.abs(b2).sum() + 0.03 * (b2 ** 2).sum()
    expected = 2.0 * ((out - y) ** 2).mean() + penalties  # loss_weights scale the compiled loss only
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-5)
    model.reset_metrics()
    assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-5)  # loss before the update


def test_save_and_load_a_model_with_regularizers(rng, tmp_path):
    model = keras.Sequential([
        keras.Input((4, 4, 1)),
        layers.Conv2D(2, 3, kernel_regularizer=regularizers.L1L2(l1=0.1, l2=0.2), activity_regularizer="l2"),
        layers.BatchNormalization(gamma_regularizer=regularizers.L2(0.3)),
        layers.Flatten(),
        layers.Dense(2, kernel_regularizer=regularizers.OrthogonalRegularizer(0.4, "columns"),
                     bias_regularizer=regularizers.L1(0.5)),
    ])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((3, 4, 4, 1)).astype(np.float32)
    model.fit(x, np.zeros((3, 2), np.float32), verbose=0)
    model.save(tmp_path / "m.fnn")
    again = keras.load_model(tmp_path / "m.fnn")
    for a, b in zip(model.layers, again.layers):
        assert a.get_config() == b.get_config()
    assert again.layers[0].kernel_regularizer.get_config() == {"l1": 0.1, "l2": 0.2}
    assert type(again.layers[0].activity_regularizer) is regularizers.L2
    model(x)
    again(x)
    np.testing.assert_allclose([t.item() for t in again.losses], [t.item() for t in model.losses], rtol=1e-6)
    assert len(again.losses) == 5
