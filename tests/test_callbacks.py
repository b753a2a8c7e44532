"""fastnn.keras callbacks (Keras 3 semantics), driven by a stand-in model that offers exactly
the interface fit gives callbacks, and hand-written epoch logs."""

import csv
import io
import math
import re
import sys

import numpy as np
import pytest

from fastnn.keras.callbacks.callback import Callback
from fastnn.keras.callbacks.csv_logger import CSVLogger
from fastnn.keras.callbacks.early_stopping import EarlyStopping
from fastnn.keras.callbacks.lambda_callback import LambdaCallback
from fastnn.keras.callbacks.learning_rate_scheduler import LearningRateScheduler
from fastnn.keras.callbacks.model_checkpoint import ModelCheckpoint
from fastnn.keras.callbacks.progbar_logger import ProgbarLogger
from fastnn.keras.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from fastnn.keras.callbacks.terminate_on_nan import TerminateOnNaN
from fastnn.keras.utils import Progbar

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FakeOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate


class FakeModel:
    """What a fastnn.keras model offers callbacks: stop_training, optimizer.learning_rate,
    get/set_weights, save/save_weights/load_weights, layers, name, first_nonfinite_layer."""

    def __init__(self, learning_rate=0.1, nonfinite_layer=None):
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self.name = "fake_model"
        self.layers = ["dense", "dense_1"]
        self._weights = [np.zeros((2, 3)), np.zeros(3)]
        self._nonfinite_layer = nonfinite_layer
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self._weights]

    def set_weights(self, weights):
        self._weights = [np.array(w, dtype=np.float64) for w in weights]

    def train_one_epoch(self):
        for w in self._weights:
            w += 1.0

    def save_weights(self, filepath, overwrite=True):
        with open(filepath, "wb") as f:
            np.savez(f, *self._weights)
        self.saved.append(("save_weights", filepath, overwrite))

    def save(self, filepath, overwrite=True):
        with open(filepath, "wb") as f:
            np.savez(f, *self._weights)
        self.saved.append(("save", filepath, overwrite))

    def load_weights(self, filepath):
        with np.load(filepath) as data:
            self.set_weights([data[f"arr_{i}"] for i in range(len(data.files))])

    def first_nonfinite_layer(self):
        return self._nonfinite_layer


def fit(callbacks, model, epoch_logs, batch_logs=None, verbose=0, steps=None):
    """Calls the hooks in fit's order. epoch_logs: one dict per epoch; batch_logs: one list
    of batch dicts per epoch (or None). Returns the number of epochs that ran."""
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    params = {"verbose": verbose, "epochs": len(epoch_logs), "steps": steps}
    for cb in callbacks:
        cb.set_model(model)
        cb.set_params(params)
    model.stop_training = False
    for cb in callbacks:
        cb.on_train_begin({})
    ran = 0
    for epoch, logs in enumerate(epoch_logs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch, {})
        for batch, blogs in enumerate((batch_logs or [[]] * len(epoch_logs))[epoch]):
            for cb in callbacks:
                cb.on_train_batch_begin(batch, {})
            for cb in callbacks:
                cb.on_train_batch_end(batch, dict(blogs))
            if model.stop_training:
                break
        model.train_one_epoch()
        ran += 1
        logs = dict(logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end({})
    return ran


def losses(values, key="val_loss"):
    return [{key: v} for v in values]


# ---------------------------------------------------------------- Callback base


def test_callback_base_hooks_are_no_ops():
    cb = Callback()
    assert cb.model is None and cb.params is None
    model = FakeModel()
    cb.set_model(model)
    cb.set_params({"verbose": 0, "epochs": 1, "steps": 2})
    assert cb.model is model and cb.params["steps"] == 2
    for hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
                 "on_predict_begin", "on_predict_end"):
        assert getattr(cb, hook)({}) is None
    for hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
                 "on_predict_batch_end"):
        assert getattr(cb, hook)(0, {}) is None


# ---------------------------------------------------------------- EarlyStopping


