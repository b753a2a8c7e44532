"""Regression metrics (Keras 3's keras.metrics.MeanSquaredError, MeanAbsoluteError,
RootMeanSquaredError) and Keras's per-sample error functions mean_squared_error /
mean_absolute_error (mean over the last axis), on fastnn.metrics's elementwise error.
"""

import numpy as np

from ...metrics import _asarray, _check_broadcast, _elementwise_error, _squeeze_or_expand_to_same_rank
from .reduction_metrics import Mean, SampleWiseMeanMetricWrapper

__all__ = ["mean_squared_error", "mean_absolute_error", "MeanSquaredError", "MeanAbsoluteError",
           "RootMeanSquaredError"]


def _aligned(fn, y_true, y_pred):
    yt, yp = _asarray(y_true, dtype=np.float64), _asarray(y_pred, dtype=np.float64)
    shapes = (yt.shape, yp.shape)
    yt, yp = _squeeze_or_expand_to_same_rank(yt, yp)
    _check_broadcast(fn, yt, yp, *shapes)
    return yt, yp


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error: ``mean((y_true - y_pred)^2, axis=-1)``, after Keras's
    rank alignment ((N,) targets with (N, 1) predictions give (N,)).

    Example:
        >>> mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
        array([0.5, 0.5], dtype=float32)
    """
    yt, yp = _aligned("mean_squared_error", y_true, y_pred)
    return np.mean(_elementwise_error(yt, yp, squared=True), axis=-1).astype(np.float32)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error: ``mean(|y_true - y_pred|, axis=-1)``, after Keras's
    rank alignment.

    Example:
        >>> mean_absolute_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]])
        array([0.5, 0.5], dtype=float32)
    """
    yt, yp = _aligned("mean_absolute_error", y_true, y_pred)
    return np.mean(_elementwise_error(yt, yp, squared=False), axis=-1).astype(np.float32)


class MeanSquaredError(SampleWiseMeanMetricWrapper):
    """Computes the mean squared error between y_true and y_pred, averaged over samples
    (each row's mean over its last axis; with 1-D inputs every element is a sample).

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = MeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> m.result()
    0.25
    """

    _direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(fn=mean_squared_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class MeanAbsoluteError(SampleWiseMeanMetricWrapper):
    """Computes the mean absolute error between y_true and y_pred, averaged over samples
    (each row's mean over its last axis; with 1-D inputs every element is a sample).

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = MeanAbsoluteError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> m.result()
    0.25
    """

    _direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(fn=mean_absolute_error, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class RootMeanSquaredError(Mean):
    """Computes ``sqrt(mean((y_pred - y_true)^2))`` over every sample seen (the root of the
    running mean, not a mean of batch roots).

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = RootMeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> m.result()
    0.5
    """

    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        yt, yp = _aligned(self.name, y_true, y_pred)
        return super().update_state(_elementwise_error(yt, yp, squared=True), sample_weight=sample_weight)

    def result(self):
        return self._cast_result(np.sqrt(super().result()))
