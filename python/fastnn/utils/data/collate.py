"""Turning a list of samples into a batch: ``default_collate`` (PyTorch's dtype rules: Tensors
and NumPy arrays are stacked keeping their dtype, Python floats give float64, ints int64,
bools bool; tuples, lists, dicts and namedtuples are collated field by field) and
``default_convert`` (the same conversions without batching, used when ``batch_size=None``).

``StackedSamples`` is what a dataset's ``__getitems__`` may return instead of a list: a batch
gathered column by column with one fancy index, which reads as a sequence of samples and
which ``default_collate`` turns into Tensors without touching single samples.
"""

import collections.abc
import copy

import numpy as np

from ...tensor import Tensor, stack

__all__ = ["default_collate", "default_convert", "StackedSamples"]

_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


class StackedSamples(collections.abc.Sequence):
    """A batch of tuple samples held as stacked columns (one array per tuple field).

    ``batch[i]`` builds sample ``i`` as ``tuple(make(column[i]) for ...)``, so a custom
    ``collate_fn`` sees an ordinary sequence of samples; :func:`default_collate` returns
    ``[Tensor(column), ...]`` directly, which is exactly what stacking the samples gives.

    Args:
        columns: NumPy arrays with equal first dimension, one per field of a sample.
        makers: per column, the callable turning one row into the sample's field (e.g.
            ``Tensor`` for tensor fields, ``int`` for integer targets).
    """

    def __init__(self, columns, makers):
        self.columns = tuple(columns)
        self.makers = tuple(makers)

    def __len__(self):
        return len(self.columns[0]) if self.columns else 0

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return tuple(make(column[i]) for make, column in zip(self.makers, self.columns))

    def collated(self):
        """The batch as :func:`default_collate` returns it: a list of Tensors."""
        return [Tensor(np.ascontiguousarray(column)) for column in self.columns]


def _is_numpy_text(array):
    return array.dtype.kind in "SaUO"


def _mapping_like(template, values):
    """`values` (a dict) as a mapping of template's type, as PyTorch rebuilds them: a copy of
    a mutable mapping updated with the values, else the type built from them, else the dict."""
    if isinstance(template, collections.abc.MutableMapping):
        clone = copy.copy(template)
        clone.update(values)
        return clone
    try:
        return type(template)(values)
    except TypeError:
        return values


def default_convert(data):
    """NumPy arrays (not of strings or objects) become Tensors, recursively inside mappings,
    namedtuples, tuples and lists; everything else is returned unchanged.

    Example:
        >>> default_convert({"x": np.zeros(3), "name": "a"})["x"].dtype
        dtype('float64')
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _is_numpy_text(data) else Tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _mapping_like(data, {key: default_convert(value) for key, value in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        if isinstance(data, collections.abc.MutableSequence):
            try:
                clone = copy.copy(data)
                for i, value in enumerate(converted):
                    clone[i] = value
                return clone
            except TypeError:
                return converted
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    return data


def default_collate(batch):
    """Collate a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Rules, applied recursively to the first sample's type:

    * Tensor -> ``fastnn.stack(batch)`` (new leading batch dimension, dtype kept);
    * NumPy array -> Tensor of the stacked arrays (dtype kept); string/object arrays are a
      TypeError; NumPy scalars -> a 1-D Tensor of their dtype;
    * float -> float64 Tensor; int -> int64 Tensor; bool -> bool Tensor;
    * str / bytes -> the list unchanged;
    * Mapping -> the same mapping type with each key collated;
    * namedtuple -> the same namedtuple of collated fields; other tuples and lists -> a
      list (a list's type is kept) of collated fields; all samples must have equal length.

    Example:
        >>> xs, ys = default_collate([(np.ones(2, np.float32), 1), (np.zeros(2, np.float32), 0)])
        >>> xs.shape, xs.dtype, ys.dtype
        ((2, 2), dtype('float32'), dtype('int64'))
    """
    if isinstance(batch, StackedSamples):
        return batch.collated()
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if _is_numpy_text(elem):
            raise TypeError(_ERROR.format(elem.dtype))
        for sample in batch:
            if not isinstance(sample, np.ndarray) or sample.shape != elem.shape:
                raise RuntimeError(f"[default_collate] stack expects each array to be equal size, but got "
                                   f"{elem.shape} and {np.shape(sample)}")
        return Tensor(np.stack(batch))
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        if _is_numpy_text(np.asarray(elem)):
            raise TypeError(_ERROR.format(type(elem)))
        return Tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return Tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _mapping_like(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        if isinstance(elem, collections.abc.MutableSequence):
            try:
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = default_collate(samples)
                return clone
            except TypeError:
                pass
        try:
            return type(elem)([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(_ERROR.format(type(elem)))