def reference_early_stopping(values, patience, min_delta, maximise, baseline=None, start=0):
    """Keras 3's rule written out plainly: returns (epochs run, stopped_epoch, best_epoch)."""
    sign = 1.0 if maximise else -1.0
    best, best_epoch, wait = -math.inf * sign if maximise else math.inf, 0, 0
    better = (lambda a, b: a - abs(min_delta) > b) if maximise else (lambda a, b: a + abs(min_delta) < b)
    first = True
    for epoch, v in enumerate(values):
        if epoch < start:
            continue
        if first:
            best_epoch, first = epoch, False
        wait += 1
        if better(v, best):
            best, best_epoch = v, epoch
            if baseline is None or better(v, baseline):
                wait = 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1, epoch, best_epoch
    return len(values), 0, best_epoch


def test_early_stopping_patience_hand_computed():
    # best 0.9 at epoch 1; epochs 2 and 3 do not improve: patience 2 runs out at epoch 3.
    model = FakeModel()
    es = EarlyStopping(patience=2)
    ran = fit(es, model, losses([1.0, 0.9, 0.95, 0.92, 0.5, 0.4]))
    assert ran == 4
    assert es.stopped_epoch == 3
    assert model.stop_training is True
    assert es.best == 0.9 and es.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    es = EarlyStopping(monitor="loss")
    ran = fit(es, FakeModel(), losses([3.0, 2.0, 2.0, 1.0], key="loss"))
    assert ran == 3 and es.stopped_epoch == 2  # equal is not an improvement


def test_early_stopping_runs_all_epochs_while_improving():
    model = FakeModel()
    es = EarlyStopping(patience=1)
    assert fit(es, model, losses([5.0, 4.0, 3.0, 2.0])) == 4
    assert es.stopped_epoch == 0 and model.stop_training is False


def test_early_stopping_min_delta_and_its_sign():
    # Each epoch improves by 0.05, less than min_delta=0.1: no improvement after epoch 0.
    values = [1.0, 0.95, 0.9, 0.85, 0.8]
    for min_delta in (0.1, -0.1):
        es = EarlyStopping(min_delta=min_delta, patience=2)
        assert fit(es, FakeModel(), losses(values)) == 3
        assert es.stopped_epoch == 2 and es.best == 1.0
    es = EarlyStopping(min_delta=0.01, patience=2)
    assert fit(es, FakeModel(), losses(values)) == 5


@pytest.mark.parametrize("monitor", ["val_accuracy", "accuracy", "val_acc", "auc", "val_precision",
                                     "recall"])
def test_early_stopping_auto_mode_maximises_accuracy_like_names(monitor):
    es = EarlyStopping(monitor=monitor, patience=1)
    # rising values keep it going; a fall then a flat value stop it
    ran = fit(es, FakeModel(), losses([0.5, 0.6, 0.7, 0.65, 0.7, 0.9], key=monitor))
    assert ran == 4 and es.best == 0.7


@pytest.mark.parametrize("monitor", ["val_loss", "loss", "mae", "val_mean_squared_error"])
def test_early_stopping_auto_mode_minimises_other_names(monitor):
    es = EarlyStopping(monitor=monitor, patience=1)
    ran = fit(es, FakeModel(), losses([0.5, 0.6, 0.7, 0.65], key=monitor))
    assert ran == 2 and es.best == 0.5


def test_early_stopping_auto_mode_follows_a_metric_declared_direction():
    class Metric:
        name = "custom"
        _direction = "up"

    model = FakeModel()
    model.metrics = [Metric()]
    es = EarlyStopping(monitor="val_custom", patience=0)
    assert fit(es, model, losses([1.0, 2.0, 1.5], key="val_custom")) == 3
    assert es.best == 2.0


def test_early_stopping_explicit_mode_and_unknown_mode_warns():
    es = EarlyStopping(monitor="val_accuracy", mode="min", patience=0)
    assert fit(es, FakeModel(), losses([0.5, 0.6], key="val_accuracy")) == 2
    assert es.stopped_epoch == 1
    es = EarlyStopping(monitor="val_loss", mode="max", patience=0)
    assert fit(es, FakeModel(), losses([0.5, 0.4])) == 2
    with pytest.warns(UserWarning, match="EarlyStopping mode 'sideways' is unknown"):
        es = EarlyStopping(mode="sideways")
    assert es.mode == "auto"


def test_early_stopping_baseline():
    values = [0.9, 0.8, 0.85, 0.84]
    # Improving epochs that do not beat the baseline keep counting towards patience.
    es = EarlyStopping(patience=2, baseline=0.5)
    assert fit(es, FakeModel(), losses(values)) == 3 and es.stopped_epoch == 2
    es = EarlyStopping(patience=2)
    assert fit(es, FakeModel(), losses(values)) == 4 and es.stopped_epoch == 3
    # Beating the baseline resets patience as usual.
    es = EarlyStopping(patience=2, baseline=0.85)
    assert fit(es, FakeModel(), losses(values)) == 4


