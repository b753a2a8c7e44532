"""ReduceLROnPlateau: multiplies the optimizer's learning rate by `factor` when a monitored
quantity stops improving (Keras 3's keras.callbacks.ReduceLROnPlateau)."""

import warnings

import numpy as np

from ._monitor import check_mode, is_maximised
from .callback import Callback


class ReduceLROnPlateau(Callback):
    """Reduce learning rate when a metric has stopped improving.

    After ``patience`` epochs without improvement of ``monitor`` the learning rate becomes
    ``max(lr * factor, min_lr)``, then ``cooldown`` epochs pass before epochs without
    improvement are counted again. The learning rate in use during each epoch is written to
    the epoch logs as ``logs["learning_rate"]``.

    Args:
        monitor: String. Quantity to be monitored. Defaults to ``"val_loss"``.
        factor: Float. Factor by which the learning rate will be reduced,
            ``new_lr = lr * factor``. Must be below 1. Defaults to ``0.1``.
        patience: Integer. Number of epochs with no improvement after which the learning
            rate will be reduced. Defaults to ``10``.
        verbose: Integer. 0: quiet, 1: update messages.
        mode: String. One of ``{"auto", "min", "max"}``: whether the quantity should fall or
            rise; ``"auto"`` infers it from the name.
        min_delta: Float. Threshold for measuring the new optimum, to only focus on
            significant changes. Defaults to ``1e-4``.
        cooldown: Integer. Number of epochs to wait before resuming normal operation after
            the learning rate has been reduced. Defaults to ``0``.
        min_lr: Float. Lower bound on the learning rate. Defaults to ``0.0``.

    Example:

    >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=0.001)
    >>> model.fit(x_train, y_train, validation_split=0.1, callbacks=[reduce_lr])
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.mode = check_mode("ReduceLROnPlateau", mode)
        self.cooldown_counter = 0
        self.wait = 0
        self.best = 0
        self.monitor_op = None

    def _reset(self):
        """Resets the wait and cooldown counters and the best value."""
        if is_maximised(self.monitor, self.mode, self.model):
            self.monitor_op = lambda a, b: a > b + self.min_delta
            self.best = -np.inf
        else:
            self.monitor_op = lambda a, b: a < b - self.min_delta
            self.best = np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._reset()
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs.keys())}.",
                stacklevel=2,
            )
            return

        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0

        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(self.model.optimizer.learning_rate)
                # Compared in float32, as the optimizer stores it, so a rate already at
                # min_lr is not "reduced" to itself again.
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new_lr}.",
                            flush=True,
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
