"""MNIST and Fashion-MNIST as map-style datasets in torchvision's style, the search for their
IDX files, and the Fashion-MNIST sample shipped with fastnn.

Where the files are looked for (``root=None``), in order, each holding one folder per
dataset (``fashion-mnist/``, ``mnist/``): ``$FASTNN_DATA``; the user's data folder
(``$XDG_DATA_HOME/fastnn``, else ``~/.local/share/fastnn``), where :func:`download` writes;
``/usr/share/datasets`` (Debian's ``dataset-fashion-mnist`` package). A given ``root`` is
searched for a dataset folder and then for the files themselves.
"""

import os
from pathlib import Path

import numpy as np

from ..tensor import Tensor
from ..utils.data.collate import StackedSamples
from ..utils.data.dataset import Dataset
from ._idx import read_idx

__all__ = ["MNIST", "FashionMNIST", "FASHION_MNIST_SAMPLE", "fashion_mnist_sample", "data_dirs", "find_files"]

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
#: The folder of the Fashion-MNIST sample inside the package (same file names as the full set).
FASHION_MNIST_SAMPLE = Path(__file__).resolve().parent / "_data" / "fashion-mnist-sample"
_DEBIAN = Path("/usr/share/datasets")
_DEBIAN_PACKAGES = {"fashion-mnist": "dataset-fashion-mnist"}


