"""How fit/evaluate/predict read their data: NumPy arrays or fastnn Tensors sliced into
batches (optionally shuffled), or any iterable of batches (a fastnn.utils.data.DataLoader,
a generator factory, a list of tuples) whose items are ``x``, ``(x,)``, ``(x, y)`` or
``(x, y, sample_weight)``. For a model with several inputs, x is a list/tuple of arrays or
a dict of them (by input name), sliced alike.
"""

import math

import numpy as np

from ...tensor import Tensor, generator

__all__ = ["is_array", "as_array", "is_structured", "as_inputs", "num_samples", "take", "to_tensors",
           "ArrayBatches", "IterableBatches", "batches_for", "split_validation"]


def is_structured(x):
    """True for several model inputs: a dict, or a list/tuple holding arrays or Tensors."""
    if isinstance(x, dict):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(v, (np.ndarray, Tensor)) for v in x)


def is_array(x):
    """Arrays (or several inputs' arrays), as opposed to an iterable of batches: a list of
    (x, y) tuples is batches."""
    if isinstance(x, list) and x and isinstance(x[0], (tuple, list, dict)) and is_structured(x[0]):
        return False
    return isinstance(x, (np.ndarray, Tensor, list)) or np.isscalar(x) or is_structured(x)


def as_array(x, what):
    """x (a Tensor, an array or a list) as a NumPy array; floats as float32."""
    if x is None:
        return None
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind == "f" and a.dtype != np.float32:
        a = a.astype(np.float32)
    elif a.dtype.kind not in "fiub":
        raise TypeError(f"[fit] {what} must hold numbers, got dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"[fit] {what} must have a batch dimension, got a scalar")
    return a


def as_inputs(x, what):
    """x as :func:`as_array` does, or each array of several inputs (a list or a dict)."""
    if isinstance(x, dict):
        return {k: as_array(v, f"{what}[{k!r}]") for k, v in x.items()}
    if is_structured(x):
        return [as_array(v, f"{what}[{i}]") for i, v in enumerate(x)]
    return as_array(x, what)


def _leaves(x):
    return list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]


def num_samples(x):
    """The number of samples (first axis) of x, or of the first of several inputs."""
    return len(_leaves(x)[0])