def test_early_stopping_start_from_epoch():
    values = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    es = EarlyStopping(monitor="loss", patience=0)
    assert fit(es, FakeModel(), losses(values, "loss")) == 2
    es = EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    assert fit(es, FakeModel(), losses(values, "loss")) == 5
    assert es.stopped_epoch == 4 and es.best == 8.0 and es.best_epoch == 3


@pytest.mark.parametrize("stops_early", [True, False])
def test_early_stopping_restore_best_weights(stops_early):
    # Weights after epoch e are all e + 1 (the model adds 1 per epoch).
    values = [1.0, 0.6, 0.8, 0.9, 0.95] if stops_early else [1.0, 0.6, 0.8, 0.7]
    model = FakeModel()
    es = EarlyStopping(patience=2 if stops_early else 5, restore_best_weights=True)
    ran = fit(es, model, losses(values))
    assert ran == (4 if stops_early else 4)
    assert (es.stopped_epoch > 0) == stops_early
    assert es.best_epoch == 1
    for w in model.get_weights():
        np.testing.assert_array_equal(w, np.full_like(w, 2.0))


def test_early_stopping_without_restore_keeps_last_weights():
    model = FakeModel()
    fit(EarlyStopping(patience=1), model, losses([1.0, 1.1, 1.2]))
    np.testing.assert_array_equal(model.get_weights()[1], np.full(3, 2.0))


def test_early_stopping_verbose_messages(capsys):
    es = EarlyStopping(patience=1, verbose=1, restore_best_weights=True)
    fit(es, FakeModel(), losses([1.0, 0.5, 0.7, 0.8]))
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_missing_monitor_warns_and_continues():
    es = EarlyStopping(monitor="val_accuracy", patience=0)
    with pytest.warns(UserWarning, match=r"`val_accuracy` which is not available.*loss"):
        ran = fit(es, FakeModel(), losses([1.0, 2.0, 3.0], key="loss"))
    assert ran == 3 and es.stopped_epoch == 0


def test_early_stopping_instance_is_reusable():
    es = EarlyStopping(patience=0)
    fit(es, FakeModel(), losses([0.1, 0.2]))
    assert es.stopped_epoch == 1
    # A second fit starts from scratch: its worse values are not compared with 0.1.
    assert fit(es, FakeModel(), losses([5.0, 4.0, 3.0])) == 3
    assert es.stopped_epoch == 0 and es.best == 3.0


def test_early_stopping_matches_plain_reference_on_random_sequences():
    rng = np.random.default_rng(5)
    for trial in range(200):
        n = int(rng.integers(1, 12))
        values = np.round(rng.uniform(0, 1, n), 2).tolist()
        patience = int(rng.integers(0, 4))
        min_delta = float(rng.choice([0.0, 0.05, -0.1]))
        maximise = bool(rng.integers(0, 2))
        baseline = float(rng.choice([0.3, 0.7])) if rng.integers(0, 3) == 0 else None
        start = int(rng.integers(0, 3))
        es = EarlyStopping(monitor="val_thing", patience=patience, min_delta=min_delta,
                           mode="max" if maximise else "min", baseline=baseline,
                           start_from_epoch=start)
        ran = fit(es, FakeModel(), losses(values, key="val_thing"))
        want_ran, want_stopped, _ = reference_early_stopping(values, patience, min_delta, maximise,
                                                             baseline, start)
        assert (ran, es.stopped_epoch) == (want_ran, want_stopped), (values, patience, min_delta,
                                                                     maximise, baseline, start)


# ---------------------------------------------------------------- ModelCheckpoint


def test_model_checkpoint_formats_epoch_and_logs_into_file_names(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "weights.{epoch:02d}-{val_loss:.2f}.weights.npz")
    values = [0.91234, 0.5, 1.25]
    fit(ModelCheckpoint(pattern, save_weights_only=True), model, losses(values))
    want = [str(tmp_path / "ckpt" / f"weights.{e + 1:02d}-{v:.2f}.weights.npz")
            for e, v in enumerate(values)]
    assert [s[1] for s in model.saved] == want
    assert all(kind == "save_weights" and overwrite is True for kind, _, overwrite in model.saved)
    for e, path in enumerate(want):
        with np.load(path) as data:
            np.testing.assert_array_equal(data["arr_1"], np.full(3, e + 1.0))