def user_data_dir():
    """fastnn's folder in the user's data directory: ``$XDG_DATA_HOME/fastnn``, else
    ``~/.local/share/fastnn``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "fastnn"


def data_dirs():
    """The data folders searched when ``root`` is None, in order."""
    dirs = []
    if os.environ.get("FASTNN_DATA"):
        dirs.append(Path(os.environ["FASTNN_DATA"]))
    return dirs + [user_data_dir(), _DEBIAN]


def _complete(folder, names):
    """{name: path} when every file is in folder (compressed ``.gz`` or plain), else None."""
    found = {}
    for name in names:
        path = next((p for p in (folder / f"{name}.gz", folder / name) if p.is_file()), None)
        if path is None:
            return None
        found[name] = path
    return found


def find_files(name, split, root=None):
    """Paths of the (images, labels) IDX files of dataset `name` (``"mnist"`` or
    ``"fashion-mnist"``), `split` ``"train"`` or ``"test"``.

    Raises:
        FileNotFoundError: listing every folder searched and how to get the data.
    """
    names = FILES[split]
    candidates = [Path(root) / name, Path(root)] if root is not None else [d / name for d in data_dirs()]
    for folder in candidates:
        found = _complete(folder, names)
        if found:
            return found[names[0]], found[names[1]]
    package = _DEBIAN_PACKAGES.get(name)
    how = [f"fastnn.datasets.download({name!r}) or download=True (needs internet; writes to "
           f"{user_data_dir() / name})"]
    if package:
        how.insert(0, f"on Debian/Ubuntu: apt install {package} (installs {_DEBIAN / name})")
    how.append(f"or copy the four IDX files ({', '.join(n + '[.gz]' for s in FILES.values() for n in s)}) into "
               "one of the folders above")
    raise FileNotFoundError(f"[{name}] {split} files {names[0]}[.gz] and {names[1]}[.gz] not found; searched: "
                            + ", ".join(str(c) for c in candidates) + ". To get them: " + "; ".join(how))


class MNIST(Dataset):
    """The MNIST handwritten digits (28x28 grayscale, 60000 training and 10000 test images),
    read from its IDX files; torchvision's ``datasets.MNIST`` interface.

    ``dataset[i]`` is ``(image, target)``: ``image`` a uint8 NumPy array ``(28, 28)``
    (torchvision gives a PIL image; fastnn has no image library) passed through
    ``transform``, ``target`` a Python int passed through ``target_transform``. Without
    transforms a DataLoader gathers whole batches at once (``__getitems__``), giving a uint8
    Tensor ``(B, 28, 28)`` and an int64 Tensor ``(B,)``.

    Args:
        root: folder holding the IDX files (directly or in a ``mnist/`` subfolder); None
            searches the places listed in :func:`data_dirs`.
        train: the training set (True) or the test set. Default: True.
        transform: a callable applied to each image.
        target_transform: a callable applied to each target.
        download: fetch the files with :func:`fastnn.datasets.download` when they are not
            found (needs internet). Default: False.

    Attributes:
        data: uint8 Tensor ``(N, 28, 28)``.
        targets: int64 Tensor ``(N,)``.
        classes: the class names, ``classes[target]``.
        class_to_idx: ``{name: index}``.

    Shape:
        image: ``(28, 28)``; target: scalar.

    Example:
        >>> test = MNIST(train=False)
        >>> image, target = test[0]
        >>> image.shape, test.classes[target]
        ((28, 28), '7 - seven')
    """

    name = "mnist"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False):
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        split = "train" if train else "test"
        try:
            images_path, labels_path = find_files(self.name, split, root)
        except FileNotFoundError:
            if not download:
                raise
            from ._download import download as fetch

            fetch(self.name, root)
            images_path, labels_path = find_files(self.name, split, root)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or images.dtype != np.uint8:
            raise ValueError(f"[{type(self).__name__}] {images_path} holds {images.dtype} {images.shape} and "
                             f"{labels_path} {labels.dtype} {labels.shape}; expected uint8 (N, H, W) images and "
                             "N labels")
        if len(labels) and labels.max() >= len(self.classes):
            raise ValueError(f"[{type(self).__name__}] {labels_path}: label {labels.max()} out of range for "
                             f"{len(self.classes)} classes")
        self.images_path, self.labels_path = images_path, labels_path
        self._images, self._labels = images, labels.astype(np.int64)
        self.data = Tensor(self._images)
        self.targets = Tensor(self._labels)

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        image, target = self._images[index], int(self._labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __getitems__(self, indices):
        if self.transform is not None or self.target_transform is not None:
            return [self[i] for i in indices]
        index = np.asarray(indices, dtype=np.intp)
        return StackedSamples([self._images[index], self._labels[index]], [np.asarray, int])

    def __repr__(self):
        return (f"{type(self).__name__}(split={'train' if self.train else 'test'}, samples={len(self)}, "
                f"images={self.images_path})")


class FashionMNIST(MNIST):
    """Fashion-MNIST: Zalando's article images (28x28 grayscale, 10 classes, 60000 training
    and 10000 test images), a drop-in replacement for MNIST; torchvision's
    ``datasets.FashionMNIST`` interface. See :class:`MNIST` for the arguments and attributes;
    files are looked for in ``fashion-mnist/`` folders, Debian's package
    ``dataset-fashion-mnist`` included.

    The small sample shipped with fastnn is ``FashionMNIST(root=FASHION_MNIST_SAMPLE)``, or
    :func:`fashion_mnist_sample`.

    Example:
        >>> train = FashionMNIST(train=True)
        >>> len(train), train.data.shape, train.classes[int(train.targets[0])]
        (60000, (60000, 28, 28), 'Ankle boot')
    """

    name = "fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


def fashion_mnist_sample(train=True, transform=None, target_transform=None):
    """The Fashion-MNIST sample shipped inside fastnn: the first 3000 training and the first
    1000 test images of Fashion-MNIST, so that demos and tests run without the full dataset.

    Fashion-MNIST is Copyright (c) 2017 Zalando SE, MIT License; the license text is in
    ``FASHION_MNIST_SAMPLE / "LICENSE"``.

    Args:
        train: the 3000 training images (True) or the 1000 test images.
        transform, target_transform: as for :class:`FashionMNIST`.

    Returns:
        FashionMNIST: reading the sample's files.

    Example:
        >>> sample = fashion_mnist_sample(train=False)
        >>> len(sample), sample.data.shape
        (1000, (1000, 28, 28))
    """
    return FashionMNIST(root=FASHION_MNIST_SAMPLE, train=train, transform=transform,
                        target_transform=target_transform)
