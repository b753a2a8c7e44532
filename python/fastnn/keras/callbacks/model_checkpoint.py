"""ModelCheckpoint: saves the model or its weights during fit, every epoch or every N
batches, optionally only when a monitored quantity improves (Keras 3's
keras.callbacks.ModelCheckpoint). Saving goes through model.save / model.save_weights."""

import operator
import os
import warnings

from ._monitor import check_mode, is_maximised
from .callback import Callback


class ModelCheckpoint(Callback):
    """Callback to save the model or model weights at some frequency.

    Args:
        filepath: String or ``PathLike``, path to save the model file. It may contain named
            formatting options filled with ``epoch`` (counted from 1), ``batch`` (from 1,
            when saving every N batches) and the keys of the logs, e.g.
            ``"weights.{epoch:02d}-{val_loss:.2f}.weights.npz"``. Missing directories are
            created.
        monitor: The metric name to monitor (``"loss"``, ``"val_loss"``, ``"accuracy"``,
            ``"val_accuracy"``, ...). Only used with ``save_best_only=True``.
        verbose: 0 is silent, 1 prints a message when the callback acts.
        save_best_only: If ``True``, only saves when the model is considered the best so far
            according to ``monitor``. Without formatting options in ``filepath`` each better
            model overwrites the previous one.
        save_weights_only: If ``True``, calls ``model.save_weights(filepath,
            overwrite=True)``, else ``model.save(filepath, overwrite=True)``.
        mode: One of ``{"auto", "min", "max"}``: whether the best value of ``monitor`` is its
            minimum or maximum; ``"auto"`` infers it from the name.
        save_freq: ``"epoch"`` saves at the end of every epoch; an integer ``N`` saves at the
            end of every ``N``-th training batch (counted across epochs).
        initial_value_threshold: Initial "best" value of the monitored metric; with
            ``save_best_only=True`` the model is only saved once it beats this value.

    Example:

    >>> checkpoint = ModelCheckpoint("ckpt/best.weights.npz", monitor="val_accuracy",
    ...                              mode="max", save_best_only=True, save_weights_only=True)
    >>> model.fit(x, y, validation_split=0.1, epochs=10, callbacks=[checkpoint])
    >>> model.load_weights("ckpt/best.weights.npz")
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(
                f"[ModelCheckpoint] Unrecognized save_freq: {save_freq!r}. "
                "Expected save_freq are 'epoch' or a positive integer (number of batches)"
            )
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = check_mode("ModelCheckpoint", mode)
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = initial_value_threshold
        self.monitor_op = None
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0

    def _set_monitor_op(self):
        self.monitor_op = operator.gt if is_maximised(self.monitor, self.mode, self.model) else operator.lt
        if self.best is None:
            self.best = -float("inf") if self.monitor_op is operator.gt else float("inf")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        # `batch` restarts at 0 every epoch; the count of batches runs across epochs.
        if batch <= self._last_batch_seen:
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'[ModelCheckpoint] Failed to format this callback filepath: "{self.filepath}". '
                f"Reason: {e}. Available keys: epoch, {', '.join(logs)}"
            ) from None

    def _should_save_model(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}", flush=True)
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available.", stacklevel=3
            )
            return True
        best_str = f"{self.best:.5f}"
        if self.monitor_op(current, self.best):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                    f"{current:.5f}, saving model to {filepath}",
                    flush=True,
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}", flush=True)
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                "[ModelCheckpoint] Please specify a non-directory filepath for "
                f"ModelCheckpoint. Filepath used is an existing directory: {filepath}"
            )
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}", flush=True)
