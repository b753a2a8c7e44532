"""LambdaCallback: a callback built from plain functions passed for the hooks (Keras 3's
keras.callbacks.LambdaCallback)."""

from .callback import Callback


class LambdaCallback(Callback):
    """Callback for creating simple, custom callbacks on-the-fly.

    The functions are called with positional arguments as the hooks they replace:
    ``on_epoch_begin``/``on_epoch_end`` with ``(epoch, logs)``, ``on_train_begin``/
    ``on_train_end`` with ``(logs)``, ``on_train_batch_begin``/``on_train_batch_end`` with
    ``(batch, logs)``.

    Args:
        on_epoch_begin: called at the beginning of every epoch.
        on_epoch_end: called at the end of every epoch.
        on_train_begin: called at the beginning of model training.
        on_train_end: called at the end of model training.
        on_train_batch_begin: called at the beginning of every train batch.
        on_train_batch_end: called at the end of every train batch.
        **kwargs: Any other hook of ``Callback`` to override, given as
            ``hook_name=function`` (e.g. ``on_test_end=fn``).

    Example:

    >>> json_log = open("loss_log.json", mode="wt", buffering=1)
    >>> json_logging_callback = LambdaCallback(
    ...     on_epoch_end=lambda epoch, logs: json_log.write(
    ...         json.dumps({"epoch": epoch, "loss": logs["loss"]}) + "\\n"),
    ...     on_train_end=lambda logs: json_log.close())
    >>> model.fit(x, y, callbacks=[json_logging_callback])
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