def take(x, index):
    """x[index], or each input's [index] for several inputs."""
    if isinstance(x, dict):
        return {k: v[index] for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [v[index] for v in x]
    return x[index]


def to_tensors(x):
    """fastnn Tensors for an array (or each of several), leaving Tensors as they are."""
    if isinstance(x, dict):
        return {k: to_tensors(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_tensors(v) for v in x]
    return x if isinstance(x, Tensor) else Tensor(x)


def _raw(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _unpack(item):
    if isinstance(item, (tuple, list)):
        if len(item) == 1:
            return item[0], None, None
        if len(item) == 2:
            return item[0], item[1], None
        if len(item) == 3:
            return item[0], item[1], item[2]
        raise ValueError(f"[fit] a batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of "
                         f"{len(item)} items")
    if isinstance(item, dict):
        raise TypeError("[fit] dict batches are not supported; give (x, y) tuples")
    return item, None, None


class ArrayBatches:
    """Batches of arrays: each epoch a permutation (shuffle=True), a shuffled order of whole
    batches (shuffle='batch'), or the stored order. ``steps`` limits the batches per epoch."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle=False, steps=None):
        self.x, self.y, self.sw = x, y, sample_weight
        self.n = num_samples(x)
        sizes = [len(a) for a in _leaves(x)]
        if len(set(sizes)) > 1:
            raise ValueError(f"[fit] Data cardinality is ambiguous: x sizes: {', '.join(map(str, sizes))}. Make sure "
                             "all arrays contain the same number of samples.")
        for name, a in (("y", y), ("sample_weight", sample_weight)):
            if a is not None and len(a) != self.n:
                raise ValueError(f"[fit] Data cardinality is ambiguous: x sizes: {self.n}, {name} sizes: {len(a)}. "
                                 "Make sure all arrays contain the same number of samples.")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.num_batches = math.ceil(self.n / self.batch_size)
        self.steps = self.num_batches if steps is None else min(int(steps), self.num_batches)

    def __iter__(self):
        bs, n = self.batch_size, self.n
        order = None
        if self.shuffle == "batch":
            starts = generator().permutation(self.num_batches) * bs
        else:
            starts = np.arange(self.num_batches) * bs
            if self.shuffle:
                order = generator().permutation(n)
        for k in range(self.steps):
            s = int(starts[k])
            if order is None:
                sl = slice(s, min(s + bs, n))
                yield (take(self.x, sl), None if self.y is None else self.y[sl],
                       None if self.sw is None else self.sw[sl])
            else:
                idx = order[s:s + bs]
                yield (take(self.x, idx), None if self.y is None else self.y[idx],
                       None if self.sw is None else self.sw[idx])


class IterableBatches:
    """Batches from an iterable, re-iterated each epoch; ``steps`` limits the batches per
    epoch. A one-shot iterator (a generator) is consumed across epochs instead, ``steps``
    batches at a time, until it runs out (fit then stops, as Keras does)."""

    def __init__(self, data, steps=None):
        self.data = data
        self.one_shot = hasattr(data, "__next__")
        self.steps = None if steps is None else int(steps)
        self.exhausted = False
        try:
            self.num_batches = len(data)
        except TypeError:
            self.num_batches = None
        if self.steps is not None:
            self.num_batches = self.steps if self.num_batches is None else min(self.steps, self.num_batches)

    def __iter__(self):
        k = 0
        for item in self.data:
            x, y, sw = _unpack(item)
            if isinstance(x, dict):
                x = {k: _raw(v) for k, v in x.items()}
            elif is_structured(x):
                x = [_raw(v) for v in x]
            else:
                x = _raw(x)
            yield (x, None if y is None else _raw(y), None if sw is None else _raw(sw))
            k += 1
            if self.steps is not None and k >= self.steps:
                return
        if self.one_shot:
            self.exhausted = True


def batches_for(op, x, y, sample_weight, batch_size, shuffle=False, steps=None):
    """The batch source for x (arrays or an iterable of batches)."""
    if x is None:
        raise ValueError(f"[{op}] x must be given")
    if is_array(x):
        xa = as_inputs(x, "x")
        return ArrayBatches(xa, as_array(y, "y"), as_array(sample_weight, "sample_weight"), batch_size or 32,
                            shuffle, steps)
    if y is not None:
        raise ValueError(f"[{op}] When providing `x` as an iterable of batches, `y` should not be passed. Instead, "
                         "the targets should be included as part of the batches.")
    if sample_weight is not None:
        raise ValueError(f"[{op}] sample_weight cannot be given with an iterable of batches; include it in the "
                         "batches as (x, y, sample_weight)")
    if batch_size is not None:
        raise ValueError(f"[{op}] Do not specify `batch_size` if your data is an iterable of batches (it generates "
                         "batches itself)")
    if not hasattr(x, "__iter__"):
        raise TypeError(f"[{op}] x must be a NumPy array, a fastnn Tensor, or an iterable of batches; got "
                        f"{type(x).__name__}")
    return IterableBatches(x, steps)


def split_validation(x, y, sample_weight, validation_split):
    """Keras's rule: the LAST ``validation_split`` fraction of the samples (before any
    shuffling) is held out; split at ``floor(n * (1 - validation_split))``."""
    if not is_array(x):
        raise ValueError("[fit] `validation_split` is only supported for NumPy arrays and Tensors, not for "
                         "iterables of batches")
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"[fit] validation_split must be in (0, 1), got {validation_split}")
    x, y, sw = as_inputs(x, "x"), as_array(y, "y"), as_array(sample_weight, "sample_weight")
    n = num_samples(x)
    at = int(math.floor(n * (1.0 - validation_split)))
    if at == 0 or at == n:
        raise ValueError(f"[fit] Training data contains {n} samples, which is not sufficient to split it into a "
                         f"validation and training set as specified by `validation_split={validation_split}`. Either "
                         "provide more data, or a different value for the `validation_split` argument.")

    def cut(a):
        return (None, None) if a is None else (take(a, slice(None, at)), take(a, slice(at, None)))

    (xt, xv), (yt, yv), (st, sv) = cut(x), cut(y), cut(sw)
    return (xt, yt, st), (xv, yv, sv)
