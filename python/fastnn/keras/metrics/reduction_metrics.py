"""Reduction metrics (Keras 3's keras.metrics.Sum, Mean, MeanMetricWrapper) and the rule
that turns per-element values and sample weights into per-sample values: weights are
aligned to the values' rank, the values reduced to the weights' rank, then multiplied.
"""

import numpy as np

from ...metrics import _asarray, _squeeze_or_expand_to_same_rank
from .metric import Metric

__all__ = ["Sum", "Mean", "MeanMetricWrapper"]


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, name):
    """(values, sample_weight): values weighted and reduced over every axis but the first
    (a scalar stays a scalar); sample_weight broadcast like the values and reduced the same
    way, or None."""
    values = _asarray(values, dtype=np.float64)
    if sample_weight is not None:
        sample_weight = _asarray(sample_weight, dtype=np.float64)
        values_shape, weight_shape = values.shape, sample_weight.shape
        values, sample_weight = _squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim = sample_weight.ndim
        if values.ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values.ndim)))
        try:
            sample_weight = np.broadcast_to(sample_weight, values.shape)
        except ValueError:
            raise ValueError(f"[{name}] sample_weight of shape {weight_shape} does not match values of shape "
                             f"{values_shape}") from None
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    if values.ndim > 1:
        values = reduce_fn(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """Computes the (weighted) sum of the given values.

    If ``values`` is ``[1, 3, 5, 7]`` the sum is 16; with ``sample_weight=[1, 1, 0, 0]``
    it is 4. State: one variable, ``total``.

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = Sum()
    >>> m.update_state([1, 3, 5, 7])
    >>> m.result()
    16.0
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, np.sum, self.name)
        self.total += values.sum()

    def result(self):
        return self._cast_result(self.total)


class Mean(Metric):
    """Computes the (weighted) mean of the given values: ``total / count``, where each
    update adds the sum of its weighted per-sample values to ``total`` and its number of
    samples (or the sum of their weights) to ``count``. An empty metric gives 0.0.

    Values with more than one axis are first averaged over every axis but the first.

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = Mean()
    >>> m.update_state([1, 3, 5, 7])
    >>> m.result()
    4.0
    >>> m.reset_state()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> m.result()
    2.0
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")
        # Plain-ndarray views of the two variables for the update, which runs every
        # training step: arithmetic on the variable subclass costs microseconds more.
        self._total, self._count = self.total.view(np.ndarray), self.count.view(np.ndarray)

    def update_state(self, values, sample_weight=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, np.mean, self.name)
        if sample_weight is not None:
            num_samples = sample_weight.sum()
        else:
            num_samples = values.shape[0] if values.ndim >= 1 else 1
        self._total += values.sum()
        self._count += num_samples

    def result(self):
        count = float(self.count)
        return self._cast_result(float(self.total) / count if count != 0 else 0.0)


class MeanMetricWrapper(Mean):
    """Wraps a stateless metric function ``fn(y_true, y_pred, **kwargs)`` that returns
    per-sample values into a ``Mean``: ``result()`` is the (weighted) mean of those values
    over every sample seen.

    Args:
        fn: the metric function to wrap, with signature ``fn(y_true, y_pred, **kwargs)``.
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.
        **kwargs: keyword arguments passed on to ``fn``.

    Example:

    >>> def squared_error(y_true, y_pred):
    ...     return (np.asarray(y_true) - np.asarray(y_pred)) ** 2
    >>> m = MeanMetricWrapper(fn=squared_error)
    >>> m([1.0, 2.0], [1.0, 4.0])
    2.0
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"[MeanMetricWrapper] fn must be callable, got {type(fn).__name__}")
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        return super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "fn": self._fn, **self._fn_kwargs}


class SampleWiseMeanMetricWrapper(MeanMetricWrapper):
    """MeanMetricWrapper for functions that reduce the last axis (accuracy, binary_accuracy,
    mean_squared_error, mean_absolute_error): 1-D y_true and y_pred are taken as one value
    per sample, shape (N, 1), so every element is a sample that (N,) weights can weight.
    (Keras would reduce such a batch to one value counted as one sample.)"""

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _asarray(y_true), _asarray(y_pred)
        if y_true.ndim == 1 and y_pred.ndim == 1:
            y_true, y_pred = y_true[:, None], y_pred[:, None]
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)
