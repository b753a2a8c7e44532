"""fastnn.keras models: Keras 3's fit/evaluate/predict semantics (validation_split takes the
last samples, History, shuffling under a seed, class and sample weights, callbacks' order,
stop_training), summary, weights in Keras order, saving, the PyTorch-style use of a Keras
model, TorchModuleWrapper, iterables of batches, subclassed models, bad inputs, and a small
real-data run on Fashion-MNIST."""

import functools
import numpy as np
import pytest

import fastnn
import fastnn.bench.training as bench_training
import fastnn.functional as F
from fastnn import keras, nn
from fastnn.keras import layers, losses, optimizers


@pytest.fixture(autouse=True)
def _fresh():
    keras.backend.clear_session()
    fastnn.manual_seed(0)


def mlp(inputs=6, hidden=8, classes=3, activation="softmax"):
    return keras.Sequential([keras.Input((inputs,)), layers.Dense(hidden, activation="relu"),
                             layers.Dense(classes, activation=activation)])


def frozen_linear(rng, n_in=3):
    """Dense(1) without bias, fixed weights, trained with a zero learning rate: its losses
    are plain functions of the data."""
    model = keras.Sequential([keras.Input((n_in,)), layers.Dense(1, use_bias=False)])
    w = rng.standard_normal((n_in, 1)).astype(np.float32)
    model.set_weights([w])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    return model, w.astype(np.float64)


def test_validation_split_takes_the_last_samples(rng):
    model, w = frozen_linear(rng)
    x = rng.standard_normal((50, 3)).astype(np.float32)
    y = rng.standard_normal((50, 1)).astype(np.float32)
    y[40:] += 100.0  # the last 20% are far off: only they may raise the validation loss
    h = model.fit(x, y, batch_size=7, epochs=2, validation_split=0.2, shuffle=True, verbose=0)
    err = (x.astype(np.float64) @ w - y) ** 2
    np.testing.assert_allclose(h.history["val_loss"], [err[40:].mean()] * 2, rtol=1e-5)
    np.testing.assert_allclose(h.history["loss"], [err[:40].mean()] * 2, rtol=1e-5)
    with pytest.raises(ValueError, match="not sufficient to split"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


def test_sample_and_class_weights(rng):
    model, w = frozen_linear(rng)
    x = rng.standard_normal((12, 3)).astype(np.float32)
    y = rng.standard_normal((12, 1)).astype(np.float32)
    err = ((x.astype(np.float64) @ w - y) ** 2)[:, 0]
    sw = rng.random(12)
    h = model.fit(x, y, sample_weight=sw, batch_size=12, verbose=0)
    assert h.history["loss"][0] == pytest.approx((err * sw).sum() / 12, rel=1e-5)
    clf = keras.Sequential([keras.Input((3,)), layers.Dense(2, activation="softmax")])
    clf.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    labels = rng.integers(0, 2, 12)
    h = clf.fit(x, labels, class_weight={0: 2.0, 1: 0.5}, batch_size=12, verbose=0)
    p = clf.predict(x, verbose=0).astype(np.float64)
    per = -np.log(p[np.arange(12), labels])
    assert h.history["loss"][0] == pytest.approx((per * np.where(labels == 0, 2.0, 0.5)).sum() / 12, rel=1e-4)


def test_history_keys_lengths_and_params(rng):
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    h = model.fit(x, y, batch_size=8, epochs=3, validation_data=(x[:10], y[:10]), verbose=0)
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 and all(isinstance(e, float) for e in v) for v in h.history.values())
    assert h.epoch == [0, 1, 2] and model.history is h and h.model is model
    assert h.params == {"verbose": 0, "epochs": 3, "steps": 5}
    # accuracy is sparse categorical accuracy here: check the last validation value
    acc = np.mean(model.predict(x[:10], verbose=0).argmax(1) == y[:10])
    assert h.history["val_accuracy"][-1] == pytest.approx(acc)
    h2 = model.fit(x, y, epochs=3, initial_epoch=1, verbose=0)
    assert h2.epoch == [1, 2] and len(h2.history["loss"]) == 2


def test_evaluate_return_forms(rng):
    model = mlp()
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)
    assert isinstance(loss, float) and loss == pytest.approx(-np.log(p[np.arange(20), y]).mean(), rel=1e-5)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
    out = model.evaluate(x, y, batch_size=6, verbose=0)
    assert isinstance(out, list) and len(out) == 2 and out[0] == pytest.approx(loss, rel=1e-5)
    assert out[1] == pytest.approx(np.mean(p.argmax(1) == y))
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "acc"]
    onehot = np.eye(3, dtype=np.float32)[y]
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    assert model.evaluate(x, onehot, verbose=0)[1] == pytest.approx(np.mean(p.argmax(1) == y))


