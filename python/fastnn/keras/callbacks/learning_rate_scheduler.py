"""LearningRateScheduler: sets the optimizer's learning rate at the start of every epoch from
a user function of the epoch (Keras 3's keras.callbacks.LearningRateScheduler)."""

import inspect

import numpy as np

from .callback import Callback


def _takes_two_arguments(fn):
    """True when fn can be called as fn(epoch, lr); False when only as fn(epoch)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True  # builtins without a signature: try the two-argument form
    try:
        signature.bind(0, 0.0)
        return True
    except TypeError:
        return False


class LearningRateScheduler(Callback):
    """Learning rate scheduler.

    At the beginning of every epoch, this callback gets the learning rate from ``schedule``
    and applies it to ``model.optimizer.learning_rate``; the rate in use is written to the
    epoch logs as ``logs["learning_rate"]``.

    Args:
        schedule: A function that takes an epoch index (integer, from 0) and the current
            learning rate (float) and returns the new learning rate (float). A function of
            the epoch alone, ``schedule(epoch)``, is accepted too.
        verbose: Integer. 0: quiet, 1: log update messages.

    Example:

    >>> def scheduler(epoch, lr):
    ...     return lr if epoch < 10 else lr * math.exp(-0.1)
    >>> callback = LearningRateScheduler(scheduler)
    >>> history = model.fit(x, y, epochs=15, callbacks=[callback], verbose=0)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"[LearningRateScheduler] schedule must be callable, got {type(schedule).__name__}"
            )
        self.schedule = schedule
        self.verbose = verbose
        self._two_arguments = _takes_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        if self._two_arguments:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, (float, np.float32, np.float64)):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate!r}"
            )
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}.",
                flush=True,
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