def test_model_checkpoint_saves_the_whole_model_by_default(tmp_path):
    model = FakeModel()
    fit(ModelCheckpoint(tmp_path / "model-{epoch}.keras"), model, losses([1.0, 2.0]))
    assert model.saved == [("save", str(tmp_path / "model-1.keras"), True),
                           ("save", str(tmp_path / "model-2.keras"), True)]


def test_model_checkpoint_save_best_only(tmp_path):
    model = FakeModel()
    cb = ModelCheckpoint(str(tmp_path / "e{epoch}.weights.npz"), save_best_only=True,
                         save_weights_only=True)
    fit(cb, model, losses([1.0, 0.8, 0.9, 0.7, 0.7]))
    assert [s[1] for s in model.saved] == [str(tmp_path / f"e{e}.weights.npz") for e in (1, 2, 4)]
    assert cb.best == 0.7


def test_model_checkpoint_best_only_single_file_holds_best_weights(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "best.weights.npz")
    fit(ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True, save_weights_only=True),
        model, losses([0.5, 0.9, 0.7, 0.8], key="val_accuracy"))
    other = FakeModel()
    other.load_weights(path)
    np.testing.assert_array_equal(other.get_weights()[0], np.full((2, 3), 2.0))


def test_model_checkpoint_initial_value_threshold_and_mode(tmp_path):
    model = FakeModel()
    fit(ModelCheckpoint(str(tmp_path / "e{epoch}.keras"), save_best_only=True,
                        initial_value_threshold=0.75),
        model, losses([1.0, 0.8, 0.9, 0.7]))
    assert [s[1] for s in model.saved] == [str(tmp_path / "e4.keras")]
    model = FakeModel()
    fit(ModelCheckpoint(str(tmp_path / "m{epoch}.keras"), save_best_only=True, mode="max"),
        model, losses([1.0, 0.8, 1.5, 1.2]))
    assert [s[1] for s in model.saved] == [str(tmp_path / f"m{e}.keras") for e in (1, 3)]


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    model = FakeModel()
    batches = [[{"loss": 1.0}] * 3, [{"loss": 0.5}] * 3]
    fit(ModelCheckpoint(str(tmp_path / "{epoch}-{batch}.keras"), save_freq=2), model,
        losses([1.0, 0.5]), batches)
    # 6 batches, a save after the 2nd, 4th and 6th counted across epochs
    assert [s[1] for s in model.saved] == [str(tmp_path / n) for n in ("1-2.keras", "2-1.keras",
                                                                        "2-3.keras")]


def test_model_checkpoint_verbose_messages(tmp_path, capsys):
    model = FakeModel()
    fit(ModelCheckpoint(str(tmp_path / "b.keras"), save_best_only=True, verbose=1), model,
        losses([1.0, 2.0]))
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from inf to 1.00000, saving model to" in out
    assert "Epoch 2: val_loss did not improve from 1.00000" in out


def test_model_checkpoint_errors(tmp_path):
    for bad in ("batch", 0, -3, 1.5, True):
        with pytest.raises(ValueError, match="save_freq"):
            ModelCheckpoint(str(tmp_path / "x.keras"), save_freq=bad)
    model = FakeModel()
    with pytest.raises(KeyError, match="val_acc"):
        fit(ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.keras")), model, losses([1.0]))
    assert model.saved == []
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        fit(ModelCheckpoint(str(tmp_path / "y.keras"), save_best_only=True), model,
            losses([1.0], key="loss"))
    assert len(model.saved) == 1
    (tmp_path / "adir.keras").mkdir()
    with pytest.raises(IsADirectoryError, match="adir"):
        fit(ModelCheckpoint(str(tmp_path / "adir.keras")), model, losses([1.0]))


# ---------------------------------------------------------------- ReduceLROnPlateau


def lr_log(cb, model, values):
    seen = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["learning_rate"]))
    fit([cb, record], model, losses(values))
    return seen


