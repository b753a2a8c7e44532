"""EarlyStopping: stops fit when a monitored quantity has stopped improving (Keras 3's
keras.callbacks.EarlyStopping), optionally restoring the weights of the best epoch."""

import operator
import warnings

from ._monitor import check_mode, is_maximised
from .callback import Callback


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving.

    At the end of every epoch the monitored value is compared with the best seen so far; an
    epoch improves when it beats the best by more than ``min_delta``. After ``patience``
    epochs without improvement ``model.stop_training`` is set and fit ends after that epoch.

    Args:
        monitor: Quantity to be monitored, a key of the epoch logs. Defaults to
            ``"val_loss"``.
        min_delta: Minimum change in the monitored quantity to qualify as an improvement,
            i.e. an absolute change of less than ``min_delta`` counts as no improvement.
            Its sign is ignored. Defaults to ``0``.
        patience: Number of epochs with no improvement after which training will be
            stopped. Defaults to ``0``.
        verbose: 0 is silent, 1 prints a message when the callback acts. Defaults to ``0``.
        mode: One of ``{"auto", "min", "max"}``. ``"min"`` stops when the quantity stops
            decreasing, ``"max"`` when it stops increasing, ``"auto"`` infers the direction
            from the name (losses and errors fall; accuracy, AUC, precision, recall, F-scores,
            IoU and R2 rise). Defaults to ``"auto"``.
        baseline: Baseline value for the monitored quantity. If not ``None``, training
            stops when the model does not improve over the baseline within ``patience``
            epochs. Defaults to ``None``.
        restore_best_weights: Whether to restore the weights of the epoch with the best
            monitored value at the end of training (whether or not training stopped early).
            If ``False``, the weights of the last step are kept. Defaults to ``False``.
        start_from_epoch: Number of epochs to wait before starting to monitor improvement
            (a warm-up period during which training is never stopped). Defaults to ``0``.

    Attributes:
        stopped_epoch: Index (from 0) of the epoch at which training was stopped, 0 if it
            was not stopped.
        best: Best monitored value seen; ``best_epoch``: its epoch (from 0).

    Example:

    >>> callback = EarlyStopping(monitor="loss", patience=3)
    >>> # Training stops when the loss has not improved for three consecutive epochs.
    >>> history = model.fit(x, y, epochs=10, callbacks=[callback], verbose=0)
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.mode = check_mode("EarlyStopping", mode)
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None
        self.monitor_op = None

    def _set_monitor_op(self):
        if is_maximised(self.monitor, self.mode, self.model):
            self.monitor_op = operator.gt
            self._signed_delta = self.min_delta
            self.best = -float("inf")
        else:
            self.monitor_op = operator.lt
            self._signed_delta = -self.min_delta
            self.best = float("inf")

    def _is_improvement(self, value, reference):
        return self.monitor_op(value - self._signed_delta, reference)

    def on_train_begin(self, logs=None):
        # Everything is reset so that one instance can serve several fit calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0
        self.monitor_op = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until some epoch improves, the first monitored epoch's weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience restarts only when the epoch beats both the best and the baseline.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.",
                    flush=True,
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        """Returns ``logs[monitor]``, or None with a UserWarning when it is missing."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs.keys())}",
                stacklevel=2,
            )
        return value