def test_shuffle_is_reproducible_under_a_seed(rng):
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    def train(seed, shuffle):
        keras.backend.clear_session()
        fastnn.manual_seed(seed)
        model = mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0)
        return model.get_weights()

    a, b, c = train(1, True), train(1, True), train(1, False)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad", "adamw", "Adam", "RMSprop"])
@pytest.mark.parametrize("loss,target", [
    ("mse", "onehot"), ("mean_squared_error", "onehot"), ("mae", "onehot"), ("mean_absolute_error", "onehot"),
    ("categorical_crossentropy", "onehot"), ("sparse_categorical_crossentropy", "index"),
    ("binary_crossentropy", "binary"), ("hinge", "binary")])
def test_string_aliases(rng, optimizer, loss, target):
    x = rng.standard_normal((16, 6)).astype(np.float32)
    idx = rng.integers(0, 3, 16)
    y = {"onehot": np.eye(3, dtype=np.float32)[idx], "index": idx,
         "binary": rng.integers(0, 2, (16, 3)).astype(np.float32)}[target]
    model = mlp(activation="sigmoid" if target == "binary" else "softmax")
    model.compile(optimizer=optimizer, loss=loss)
    h = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert type(model.optimizer).__name__.lower() == optimizer.lower()
    assert np.isfinite(h.history["loss"][0]) and model.optimizer.iterations == 4
    assert h.history["loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0), rel=0.5)


def test_default_compile_is_rmsprop():
    model = mlp()
    model.compile(loss="mse")
    assert isinstance(model.optimizer, optimizers.RMSprop)


def test_summary_text_and_counts():
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                              layers.MaxPooling2D(), layers.Conv2D(64, 3, padding="same", strides=2),
                              layers.BatchNormalization(), layers.GlobalAveragePooling2D(), layers.Dropout(0.5),
                              layers.Dense(10, activation="softmax")], name="cnn")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == 'Model: "cnn"' and "Layer (type)" in lines[2] and "Output Shape" in lines[2]
    conv1, conv2, bn, dense = 3 * 3 * 1 * 32 + 32, 3 * 3 * 32 * 64 + 64, 4 * 64, 64 * 10 + 10
    expected_rows = [("conv2d (Conv2D)", "(None, 26, 26, 32)", conv1),
                     ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", 0),
                     ("conv2d_1 (Conv2D)", "(None, 7, 7, 64)", conv2),
                     ("batch_normalization (BatchNormalization)", "(None, 7, 7, 64)", bn),
                     ("global_average_pooling2d (GlobalAveragePooling2D)", "(None, 64)", 0),
                     ("dropout (Dropout)", "(None, 64)", 0), ("dense (Dense)", "(None, 10)", dense)]
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == len(expected_rows)
    for row, (name, shape, params) in zip(rows, expected_rows):
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells == [name, shape, f"{params:,}"]
    total = conv1 + conv2 + bn + dense
    assert model.count_params() == total
    assert f" Total params: {total:,} ({total * 4 / 1024:.2f} KB)" in lines
    assert f" Trainable params: {total - 128:,} ({(total - 128) * 4 / 1024:.2f} KB)" in lines
    assert " Non-trainable params: 128 (512.00 B)" in lines
    assert "Optimizer params" not in text
    model.compile(optimizer="adam", loss="mse")
    assert model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 10)
    assert model.evaluate(np.zeros((2, 28, 28, 1), np.float32), np.zeros((2, 10), np.float32), verbose=0) >= 0


@pytest.mark.parametrize("optimizer, slots", [("adam", 2), ("sgd", 0), (optimizers.SGD(momentum=0.9), 1)])
def test_summary_counts_the_optimizer_variables_once_built(optimizer, slots):
    # Keras 3: the iteration count, the learning rate and one array per slot and weight,
    # added into the total (Dense(3) on 2 inputs with Adam: 9 + 20 = 29).
    model = keras.Sequential([keras.Input((2,)), layers.Dense(3)])
    model.compile(optimizer=optimizer, loss="mse")
    lines = []
    model.summary(print_fn=lines.append)
    assert " Total params: 9 (36.00 B)" in lines and not any("Optimizer params" in t for t in lines)
    model.fit(np.ones((4, 2), np.float32), np.ones((4, 3), np.float32), verbose=0)
    lines = []
    model.summary(print_fn=lines.append)
    opt = 2 + 9 * slots
    assert f" Optimizer params: {opt} ({12 + 36 * slots:.2f} B)" in lines
    assert f" Total params: {9 + opt} ({36 + 12 + 36 * slots:.2f} B)" in lines
    assert sum(v.size for v in model.optimizer.variables) == opt