def test_reduce_lr_on_plateau_cooldown_and_min_lr():
    # Flat loss. Patience 1: each non-improving epoch outside cooldown reduces; cooldown 2
    # (counted down at the start of each epoch) skips one epoch after each reduction; the
    # rate stops at min_lr. Logged rate is the one used during the epoch.
    model = FakeModel(learning_rate=1.0)
    cb = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.2)
    seen = lr_log(cb, model, [1.0] * 8)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    assert model.optimizer.learning_rate == 0.2


def test_reduce_lr_on_plateau_patience_and_min_delta():
    model = FakeModel(learning_rate=0.1)
    # improvements of 0.05 >= min_delta keep the rate
    seen = lr_log(ReduceLROnPlateau(patience=2), model, [1.0, 0.95, 0.9, 0.85])
    assert seen == [0.1] * 4
    # improvements smaller than min_delta=0.1 count as a plateau: after 2 epochs, 0.1 * 0.1
    model = FakeModel(learning_rate=0.1)
    lr_log(ReduceLROnPlateau(patience=2, min_delta=0.1), model, [1.0, 0.95, 0.9, 0.85])
    assert model.optimizer.learning_rate == pytest.approx(0.01, rel=1e-12)


def test_reduce_lr_on_plateau_max_mode_for_accuracy():
    model = FakeModel(learning_rate=1.0)
    cb = ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    record = []
    fit([cb, LambdaCallback(on_epoch_end=lambda e, logs: record.append(logs["learning_rate"]))],
        model, losses([0.5, 0.6, 0.7, 0.6], key="val_accuracy"))
    assert record == [1.0, 1.0, 1.0, 1.0] and model.optimizer.learning_rate == 0.5


def test_reduce_lr_on_plateau_rejects_factor_and_warns_on_missing_monitor(capsys):
    for factor in (1.0, 2.5):
        with pytest.raises(ValueError, match=f"factor >= 1.0. Received factor={factor}"):
            ReduceLROnPlateau(factor=factor)
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        fit(ReduceLROnPlateau(), FakeModel(), losses([1.0], key="loss"))
    model = FakeModel(learning_rate=1.0)
    fit(ReduceLROnPlateau(patience=0, factor=0.5, verbose=1), model, losses([1.0, 1.0]))
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.5." in capsys.readouterr().out


# ---------------------------------------------------------------- LearningRateScheduler


def test_learning_rate_scheduler_two_argument_schedule():
    model = FakeModel(learning_rate=0.1)
    used = []
    record = LambdaCallback(on_epoch_end=lambda e, logs: used.append(logs["learning_rate"]))
    fit([LearningRateScheduler(lambda epoch, lr: lr * 0.5), record], model, losses([1.0] * 3))
    assert used == pytest.approx([0.1 * 0.5 ** (e + 1) for e in range(3)], rel=1e-15)
    assert model.optimizer.learning_rate == pytest.approx(0.0125, rel=1e-15)


def test_learning_rate_scheduler_epoch_only_schedule_and_verbose(capsys):
    model = FakeModel(learning_rate=0.1)
    seen = []

    def schedule(epoch):
        return 1.0 / (epoch + 1)

    record = LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(model.optimizer.learning_rate))
    fit([LearningRateScheduler(schedule, verbose=1), record], model, losses([1.0] * 3))
    assert seen == [1.0, 0.5, 1.0 / 3]
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.3333333333333333." in \
        capsys.readouterr().out


def test_learning_rate_scheduler_errors():
    with pytest.raises(ValueError, match="should be a float. Got: 'fast'"):
        fit(LearningRateScheduler(lambda epoch, lr: "fast"), FakeModel(learning_rate=0.1),
            losses([1.0]))
    model = FakeModel(learning_rate=0.1)
    with pytest.raises(ValueError, match="should be a float"):
        fit(LearningRateScheduler(lambda epoch: 1), model, losses([1.0]))
    assert model.optimizer.learning_rate == 0.1
    with pytest.raises(TypeError, match="schedule must be callable"):
        LearningRateScheduler(0.1)


# ---------------------------------------------------------------- CSVLogger


