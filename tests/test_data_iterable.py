"""fastnn.utils.data with iterable (stream-style) datasets: IterableDataset and ChainDataset,
and the DataLoader over them, in the calling thread and with worker threads, following
PyTorch's semantics (batches in stream order, each worker its own stream taken in turn,
sharding through get_worker_info, the argument checks)."""

import numpy as np
import pytest

from fastnn.utils.data import (ChainDataset, ConcatDataset, DataLoader, IterableDataset, TensorDataset,
                               get_worker_info)


class _Stream(IterableDataset):
    """Integers [start, stop); with `shard`, each worker takes every num_workers-th one
    starting at its id. `fail_at` raises inside the stream; `sized` adds __len__."""

    def __init__(self, start, stop, shard=False, fail_at=None):
        self.start, self.stop, self.shard, self.fail_at = start, stop, shard, fail_at

    def __iter__(self):
        info = get_worker_info()
        first, step = self.start, 1
        if self.shard and info is not None:
            first, step = self.start + info.id, info.num_workers
        for i in range(first, self.stop, step):
            if i == self.fail_at:
                raise ValueError(f"bad sample {i}")
            yield np.float32(i)


class _SizedStream(_Stream):
    def __len__(self):
        return self.stop - self.start


def _lists(loader):
    return [b.numpy().astype(int).tolist() for b in loader]


@pytest.mark.parametrize("num_workers", [0, 1])
def test_batches_follow_the_stream(num_workers):
    assert _lists(DataLoader(_Stream(0, 7), batch_size=3, num_workers=num_workers)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _lists(DataLoader(_Stream(0, 7), batch_size=3, drop_last=True, num_workers=num_workers)) == [[0, 1, 2],
                                                                                                      [3, 4, 5]]
    assert _lists(DataLoader(_Stream(0, 6), batch_size=3, drop_last=True, num_workers=num_workers)) == [[0, 1, 2],
                                                                                                      [3, 4, 5]]
    assert _lists(DataLoader(_Stream(0, 0), batch_size=3, num_workers=num_workers)) == []
    # without automatic batching each item is one sample, converted but not stacked
    items = list(DataLoader(_Stream(2, 5), batch_size=None, num_workers=num_workers))
    assert [int(x.item()) for x in items] == [2, 3, 4] and all(x.shape == () for x in items)


def test_every_epoch_restarts_the_stream():
    loader = DataLoader(_Stream(0, 5), batch_size=2)
    assert _lists(loader) == _lists(loader) == [[0, 1], [2, 3], [4]]


def test_len_comes_from_the_dataset():
    assert len(DataLoader(_SizedStream(0, 7), batch_size=3)) == 3
    assert len(DataLoader(_SizedStream(0, 7), batch_size=3, drop_last=True)) == 2
    assert len(DataLoader(_SizedStream(0, 7), batch_size=None)) == 7
    with pytest.raises(TypeError):
        len(DataLoader(_Stream(0, 7), batch_size=3))


def test_unsharded_workers_each_give_the_whole_stream_in_turn():
    # as in PyTorch: every worker iterates its own copy, and batches come from the workers in turn
    got = _lists(DataLoader(_Stream(0, 5), batch_size=2, num_workers=2))
    assert got == [[0, 1], [0, 1], [2, 3], [2, 3], [4], [4]]


@pytest.mark.parametrize("num_workers", [2, 3])
@pytest.mark.parametrize("persistent", [False, True])
def test_sharded_workers_give_each_sample_once(num_workers, persistent):
    loader = DataLoader(_Stream(0, 10, shard=True), batch_size=2, num_workers=num_workers,
                        persistent_workers=persistent)
    for _ in range(2):  # a second epoch restarts every worker's stream
        got = _lists(loader)
        assert sorted(sum(got, [])) == list(range(10))
        # batch k comes from worker k % W while every worker still has samples
        expected, streams = [], [list(range(w, 10, num_workers)) for w in range(num_workers)]
        while any(streams):
            for w in range(num_workers):
                if streams[w]:
                    expected.append(streams[w][:2])
                    streams[w] = streams[w][2:]
        assert got == expected


def test_workers_whose_streams_end_early_are_skipped():
    class Uneven(IterableDataset):
        def __iter__(self):
            n = 1 if get_worker_info().id == 0 else 7
            return iter(np.arange(n, dtype=np.float32) + 100 * get_worker_info().id)

    got = _lists(DataLoader(Uneven(), batch_size=2, num_workers=2, prefetch_factor=3))
    assert got == [[0], [100, 101], [102, 103], [104, 105], [106]]


def test_out_of_order_delivery_keeps_every_batch():
    got = _lists(DataLoader(_Stream(0, 20, shard=True), batch_size=3, num_workers=2, in_order=False))
    assert sorted(sum(got, [])) == list(range(20))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_an_error_in_the_stream_reaches_the_caller(num_workers):
    loader = DataLoader(_Stream(0, 10, fail_at=4), batch_size=2, num_workers=num_workers)
    with pytest.raises(ValueError, match="bad sample 4"):
        _lists(loader)


def test_argument_checks_follow_pytorch():
    ds = _Stream(0, 4)
    with pytest.raises(ValueError, match="expected unspecified shuffle option, but got shuffle=True"):
        DataLoader(ds, shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(ds, sampler=range(4))
    with pytest.raises(ValueError, match="expected unspecified batch_sampler option"):
        DataLoader(ds, batch_sampler=[[0, 1]])
    assert _lists(DataLoader(ds, shuffle=False, batch_size=4)) == [[0, 1, 2, 3]]


def test_chain_dataset_and_add():
    chained = _SizedStream(0, 2) + _SizedStream(5, 8)
    assert isinstance(chained, ChainDataset)
    assert [int(x) for x in chained] == [0, 1, 5, 6, 7] and len(chained) == 5
    assert _lists(DataLoader(ChainDataset([_Stream(0, 3), _Stream(10, 12)]), batch_size=2)) == [[0, 1], [2, 10],
                                                                                               [11]]
    with pytest.raises(TypeError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([_Stream(0, 2), TensorDataset(np.zeros(3))]))
    with pytest.raises(TypeError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([TensorDataset(np.zeros(3)), _Stream(0, 2)])


def test_iterable_dataset_without_iter_is_refused():
    class Empty(IterableDataset):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement __iter__"):
        list(DataLoader(Empty(), batch_size=2))