def test_weights_in_keras_order_and_module_view(rng):
    model = keras.Sequential([keras.Input((8, 8, 2)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                              layers.Flatten(), layers.Dense(5)])
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 2, 4), (4,), (4,), (4,), (4,), (4,), (144, 5), (5,)]
    new = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    new[5] = np.abs(new[5]) + 0.5  # a moving variance
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    assert isinstance(model, nn.Module)
    assert len(list(model.parameters())) == 6  # kernels, biases, gamma, beta
    keys = list(model.state_dict())
    assert keys == ["conv2d.weight", "conv2d.bias", "batch_normalization.weight", "batch_normalization.bias",
                    "batch_normalization.running_mean", "batch_normalization.running_var", "dense.weight",
                    "dense.bias"]
    np.testing.assert_array_equal(model.state_dict()["conv2d.weight"].data, new[0].transpose(3, 2, 0, 1))
    with pytest.raises(ValueError, match="length 3"):
        model.set_weights(new[:3])


def test_save_weights_and_load_weights(rng, tmp_path):
    model = mlp()
    x = rng.standard_normal((5, 6)).astype(np.float32)
    path = tmp_path / "m.weights.fnn"
    model.save_weights(path)
    other = mlp()
    assert not np.allclose(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"\.weights\.fnn.*HDF5"):
        model.save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(FileExistsError):
        model.save_weights(path, overwrite=False)
    small = mlp(hidden=4)
    with pytest.raises(ValueError, match="not compatible"):
        small.load_weights(path)


