"""The worker threads behind ``DataLoader(num_workers > 0)``.

The calling thread walks the (batch) sampler and hands batch ``k`` to the workers in turn
(worker ``k % W`` for a map-style dataset); each worker fetches and collates, and posts
``(k, batch)``; the calling thread returns batches in order of ``k``, keeping
``W * prefetch_factor`` requests in flight. For an iterable dataset each worker draws from
its own ``iter(dataset)``, made in the worker at the start of each epoch; a worker whose
stream has ended answers with an end marker, is given no more requests, and its unanswered
keys are skipped. A worker's exception is
caught with its traceback text and raised again in the calling thread when that batch is due.
Workers never hold a reference to the iterator, so an iterator dropped early is collected and
its ``__del__`` stops the threads.
"""

import itertools
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass

from .sampler import _pass_generator

__all__ = ["WorkerInfo", "get_worker_info"]

_local = threading.local()
_POLL_S = 0.5  # how often a waiting caller checks that the workers are still alive


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker thread.

    Attributes:
        id: the worker's index, ``0 <= id < num_workers``.
        num_workers: the number of workers of the loader.
        seed: a per-worker seed (the same base for every worker, plus ``id``), drawn anew for
            each iterator; fastnn's global generator is shared by all threads, so a dataset
            that needs per-worker randomness seeds its own ``numpy.random.Generator`` from it.
        dataset: the dataset being loaded.
    """

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info():
    """The :class:`WorkerInfo` of the DataLoader worker thread calling it, or None in any
    other thread."""
    return getattr(_local, "info", None)


def base_seed(loader):
    """A seed drawn for each epoch from the loader's generator (fastnn's global one when it
    has none), the same way whether or not workers are used."""
    return int(_pass_generator(loader.generator).integers(0, 2 ** 62))


def fetch_stream(stream, auto_collation, collate_fn, batch_size, drop_last):
    """The next batch from an iterable dataset's iterator: up to `batch_size` samples through
    `collate_fn` (one sample without automatic batching). StopIteration when the stream has
    no more samples, or only a short batch that `drop_last` drops."""
    if not auto_collation:
        return collate_fn(next(stream))
    data = list(itertools.islice(stream, batch_size))
    if not data or (drop_last and len(data) < batch_size):
        raise StopIteration
    return collate_fn(data)


def fetch(dataset, auto_collation, collate_fn, index):
    """One batch: the samples at `index` (a list of indices, or one index without automatic
    batching) through `collate_fn`; a dataset's ``__getitems__`` serves whole batches."""
    if auto_collation:
        getitems = getattr(dataset, "__getitems__", None)
        data = getitems(index) if getitems is not None else [dataset[i] for i in index]
    else:
        data = dataset[index]
    return collate_fn(data)


class _Failure:
    """An exception caught in a worker, kept with its formatted traceback."""

    def __init__(self, worker_id, exc_info):
        self.exc_type = exc_info[0]
        self.text = (f"Caught {self.exc_type.__name__} in DataLoader worker thread {worker_id}.\nOriginal "
                     + "".join(traceback.format_exception(*exc_info)))

    def reraise(self):
        text = self.text
        if self.exc_type is KeyError:  # KeyError repr()s its message: keep the newlines readable
            text = _KeyErrorMessage(text)
        try:
            error = self.exc_type(text)
        except Exception:  # an exception type that needs other arguments
            raise RuntimeError(text) from None
        raise error


class _KeyErrorMessage(str):
    def __repr__(self):
        return str(self)


