"""Accuracy metrics (Keras 3's keras.metrics.Accuracy, BinaryAccuracy, CategoricalAccuracy,
SparseCategoricalAccuracy, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy): Means
over the per-sample functions of fastnn.metrics.
"""

import numpy as np

from ...metrics import (
    _asarray,
    _check_broadcast,
    _squeeze_or_expand_to_same_rank,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .reduction_metrics import MeanMetricWrapper, SampleWiseMeanMetricWrapper

__all__ = [
    "accuracy",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
]


def accuracy(y_true, y_pred):
    """Per-sample exact-match accuracy: the mean over the last axis of ``y_true == y_pred``,
    after Keras's rank alignment."""
    yt, yp = _asarray(y_true), _asarray(y_pred)
    shapes = (yt.shape, yp.shape)
    yt, yp = _squeeze_or_expand_to_same_rank(yt, yp)
    _check_broadcast("accuracy", yt, yp, *shapes)
    return np.mean(yt == yp, axis=-1, dtype=np.float32)


class Accuracy(SampleWiseMeanMetricWrapper):
    """Calculates how often predictions equal labels (exact match).

    If ``sample_weight`` is None, weights default to 1; a weight of 0 masks a sample.
    With 1-D y_true and y_pred every element is a sample.

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = Accuracy()
    >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> m.result()
    0.75
    """

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(fn=accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class BinaryAccuracy(SampleWiseMeanMetricWrapper):
    """Calculates how often predictions match binary labels: a prediction counts as 1 when
    it is above ``threshold``.

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.
        threshold: (Optional) float in (0, 1) deciding whether a prediction is 1 or 0.

    Shape:
        y_true: (N,) or (N, ...); y_pred: the same shape, or (N, 1) with (N,) labels. With
        1-D y_true and y_pred every element is a sample.

    Example:

    >>> m = BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> m.result()
    0.75
    """

    _direction = "up"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError("[BinaryAccuracy] Invalid value for argument `threshold`. Expected a value in "
                             f"interval (0, 1). Received: threshold={threshold}")
        super().__init__(fn=binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """Calculates how often ``argmax(y_pred)`` matches ``argmax(y_true)`` for one-hot
    labels; y_pred may hold probabilities or logits.

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Shape:
        y_true, y_pred: (N, C).

    Example:

    >>> m = CategoricalAccuracy()
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    _direction = "up"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(fn=categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Calculates how often ``argmax(y_pred)`` matches integer labels.

    Args:
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Shape:
        y_true: (N,) or (N, 1) integer labels; y_pred: (N, C).

    Example:

    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    _direction = "up"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_categorical_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Computes how often the one-hot target is among the ``k`` highest predictions.

    Args:
        k: (Optional) number of top elements to look at. Defaults to 5.
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Shape:
        y_true, y_pred: (N, C).

    Example:

    >>> m = TopKCategoricalAccuracy(k=1)
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    _direction = "up"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(fn=top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Computes how often the integer target is among the ``k`` highest predictions.

    Args:
        k: (Optional) number of top elements to look at. Defaults to 5.
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Shape:
        y_true: (N,) integer labels; y_pred: (N, C).

    Example:

    >>> m = SparseTopKCategoricalAccuracy(k=1)
    >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    _direction = "up"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(fn=sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "k": self.k}
