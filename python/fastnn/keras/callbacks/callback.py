"""Callback: the base class of every fastnn.keras callback (Keras 3's protocol).

fit/evaluate/predict call the on_* hooks in Keras's order; each hook does nothing here, so a
subclass overrides only the ones it needs. `model` and `params` are set by the training loop.
"""


class Callback:
    """Base class used to build new callbacks.

    Attributes:
        params: Dict. Training parameters (``{"verbose": ..., "epochs": ..., "steps": ...}``).
        model: The model being trained, evaluated or used for prediction.

    Example:

    >>> class PrintEpoch(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, logs["loss"])
    """

    def __init__(self):
        self.params = None
        self.model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        """Called at the start of training."""

    def on_train_end(self, logs=None):
        """Called at the end of training."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of an epoch (`epoch` counts from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch; `logs` holds the epoch's training and validation results."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called at the start of a training batch (`batch` counts from 0 in each epoch)."""

    def on_train_batch_end(self, batch, logs=None):
        """Called at the end of a training batch; `logs` holds the running results of the epoch."""

    def on_test_begin(self, logs=None):
        """Called at the start of evaluation or validation."""

    def on_test_end(self, logs=None):
        """Called at the end of evaluation or validation."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called at the start of an evaluation batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called at the end of an evaluation batch."""

    def on_predict_begin(self, logs=None):
        """Called at the start of prediction."""

    def on_predict_end(self, logs=None):
        """Called at the end of prediction."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called at the start of a prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called at the end of a prediction batch."""
