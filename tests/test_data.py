"""fastnn.utils.data: datasets, samplers, default_collate's dtype rules, DataLoader (epochs,
drop_last, seeded shuffles, worker threads against the main thread, worker failures,
timeouts, PyTorch's argument checks), random_split and train_test_split."""

import collections
import gc
import threading
import time

import numpy as np
import pytest

import fastnn
from fastnn.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, SequentialSampler,
                               StackedSamples, Subset, SubsetRandomSampler, TensorDataset, default_collate,
                               default_convert, get_worker_info, random_split, train_test_split)


def _dataset(n=103, features=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    x[:, 0] = np.arange(n)  # column 0 names the sample
    return TensorDataset(x, np.arange(n) % 7)


def _ids(batches):
    return [b[0].numpy()[:, 0].astype(int).tolist() for b in batches]


class _Rows(Dataset):
    """A plain map-style dataset (no __getitems__): sample i is (row i, i)."""

    def __init__(self, n, fail_at=None, delay=0.0):
        self.x = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
        self.fail_at, self.delay = fail_at, delay

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        if i == self.fail_at:
            raise ValueError(f"sample {i} is broken")
        return self.x[i], int(i)


# ---- datasets ----

def test_tensor_dataset_items_and_batches():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = fastnn.tensor([0, 1, 2, 3, 4, 5])
    ds = TensorDataset(x, y)
    assert len(ds) == 6 and len(ds.tensors) == 2 and isinstance(ds.tensors[0], fastnn.Tensor)
    xi, yi = ds[4]
    assert isinstance(xi, fastnn.Tensor) and xi.numpy().tolist() == [8.0, 9.0] and xi.dtype == np.float32
    assert yi.shape == () and yi.item() == 4 and yi.dtype == np.int64
    batch = ds.__getitems__([5, 0, 3])
    assert isinstance(batch, StackedSamples) and len(batch) == 3
    assert [int(s[1].item()) for s in batch] == [5, 0, 3]  # reads as a list of samples
    xb, yb = default_collate(batch)
    np.testing.assert_array_equal(xb.numpy(), x[[5, 0, 3]])
    assert yb.numpy().tolist() == [5, 0, 3]


def test_tensor_dataset_rejects_bad_input():
    with pytest.raises(ValueError, match=r"Size mismatch.*\[3, 4\]"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match=r"\[TensorDataset\].*list"):
        TensorDataset([1, 2, 3])


def test_subset_concat_and_add():
    ds = _dataset(10)
    sub = Subset(ds, [7, 2, 9])
    assert len(sub) == 3 and int(sub[1][0].numpy()[0]) == 2
    assert _ids([default_collate(sub.__getitems__([2, 0]))]) == [[9, 7]]
    cat = ConcatDataset([_Rows(3), _Rows(4)])
    assert len(cat) == 7 and cat[3][1] == 0 and cat[6][1] == 3 and cat[-1][1] == 3
    assert len(_Rows(2) + _Rows(5)) == 7
    with pytest.raises(ValueError):
        ConcatDataset([])


# ---- samplers ----

def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    perm = list(RandomSampler(range(50), generator=np.random.default_rng(3)))
    assert sorted(perm) == list(range(50)) and perm != list(range(50))
    longer = list(RandomSampler(range(5), num_samples=12, generator=np.random.default_rng(0)))
    assert len(longer) == 12 and sorted(longer[:5]) == list(range(5)) and sorted(longer[5:10]) == list(range(5))
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=200, generator=np.random.default_rng(0)))
    assert len(drawn) == 200 and set(drawn) == {0, 1, 2}
    assert sorted(SubsetRandomSampler([4, 8, 15])) == [4, 8, 15]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, 1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        RandomSampler(range(3), generator=42)


# ---- default_collate / default_convert ----

def test_collate_dtype_rules():
    Point = collections.namedtuple("Point", "x y")
    batch = [{"f": 1.5, "i": 2, "b": True, "s": "a", "a32": np.ones(2, np.float32), "u8": np.uint8(3),
              "t": fastnn.tensor([1.0, 2.0]), "p": Point(1, 2.0), "l": [1, 2]},
             {"f": 2.5, "i": 3, "b": False, "s": "b", "a32": np.zeros(2, np.float32), "u8": np.uint8(4),
              "t": fastnn.tensor([3.0, 4.0]), "p": Point(3, 4.0), "l": [3, 4]}]
    out = default_collate(batch)
    assert isinstance(out, dict)
    assert out["f"].dtype == np.float64 and out["f"].numpy().tolist() == [1.5, 2.5]
    assert out["i"].dtype == np.int64 and out["i"].numpy().tolist() == [2, 3]
    assert out["b"].dtype == np.bool_ and out["b"].numpy().tolist() == [True, False]
    assert out["s"] == ["a", "b"]
    assert out["a32"].dtype == np.float32 and out["a32"].shape == (2, 2)
    assert out["u8"].dtype == np.uint8 and out["u8"].numpy().tolist() == [3, 4]
    assert out["t"].dtype == np.float32 and out["t"].numpy().tolist() == [[1, 2], [3, 4]]
    assert isinstance(out["p"], Point) and out["p"].x.dtype == np.int64 and out["p"].y.dtype == np.float64
    assert isinstance(out["l"], list) and [t.numpy().tolist() for t in out["l"]] == [[1, 3], [2, 4]]
    tuples = default_collate([(np.float64(1.0), 1), (np.float64(2.0), 2)])
    assert isinstance(tuples, list) and tuples[0].dtype == np.float64 and tuples[1].dtype == np.int64


