"""The functional API (keras.Model(inputs, outputs)): functional MLPs and CNNs against their
Sequential twins (outputs and training bit for bit), a residual model against NumPy and
training, shared layers (weights once, gradients from every use), several inputs as
lists and dicts (calls and fit), the merging layers against NumPy (both layouts),
summary's Connected to column, config and save/load round trips, nesting, and bad graphs."""

import numpy as np
import pytest

import fastnn
from fastnn import keras
from fastnn.keras import layers, optimizers, regularizers


@pytest.fixture(autouse=True)
def _fresh():
    keras.backend.clear_session()
    fastnn.manual_seed(0)


def relu(a):
    return np.maximum(a, 0)


def f64(t):
    return np.asarray(t.detach().numpy() if isinstance(t, fastnn.Tensor) else t, np.float64)


def leaf(a):
    t = fastnn.Tensor(np.asarray(a, np.float32))
    t.requires_grad_()
    return t


def functional_mlp():
    inputs = keras.Input(shape=(6,))
    x = layers.Dense(8, activation="relu")(inputs)
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mlp")


def sequential_mlp():
    return keras.Sequential([keras.Input((6,)), layers.Dense(8, activation="relu"), layers.Dropout(0.25),
                             layers.Dense(3, activation="softmax")])


def functional_cnn():
    inputs = keras.Input(shape=(10, 10, 2))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(5, 2, padding="same")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(3)(x)
    return keras.Model(inputs, outputs)


def sequential_cnn():
    return keras.Sequential([keras.Input((10, 10, 2)), layers.Conv2D(4, 3, activation="relu"),
                             layers.BatchNormalization(), layers.MaxPooling2D(), layers.Conv2D(5, 2, padding="same"),
                             layers.Flatten(), layers.Dense(3)])


@pytest.mark.parametrize("make, shape, loss", [
    ((functional_mlp, sequential_mlp), (6,), "sparse_categorical_crossentropy"),
    ((functional_cnn, sequential_cnn), (10, 10, 2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
])
def test_functional_matches_its_sequential_twin(rng, make, shape, loss):
    functional, sequential = make[0](), make[1]()
    assert isinstance(functional, keras.Model) and type(functional).__name__ == "Functional"
    assert [w.shape for w in functional.get_weights()] == [w.shape for w in sequential.get_weights()]
    sequential.set_weights(functional.get_weights())
    x = rng.standard_normal((24,) + shape).astype(np.float32)
    y = rng.integers(0, 3, 24)
    np.testing.assert_array_equal(functional.predict(x, verbose=0), sequential.predict(x, verbose=0))
    histories = []
    for model in (functional, sequential):
        fastnn.manual_seed(7)  # the same dropout masks and shuffles
        model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss=loss, metrics=["accuracy"])
        histories.append(model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, verbose=0).history)
    assert histories[0] == histories[1]
    for a, b in zip(functional.get_weights(), sequential.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert functional.history.history["loss"][-1] < functional.history.history["loss"][0]
    assert functional.evaluate(x, y, verbose=0) == sequential.evaluate(x, y, verbose=0)


def test_a_residual_model_matches_numpy_and_trains(rng):
    inputs = keras.Input((5,))
    h = layers.Dense(16, activation="relu")(inputs)
    h = layers.Dense(5)(h)
    x = layers.Add()([inputs, h])              # the skip connection
    outputs = layers.Dense(1)(layers.Activation("relu")(x))
    model = keras.Model(inputs, outputs)
    w1, b1, w2, b2, w3, b3 = (w.astype(np.float64) for w in model.get_weights())
    x_np = rng.standard_normal((64, 5)).astype(np.float32)
    expected = relu(x_np + relu(x_np @ w1 + b1) @ w2 + b2) @ w3 + b3
    np.testing.assert_allclose(model.predict(x_np, verbose=0), expected, rtol=1e-5, atol=1e-6)
    y = (x_np @ rng.standard_normal((5, 1)) + 0.5).astype(np.float32)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.02), loss="mse")
    history = model.fit(x_np, y, batch_size=16, epochs=40, verbose=0).history["loss"]
    assert history[-1] < 0.1 * history[0]


