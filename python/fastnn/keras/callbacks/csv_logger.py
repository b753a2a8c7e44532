"""CSVLogger: streams the logs of every epoch to a CSV file, one row per epoch (Keras 3's
keras.callbacks.CSVLogger). Columns: "epoch" (from 0), then the log keys sorted by name."""

import collections.abc
import csv
import os

import numpy as np

from .callback import Callback


def _cell(value):
    # 1-D iterables (lists, arrays of per-class values) are written as "[a, b, ...]".
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, collections.abc.Iterable):
        return f"[{', '.join(map(str, value))}]"
    return value


class CSVLogger(Callback):
    """Callback that streams epoch results to a CSV file.

    The header (``epoch`` then the sorted log keys, plus any ``val_`` metric the model will
    report) is written once; each epoch adds a row and flushes the file, so the log can be
    followed while training runs. Keys missing from an epoch's logs are written as ``NA``.

    Args:
        filename: Filename of the CSV file, e.g. ``"run/log.csv"``.
        separator: String used to separate elements in the CSV file.
        append: Boolean. True: append if the file exists (useful for continuing training;
            the header is only written to an empty or new file). False: overwrite an
            existing file.

    Example:

    >>> csv_logger = CSVLogger("training.log")
    >>> model.fit(x_train, y_train, callbacks=[csv_logger])
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(f.readline())
            mode = "a"
        else:
            self.append_header = True
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs.keys())
            # Validation metrics the model will report get a column even when this epoch
            # has none (validation run every few epochs).
            for name in getattr(self.model, "metrics_names", None) or []:
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)

        if self.writer is None:
            self.writer = csv.DictWriter(
                self.csv_file,
                fieldnames=["epoch"] + self.keys,
                delimiter=self.sep,
                extrasaction="ignore",
            )
            if self.append_header:
                self.writer.writeheader()

        row = {"epoch": epoch}
        row.update((key, _cell(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None
