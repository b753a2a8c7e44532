"""End to end: a PyTorch-style training loop on real data (Fashion-MNIST, from Debian's
`dataset-fashion-mnist` package, which .ci/run installs) reaches the accuracy PyTorch does.

The data is read by fastnn.datasets and standardised with the training benchmark's constants,
so the test and the benchmark train on exactly the same inputs.
"""

import numpy as np
import pytest

import fastnn
import fastnn.bench.training as bench_training
import fastnn.nn as nn
from fastnn.datasets import FashionMNIST


@pytest.fixture(scope="module")
def fashion_mnist():
    try:
        train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    except FileNotFoundError as exc:
        pytest.skip(f"Fashion-MNIST is not installed: {exc}")

    def scale(images):
        x = images.numpy().reshape(len(images), -1).astype(np.float32) / np.float32(255)
        return (x - np.float32(bench_training.MEAN)) / np.float32(bench_training.STD)

    return scale(train.data), train.targets.numpy(), scale(test.data), test.targets.numpy()


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
