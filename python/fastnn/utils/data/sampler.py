"""Samplers in PyTorch's API: iterables of dataset indices (``SequentialSampler``,
``RandomSampler``, ``SubsetRandomSampler``) and of index batches (``BatchSampler``).

Randomness: ``generator`` is a ``numpy.random.Generator`` (e.g. ``np.random.default_rng(0)``),
consumed anew by each pass, so every epoch reshuffles and a freshly seeded generator replays
the same sequence of epochs. ``generator=None`` seeds a private generator at the start of each
pass from fastnn's global generator, which :func:`fastnn.manual_seed` reseeds.
"""

import numpy as np

from ...tensor import generator as _global_generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler"]


def _check_generator(generator, owner):
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"[{owner}] generator must be a numpy.random.Generator or None, got "
                        f"{type(generator).__name__}")
    return generator


def _pass_generator(generator):
    """The generator for one pass: the given one, or a fresh one seeded from fastnn's global
    generator (looked up now: manual_seed replaces it)."""
    if generator is not None:
        return generator
    return np.random.default_rng(int(_global_generator().integers(0, 2 ** 63 - 1)))


def _permutation(n, generator):
    return _pass_generator(_check_generator(generator, "random_split")).permutation(n)


class Sampler:
    """Base class: an iterable over indices of a dataset (or over lists of them); subclasses
    define ``__iter__`` and, usually, ``__len__``.

    Example:
        >>> class EvensFirst(Sampler):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         return iter(list(range(0, self.n, 2)) + list(range(1, self.n, 2)))
        ...     def __len__(self):
        ...         return self.n
    """

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order.

    Args:
        data_source: the dataset (only its length is used).

    Example:
        >>> list(SequentialSampler(range(4)))
        [0, 1, 2, 3]
    """

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def _index_array(self):
        return np.arange(len(self.data_source))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in random order: a fresh permutation each pass, or, with ``replacement``,
    ``num_samples`` independent uniform draws.

    Without replacement and ``num_samples > len(data_source)``, whole permutations are
    concatenated and the last one cut short, as PyTorch does.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw with replacement. Default: False.
        num_samples: indices per pass. Default: ``len(data_source)``.
        generator: a ``numpy.random.Generator``; None uses fastnn's global generator (see
            the module docstring).

    Example:
        >>> sorted(RandomSampler(range(5), generator=np.random.default_rng(0)))
        [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _check_generator(generator, "RandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if isinstance(self.num_samples, bool) or not isinstance(self.num_samples, (int, np.integer)) \
                or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        return iter(self._index_array().tolist())

    def _index_array(self):
        """This pass's indices as one int64 array (BatchSampler slices it directly)."""
        n = len(self.data_source)
        rng = _pass_generator(self.generator)
        if self.replacement:
            return rng.integers(0, n, self.num_samples)
        full, rest = divmod(self.num_samples, n)
        parts = [rng.permutation(n) for _ in range(full)]
        if rest:
            parts.append(rng.permutation(n)[:rest])
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order, reshuffled each pass.

    Args:
        indices: a sequence of indices.
        generator: a ``numpy.random.Generator``, or None (fastnn's global generator).

    Example:
        >>> sorted(SubsetRandomSampler([3, 5, 7]))
        [3, 5, 7]
    """

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = _check_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        order = _pass_generator(self.generator).permutation(len(self.indices))
        return (self.indices[i] for i in order.tolist())

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``.

    Args:
        sampler: an iterable of indices (a Sampler, a range, a list...).
        batch_size: indices per batch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
        [[0, 1, 2], [3, 4, 5], [6]]
        >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=True))
        [[0, 1, 2], [3, 4, 5]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self):
        if type(self.sampler) in (RandomSampler, SequentialSampler):
            # fastnn's own samplers hand over the whole pass at once: batches are slices of
            # it (lists of Python ints, as element by element), far cheaper per batch.
            indices = self.sampler._index_array()
            stop = len(indices) - len(indices) % self.batch_size if self.drop_last else len(indices)
            for start in range(0, stop, self.batch_size):
                yield indices[start:start + self.batch_size].tolist()
            return
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)
