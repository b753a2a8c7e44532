"""TerminateOnNaN: stops fit at the first training batch whose loss is NaN or Inf (Keras 3's
keras.callbacks.TerminateOnNaN), naming the first layer whose output went non-finite."""

import math

from .callback import Callback


class TerminateOnNaN(Callback):
    """Callback that terminates training when a NaN or Inf loss is encountered.

    At the end of every training batch the running loss is checked; when it is not finite
    the callback prints ``Batch <n>: Invalid loss, terminating training`` followed by the
    name of the first layer whose weights or output hold NaN/Inf (from
    ``model.first_nonfinite_layer()``, when the model offers it) and sets
    ``model.stop_training = True``, so fit ends after this batch and every callback's
    ``on_train_end`` still runs.

    Args:
        raise_error: Boolean, default ``False``. If ``True``, raises ``RuntimeError``
            immediately instead of stopping gracefully (``on_train_end`` of other callbacks
            is then not called).

    Example:

    >>> model.fit(x, y, callbacks=[TerminateOnNaN()])
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def _layer_note(self):
        finder = getattr(self.model, "first_nonfinite_layer", None)
        name = finder() if finder is not None else None
        return "" if name is None else f" (first layer with non-finite values: {name})"

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        note = self._layer_note()
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}."
                f"{note} Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training{note}", flush=True)
        self.model.stop_training = True
