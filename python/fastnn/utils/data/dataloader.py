"""DataLoader in PyTorch's API: batches from a map-style dataset through a sampler, a batch
sampler and a collate function (or from an iterable dataset's stream), in the main thread or
prefetched by worker threads.

Workers are threads, not processes: fastnn's kernels and NumPy's copies release the GIL, and
threads need no pickling of the dataset. With ``num_workers > 0`` batches come out in the
sampler's order and equal to those of ``num_workers=0`` (see :mod:`._worker`).
"""

import math

import numpy as np

from ._worker import ThreadedIterator, base_seed, fetch, fetch_stream
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader"]

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """The sampler of an iterable dataset: None for ever (the stream decides when to stop)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``; an optional batched
            ``__getitems__`` is used when present), or an :class:`IterableDataset`, whose
            samples are batched in the order its iterator yields them.
        batch_size: samples per batch; None turns automatic batching off (each item is one
            sample, passed through ``collate_fn``, by default :func:`default_convert`).
            Default: 1.
        shuffle: reshuffle the data at every epoch (a :class:`RandomSampler`).
            Default: False.
        sampler: an iterable of indices; excludes ``shuffle``.
        batch_sampler: an iterable of index lists; excludes ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``.
        num_workers: worker threads that prefetch batches; 0 loads in the calling thread.
            Default: 0.
        collate_fn: turns a list of samples into a batch. Default: :func:`default_collate`
            (:func:`default_convert` when ``batch_size`` is None).
        pin_memory: accepted for compatibility; fastnn has no page-locked host memory, so it
            changes nothing. Default: False.
        drop_last: drop the last, smaller batch. Default: False.
        timeout: seconds to wait for a batch from the workers (0: no limit); exceeding it
            raises RuntimeError. Default: 0.
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker thread
            before it loads anything.
        multiprocessing_context: must be None: workers are threads.
        generator: a ``numpy.random.Generator`` for the RandomSampler made by
            ``shuffle=True``; None draws from fastnn's global generator
            (:func:`fastnn.manual_seed`).
        prefetch_factor: batches loaded ahead per worker (only with workers). Default: 2
            when ``num_workers > 0``.
        persistent_workers: keep the worker threads alive between epochs. Default: False.
        pin_memory_device: accepted for compatibility (see ``pin_memory``).
        in_order: with workers, return batches in sampler order (True) or as soon as each
            is ready (False). Default: True.

    Shape:
        With :func:`default_collate` over samples ``(x, y)`` with ``x`` of shape ``(*)``: each
        batch is ``[X, Y]`` with ``X`` of shape ``(B, *)``, ``B = batch_size`` (the last batch
        may be smaller unless ``drop_last``).

    Example:
        >>> x = np.random.rand(1000, 784).astype(np.float32)
        >>> y = np.random.randint(0, 10, 1000)
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True,
        ...                     generator=np.random.default_rng(0))
        >>> len(loader)
        8
        >>> for xb, yb in loader:
        ...     pass
        >>> xb.shape, yb.dtype
        ((104, 784), dtype('int64'))
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)):
            raise TypeError(f"num_workers must be an int, got {type(num_workers).__name__}")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            raise ValueError("[DataLoader] multiprocessing_context must be None: fastnn's DataLoader loads "
                             f"with worker threads, got {multiprocessing_context!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"[DataLoader] generator must be a numpy.random.Generator or None, got "
                            f"{type(generator).__name__}")
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
            sampler = _InfiniteConstantSampler()
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self._iterable = iterable
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if batch_sampler is not None else default_convert)
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._iterator = None
        self._initialized = True

    def __setattr__(self, name, value):
        if name in _FROZEN and getattr(self, "_initialized", False):
            raise ValueError(f"{name} attribute should not be set after DataLoader is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if self._iterable:  # the dataset's own length, if it has one (TypeError otherwise)
            length = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleThreadIterator(self)
        if not self.persistent_workers:
            return ThreadedIterator(self)
        if self._iterator is None:
            self._iterator = ThreadedIterator(self)
        else:
            self._iterator.reset()
        return self._iterator


class _SingleThreadIterator:
    """Batches loaded on demand in the calling thread."""

    def __init__(self, loader):
        self._loader = loader
        self._dataset = loader.dataset
        self._auto = loader._auto_collation
        self._collate = loader.collate_fn
        base_seed(loader)
        self._indices = iter(loader._index_sampler)
        self._stream = iter(self._dataset) if loader._iterable else None

    def __iter__(self):
        return self

    def __next__(self):
        if self._stream is not None:
            return fetch_stream(self._stream, self._auto, self._collate, self._loader.batch_size,
                                self._loader.drop_last)
        return fetch(self._dataset, self._auto, self._collate, next(self._indices))

    def __len__(self):
        return len(self._loader)
