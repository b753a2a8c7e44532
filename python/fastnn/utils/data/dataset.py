"""Datasets in PyTorch's API: map-style ``Dataset`` (``__getitem__`` + ``__len__``),
``TensorDataset`` (rows of equal-length tensors or NumPy arrays, with a batched
``__getitems__``), ``Subset``, ``ConcatDataset`` and ``random_split``; stream-style
``IterableDataset`` (``__iter__``) and ``ChainDataset``.
"""

import bisect
import math
import warnings

import numpy as np

from ... import _C
from ...tensor import Tensor
from .collate import StackedSamples
from .sampler import _permutation

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset", "random_split"]


class Dataset:
    """An indexable collection of samples: subclasses define ``__getitem__(index)`` and,
    for samplers and :class:`~fastnn.utils.data.DataLoader`, ``__len__``.

    A subclass may also define ``__getitems__(indices)``, returning the samples of a whole
    batch at once (a list, or a :class:`~fastnn.utils.data.StackedSamples`); the DataLoader
    then calls it once per batch instead of ``__getitem__`` per sample.

    ``dataset_a + dataset_b`` is a :class:`ConcatDataset`.

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 10
        ...     def __getitem__(self, i):
        ...         return float(i), float(i * i)
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__`` (and ``__len__`` if they know
    their length). A :class:`~fastnn.utils.data.DataLoader` over one takes samples in the
    order the stream gives them, so it accepts no ``shuffle``, ``sampler`` or
    ``batch_sampler``.

    With ``num_workers > 0`` every worker iterates its own ``iter(dataset)``, made inside the
    worker, and batches come from the workers in turn; a dataset that should not be
    repeated by each worker splits itself with :func:`~fastnn.utils.data.get_worker_info`.

    ``dataset_a + dataset_b`` is a :class:`ChainDataset`.

    Example:
        >>> class Evens(IterableDataset):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         info = get_worker_info()
        ...         start, step = (0, 1) if info is None else (info.id, info.num_workers)
        ...         return iter(range(2 * start, 2 * self.n, 2 * step))
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several iterable datasets one after another.

    Args:
        datasets: iterable datasets, chained lazily when iterated.

    Example:
        >>> list(ChainDataset([Evens(2), Evens(3)]))
        [0, 2, 0, 2, 4]
    """

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            total += len(d)
        return total


def _as_array(t, i):
    if isinstance(t, Tensor):
        return t.data
    if isinstance(t, np.ndarray):
        return t
    raise TypeError(f"[TensorDataset] argument {i} must be a fastnn Tensor or a NumPy array, got {type(t).__name__}")


def _gather(array, index):
    """array[index] along the first axis: by fastnn's row gather (prefetching the scattered
    rows of a shuffled batch, without holding the GIL) when the array is contiguous."""
    if index.ndim == 1 and array.ndim >= 1 and array.dtype != object and array.flags.c_contiguous \
            and array.flags.aligned:
        return _C.gather_rows(array, index)
    return array[index]


def _row_tensor(row):
    return Tensor(row if isinstance(row, np.ndarray) else np.asarray(row))


class TensorDataset(Dataset):
    """Samples are rows of the given tensors: ``dataset[i] == tuple(t[i] for t in tensors)``.

    NumPy arrays are wrapped as Tensors without a copy; every field of a sample is a Tensor
    (0-d for a 1-D input), as in PyTorch. ``__getitems__`` gathers a whole batch with one
    fancy index per tensor, so a DataLoader over it does not touch single rows.

    Args:
        *tensors: fastnn Tensors or NumPy arrays with the same size of the first dimension.

    Shape:
        tensors: ``(N, *)`` each; sample ``i``: ``(t[i] for t in tensors)``.

    Example:
        >>> x = np.random.rand(100, 784).astype(np.float32)
        >>> y = np.random.randint(0, 10, 100)
        >>> ds = TensorDataset(x, y)
        >>> len(ds), ds[0][0].shape, ds[0][1].dtype
        (100, (784,), dtype('int64'))
    """

    def __init__(self, *tensors):
        arrays = [_as_array(t, i) for i, t in enumerate(tensors)]
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"[TensorDataset] tensor {i} is 0-d; every tensor needs a first dimension")
        if arrays and any(a.shape[0] != arrays[0].shape[0] for a in arrays):
            raise ValueError("[TensorDataset] Size mismatch between tensors: first dimensions are "
                             f"{[a.shape[0] for a in arrays]}")
        self._arrays = tuple(arrays)
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(a) for t, a in zip(tensors, arrays))

    def __getitem__(self, index):
        return tuple(_row_tensor(a[index]) for a in self._arrays)

    def __getitems__(self, indices):
        index = np.asarray(indices, dtype=np.int64)
        return StackedSamples([_gather(a, index) for a in self._arrays], [_row_tensor] * len(self._arrays))

    def __len__(self):
        return self._arrays[0].shape[0] if self._arrays else 0


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: the whole dataset.
        indices: a sequence of indices into it.

    Example:
        >>> evens = Subset(TensorDataset(np.arange(10)), range(0, 10, 2))
        >>> len(evens), int(evens[1][0])
        (5, 2)
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices
        self._index_array = None

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is None:
            return [self.dataset[self.indices[i]] for i in indices]
        if self._index_array is None:
            self._index_array = np.asarray(self.indices, dtype=np.intp)
        return getitems(self._index_array[np.asarray(indices, dtype=np.intp)].tolist())

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after another.

    Args:
        datasets: a non-empty iterable of map-style datasets.

    Example:
        >>> len(ConcatDataset([TensorDataset(np.zeros(3)), TensorDataset(np.ones(2))]))
        5
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s of the given lengths.

    Lengths that sum to 1 are fractions: each subset gets ``floor(frac * len(dataset))``
    samples and the remainder is dealt out one by one, round-robin from the first.

    Args:
        dataset: the dataset to split.
        lengths: sizes (ints summing to ``len(dataset)``) or fractions (summing to 1).
        generator: a ``numpy.random.Generator`` for the permutation; None draws from
            fastnn's global generator (reseeded by :func:`fastnn.manual_seed`).

    Example:
        >>> train, val = random_split(TensorDataset(np.arange(10)), [0.8, 0.2],
        ...                           generator=np.random.default_rng(0))
        >>> len(train), len(val)
        (8, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
        lengths = sizes
    if any(not isinstance(length, (int, np.integer)) or length < 0 for length in lengths):
        raise ValueError(f"[random_split] lengths must be non-negative ints or fractions summing to 1, "
                         f"got {lengths}")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = _permutation(n, generator).tolist()
    subsets, offset = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, order[offset:offset + length]))
        offset += length
    return subsets
