"""Fashion-MNIST as Keras's ``keras.datasets.fashion_mnist.load_data`` returns it."""

import numpy as np

from ...datasets._idx import read_idx
from ...datasets.mnist import find_files

__all__ = ["load_data"]


def _load(name, root=None):
    """((x_train, y_train), (x_test, y_test)) as uint8 arrays from the IDX files of `name`."""
    out = []
    for split in ("train", "test"):
        images_path, labels_path = find_files(name, split, root)
        out.append((read_idx(images_path), read_idx(labels_path).astype(np.uint8, copy=False)))
    return tuple(out)


def load_data():
    """Load Fashion-MNIST: 60000 training and 10000 test 28x28 grayscale images of 10
    clothing classes (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal,
    6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot).

    The IDX files are looked for where :class:`fastnn.datasets.FashionMNIST` looks
    (``$FASTNN_DATA``, the user's data folder, Debian's ``/usr/share/datasets``); nothing is
    downloaded: use :func:`fastnn.datasets.download` for that.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes ``(60000, 28, 28)``,
        ``(60000,)``, ``(10000, 28, 28)``, ``(10000,)``, labels in 0..9.

    Raises:
        FileNotFoundError: when the files are nowhere to be found (the message says where
            it looked and how to get them).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()
        >>> x_train.shape, y_train.dtype
        ((60000, 28, 28), dtype('uint8'))
    """
    return _load("fashion-mnist")
