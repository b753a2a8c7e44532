"""MNIST as Keras's ``keras.datasets.mnist.load_data`` returns it."""

from pathlib import Path

import numpy as np

from .fashion_mnist import _load

__all__ = ["load_data"]


def load_data(path="mnist.npz"):
    """Load MNIST: 60000 training and 10000 test 28x28 grayscale images of digits 0-9.

    Keras keeps MNIST as ``mnist.npz`` in ``~/.keras/datasets``; when ``path`` names such a
    file (as given, or inside ``~/.keras/datasets``) it is read. Otherwise the IDX files are
    looked for where :class:`fastnn.datasets.MNIST` looks (``$FASTNN_DATA``, the user's data
    folder, ``/usr/share/datasets``). Nothing is downloaded: use
    :func:`fastnn.datasets.download` for that.

    Args:
        path: the ``.npz`` file (keys ``x_train``, ``y_train``, ``x_test``, ``y_test``).
            Default: ``"mnist.npz"``.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes ``(60000, 28, 28)``,
        ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``.

    Raises:
        FileNotFoundError: when neither the npz file nor the IDX files are found (the
            message says where it looked and how to get them).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()
        >>> x_test.shape
        (10000, 28, 28)
    """
    for candidate in (Path(path).expanduser(), Path.home() / ".keras" / "datasets" / path):
        if candidate.is_file():
            with np.load(candidate, allow_pickle=False) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    return _load("mnist")