def read_csv(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_csv_logger_columns_rows_and_flush(tmp_path):
    path = tmp_path / "log.csv"
    epochs = [{"val_loss": 1.5, "loss": 1.25, "val_accuracy": 0.5, "accuracy": 0.25},
              {"val_loss": 1.0, "loss": 0.75, "val_accuracy": 0.625, "accuracy": 0.5}]
    rows_during = []
    peek = LambdaCallback(on_epoch_end=lambda e, logs: rows_during.append(read_csv(path)))
    fit([CSVLogger(path), peek], FakeModel(), epochs)
    # each epoch's row is on disk when the epoch ends
    assert [len(r) for r in rows_during] == [2, 3]
    rows = read_csv(path)
    header = ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert rows[0] == header
    for e, (row, logs) in enumerate(zip(rows[1:], epochs)):
        assert int(row[0]) == e
        assert [float(x) for x in row[1:]] == [logs[k] for k in header[1:]]
    with open(path, newline="") as f:
        assert f.read().count("\r\n") == 3


def test_csv_logger_append_separator_and_missing_values(tmp_path):
    path = tmp_path / "log.tsv"
    fit(CSVLogger(path, separator="\t"), FakeModel(), [{"loss": 2.0}, {"loss": 1.0}])
    fit(CSVLogger(path, separator="\t", append=True), FakeModel(), [{"loss": 0.5}])
    rows = read_csv(path, "\t")
    assert rows == [["epoch", "loss"], ["0", "2.0"], ["1", "1.0"], ["0", "0.5"]]
    # append to an empty file writes the header
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    fit(CSVLogger(empty, append=True), FakeModel(), [{"loss": 3.0}])
    assert read_csv(empty) == [["epoch", "loss"], ["0", "3.0"]]
    # without append the file is overwritten; keys missing later are written as NA, and the
    # model's val_ metrics get a column from the start
    model = FakeModel()
    model.metrics_names = ["loss", "val_loss"]
    fit(CSVLogger(path), model, [{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.75}, {}])
    assert read_csv(path) == [["epoch", "loss", "val_loss"], ["0", "1.0", "NA"],
                              ["1", "0.5", "0.75"], ["2", "NA", "NA"]]


def test_csv_logger_writes_arrays_as_lists(tmp_path):
    path = tmp_path / "a.csv"
    fit(CSVLogger(path), FakeModel(), [{"f1": np.array([0.5, 0.25]), "loss": np.float32(1.5),
                                        "n": np.array(3)}])
    assert read_csv(path) == [["epoch", "f1", "loss", "n"], ["0", "[0.5, 0.25]", "1.5", "3"]]


# ---------------------------------------------------------------- TerminateOnNaN


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_terminate_on_nan_stops_and_names_the_layer(bad, capsys):
    model = FakeModel(nonfinite_layer="dense_1")
    batches = [[{"loss": 1.0}, {"loss": 2.0}, {"loss": bad}, {"loss": 1.0}]] * 2
    ran = fit(TerminateOnNaN(), model, [{"loss": 1.0}] * 2, batches)
    assert ran == 1 and model.stop_training is True
    out = capsys.readouterr().out
    assert "Batch 2: Invalid loss, terminating training" in out
    assert "dense_1" in out


def test_terminate_on_nan_finite_loss_and_model_without_layer_report(capsys):
    model = FakeModel(nonfinite_layer="dense")
    fit(TerminateOnNaN(), model, [{"loss": 1.0}] * 2, [[{"loss": 1e30}, {"loss": -3.0}]] * 2)
    assert model.stop_training is False and capsys.readouterr().out == ""
    model = FakeModel(nonfinite_layer=None)
    cb = TerminateOnNaN()
    cb.set_model(model)
    cb.on_train_batch_end(7, {"loss": float("nan")})
    assert capsys.readouterr().out == "Batch 7: Invalid loss, terminating training\n"
    assert model.stop_training is True


def test_terminate_on_nan_raise_error():
    cb = TerminateOnNaN(raise_error=True)
    model = FakeModel(nonfinite_layer="conv2d")
    cb.set_model(model)
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at batch 4.*conv2d"):
        cb.on_train_batch_end(4, {"loss": float("nan")})


# ---------------------------------------------------------------- LambdaCallback


def test_lambda_callback_calls_given_functions():
    calls = []
    cb = LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_train_begin=lambda logs: calls.append(("train_begin",)),
        on_train_end=lambda logs: calls.append(("train_end",)),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, logs["loss"])),
        on_test_end=lambda logs: calls.append(("test_end",)),
    )
    fit(cb, FakeModel(), [{"loss": 0.5}], [[{"loss": 0.25}]])
    cb.on_test_end({})
    cb.on_predict_end({})  # not given: the base no-op
    assert calls == [("train_begin",), ("epoch_begin", 0), ("batch_begin", 0),
                     ("batch_end", 0, 0.25), ("epoch_end", 0, 0.5), ("train_end",), ("test_end",)]


