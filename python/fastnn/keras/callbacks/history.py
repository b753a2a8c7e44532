"""History: the callback fit always adds; ``model.fit(...)`` returns it, and it is also
``model.history``."""

from .callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records the epoch-end logs.

    Attributes:
        history: dict from each log key ('loss', metrics, 'val_loss', 'val_<metric>') to the
            list of its values, one per epoch.
        epoch: the list of epoch indices seen.
        params, model: as every callback.

    Example::

        history = model.fit(x, y, epochs=3, validation_split=0.2, verbose=0)
        history.history["val_loss"]   # three floats
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self

    def plot(self, path=None, **kwargs):
        """Plot the curves with :func:`fastnn.plotting.plot_history` (needs matplotlib);
        saved to ``path`` when given. Returns what plot_history returns."""
        from ... import plotting
        return plotting.plot_history(self, path, **kwargs)
