"""ProgbarLogger: prints the progress of fit/evaluate/predict (Keras 3's
keras.callbacks.ProgbarLogger). verbose=1 draws a bar per epoch (with tqdm when it is
installed and stdout is a terminal, else fastnn.keras.utils.Progbar); verbose=2 prints one
line per epoch. Validation inside fit is silent until its results end the epoch's line."""

import sys
import time

from ..utils.progbar import Progbar, _format_value, _is_dynamic
from .callback import Callback


def _tqdm_class():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class _TqdmProgbar:
    """Progbar's update()/target drawn by tqdm (the optional `tqdm` extra)."""

    def __init__(self, tqdm, target, interval, unit_name):
        options = dict(total=target, unit=unit_name, file=sys.stdout, mininterval=interval,
                       dynamic_ncols=True, leave=True)
        if target:
            options["bar_format"] = "{n_fmt}/{total_fmt} {bar} {elapsed}<{remaining} {rate_fmt}{postfix}"
        self.target = target
        self.interval = interval
        self._bar = tqdm(**options)
        self._last_postfix = 0.0
        self._closed = False

    def update(self, current, values=None, finalize=None):
        if self._closed:
            return
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        bar = self._bar
        if finalize and self.target is not None and bar.total != self.target:
            bar.total = self.target
        if values:
            now = time.monotonic()
            # Formatting the metrics costs more than a step of a small model: throttled.
            if finalize or now - self._last_postfix >= self.interval:
                text = " - ".join(f"{name}: {_format_value(value)}" for name, value in values)
                bar.set_postfix_str(text, refresh=False)
                self._last_postfix = now
        if current != bar.n:
            bar.update(current - bar.n)
        if finalize:
            bar.close()
            self._closed = True


class ProgbarLogger(Callback):
    """Callback that prints metrics to stdout.

    fit adds it when ``verbose != 0``; ``params["verbose"]`` picks the display: 1 draws an
    updating bar per epoch (``Epoch 1/5`` then ``469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step -
    accuracy: 0.8100 - loss: 0.5200 - val_accuracy: ... - val_loss: ...``), 2 prints only the
    final line of each epoch, 0 prints nothing. The logged values are already running
    epoch means, so they are shown as given; training quantities come first, sorted by
    name, then the validation ones.

    Example:

    >>> model.fit(x, y, epochs=5, verbose=1)  # fit adds ProgbarLogger itself
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False
        self._keys = None
        self._order = ()

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        # Validation inside fit draws no bar of its own.
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        # The header goes first: a tqdm bar draws as soon as it is created.
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self._maybe_init_progbar()

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_predict_batch_end(self, batch, logs=None):
        # Predictions are not metrics: only the step count is shown.
        self._update_progbar(batch, None)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(None)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None
        self._keys = None

    def _maybe_init_progbar(self):
        if self.progbar is not None:
            return
        tqdm = _tqdm_class() if self.verbose == 1 and _is_dynamic(sys.stdout) else None
        if tqdm is not None:
            self.progbar = _TqdmProgbar(tqdm, self.target, 0.05, "step")
        else:
            self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _items(self, logs):
        keys = tuple(logs)
        if keys != self._keys:
            # Recomputed only when the set of logged quantities changes.
            self._keys = keys
            self._order = sorted(keys, key=lambda k: (k.startswith("val_"), k))
            if isinstance(self.progbar, Progbar):
                self.progbar.stateful_metrics.update(keys)
        return [(key, logs[key]) for key in self._order]

    def _update_progbar(self, batch, logs):
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, self._items(logs) if logs else None, finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, self._items(logs) if logs else None, finalize=True)
