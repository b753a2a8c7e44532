"""End to end: a PyTorch-style training loop on real data (Fashion-MNIST, from Debian's
`dataset-fashion-mnist` package, which .ci/run installs) reaches the accuracy PyTorch does.

The IDX files are read here directly (a 16- or 8-byte big-endian header, then uint8 data).
"""

import gzip
from pathlib import Path

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn

DATA = Path("/usr/share/datasets/fashion-mnist")
# The training set's pixel mean and standard deviation (after scaling to [0, 1]).
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="module")
def fashion_mnist():
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
    if not all((DATA / n).exists() for n in names):
        pytest.skip(f"Fashion-MNIST is not installed in {DATA} (Debian package dataset-fashion-mnist)")
    xtr, ytr, xte, yte = (read_idx(DATA / n) for n in names)
    scale = lambda x: ((x.reshape(len(x), -1).astype(np.float32) / 255 - MEAN) / STD)  # noqa: E731
    return scale(xtr), ytr.astype(np.int64), scale(xte), yte.astype(np.int64)


def test_data_shapes(fashion_mnist):
    xtr, ytr, xte, yte = fashion_mnist
    assert xtr.shape == (60000, 784) and xte.shape == (10000, 784)
    assert set(np.unique(ytr)) == set(range(10)) and np.bincount(yte).tolist() == [1000] * 10


def test_mlp_one_epoch_reaches_84_percent(fashion_mnist):
    """784-256-128-10 MLP, Adam(lr=1e-3), batch 128, one epoch, written as a PyTorch loop."""
    xtr, ytr, xte, yte = fashion_mnist
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = fastnn.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = np.random.default_rng(0).permutation(len(xtr))
    model.train()
    first = None
    for start in range(0, len(xtr), 128):
        batch = order[start:start + 128]
        optimizer.zero_grad()
        loss = loss_fn(model(fastnn.from_numpy(xtr[batch])), fastnn.from_numpy(ytr[batch]))
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
    assert loss.item() < first / 3
    model.eval()
    with fastnn.no_grad():
        predicted = model(fastnn.from_numpy(xte)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == yte))
    assert accuracy >= 0.84, f"test accuracy {accuracy:.4f} after one epoch"