# ---------------------------------------------------------------- Progbar


class TtyStringIO(io.StringIO):
    def isatty(self):
        return True


def strip(text):
    return ANSI.sub("", text)


def test_progbar_verbose2_prints_one_summary_line(capsys):
    bar = Progbar(target=3, verbose=2)
    for step, loss in enumerate([3.0, 2.0, 1.0], start=1):
        bar.update(step, [("loss", loss)])
    out = capsys.readouterr().out
    assert re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - loss: 1\.0000\n", out), out


def test_progbar_verbose1_on_a_terminal_redraws_in_place(monkeypatch):
    out = TtyStringIO()
    monkeypatch.setattr(sys, "stdout", out)
    bar = Progbar(target=10, verbose=1, interval=0.0, stateful_metrics=["acc"], width=20)
    bar.update(1, [("loss", 4.0), ("acc", 0.5)])
    bar.update(4, [("loss", 1.0), ("acc", 0.75)])
    text = out.getvalue()
    draws = text.split("\r")[1:]
    assert len(draws) == 2 and "\n" not in text
    last = draws[-1]
    # the done part of the bar is green: int(20 * 4 / 10) = 8 cells of 20
    assert "\x1b[32m" + "━" * 8 + "\x1b[0m" in last
    plain = strip(last).rstrip()
    # loss averaged over steps: (4.0 * 1 + 1.0 * 3) / 4 = 1.75; acc is stateful: shown as given
    assert re.fullmatch(r" 4/10 ━{20} \d+s \d+(us|ms|s)/step - loss: 1\.7500 - acc: 0\.7500",
                        plain), plain
    bar.update(10, [("loss", 0.5), ("acc", 0.9)])
    final = out.getvalue().split("\r")[-1]
    assert final.endswith("\n")
    assert re.fullmatch(r"10/10 ━{20} \d+s \d+(us|ms|s)/step - loss: 0\.5000 - acc: 0\.9000 *\n",
                        strip(final)), final


def test_progbar_wipes_a_longer_previous_line(monkeypatch):
    out = TtyStringIO()
    monkeypatch.setattr(sys, "stdout", out)
    bar = Progbar(target=None, verbose=1, interval=0.0)
    bar.update(1, [("a_long_metric_name", 1.0), ("another", 2.0)])
    first = strip(out.getvalue().split("\r")[-1])
    bar._values_order.remove("another")  # a shorter line next time
    bar.update(2)
    second = strip(out.getvalue().split("\r")[-1])
    assert len(second) >= len(first) and second.startswith("      2/Unknown")


def test_progbar_without_terminal_writes_plain_final_line(capsys):
    bar = Progbar(target=5, verbose=1)
    for step in range(1, 6):
        bar.update(step, [("loss", 0.25)])
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    assert re.fullmatch(r"5/5 ━{20} \d+s \d+(us|ms|s)/step - loss: 0\.2500\n", out), out


def test_progbar_without_terminal_writes_intermediate_lines_rarely(capsys, monkeypatch):
    monkeypatch.setattr("fastnn.keras.utils.progbar._PLAIN_LINE_INTERVAL", 0.0)
    bar = Progbar(target=5, verbose=1, interval=0.0)
    bar.update(2, [("loss", 0.5)])
    lines = capsys.readouterr().out.split("\n")
    # int(20 * 2 / 5) = 8 cells done, 12 to do
    assert re.fullmatch(r"2/5 ━{8}─{12} \d+s \d+(us|ms|s)/step - loss: 0\.5000", lines[0])
    monkeypatch.setattr("fastnn.keras.utils.progbar._PLAIN_LINE_INTERVAL", 3600.0)
    bar = Progbar(target=5, verbose=1, interval=0.0)
    bar.update(2, [("loss", 0.5)])
    assert capsys.readouterr().out == ""


def test_progbar_silent_small_values_add_and_errors(capsys):
    bar = Progbar(target=4, verbose=0)
    bar.add(2, [("loss", 1.0)])
    bar.add(2, [("loss", 3.0)])
    assert capsys.readouterr().out == ""
    bar = Progbar(target=2, verbose=2)
    bar.update(2, [("tiny", 0.0001), ("neg", -2.0)])
    assert "tiny: 1.0000e-04 - neg: -2.0000" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"\[Progbar\] verbose"):
        Progbar(3, verbose=3)
    with pytest.raises(ValueError, match=r"\[Progbar\] target"):
        Progbar(-1)


