"""fastnn.datasets: the IDX reader on well-formed and malformed files, the dataset search and
its error message, FashionMNIST on the real data when Debian's package is installed, the
sample shipped in the package, keras.datasets loaders, and download() against a local mirror
(file:// URLs; nothing is fetched from the network)."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.datasets import (FASHION_MNIST_SAMPLE, MNIST, FashionMNIST, download, fashion_mnist_sample, read_idx,
                             write_idx)
from fastnn.utils.data import DataLoader

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_bytes(array, code, dims=None):
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, code, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return header + array.tobytes()


# ---- read_idx ----

@pytest.mark.parametrize("dtype,code", [(">u1", 0x08), (">i1", 0x09), (">i2", 0x0B), (">i4", 0x0C), (">f4", 0x0D),
                                        (">f8", 0x0E)])
@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_every_dtype(tmp_path, rng, dtype, code, compressed):
    values = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    raw = _idx_bytes(values, code)
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    out = read_idx(path)
    assert out.shape == (3, 4, 5) and out.dtype == np.dtype(dtype).newbyteorder("=") and out.flags.writeable
    np.testing.assert_array_equal(out, values.astype(out.dtype))


def test_write_idx_round_trip(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", a)
    assert (tmp_path / "x.gz").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), a)
    with pytest.raises(ValueError, match=r"\[write_idx\].*int64"):
        write_idx(tmp_path / "y", np.arange(3))


@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_malformed(tmp_path, compressed):
    good = np.arange(12, dtype=np.uint8).reshape(3, 4)
    cases = {
        "magic": (b"\x01\x02" + _idx_bytes(good, 0x08)[2:], r"not an IDX file"),
        "dtype": (_idx_bytes(good, 0x07), r"unknown IDX dtype code 0x07"),
        "truncated": (_idx_bytes(good, 0x08)[:-5], r"truncated: .*need 12 bytes of data, the file holds 7"),
        "header": (_idx_bytes(good, 0x08)[:9], r"truncated header"),
        "extra": (_idx_bytes(good, 0x08) + b"\x00" * 3, r"size mismatch: .*3 bytes more"),
        "dims": (_idx_bytes(good, 0x08, dims=(3, 5)), r"truncated: dimensions \(3, 5\)"),
        "empty": (b"", r"not an IDX file"),
    }
    for name, (raw, message) in cases.items():
        path = tmp_path / f"{name}{'.gz' if compressed else ''}"
        path.write_bytes(gzip.compress(raw) if compressed else raw)
        with pytest.raises(ValueError, match=message) as info:
            read_idx(path)
        assert str(path) in str(info.value), name


def test_read_idx_damaged_gzip(tmp_path):
    raw = gzip.compress(_idx_bytes(np.zeros((50, 50), np.uint8), 0x08))
    path = tmp_path / "cut.gz"
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut.gz: (damaged gzip data|truncated)"):
        read_idx(path)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent.gz")


# ---- search and errors ----

def _fake_set(folder, n_train=6, n_test=4, label_max=9):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        labels = np.arange(n, dtype=np.uint8) % (label_max + 1)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)  # plain, not gzip: both are accepted


def test_search_order_and_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    _fake_set(tmp_path / "xdg" / "fastnn" / "mnist", n_train=5)
    assert len(MNIST()) == 5
    _fake_set(tmp_path / "env" / "mnist", n_train=7)
    assert len(MNIST()) == 7  # $FASTNN_DATA comes first
    _fake_set(tmp_path / "direct", n_test=3)
    assert len(MNIST(root=tmp_path / "direct", train=False)) == 3


def test_missing_files_error_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(root=tmp_path / "nothing")
    text = str(info.value)
    assert str(tmp_path / "nothing") in text and "apt install dataset-fashion-mnist" in text
    assert "download=True" in text and "fastnn.datasets.download('fashion-mnist')" in text
    with pytest.raises(FileNotFoundError) as info:
        MNIST()
    for folder in (tmp_path / "env" / "mnist", tmp_path / "xdg" / "fastnn" / "mnist"):
        assert str(folder) in str(info.value)


def test_labels_out_of_range_are_refused(tmp_path):
    _fake_set(tmp_path, n_train=12, label_max=10)
    with pytest.raises(ValueError, match="label 10 out of range"):
        MNIST(root=tmp_path)


# ---- the shipped sample ----

def test_sample_shapes_labels_and_license():
    train, test = fashion_mnist_sample(train=True), fashion_mnist_sample(train=False)
    assert train.data.shape == (3000, 28, 28) and test.data.shape == (1000, 28, 28)
    assert train.data.dtype == np.uint8 and train.targets.dtype == np.int64
    for ds in (train, test):
        labels = ds.targets.numpy()
        assert labels.min() == 0 and labels.max() == 9
        assert np.bincount(labels, minlength=10).min() >= len(ds) // 20  # every class well represented
    image, target = train[0]
    assert image.shape == (28, 28) and image.dtype == np.uint8 and isinstance(target, int)
    assert train.classes[target] in FashionMNIST.classes
    license_text = (FASHION_MNIST_SAMPLE / "LICENSE").read_text(encoding="utf-8")
    assert "Zalando SE" in license_text and "Permission is hereby granted, free of charge" in license_text
    assert Path(fastnn.__file__).parent in FASHION_MNIST_SAMPLE.parents  # inside the installed package


def test_sample_is_the_head_of_the_real_data():
    if not all((DEBIAN / f"{n}.gz").is_file() for n in NAMES):
        pytest.skip(f"Fashion-MNIST is not installed in {DEBIAN} (Debian package dataset-fashion-mnist)")
    for train, n in ((True, 3000), (False, 1000)):
        real, sample = FashionMNIST(root=DEBIAN, train=train), fashion_mnist_sample(train=train)
        np.testing.assert_array_equal(sample.data.numpy(), real.data.numpy()[:n])
        np.testing.assert_array_equal(sample.targets.numpy(), real.targets.numpy()[:n])


def test_dataloader_over_a_dataset_with_transforms():
    scale = lambda image: image.astype(np.float32) / 255  # noqa: E731
    ds = fashion_mnist_sample(train=False, transform=scale, target_transform=lambda t: t + 100)
    xb, yb = next(iter(DataLoader(ds, batch_size=16)))
    assert xb.shape == (16, 28, 28) and xb.dtype == np.float32 and float(xb.numpy().max()) <= 1.0
    np.testing.assert_array_equal(yb.numpy(), ds.targets.numpy()[:16] + 100)
    raw_x, raw_y = next(iter(DataLoader(fashion_mnist_sample(train=False), batch_size=16)))  # batched path
    assert raw_x.dtype == np.uint8 and raw_y.dtype == np.int64
    np.testing.assert_array_equal(raw_x.numpy(), ds.data.numpy()[:16])


# ---- the real data ----

@pytest.fixture(scope="module")
def real():
    if not all((DEBIAN / f"{n}.gz").is_file() for n in NAMES):
        pytest.skip(f"Fashion-MNIST is not installed in {DEBIAN} (Debian package dataset-fashion-mnist)")
    return FashionMNIST(root=DEBIAN, train=True), FashionMNIST(root=DEBIAN, train=False)


def test_real_fashion_mnist(real):
    train, test = real
    assert len(train) == 60000 and len(test) == 10000
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64
    assert np.bincount(train.targets.numpy()).tolist() == [6000] * 10
    assert np.bincount(test.targets.numpy()).tolist() == [1000] * 10
    assert train.class_to_idx["Ankle boot"] == 9


def test_keras_loader_matches_the_dataset(real, monkeypatch):
    from fastnn.keras.datasets import fashion_mnist

    monkeypatch.delenv("FASTNN_DATA", raising=False)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_train.shape == (60000, 28, 28) and y_test.shape == (10000,)
    np.testing.assert_array_equal(x_test, real[1].data.numpy())
    np.testing.assert_array_equal(y_train, real[0].targets.numpy())


def test_keras_mnist_loader_reads_idx_or_npz(tmp_path, monkeypatch):
    from fastnn.keras.datasets import mnist

    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    _fake_set(tmp_path / "mnist", n_train=6, n_test=4)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=str(tmp_path / "absent.npz"))
    assert x_train.shape == (6, 28, 28) and y_test.tolist() == [0, 1, 2, 3] and y_train.dtype == np.uint8
    np.savez(tmp_path / "m.npz", x_train=x_train[:2], y_train=y_train[:2], x_test=x_test, y_test=y_test)
    (a, b), _ = mnist.load_data(path=str(tmp_path / "m.npz"))
    assert a.shape == (2, 28, 28)


# ---- download, against a local mirror ----

def test_download_verifies_and_writes_atomically(tmp_path, monkeypatch):
    from fastnn.datasets import _download

    mirror = tmp_path / "mirror"
    _fake_set(mirror)
    for n in NAMES:  # the mirror serves gzip files only
        if not (mirror / f"{n}.gz").exists():
            write_idx(mirror / f"{n}.gz", read_idx(mirror / n))
    checksums = {f"{n}.gz": hashlib.md5((mirror / f"{n}.gz").read_bytes()).hexdigest() for n in NAMES}
    bad = dict(checksums, **{"t10k-images-idx3-ubyte.gz": "0" * 32})
    monkeypatch.setitem(_download._SOURCES, "mnist", ((mirror.as_uri() + "/",), bad))
    with pytest.raises(OSError, match="MD5 checksum"):
        download("mnist", root=tmp_path / "data")
    assert not (tmp_path / "data" / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "data" / "mnist").glob(".*part"))  # no partial file left behind
    monkeypatch.setitem(_download._SOURCES, "mnist", ((mirror.as_uri() + "/",), checksums))
    folder = download("mnist", root=tmp_path / "data")
    assert folder == tmp_path / "data" / "mnist"
    assert len(MNIST(root=tmp_path / "data", train=False)) == 4
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        download("cifar")