class _StreamEnd:
    """A worker's answer once its iterable dataset's stream has ended."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


_SKIP = object()  # a key whose request met the end of a worker's stream


def _worker_loop(worker_id, num_workers, seed, loader, tasks, results, done):
    """Body of a worker thread: fetch each (epoch, key, index) from `tasks` until None arrives."""
    dataset, auto_collation, collate_fn = loader.dataset, loader._auto_collation, loader.collate_fn
    _local.info = WorkerInfo(worker_id, num_workers, seed, dataset)
    init_failure = None
    if loader.worker_init_fn is not None:
        try:
            loader.worker_init_fn(worker_id)
        except BaseException:  # noqa: B036  (reported to the caller with the batch it was due to load)
            init_failure = _Failure(worker_id, sys.exc_info())
    stream, stream_epoch = None, None  # this worker's iterator over an iterable dataset
    while True:
        task = tasks.get()
        if task is None:
            break
        epoch, key, index = task
        if done.is_set():
            continue
        if init_failure is not None:
            results.put((epoch, key, init_failure))
            continue
        try:
            if loader._iterable:
                if stream_epoch != epoch:
                    stream, stream_epoch = iter(dataset), epoch
                try:
                    data = fetch_stream(stream, auto_collation, collate_fn, loader.batch_size, loader.drop_last)
                except StopIteration:
                    data = _StreamEnd(worker_id)
            else:
                data = fetch(dataset, auto_collation, collate_fn, index)
        except BaseException:  # noqa: B036  (even SystemExit: the caller must not wait for ever)
            data = _Failure(worker_id, sys.exc_info())
        results.put((epoch, key, data))
        del data


class ThreadedIterator:
    """Iterator over a DataLoader's batches, loaded by ``loader.num_workers`` threads."""

    def __init__(self, loader):
        self._loader = loader
        self._workers_count = loader.num_workers
        self._in_flight_max = max(1, loader.num_workers * loader.prefetch_factor)
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._tasks = [queue.Queue() for _ in range(self._workers_count)]
        self._results = queue.Queue()
        self._done = threading.Event()
        seed = base_seed(loader)
        self._threads = []
        for w in range(self._workers_count):
            thread = threading.Thread(
                target=_worker_loop, name=f"fastnn-DataLoader-worker-{w}", daemon=True,
                args=(w, self._workers_count, seed + w, loader, self._tasks[w], self._results, self._done))
            thread.start()
            self._threads.append(thread)
        self._shut = False
        self._epoch = -1
        self._start_epoch(draw_seed=False)

    def _start_epoch(self, draw_seed=True):
        if draw_seed:  # as the single-thread iterator does, so both see the same random stream
            base_seed(self._loader)
        self._epoch += 1
        self._indices = iter(self._loader._index_sampler)
        self._exhausted = False
        self._sent = 0      # batches handed to workers this epoch
        self._returned = 0  # next key to return (in order) / count returned
        self._ready = {}    # key -> batch (or _SKIP), arrived ahead of its turn
        self._active = [True] * self._workers_count  # workers whose stream has not ended
        self._next_worker = 0
        for _ in range(self._in_flight_max):
            self._send()

    def _send(self):
        """Hand the next request to the next worker in turn that is still active."""
        if self._exhausted:
            return
        for _ in range(self._workers_count):
            worker = self._next_worker
            self._next_worker = (worker + 1) % self._workers_count
            if self._active[worker]:
                break
        else:
            self._exhausted = True
            return
        try:
            index = next(self._indices)
        except StopIteration:
            self._exhausted = True
            return
        self._tasks[worker].put((self._epoch, self._sent, index))
        self._sent += 1

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _receive(self):
        """The next (epoch, key, data) posted by a worker, honouring the timeout."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _POLL_S if deadline is None else min(_POLL_S, max(deadline - time.monotonic(), 0))
            try:
                return self._results.get(timeout=wait)
            except queue.Empty:
                pass
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            dead = [t.name for t in self._threads if not t.is_alive()]
            if dead and self._results.empty():
                self._shutdown(join=False)
                raise RuntimeError(f"DataLoader worker thread(s) {', '.join(dead)} exited unexpectedly")

    def __next__(self):
        if self._shut:
            raise StopIteration
        while True:
            key = self._returned if self._in_order else min(self._ready, default=None)
            if key in self._ready:
                data = self._ready.pop(key)
                self._returned += 1
                self._send()
                if data is _SKIP:
                    continue
                break
            if self._returned >= self._sent and self._exhausted:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            epoch, key, data = self._receive()
            if epoch != self._epoch:
                continue  # left over from an epoch that was abandoned (persistent workers)
            if isinstance(data, _StreamEnd):
                self._active[data.worker_id] = False
                data = _SKIP
            self._ready[key] = data
        if isinstance(data, _Failure):
            data.reraise()
        return data

    def reset(self):
        """Start a new epoch on the same threads (persistent workers)."""
        self._start_epoch()

    def _shutdown(self, join=True):
        """Tell the workers to stop; wait for them unless `join` is False (a worker may be in
        the middle of a slow fetch: it exits when that returns)."""
        if self._shut:
            return
        self._shut = True
        self._done.set()
        for tasks in self._tasks:
            tasks.put(None)
        current = threading.current_thread()
        for thread in self._threads if join else ():
            if thread is not current:
                thread.join(timeout=_POLL_S)

    def __del__(self):
        try:
            self._shutdown(join=False)
        except Exception:  # interpreter shutdown: queues or threading may already be gone
            pass