# ---------------------------------------------------------------- ProgbarLogger


def logger_fit(verbose, epochs=2, steps=3, validation=True):
    batches = [[{"loss": 1.0 - 0.1 * b, "accuracy": 0.5 + 0.1 * b} for b in range(steps)]
               for _ in range(epochs)]
    epoch_logs = [{"loss": 0.9, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.7}
                  if validation else {"loss": 0.9, "accuracy": 0.6} for _ in range(epochs)]
    return fit(ProgbarLogger(), FakeModel(), epoch_logs, batches, verbose=verbose, steps=steps)


def test_progbar_logger_verbose1_lines(capsys):
    logger_fit(verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    for line in (lines[1], lines[3]):
        assert re.fullmatch(r"3/3 ━{20} \d+s \d+(us|ms|s)/step - accuracy: 0\.6000 - "
                            r"loss: 0\.9000 - val_accuracy: 0\.7000 - val_loss: 0\.8000", line), line


def test_progbar_logger_verbose2_and_0(capsys):
    logger_fit(verbose=2, epochs=1)
    out = capsys.readouterr().out
    assert re.fullmatch(r"3/3 - \d+s - \d+(us|ms|s)/step - accuracy: 0\.6000 - loss: 0\.9000 - "
                        r"val_accuracy: 0\.7000 - val_loss: 0\.8000\n", out), out
    logger_fit(verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_logger_shows_running_values_as_given(monkeypatch):
    out = TtyStringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr("fastnn.keras.callbacks.progbar_logger._tqdm_class", lambda: None)
    logger = ProgbarLogger()
    logger.set_model(FakeModel())
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 4})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    logger.on_train_batch_end(0, {"loss": 4.0})
    logger.progbar.interval = 0.0
    logger.on_train_batch_end(1, {"loss": 2.5})
    last = strip(out.getvalue().split("\r")[-1])
    assert "2/4" in last and "loss: 2.5000" in last  # the running mean, not re-averaged


def test_progbar_logger_validation_in_fit_is_silent_and_evaluate_draws(capsys):
    logger = ProgbarLogger()
    logger.set_model(FakeModel())
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 2})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    logger.on_train_batch_end(0, {"loss": 1.0})
    logger.on_train_batch_end(1, {"loss": 1.0})
    logger.on_test_begin()
    logger.on_test_batch_end(0, {"loss": 9.0})
    logger.on_test_end({"loss": 9.0})
    logger.on_epoch_end(0, {"loss": 1.0, "val_loss": 9.0})
    logger.on_train_end()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "val_loss: 9.0000" in out
    # evaluate (outside fit) with unknown steps draws its own bar; the target is learnt
    ev = ProgbarLogger()
    ev.set_params({"verbose": 1, "epochs": 1, "steps": None})
    ev.on_test_begin()
    for b in range(3):
        ev.on_test_batch_end(b, {"loss": 0.5})
    ev.on_test_end({"loss": 0.5})
    assert re.fullmatch(r"3/3 ━{20} \d+s \d+(us|ms|s)/step - loss: 0\.5000\n",
                        capsys.readouterr().out)
    pr = ProgbarLogger()
    pr.set_params({"verbose": 2, "epochs": 1, "steps": 2})
    pr.on_predict_begin()
    pr.on_predict_batch_end(0, {"outputs": np.zeros(3)})
    pr.on_predict_batch_end(1, {"outputs": np.zeros(3)})
    pr.on_predict_end()
    assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step\n", capsys.readouterr().out)


def test_progbar_logger_draws_with_tqdm_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm", reason="tqdm (optional extra) is not installed")
    out = TtyStringIO()
    monkeypatch.setattr(sys, "stdout", out)
    logger = ProgbarLogger()
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    assert type(logger.progbar).__name__ == "_TqdmProgbar"
    for b in range(3):
        logger.on_train_batch_end(b, {"loss": 0.5})
    logger.on_epoch_end(0, {"loss": 0.25, "val_loss": 0.75})
    logger.on_train_end()
    text = out.getvalue()
    assert "3/3" in text and "loss: 0.2500 - val_loss: 0.7500" in text
