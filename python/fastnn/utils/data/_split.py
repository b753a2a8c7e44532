"""scikit-learn's ``train_test_split``: the same argument checks, size rounding (test =
ceil, train = floor for fractions) and, for an int or RandomState ``random_state``, the same
draws from ``numpy.random.RandomState``, so a given seed picks the same rows as scikit-learn.
"""

import math
import numbers

import numpy as np

from ...tensor import Tensor

__all__ = ["train_test_split"]


def _num_samples(x):
    shape = getattr(x, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise TypeError(f"Singleton array {x!r} cannot be considered a valid collection.")
        return int(shape[0])
    if not hasattr(x, "__len__"):
        raise TypeError(f"Expected sequence or array-like, got {type(x)}")
    return len(x)


def _take(x, index):
    if isinstance(x, (np.ndarray, Tensor)):
        return x[index]
    if hasattr(x, "iloc"):  # a pandas object, indexed by position
        return x.iloc[index]
    if hasattr(x, "shape") and hasattr(x, "__getitem__"):  # e.g. a SciPy sparse matrix
        return x[index]
    return [x[i] for i in index.tolist()]


def _check_random_state(seed):
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def _kind(size):
    return np.asarray(size).dtype.kind


def _split_sizes(n_samples, test_size, train_size, default_test_size):
    """(n_train, n_test) by scikit-learn's rules."""
    if test_size is None and train_size is None:
        test_size = default_test_size
    test_kind, train_kind = _kind(test_size), _kind(train_size)
    for name, size, kind in (("test_size", test_size, test_kind), ("train_size", train_size, train_kind)):
        if (kind == "i" and (size >= n_samples or size <= 0)) or (kind == "f" and (size <= 0 or size >= 1)):
            raise ValueError(f"{name}={size} should be either positive and smaller than the number of samples "
                             f"{n_samples} or a float in the (0, 1) range")
        if size is not None and kind not in ("i", "f"):
            raise ValueError(f"Invalid value for {name}: {size}")
    if train_kind == "f" and test_kind == "f" and train_size + test_size > 1:
        raise ValueError(f"The sum of test_size and train_size = {train_size + test_size}, should be in the (0, 1) "
                         "range. Reduce test_size and/or train_size.")
    n_test = math.ceil(test_size * n_samples) if test_kind == "f" else test_size
    n_train = math.floor(train_size * n_samples) if train_kind == "f" else train_size
    if train_size is None:
        n_train = n_samples - n_test
    elif test_size is None:
        n_test = n_samples - n_train
    if n_train + n_test > n_samples:
        raise ValueError(f"The sum of train_size and test_size = {int(n_train + n_test)}, should be smaller than the "
                         f"number of samples {n_samples}. Reduce test_size and/or train_size.")
    n_train, n_test = int(n_train), int(n_test)
    if n_train == 0:
        raise ValueError(f"With n_samples={n_samples}, test_size={test_size} and train_size={train_size}, the "
                         "resulting train set will be empty. Adjust any of the aforementioned parameters.")
    return n_train, n_test


def _approximate_mode(class_counts, n_draws, rng):
    """Per-class draws summing to n_draws, closest to the class proportions; ties in the
    fractional parts broken at random (scikit-learn's rule)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (candidates,) = np.where(remainder == value)
            add = min(len(candidates), need)
            floored[rng.choice(candidates, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)


def _stratified(y, n_train, n_test, rng):
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if y.ndim == 2:
        y = np.array([" ".join(row.astype("str")) for row in y])
    classes, y_indices = np.unique(y, return_inverse=True)
    y_indices = y_indices.reshape(-1)
    class_counts = np.bincount(y_indices)
    if np.min(class_counts) < 2:
        raise ValueError("The least populated class in y has only 1 member, which is too few. The minimum number "
                         "of groups for any class cannot be less than 2.")
    if n_train < len(classes):
        raise ValueError(f"The train_size = {n_train} should be greater or equal to the number of classes = "
                         f"{len(classes)}")
    if n_test < len(classes):
        raise ValueError(f"The test_size = {n_test} should be greater or equal to the number of classes = "
                         f"{len(classes)}")
    class_indices = np.split(np.argsort(y_indices, kind="mergesort"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(members[:n_i[i]])
        test.extend(members[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None, shuffle=True, stratify=None):
    """Split arrays into random train and test subsets, as scikit-learn's
    ``sklearn.model_selection.train_test_split``.

    Args:
        *arrays: NumPy arrays, fastnn Tensors, lists (or pandas objects) with the same first
            dimension.
        test_size: a float in (0, 1) (fraction, rounded up) or an int (count). Default:
            the complement of ``train_size``, or 0.25 when both are None.
        train_size: a float in (0, 1) (fraction, rounded down) or an int. Default: the
            complement of ``test_size``.
        random_state: None (NumPy's global RandomState), an int seed or a
            ``numpy.random.RandomState``.
        shuffle: shuffle before splitting; without it the first rows train and the next
            ones test. Default: True.
        stratify: labels; when given, each class keeps its proportion in both subsets.

    Returns:
        list: ``[a_train, a_test, b_train, b_test, ...]``, each of its input's kind.

    Example:
        >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
        >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, random_state=42)
        >>> len(X_train), len(X_test)
        (6, 4)
    """
    if not arrays:
        raise ValueError("At least one array required as input")
    lengths = [_num_samples(a) for a in arrays if a is not None]
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    n_samples = lengths[0]
    n_train, n_test = _split_sizes(n_samples, test_size, train_size, 0.25)
    if not shuffle:
        if stratify is not None:
            raise ValueError("Stratified train/test split is not implemented for shuffle=False")
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        rng = _check_random_state(random_state)
        if stratify is not None:
            if _num_samples(stratify) != n_samples:
                raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                                 f"[{n_samples}, {_num_samples(stratify)}]")
            train, test = _stratified(stratify, n_train, n_test, rng)
        else:
            permutation = rng.permutation(n_samples)
            test, train = permutation[:n_test], permutation[n_test:n_test + n_train]
    out = []
    for a in arrays:
        out += [None, None] if a is None else [_take(a, np.asarray(train, dtype=np.intp)),
                                               _take(a, np.asarray(test, dtype=np.intp))]
    return out
