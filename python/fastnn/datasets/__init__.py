"""fastnn.datasets: MNIST and Fashion-MNIST in torchvision's style, an IDX file reader, a
downloader, and a small Fashion-MNIST sample shipped with the package.

* :func:`read_idx` / :func:`write_idx`: the IDX format (gzip or plain), with checks.
* :class:`FashionMNIST`, :class:`MNIST`: ``(image, target)`` datasets; with ``root=None``
  the files are looked for in ``$FASTNN_DATA``, the user's data folder and Debian's
  ``/usr/share/datasets`` (see :func:`data_dirs`).
* :func:`download`: fetch the files from their public mirrors (checksums verified).
* :func:`fashion_mnist_sample` (folder :data:`FASHION_MNIST_SAMPLE`): the first 3000
  training and 1000 test images of Fashion-MNIST, inside the package, so demos run without
  the full dataset.

Fashion-MNIST is Copyright (c) 2017 Zalando SE and distributed under the MIT License; the
license text ships next to the sample (``FASHION_MNIST_SAMPLE / "LICENSE"``).
"""

from ._download import download
from ._idx import read_idx, write_idx
from .mnist import FASHION_MNIST_SAMPLE, MNIST, FashionMNIST, data_dirs, fashion_mnist_sample, find_files

__all__ = ["FASHION_MNIST_SAMPLE", "MNIST", "FashionMNIST", "data_dirs", "download", "fashion_mnist_sample",
           "find_files", "read_idx", "write_idx"]