def test_a_cnn_with_skips_and_concatenations_matches_eager_layer_calls(rng):
    conv1 = layers.Conv2D(4, 3, padding="same", activation="relu")
    conv2 = layers.Conv2D(4, 3, padding="same")
    pool = layers.MaxPooling2D()
    concat_c = layers.Concatenate()
    concat_h = layers.Concatenate(axis=1)
    dense = layers.Dense(2)
    inputs = keras.Input((6, 6, 3))
    a = conv1(inputs)
    b = layers.Add()([a, conv2(a)])
    c = concat_c([pool(b), pool(a)])
    d = concat_h([c, c])
    outputs = dense(layers.Flatten()(d))
    model = keras.Model(inputs, outputs)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    # the same layers called one by one on channels_last tensors (no graph, no layout tricks)
    ea = conv1(x)
    eb = ea + conv2(ea)
    pb, pa = f64(pool(eb)), f64(pool(ea))
    ec = np.concatenate([pb, pa], axis=-1)
    ed = np.concatenate([ec, ec], axis=1)
    w, bias = (v.astype(np.float64) for v in dense.get_weights())
    expected = ed.reshape(2, -1) @ w + bias
    assert model.output_shape == (None, 2) and model.layers[-2].output_shape == (None, 144)
    np.testing.assert_allclose(f64(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_shared_layers_count_once_and_collect_gradients_from_every_use(rng):
    shared = layers.Dense(3, name="shared")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    outputs = layers.Subtract()([shared(a), shared(b)])
    model = keras.Model([a, b], outputs)
    assert len(model.weights) == 2 and model.count_params() == 4 * 3 + 3
    params = list(model.parameters())
    assert len(params) == 2 and {id(p) for p in params} == {id(shared.weight), id(shared.bias)}
    assert [layer.name for layer in model.layers] == ["a", "b", "shared", "subtract"]
    xa, xb = rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    kernel = shared.get_weights()[0].astype(np.float64)
    out = model([xa, xb])
    np.testing.assert_allclose(f64(out), (xa - xb) @ kernel, rtol=1e-5, atol=1e-6)  # the bias cancels
    g = rng.standard_normal((5, 3)).astype(np.float32)
    out.backward(fastnn.Tensor(g))
    # d/dW of (xa W + b) - (xb W + b): both uses add up; fastnn stores W as (units, in)
    np.testing.assert_allclose(shared.weight.grad.numpy(), ((xa - xb).T.astype(np.float64) @ g).T, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(shared.bias.grad.numpy(), np.zeros(3), atol=1e-6)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "a[0][0]" in text and "b[0][0]" in text
    assert "shared[0][0]" in text and "shared[1][0]" in text  # the second call is node 1
    assert f"Total params: {model.count_params():,}" in text
    assert sum("shared (Dense)" in line for line in lines) == 1


def two_input_model():
    a = keras.Input((3,), name="left")
    b = keras.Input((2,), name="right")
    x = layers.Concatenate()([layers.Dense(4, activation="relu")(a), b])
    return keras.Model(inputs=[a, b], outputs=layers.Dense(1)(x))


def two_input_numpy(model, xa, xb):
    w1, b1, w2, b2 = (w.astype(np.float64) for w in model.get_weights())
    return np.concatenate([relu(xa @ w1 + b1), xb], axis=1) @ w2 + b2


def test_several_inputs_as_lists_and_dicts(rng):
    model = two_input_model()
    xa, xb = rng.standard_normal((10, 3)).astype(np.float32), rng.standard_normal((10, 2)).astype(np.float32)
    expected = two_input_numpy(model, xa, xb)
    for given in ([xa, xb], (xa, xb), {"left": xa, "right": xb}, {"right": xb, "left": xa}):
        np.testing.assert_allclose(f64(model(given)), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.predict(given, batch_size=4, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert model.input_shape == [(None, 3), (None, 2)] and [t.name for t in model.inputs] == ["left", "right"]
    # a model whose inputs are a dict is called with the dict's keys
    a, b = keras.Input((3,)), keras.Input((2,))
    keyed = keras.Model({"x": a, "y": b}, layers.Concatenate()([a, b]))
    np.testing.assert_array_equal(keyed({"y": xb, "x": xa}).numpy(), np.concatenate([xa, xb], axis=1))
    with pytest.raises(ValueError, match=r"expects inputs \['x', 'y'\]; missing \['y'\]"):
        keyed({"x": xa})


def test_fit_evaluate_and_batches_with_several_inputs(rng):
    model = two_input_model()
    xa, xb = rng.standard_normal((20, 3)).astype(np.float32), rng.standard_normal((20, 2)).astype(np.float32)
    y = rng.standard_normal((20, 1)).astype(np.float32)
    start = model.get_weights()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="mse")
    h1 = model.fit([xa, xb], y, batch_size=5, epochs=2, shuffle=False, validation_split=0.25, verbose=0).history
    after_list = model.get_weights()
    model.set_weights(start)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="mse")
    h2 = model.fit({"left": xa, "right": xb}, y, batch_size=5, epochs=2, shuffle=False, validation_split=0.25,
                   verbose=0).history
    assert h1 == h2 and h1["val_loss"][0] > 0
    for p, q in zip(after_list, model.get_weights()):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(after_list[0], start[0])
    expected = ((two_input_numpy(model, xa, xb) - y) ** 2).mean()
    assert model.evaluate([xa, xb], y, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.test_on_batch([xa, xb], y) == pytest.approx(expected, rel=1e-5)
    model.reset_metrics()
    assert model.train_on_batch([xa, xb], y) == pytest.approx(expected, rel=1e-5)
    batches = [((xa[i:i + 4], xb[i:i + 4]), y[i:i + 4]) for i in range(0, 20, 4)]
    model.fit(batches, epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict_on_batch([xa, xb]), two_input_numpy(model, xa, xb), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="cardinality"):
        model.fit([xa, xb[:5]], y, verbose=0)


def test_several_outputs_predict_but_do_not_compile(rng):
    inputs = keras.Input((4,))
    h = layers.Dense(3)(inputs)
    model = keras.Model(inputs, [h, layers.Dense(2)(h)])
    x = rng.standard_normal((7, 4)).astype(np.float32)
    out = model.predict(x, batch_size=3, verbose=0)
    assert isinstance(out, list) and [o.shape for o in out] == [(7, 3), (7, 2)]
    w1, b1, w2, b2 = (w.astype(np.float64) for w in model.get_weights())
    np.testing.assert_allclose(out[1], (x @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match=r"\[compile\].*2 outputs"):
        model.compile(optimizer="sgd", loss="mse")


# ---- merging layers ----

def test_merging_layers_against_numpy(rng):
    a = rng.standard_normal((4, 3, 5)).astype(np.float32)
    b = rng.standard_normal((4, 3, 5)).astype(np.float32)
    c = rng.standard_normal((4, 1, 5)).astype(np.float32)   # broadcasts over axis 1
    d = rng.standard_normal((4, 5)).astype(np.float32)      # lower rank: gains an axis at 1
    a64, b64, c64, d64 = (v.astype(np.float64) for v in (a, b, c, d))
    cases = [(layers.Add(), [a, b, c], a64 + b64 + c64), (layers.Subtract(), [a, c], a64 - c64),
             (layers.Multiply(), [a, b, d], a64 * b64 * d64[:, None]),
             (layers.Average(), [a, b, c], (a64 + b64 + c64) / 3),
             (layers.Maximum(), [a, b, c], np.maximum(np.maximum(a64, b64), c64)),
             (layers.Minimum(), [a, d], np.minimum(a64, d64[:, None])),
             (layers.Concatenate(), [a, b], np.concatenate([a64, b64], -1)),
             (layers.Concatenate(axis=1), [a, c], np.concatenate([a64, c64], 1))]
    for layer, inputs, expected in cases:
        np.testing.assert_allclose(f64(layer(inputs)), expected, rtol=1e-6, err_msg=type(layer).__name__)
        assert layer.compute_output_shape([(None,) + v.shape[1:] for v in inputs]) == (None,) + expected.shape[1:]
    assert f64(layers.add([a, b])) == pytest.approx(a64 + b64)
    assert f64(layers.concatenate([a, b], axis=1)).shape == (4, 6, 5)


def test_maximum_minimum_and_average_gradients(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    for layer, da, db in [(layers.Maximum(), g * (a > b), g * (a < b)), (layers.Minimum(), g * (a < b), g * (a > b)),
                          (layers.Average(), g / 2, g / 2), (layers.Multiply(), g * b, g * a)]:
        ta, tb = leaf(a), leaf(b)
        layer([ta, tb]).backward(fastnn.Tensor(g.astype(np.float32)))
        np.testing.assert_allclose(ta.grad.numpy(), da, rtol=1e-5, atol=1e-6, err_msg=type(layer).__name__)
        np.testing.assert_allclose(tb.grad.numpy(), db, rtol=1e-5, atol=1e-6, err_msg=type(layer).__name__)


def test_merging_layers_reject_bad_inputs():
    x3, x4 = np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[Add\] Inputs have incompatible shapes.*\(None, 3\), \(None, 4\)"):
        layers.Add()([x3, x4])
    with pytest.raises(ValueError, match=r"\[Subtract\] A `Subtract` layer should be called on exactly 2 inputs"):
        layers.Subtract()([x3, x3, x3])
    with pytest.raises(ValueError, match=r"\[Add\] A merge layer should be called on a list"):
        layers.Add()(x3)
    with pytest.raises(ValueError, match=r"\[Add\] Cannot merge tensors with different batch sizes"):
        layers.Add()([x3, np.ones((3, 3), np.float32)])
    with pytest.raises(ValueError, match=r"\[Concatenate\] .*matching shapes except for the concatenation axis"):
        layers.Concatenate()([np.ones((2, 3, 5), np.float32), np.ones((2, 4, 5), np.float32)])
    with pytest.raises(ValueError, match=r"\[Concatenate\] axis 2 is out of range"):
        layers.Concatenate(axis=2)([x3, x4])
    with pytest.raises(ValueError, match=r"\[Concatenate\]"):
        layers.Concatenate()([keras.Input((2, 3)), keras.Input((4, 3))])


# ---- config, saving, nesting ----

def test_config_and_save_load_round_trips(rng, tmp_path):
    shared = layers.Dense(4, activation="relu", kernel_regularizer=regularizers.L2(0.01))
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    merged = layers.Concatenate()([shared(a), shared(b), layers.Dropout(0.5)(a, training=False)])
    inner = keras.Sequential([layers.Dense(5, activation="relu"), layers.Dense(2)], name="head")
    model = keras.Model(inputs=[a, b], outputs=inner(merged), name="siamese")
    xa, xb = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    before = model.predict([xa, xb], verbose=0)
    config = model.get_config()
    again = keras.Model.from_config(config)
    again.set_weights(model.get_weights())
    assert again.get_config() == config
    np.testing.assert_array_equal(again.predict([xa, xb], verbose=0), before)
    model.compile(optimizer="adam", loss="mse")
    model.fit([xa, xb], np.zeros((6, 2), np.float32), verbose=0)
    model.save(tmp_path / "siamese.fnn")
    loaded = keras.load_model(tmp_path / "siamese.fnn")
    assert type(loaded).__name__ == "Functional" and loaded.name == "siamese"
    assert len(loaded.weights) == len(model.weights) == 2 + 4  # the shared Dense once, the head's two
    np.testing.assert_array_equal(loaded.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0))
    assert loaded.get_layer("dense").kernel_regularizer.get_config() == {"l2": 0.01}
    assert loaded.optimizer.iterations == model.optimizer.iterations
    loaded.fit([xa, xb], np.zeros((6, 2), np.float32), verbose=0)  # recompiled, and trains on


def test_models_nest_as_layers(rng):
    inputs = keras.Input((4,))
    block = keras.Model(inputs, layers.Dense(3, activation="tanh")(inputs), name="block")
    seq = keras.Sequential([layers.Dense(2)], name="seq")
    outer_in = keras.Input((4,))
    outputs = seq(block(outer_in))
    outer = keras.Model(outer_in, outputs)
    assert [layer.name for layer in outer.layers] == ["input_layer_1", "block", "seq"]
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w1, b1, w2, b2 = (w.astype(np.float64) for w in outer.get_weights())
    np.testing.assert_allclose(f64(outer(x)), np.tanh(x @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-6)
    config = outer.get_config()
    again = type(outer).from_config(config)
    again.set_weights(outer.get_weights())
    np.testing.assert_allclose(f64(again(x)), f64(outer(x)), rtol=1e-6)


def test_activity_penalties_and_a_pytorch_style_loop(rng):
    inputs = keras.Input((3,))
    hidden = layers.Dense(4, activation="relu", activity_regularizer=regularizers.L1(0.1))
    model = keras.Model(inputs, layers.Dense(1)(hidden(inputs)))
    x = rng.standard_normal((8, 3)).astype(np.float32)
    model(x)
    w1, b1, _, _ = (w.astype(np.float64) for w in model.get_weights())
    (penalty,) = model.losses
    assert penalty.item() == pytest.approx(0.1 * np.abs(relu(x @ w1 + b1)).sum(), rel=1e-5)
    optimizer = fastnn.optim.SGD(model.parameters(), lr=0.1)
    y = fastnn.Tensor(rng.standard_normal((8, 1)).astype(np.float32))
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_training_flag_given_in_the_graph_sticks(rng):
    inputs = keras.Input((200,))
    kept = layers.Dropout(0.5)(inputs, training=False)
    dropped = layers.Dropout(0.5)(inputs, training=True)
    model = keras.Model(inputs, [kept, dropped])
    x = np.ones((2, 200), np.float32)
    out_kept, out_dropped = model(x)
    np.testing.assert_array_equal(out_kept.numpy(), x)
    assert (out_dropped.numpy() == 0).any()


# ---- bad graphs and inputs ----

def test_bad_graphs_raise_clear_errors(rng):
    a, b = keras.Input((3,)), keras.Input((3,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match=r"\[Model\] Graph disconnected: .*input_layer_1"):
        keras.Model(a, out)
    with pytest.raises(ValueError, match=r"\[Model\] All `inputs` values must be KerasTensors.*ndarray"):
        keras.Model(np.ones((2, 3), np.float32), out)
    with pytest.raises(ValueError, match=r"\[Model\] All `outputs` values must be KerasTensors.*Tensor"):
        keras.Model(a, fastnn.ones(2, 3))
    hidden = layers.Dense(2)(a)
    with pytest.raises(ValueError, match=r"\[Model\] Every input .* must come from keras.Input.*'dense'"):
        keras.Model(hidden, layers.Dense(1)(hidden))
    with pytest.raises(ValueError, match=r"\[Model\] The name 'twin' is used 2 times"):
        keras.Model(a, layers.Dense(1, name="twin")(layers.Dense(2, name="twin")(a)))
    with pytest.raises(ValueError, match=r"\[Dense\] layer 'dense_\d+' was called on a mix of symbolic"):
        layers.Dense(2)([a, np.ones((1, 3), np.float32)])
    dense = layers.Dense(2)
    dense(keras.Input((3,)))
    with pytest.raises(ValueError, match=r'\[Dense\] Input 0 of layer "dense_\d+" is incompatible.*value 3'):
        dense(keras.Input((5,)))
    model = keras.Model(a, layers.Dense(1)(a))
    with pytest.raises(ValueError, match=r'\[Model\] Input 0 of model "functional.*expected shape=\(None, 3\), '
                                         r"found shape=\(4, 5\)"):
        model(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"expects 1 input\(s\), but it received 2"):
        model([np.ones((4, 3), np.float32)] * 2)
    two = two_input_model()
    with pytest.raises(ValueError, match="expects 2 inputs"):
        two(np.ones((4, 3), np.float32))
    with pytest.raises(NotImplementedError, match="subclass of Model cannot take inputs/outputs"):
        type("Sub", (keras.Model,), {})(a, out)
    with pytest.raises(ValueError, match=r"\[Sequential.add\] only a keras.Input can start a Sequential"):
        keras.Sequential([hidden])