def test_collate_errors_and_convert():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match=r"\(2,\) and \(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    converted = default_convert({"x": np.arange(3), "n": 5, "s": "k"})
    assert isinstance(converted["x"], fastnn.Tensor) and converted["x"].dtype == np.int64
    assert converted["n"] == 5 and converted["s"] == "k"


# ---- DataLoader ----

@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_each_sample_once_per_epoch(num_workers, drop_last):
    n, bs = 103, 10
    loader = DataLoader(_dataset(n), batch_size=bs, shuffle=True, drop_last=drop_last, num_workers=num_workers,
                        generator=np.random.default_rng(1))
    expected_batches = n // bs if drop_last else -(-n // bs)
    assert len(loader) == expected_batches
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == expected_batches
        ids = [i for b in _ids(batches) for i in b]
        assert all(len(b[0]) == bs for b in batches[:n // bs])
        if drop_last:
            assert len(ids) == n // bs * bs and len(set(ids)) == len(ids)
        else:
            assert sorted(ids) == list(range(n))
            assert len(batches[-1][0]) == n % bs


def test_batches_match_the_data():
    ds = _dataset(50)
    x, y = ds.tensors[0].numpy(), ds.tensors[1].numpy()
    for xb, yb in DataLoader(ds, batch_size=16, shuffle=True, generator=np.random.default_rng(0)):
        rows = xb.numpy()[:, 0].astype(int)
        np.testing.assert_array_equal(xb.numpy(), x[rows])
        np.testing.assert_array_equal(yb.numpy(), y[rows])
        assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_sequential_without_shuffle():
    batches = _ids(DataLoader(_dataset(25), batch_size=10))
    assert batches == [list(range(10)), list(range(10, 20)), list(range(20, 25))]


def test_seeded_shuffles_are_reproducible_and_change_per_epoch():
    def epochs(generator):
        loader = DataLoader(_dataset(64), batch_size=8, shuffle=True, generator=generator)
        return [_ids(loader) for _ in range(3)]

    first, again = epochs(np.random.default_rng(7)), epochs(np.random.default_rng(7))
    assert first == again
    assert first[0] != first[1] != first[2]
    assert epochs(np.random.default_rng(8)) != first


def test_global_seed_drives_shuffle_without_generator():
    def run():
        fastnn.manual_seed(123)
        loader = DataLoader(_dataset(40), batch_size=8, shuffle=True)
        return _ids(loader), _ids(loader)

    (a1, a2), (b1, b2) = run(), run()
    assert a1 == b1 and a2 == b2 and a1 != a2


@pytest.mark.parametrize("dataset", [_dataset(97), _Rows(97)], ids=["getitems", "getitem"])
@pytest.mark.parametrize("in_order", [True, False])
def test_workers_give_the_same_batches(dataset, in_order):
    def epochs(workers, **kw):
        loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=workers,
                            generator=np.random.default_rng(5), **kw)
        return [[tuple(t.numpy().tobytes() for t in batch) for batch in loader] for _ in range(2)]

    reference = epochs(0)
    threaded = epochs(2, in_order=in_order)
    if in_order:
        assert threaded == reference
    else:
        assert [sorted(e) for e in threaded] == [sorted(e) for e in reference]
    assert epochs(3, prefetch_factor=1, persistent_workers=True) == reference


def test_persistent_workers_survive_an_abandoned_epoch():
    loader = DataLoader(_dataset(60), batch_size=5, num_workers=2, persistent_workers=True)
    it = iter(loader)
    next(it)
    assert _ids(loader) == [list(range(i, i + 5)) for i in range(0, 60, 5)]
    assert iter(loader) is it


@pytest.mark.parametrize("num_workers", [0, 2])
def test_worker_exception_is_raised_with_its_traceback(num_workers):
    loader = DataLoader(_Rows(20, fail_at=13), batch_size=4, num_workers=num_workers)
    it = iter(loader)
    for _ in range(3):
        next(it)
    with pytest.raises(ValueError, match="sample 13 is broken") as info:
        next(it)
    if num_workers:
        assert "in DataLoader worker thread" in str(info.value) and "__getitem__" in str(info.value)
    assert next(it)[1].numpy().tolist() == [16, 17, 18, 19]  # the loader goes on, as PyTorch's does


def test_worker_init_fn_and_worker_info():
    seen, lock = [], threading.Lock()

    def init(worker_id):
        info = get_worker_info()
        with lock:
            seen.append((worker_id, info.id, info.num_workers))

    class Who(_Rows):
        def __getitem__(self, i):
            return get_worker_info().id, i

    batches = list(DataLoader(Who(12), batch_size=3, num_workers=3, worker_init_fn=init))
    assert sorted(seen) == [(0, 0, 3), (1, 1, 3), (2, 2, 3)]
    assert [b[0].numpy().tolist() for b in batches] == [[0] * 3, [1] * 3, [2] * 3, [0] * 3]
    assert get_worker_info() is None

    def broken(worker_id):
        raise KeyError("no init")

    with pytest.raises(KeyError, match="no init"):
        list(DataLoader(_Rows(6), batch_size=2, num_workers=2, worker_init_fn=broken))


def test_timeout_raises_instead_of_hanging():
    loader = DataLoader(_Rows(4, delay=0.5), batch_size=2, num_workers=1, timeout=0.05)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.05 seconds"):
        next(iter(loader))
    assert time.perf_counter() - start < 0.45


def _worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fastnn-DataLoader-worker")]


def _wait_until_stopped(threads, seconds=5):
    deadline = time.monotonic() + seconds
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not any(t.is_alive() for t in threads)


def test_abandoned_iterator_stops_its_threads():
    before = set(_worker_threads())
    it = iter(DataLoader(_dataset(200), batch_size=4, num_workers=3))
    next(it)
    mine = set(_worker_threads()) - before
    assert len(mine) == 3
    del it
    gc.collect()
    assert _wait_until_stopped(mine)
    before = set(_worker_threads())
    list(DataLoader(_dataset(20), batch_size=4, num_workers=2))  # a finished epoch joins its threads
    assert not set(_worker_threads()) - before


def test_no_auto_batching_and_custom_collate():
    loader = DataLoader(_Rows(3), batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and isinstance(items[1][0], fastnn.Tensor) and items[1][1] == 1
    sizes = list(DataLoader(_dataset(10), batch_size=4, collate_fn=len))
    assert sizes == [4, 4, 2]
    batches = list(DataLoader(_dataset(10), batch_sampler=[[0, 1], [9]]))
    assert _ids(batches) == [[0, 1], [9]]


def test_dataloader_argument_errors():
    ds = _dataset(10)
    cases = [
        (dict(sampler=SequentialSampler(ds), shuffle=True), "sampler option is mutually exclusive with shuffle"),
        (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], shuffle=True), "batch_sampler option is mutually exclusive"),
        (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
        (dict(num_workers=-1), "num_workers option should be non-negative"),
        (dict(timeout=-1), "timeout option should be non-negative"),
        (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
        (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            DataLoader(ds, **kwargs)
    loader = DataLoader(ds, batch_size=3)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 4
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        DataLoader(ds, batch_size=0)


# ---- random_split ----

def test_random_split_sizes_and_disjointness():
    ds = _dataset(10)
    parts = random_split(ds, [3, 7], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    fractions = random_split(ds, [0.5, 0.3, 0.2], generator=np.random.default_rng(0))
    assert [len(p) for p in fractions] == [5, 3, 2]
    # floor(11 * f) = 3, 3, 3 leaves 2 samples, dealt round-robin from the first subset
    uneven = random_split(_dataset(11), [1 / 3, 1 / 3, 1 / 3], generator=np.random.default_rng(0))
    assert [len(p) for p in uneven] == [4, 4, 3]
    same = random_split(ds, [3, 7], generator=np.random.default_rng(0))
    assert same[0].indices == parts[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
        random_split(ds, [3, 3])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(_dataset(2), [0.9, 0.1])


# ---- train_test_split ----

def test_train_test_split_sizes_and_rounding():
    X, y = np.arange(40).reshape(20, 2), np.arange(20)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    assert (len(Xtr), len(Xte)) == (15, 5)  # default test_size 0.25
    np.testing.assert_array_equal(Xtr[:, 0] // 2, ytr)
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(20))
    assert [len(a) for a in train_test_split(X, test_size=0.33)] == [13, 7]  # test = ceil(6.6)
    assert [len(a) for a in train_test_split(X, train_size=0.33)] == [6, 14]  # train = floor(6.6)
    assert [len(a) for a in train_test_split(X, train_size=5, test_size=3)] == [5, 3]
    plain = train_test_split(list(range(10)), shuffle=False, test_size=3)
    assert plain == [list(range(7)), [7, 8, 9]]
    again = train_test_split(X, y, random_state=0)
    np.testing.assert_array_equal(again[3], yte)
    tensors = train_test_split(fastnn.tensor(X), random_state=0)
    assert isinstance(tensors[0], fastnn.Tensor) and tensors[0].shape == (15, 2)


def test_train_test_split_matches_randomstate_permutation():
    """With an int seed the rows are those of RandomState(seed).permutation (scikit-learn's
    ShuffleSplit): test first, train after."""
    perm = np.random.RandomState(3).permutation(12)
    train, test = train_test_split(np.arange(12), test_size=4, random_state=3)
    np.testing.assert_array_equal(test, perm[:4])
    np.testing.assert_array_equal(train, perm[4:])


def test_train_test_split_stratify_keeps_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    X = np.arange(100)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=1)
    assert np.bincount(yte).tolist() == [12, 6, 2] and np.bincount(ytr).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(y[Xte], yte)
    assert not set(Xtr) & set(Xte)


def test_train_test_split_errors():
    X = np.arange(10)
    with pytest.raises(ValueError, match="At least one array required as input"):
        train_test_split()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        train_test_split(X, np.arange(9))
    with pytest.raises(ValueError, match=r"test_size=1.5 should be either positive"):
        train_test_split(X, test_size=1.5)
    with pytest.raises(ValueError, match=r"test_size=10 should be either positive"):
        train_test_split(X, test_size=10)
    with pytest.raises(ValueError, match="The sum of test_size and train_size"):
        train_test_split(X, test_size=0.6, train_size=0.6)
    with pytest.raises(ValueError, match="Stratified train/test split is not implemented for shuffle=False"):
        train_test_split(X, shuffle=False, stratify=X % 2)
    with pytest.raises(ValueError, match="The least populated class in y has only 1 member"):
        train_test_split(X, stratify=np.r_[np.zeros(9), 1])


# ---------------------------------------------------------------------------------------
# The row gather behind TensorDataset batches
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize("shape", [(50,), (50, 7), (50, 3, 5), (600, 784)])
def test_gather_rows_equals_fancy_indexing(dtype, shape, set_threads):
    from fastnn import _C
    rng = np.random.default_rng(1)
    src = (rng.standard_normal(shape) * 50).astype(dtype)
    for index in (rng.integers(-shape[0], shape[0], 333), np.arange(shape[0])[::-1].copy(),
                  np.zeros(0, np.int64), rng.permutation(shape[0])[::2]):
        results = []
        for threads in (1, 2):
            set_threads(threads)
            got = _C.gather_rows(src, index)
            assert got.dtype == src.dtype and got.flags.c_contiguous
            np.testing.assert_array_equal(got, src[index])
            results.append(got)
        assert results[0].tobytes() == results[1].tobytes()


def test_gather_rows_bad_input():
    from fastnn import _C
    src = np.zeros((4, 3), np.float32)
    with pytest.raises(IndexError, match=r"\[gather_rows\] index 4 is out of bounds for axis 0 with size 4"):
        _C.gather_rows(src, np.array([0, 4]))
    with pytest.raises(IndexError, match="index -5 is out of bounds"):
        _C.gather_rows(src, np.array([-5]))
    with pytest.raises(TypeError, match="index must be a 1-D int64 array"):
        _C.gather_rows(src, np.array([0, 1], np.int32))
    with pytest.raises(TypeError, match="dtype object"):
        _C.gather_rows(np.empty(3, object), np.array([0]))
    with pytest.raises(ValueError, match="must be C-contiguous"):
        _C.gather_rows(src.T, np.array([0]))
    with pytest.raises(ValueError, match="at least one dimension"):
        _C.gather_rows(np.array(1.0, np.float32), np.array([0]))
    with pytest.raises(TypeError, match="src must be a numpy.ndarray"):
        _C.gather_rows([1.0, 2.0], np.array([0]))


def test_tensor_dataset_batches_of_any_layout():
    # contiguous arrays take the row gather; strided views fall back to NumPy indexing
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    ds = TensorDataset(x, x.T.copy().T, x[::-1], np.arange(20))
    batch = ds.__getitems__([3, 0, 19, -1])
    for column, source in zip(batch.columns, (x, x, x[::-1], np.arange(20))):
        np.testing.assert_array_equal(column, source[[3, 0, 19, -1]])
    with pytest.raises(IndexError):
        ds.__getitems__([20])
    strided = TensorDataset(x[:, 1])  # a strided column: NumPy's indexing
    np.testing.assert_array_equal(strided.__getitems__([5, 2]).columns[0], x[[5, 2], 1])