def test_save_and_load_model_round_trip(rng, tmp_path):
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(3, 3, padding="same", activation="relu"),
                              layers.BatchNormalization(), layers.MaxPooling2D(), layers.Flatten(),
                              layers.Dropout(0.25), layers.Dense(4, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = rng.standard_normal((16, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.fnn"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == 2 and loaded.optimizer.learning_rate == pytest.approx(0.01)
    # the optimizer's state came back: one more identical step gives identical weights
    xb, yb = x[:8], y[:8]
    fastnn.manual_seed(5)
    model.train_on_batch(xb, yb)
    fastnn.manual_seed(5)
    loaded.train_on_batch(xb, yb)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with open(path, "rb") as f:
        assert f.read(6) == b"FASTNN"  # fastnn's data-only format, not a pickle
    with pytest.raises(ValueError, match=r"\.fnn.*zip"):
        model.save(tmp_path / "model.keras")


def test_pytorch_style_loop_on_a_keras_model(rng):
    model = mlp(activation=None)
    x = fastnn.from_numpy(rng.standard_normal((32, 6)).astype(np.float32))
    y = fastnn.from_numpy(rng.integers(0, 3, 32))
    opt = fastnn.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    losses_seen = []
    for _ in range(20):
        opt.zero_grad()
        out = model(x)
        assert isinstance(out, fastnn.Tensor)
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        losses_seen.append(loss.item())
    assert losses_seen[-1] < 0.7 * losses_seen[0]
    model.eval()
    assert model.training is False and all(layer.training is False for layer in model.layers)


def test_torch_module_wrapper_fits(rng):
    inner = nn.Sequential(nn.Linear(6, 16), nn.ReLU())
    model = keras.Sequential([keras.Input((6,)), layers.TorchModuleWrapper(inner), layers.Dense(1)])
    assert [w.shape for w in model.get_weights()] == [(16, 6), (16,), (16, 1), (1,)]
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, :1] * 2 - x[:, 1:2]).astype(np.float32)
    before = inner[0].weight.data.copy()
    h = model.fit(x, y, batch_size=16, epochs=30, verbose=0)
    assert h.history["loss"][-1] < 0.1 * h.history["loss"][0]
    assert not np.array_equal(before, inner[0].weight.data)
    assert inner.training is False  # fit restores the modes it found
    with pytest.raises(ValueError, match="TorchModuleWrapper"):
        keras.Sequential([nn.Linear(2, 2)])


class Batches:
    """A DataLoader-like iterable: (x, y) Tensor batches, re-iterable, with a length."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        for s in range(0, len(self.x), self.batch_size):
            yield fastnn.tensor(self.x[s:s + self.batch_size]), fastnn.tensor(self.y[s:s + self.batch_size])


def test_fit_on_an_iterable_of_batches_matches_arrays(rng):
    x = rng.standard_normal((30, 6)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    weights = []
    for data in ("arrays", "iterable"):
        keras.backend.clear_session()
        fastnn.manual_seed(3)
        model = mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        if data == "arrays":
            h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        else:
            h = model.fit(Batches(x, y, 8), epochs=2, verbose=0, validation_data=Batches(x, y, 10))
            assert h.params["steps"] == 4 and len(h.history["val_loss"]) == 2
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="`y` should not be passed"):
        model.fit(Batches(x, y, 8), y, verbose=0)
    gen = ((x[i:i + 10], y[i:i + 10]) for i in range(0, 30, 10))
    with pytest.warns(UserWarning, match="ran out of data"):  # a generator is consumed across epochs
        h = model.fit(gen, epochs=3, steps_per_epoch=2, verbose=0)
    assert h.epoch == [0, 1] and model.optimizer.iterations == 8 + 3


def test_fit_on_a_dataloader_and_set_random_seed(rng):
    from fastnn.utils.data import DataLoader, TensorDataset
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    results = []
    for _ in range(2):
        keras.backend.clear_session()
        keras.backend.set_random_seed(7)
        model = mlp()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        loader = DataLoader(TensorDataset(fastnn.tensor(x), fastnn.tensor(y)), batch_size=8, shuffle=True)
        h = model.fit(loader, epochs=2, validation_data=DataLoader(TensorDataset(fastnn.tensor(x), fastnn.tensor(y)),
                                                                   batch_size=16), verbose=0)
        assert h.params["steps"] == 5 and list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
        assert model.evaluate(loader, verbose=0)[0] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-5)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(loader, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="seed"):
        keras.backend.set_random_seed(1.5)


class TwoLayer(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu")
        self.drop = layers.Dropout(0.5)
        self.out = layers.Dense(2)

    def call(self, inputs, training=None):
        return self.out(self.drop(self.hidden(inputs)))  # training reaches Dropout through the call context


def test_subclassed_model(rng):
    model = TwoLayer()
    assert model.name == "two_layer" and [layer.name for layer in model.layers] == ["dense", "dropout", "dense_1"]
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    h = model.fit(x, y, batch_size=10, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3
    a, b = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(a, b)  # inference: no dropout
    t1 = model(fastnn.tensor(x), training=True).data
    t2 = model(fastnn.tensor(x), training=True).data
    assert not np.array_equal(t1, t2)  # training=True reaches the Dropout inside call
    assert len(model.get_weights()) == 4
    fresh = TwoLayer()
    fresh.build((None, 5))
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), a)


def test_callbacks_order_and_stop_training(rng):
    events = []

    class Recorder(keras.callbacks.Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                return lambda *args, **kw: events.append((name,) + tuple(a for a in args if isinstance(a, int)))
            return object.__getattribute__(self, name)

    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), callbacks=[Recorder()], verbose=0)
    epoch = [("on_epoch_begin", 0), ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
             ("on_train_batch_begin", 1), ("on_train_batch_end", 1), ("on_test_begin",),
             ("on_test_batch_begin", 0), ("on_test_batch_end", 0), ("on_test_batch_begin", 1),
             ("on_test_batch_end", 1), ("on_test_end",), ("on_epoch_end", 0)]
    second = [(e[0], 1) if e[0].startswith("on_epoch") else e for e in epoch]
    assert events == [("on_train_begin",)] + epoch + second + [("on_train_end",)]

    class StopAtBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert set(logs) == {"loss"} and isinstance(logs["loss"], float)
            if batch == 1:
                self.model.stop_training = True

    h = model.fit(x, y, batch_size=2, epochs=5, callbacks=[StopAtBatch()], verbose=0)
    assert h.epoch == [0] and model.optimizer.iterations == 4 + 2
    es = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100.0)
    h = model.fit(x, y, epochs=10, callbacks=[es], verbose=0)
    assert len(h.epoch) == 2


def test_on_batch_methods(rng):
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    model.reset_metrics()
    out = model.test_on_batch(x, y)
    assert out == pytest.approx([before["loss"], before["accuracy"]], rel=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0), rtol=1e-6)
    model.reset_metrics()
    loss, acc = model.train_on_batch(x, y)
    assert loss == pytest.approx(before["loss"], rel=1e-5)  # the loss of the forward pass before the step
    assert model.optimizer.iterations == 1
    assert model.evaluate(x, y, verbose=0)[0] < loss


def test_dropout_and_batchnorm_in_fit_and_predict(rng):
    model = keras.Sequential([keras.Input((4,)), layers.BatchNormalization(momentum=0.5), layers.Dropout(0.5),
                              layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    x = (rng.standard_normal((32, 4)) * 3 + 2).astype(np.float32)
    model.fit(x, np.zeros((32, 1), np.float32), batch_size=32, epochs=1, verbose=0)
    gamma, beta, mm, mv = model.layers[0].get_weights()
    np.testing.assert_allclose(mm, x.mean(0) * 0.5, rtol=1e-5)
    np.testing.assert_allclose(mv, 0.5 + x.var(0) * 0.5, rtol=1e-5)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    kernel, bias = model.layers[2].get_weights()
    expected = ((x - mm) / np.sqrt(mv + 1e-3)) @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_first_nonfinite_layer(rng):
    model = mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((8, 6)).astype(np.float32)
    model.fit(x, rng.integers(0, 3, 8), verbose=0)
    assert model.first_nonfinite_layer() is None
    weights = model.get_weights()
    weights[2][0, 0] = np.nan
    model.set_weights(weights)
    assert model.first_nonfinite_layer() == "dense_1"
    x[0, 0] = np.inf
    model.set_weights([np.ones_like(w) for w in weights])
    model.fit(x, np.zeros(8, np.int64), verbose=0, batch_size=8)
    assert model.first_nonfinite_layer() == "dense"


def test_bad_inputs(rng):
    model = mlp()
    x = rng.standard_normal((8, 6)).astype(np.float32)
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, np.zeros(8), verbose=0)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="No loss"):
        model.fit(x, np.zeros(8), verbose=0)
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="cardinality.*x sizes: 8, y sizes: 7"):
        model.fit(x, np.zeros((7, 3)), verbose=0)
    with pytest.raises(ValueError, match=r'layer "dense".*value 6'):
        model.fit(np.zeros((8, 5), np.float32), np.zeros((8, 3)), verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, np.zeros((8, 3)), verbose=3)
    with pytest.raises(ValueError, match="unique names"):
        keras.Sequential([layers.Dense(2, name="a"), layers.Dense(2, name="a")])
    with pytest.raises(ValueError, match=r"\[Model\] All `outputs` values must be KerasTensors"):
        keras.Model(inputs=keras.Input((2,)), outputs=None)
    with pytest.raises(ValueError, match="Could not interpret optimizer"):
        model.compile(optimizer="adamax", loss="mse")
    weights = model.get_weights()
    with pytest.raises(ValueError):
        model.fit(x, np.zeros((8, 3)), validation_split=1.5, verbose=0)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sequential_add_pop_and_deferred_build(rng):
    model = keras.Sequential()
    model.add(layers.Dense(4, activation="relu"))
    model.add(layers.Dense(2))
    assert not model.built
    y = model(rng.standard_normal((3, 5)).astype(np.float32))
    assert y.shape == (3, 2) and model.built and model.count_params() == 5 * 4 + 4 + 4 * 2 + 2
    popped = model.pop()
    assert popped.name == "dense_1" and len(model.layers) == 1
    built = keras.Sequential([layers.Dense(3, input_shape=(7,))])
    assert built.built and built.layers[0].get_weights()[0].shape == (7, 3)


@pytest.fixture(scope="module")
def fashion_mnist():
    if bench_training._missing():
        pytest.skip(f"Fashion-MNIST is not installed in {bench_training.DATA} (Debian package "
                    "dataset-fashion-mnist)")
    return bench_training._data(np.float32)


def test_learns_fashion_mnist(fashion_mnist):
    xtr, ytr, xte, yte = fashion_mnist
    fastnn.manual_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, strides=2, activation="relu"),
                              layers.Flatten(), layers.Dense(64, activation="relu"),
                              layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(xtr[:4000].reshape(-1, 28, 28, 1), ytr[:4000], batch_size=64, epochs=2, validation_split=0.1,
                  verbose=0)
    assert h.history["loss"][1] < h.history["loss"][0]
    loss, acc = model.evaluate(xte[:2000].reshape(-1, 28, 28, 1), yte[:2000], verbose=0)
    assert acc > 0.75, f"test accuracy {acc:.3f} after 2 epochs on 3,600 images"


def test_callbacks_from_fastnn_keras_work_with_real_models(rng, tmp_path, capsys):
    cb = keras.callbacks
    model = mlp()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = rng.standard_normal((24, 6)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    best = tmp_path / "best.weights.fnn"
    whole = tmp_path / "last.fnn"
    plateau = cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=100.0)
    h = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.25, verbose=0,
                  callbacks=[cb.ModelCheckpoint(best, monitor="val_loss", save_best_only=True,
                                                save_weights_only=True),
                             cb.ModelCheckpoint(whole), plateau])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005])  # logged before each reduction
    assert model.optimizer.learning_rate == pytest.approx(0.0025)
    np.testing.assert_array_equal(keras.models.load_model(whole).predict(x, verbose=0), model.predict(x, verbose=0))
    other = mlp()
    fresh = other.get_weights()
    other.load_weights(best)
    assert all(not np.array_equal(a, b) for a, b in zip(fresh, other.get_weights()))
    # TerminateOnNaN names the layer whose output went non-finite
    bad = x.copy()
    bad[0, 0] = np.inf
    h = model.fit(bad, y, batch_size=8, epochs=3, callbacks=[cb.TerminateOnNaN()], verbose=0)
    assert h.epoch == [0] and "dense" in capsys.readouterr().out
    # verbose=1 draws Keras's progress bar through ProgbarLogger
    model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out and "accuracy:" in out


def test_early_stopping_restores_the_best_weights_of_a_real_fit(rng):
    # The learning rate jumps after two epochs so the validation loss gets worse; training
    # stops after `patience` bad epochs with the weights of the best epoch back in place.
    cb = keras.callbacks
    keras.utils.set_random_seed(1)
    model = mlp()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    snapshots = {}
    keep = cb.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.update(
        {epoch: (logs["val_loss"], model.get_weights())}))
    jump = cb.LearningRateScheduler(lambda epoch, lr: 0.05 if epoch < 2 else 50.0)
    stop = cb.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    h = model.fit(x, y, batch_size=16, epochs=20, validation_split=0.25, verbose=0, callbacks=[keep, jump, stop])
    assert len(h.epoch) < 20 and stop.stopped_epoch == h.epoch[-1]
    losses = {e: v for e, (v, _) in snapshots.items()}
    best = min(losses, key=losses.get)
    assert best == stop.best_epoch and losses[h.epoch[-1]] > losses[best]
    for restored, saved in zip(model.get_weights(), snapshots[best][1]):
        np.testing.assert_array_equal(restored, saved)
    assert model.evaluate(x[48:], y[48:], verbose=0) == pytest.approx(losses[best], rel=1e-5)


def test_history_plot(rng, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((16, 6)).astype(np.float32)
    h = model.fit(x, rng.integers(0, 3, 16), epochs=2, validation_split=0.25, verbose=0)
    path = tmp_path / "curves.png"
    h.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = model.fit(x, rng.integers(0, 3, 16), epochs=1, initial_epoch=1, verbose=0)
    assert empty.epoch == [] and empty.history == {} and model.history is empty


@pytest.mark.parametrize("conv_padding, pool", [("same", dict(pool_size=2)), ("valid", dict(pool_size=3, strides=2)),
                                                ("same", dict(pool_size=2, padding="same")),
                                                ("valid", dict(pool_size=(2, 3), strides=1, padding="same"))])
def test_sequential_conv_relu_pool_pair_matches_the_layers_one_by_one(conv_padding, pool):
    # Sequential fuses Conv2D(activation="relu") + MaxPooling2D; calling the layers one by one
    # does not: outputs and gradients must agree bit for bit
    rng = np.random.default_rng(5)
    model = keras.Sequential([keras.Input((9, 11, 2)), layers.Conv2D(4, 3, padding=conv_padding, activation="relu"),
                              layers.MaxPooling2D(**pool), layers.Flatten(), layers.Dense(3)])
    x = fastnn.tensor(rng.standard_normal((3, 9, 11, 2)).astype(np.float32))
    results = []
    for fused in (True, False):
        for p in model.parameters():
            p.grad = None
        y = model(x) if fused else functools.reduce(lambda h, layer: layer(h), model.layers, x)
        (y * y).sum().backward()
        results.append([y.detach().numpy().tobytes()] + [p.grad.numpy().tobytes() for p in model.parameters()])
    assert results[0] == results[1]
