"""``download``: fetch the MNIST or Fashion-MNIST IDX files from their public mirrors into a
data folder, verifying each file's MD5 checksum (the ones the datasets publish) before
moving it into place, so a folder never holds a partial or corrupt file.
"""

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from ._idx import read_idx
from .mnist import FILES, user_data_dir

__all__ = ["download"]

# (base URLs tried in order, {file name: MD5 of the .gz file as published})
_SOURCES = {
    "fashion-mnist": (
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
    "mnist": (
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
}
_CHUNK = 1 << 20


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url, dest, md5, timeout):
    """Download url to dest atomically: into a temporary file beside it, checked, renamed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
        got = _md5(tmp)
        if got != md5:
            raise ValueError(f"[download] {url}: MD5 checksum {got} does not match the published {md5}")
        read_idx(tmp)  # a file that passes the checksum but does not parse is still refused
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download(name, root=None, timeout=60):
    """Download a dataset's four IDX files (gzip) into ``root/name``, unless already there.

    Each file is fetched from the dataset's public mirrors in turn, its MD5 checksum
    compared with the published one and its IDX header checked, then renamed into place;
    a file already present with the right checksum is kept.

    Args:
        name: ``"fashion-mnist"`` or ``"mnist"``.
        root: the data folder; None: the user's data folder (``$XDG_DATA_HOME/fastnn``, else
            ``~/.local/share/fastnn``), which the datasets search by default.
        timeout: seconds to wait on the network for each request.

    Returns:
        pathlib.Path: the folder holding the files.

    Raises:
        ValueError: an unknown name.
        OSError: no mirror delivered a file with the right checksum (the last error chained).

    Example:
        >>> folder = download("fashion-mnist")   # needs internet
        >>> FashionMNIST(train=False).images_path.parent == folder
        True
    """
    if name not in _SOURCES:
        raise ValueError(f"[download] unknown dataset {name!r}; known: {', '.join(sorted(_SOURCES))}")
    mirrors, checksums = _SOURCES[name]
    folder = Path(root if root is not None else user_data_dir()) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in (f"{n}.gz" for split in FILES.values() for n in split):
        dest, md5 = folder / file_name, checksums[file_name]
        if dest.is_file() and _md5(dest) == md5:
            continue
        errors = []
        for base in mirrors:
            try:
                _fetch(base + file_name, dest, md5, timeout)
                break
            except (OSError, ValueError) as exc:
                errors.append(f"{base + file_name}: {exc}")
        else:
            raise OSError(f"[download] could not get {file_name} for {name}: " + "; ".join(errors))
    return folder
