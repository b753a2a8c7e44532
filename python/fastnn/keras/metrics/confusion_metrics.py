"""Precision and Recall (Keras 3's keras.metrics.Precision / Recall): weighted counts of true
positives, false positives and false negatives at one or more thresholds, over every element
of y_pred (a prediction is positive when strictly above the threshold; a label when nonzero).
"""

import numpy as np

from ...metrics import _asarray, _squeeze_or_expand_to_same_rank
from .metric import Metric

__all__ = ["Precision", "Recall"]

# Score given to the predictions that top_k leaves out (Keras's NEG_INF).
NEG_INF = -1e10


def parse_init_thresholds(thresholds, default_threshold, name):
    if thresholds is None:
        return [float(default_threshold)]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    invalid = [t for t in values if t is None or not 0 <= t <= 1]
    if invalid or not values:
        raise ValueError(f"[{name}] Threshold values must be in [0, 1]. Received: {invalid or values}")
    return [float(t) for t in values]


def _filter_top_k(x, k):
    """Keep the k largest values of the last axis (the first ones on ties), NEG_INF elsewhere."""
    top = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, dtype=bool)
    np.put_along_axis(keep, top, True, axis=-1)
    return np.where(keep, x, NEG_INF)


def confusion_counts(y_true, y_pred, thresholds, top_k, class_id, sample_weight, name):
    """(tp, fp, fn): float64 arrays of shape (len(thresholds),), weighted counts over every
    element of y_pred."""
    yt, yp = _asarray(y_true, dtype=np.float64), _asarray(y_pred, dtype=np.float64)
    shapes = (yt.shape, yp.shape)
    yp, yt = _squeeze_or_expand_to_same_rank(yp, yt)
    if yt.shape != yp.shape:
        raise ValueError(f"[{name}] y_true shape {shapes[0]} and y_pred shape {shapes[1]} do not match")
    sw = None
    if sample_weight is not None:
        sw = _asarray(sample_weight, dtype=np.float64)[..., None]
        _, sw = _squeeze_or_expand_to_same_rank(yt, sw, expand_rank_1=False)
    if top_k is not None:
        if yp.ndim == 0 or top_k > yp.shape[-1]:
            raise ValueError(f"[{name}] top_k={top_k} needs y_pred with at least {top_k} classes in its last "
                             f"axis, got shape {shapes[1]}")
        yp = _filter_top_k(yp, top_k)
    if class_id is not None:
        if yp.ndim < 2:
            raise ValueError(f"[{name}] When class_id is provided, y_pred must be a 2D array with shape "
                             f"(num_samples, num_classes), found shape: {shapes[1]}")
        if not -yp.shape[-1] <= class_id < yp.shape[-1]:
            raise ValueError(f"[{name}] class_id={class_id} is out of range for y_pred of shape {shapes[1]}")
        yt, yp = yt[..., class_id, None], yp[..., class_id, None]
    label_pos = (yt != 0).reshape(-1)
    if sw is None:
        w_pos, w_neg = label_pos.astype(np.float64), (~label_pos).astype(np.float64)
    else:
        try:
            w = np.broadcast_to(sw, yp.shape).reshape(-1)
        except ValueError:
            raise ValueError(f"[{name}] sample_weight of shape {np.shape(sample_weight)} does not match y_pred "
                             f"of shape {shapes[1]}") from None
        w_pos, w_neg = np.where(label_pos, w, 0.0), np.where(label_pos, 0.0, w)
    pred_pos = yp.reshape(1, -1) > np.asarray(thresholds)[:, None]  # (T, elements)
    tp = pred_pos @ w_pos
    fp = pred_pos @ w_neg
    return tp, fp, w_pos.sum() - tp


class _ConfusionMetric(Metric):
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        cls = type(self).__name__
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                                  or top_k < 1):
            raise ValueError(f"[{cls}] top_k must be a positive integer or None, got {top_k!r}")
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer))):
            raise ValueError(f"[{cls}] class_id must be an integer or None, got {class_id!r}")
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = parse_init_thresholds(thresholds, 0.5 if top_k is None else NEG_INF, cls)
        n = len(self.thresholds)
        self.true_positives = self.add_variable(shape=(n,), initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape=(n,), initializer="zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape=(n,), initializer="zeros", name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulate true positives, false positives and false negatives of one batch.

        Args:
            y_true: labels (nonzero = positive), the shape of y_pred (or (N,) for (N, 1)).
            y_pred: scores in [0, 1], any shape.
            sample_weight: optional weights broadcastable to y_pred ((N,) weights a row).
        """
        tp, fp, fn = confusion_counts(y_true, y_pred, self.thresholds, self.top_k, self.class_id, sample_weight,
                                      type(self).__name__)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def _finish(self, numerator, denominator):
        numerator, denominator = np.asarray(numerator), np.asarray(denominator)
        value = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)
        return self._cast_result(value[0] if len(self.thresholds) == 1 else value)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """Computes the precision ``tp / (tp + fp)`` of the predictions with respect to the
    labels (0 when nothing is predicted positive).

    Args:
        thresholds: (Optional) a float or list of floats in [0, 1]; a prediction above a
            threshold is positive. One result per threshold. Defaults to 0.5 (or, with
            ``top_k``, no threshold beyond the top-k selection).
        top_k: (Optional) only the k highest predictions of each row count as positive.
        class_id: (Optional) the class (column of y_pred) to compute the precision of.
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = Precision()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> m.result()
    0.6666666666666666
    """

    def result(self):
        return self._finish(self.true_positives, self.true_positives + self.false_positives)


class Recall(_ConfusionMetric):
    """Computes the recall ``tp / (tp + fn)`` of the predictions with respect to the labels
    (0 when there is no positive label).

    Args:
        thresholds: (Optional) a float or list of floats in [0, 1]; a prediction above a
            threshold is positive. One result per threshold. Defaults to 0.5 (or, with
            ``top_k``, no threshold beyond the top-k selection).
        top_k: (Optional) only the k highest predictions of each row count as positive.
        class_id: (Optional) the class (column of y_pred) to compute the recall of.
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Example:

    >>> m = Recall()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> m.result()
    0.6666666666666666
    """

    def result(self):
        return self._finish(self.true_positives, self.true_positives + self.false_negatives)
