"""FBetaScore and F1Score (Keras 3's keras.metrics.FBetaScore / F1Score): per-class weighted
counts over one-hot or multilabel y_true and probability y_pred of shape (N, C), reduced to
the F-beta score by class (average=None) or averaged ('micro', 'macro', 'weighted').
"""

import numpy as np

from ...metrics import _asarray
from .metric import Metric

__all__ = ["FBetaScore", "F1Score"]

EPSILON = 1e-7  # Keras's backend.epsilon(), added to every denominator of the result


class FBetaScore(Metric):
    """Computes the F-beta score ``(1 + beta^2) * precision * recall / (beta^2 * precision +
    recall)`` for each class, or averaged over classes.

    A prediction is positive when above ``threshold``; with ``threshold=None`` the highest
    prediction of each row is the positive one (all-zero rows give none).

    Args:
        average: None (one score per class), 'micro' (counts pooled over classes), 'macro'
            (unweighted mean of the class scores) or 'weighted' (mean weighted by the number
            of true samples of each class).
        beta: weight of recall in the harmonic mean (float > 0). Defaults to 1.
        threshold: (Optional) float in (0, 1]; None means top-1 per row.
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Shape:
        y_true, y_pred: (N, C). sample_weight: (N,).

    Example:

    >>> m = FBetaScore(beta=2.0, threshold=0.5)
    >>> m.update_state(np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]]),
    ...                np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]))
    >>> m.result().round(4)
    array([0.3846, 0.9091, 0.8333], dtype=float32)
    """

    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        cls = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"[{cls}] Invalid `average` argument value. Expected one of: {{None, 'micro', "
                             f"'macro', 'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError(f"[{cls}] Invalid `beta` argument value. It should be a Python float. Received: "
                             f"beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"[{cls}] Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(f"[{cls}] Invalid `threshold` argument value. It should be a Python float. "
                                 f"Received: threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(f"[{cls}] Invalid `threshold` argument value. It should verify "
                                 f"0 < threshold <= 1. Received: threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true_shape, y_pred_shape):
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(f"[{type(self).__name__}] FBetaScore expects 2D inputs with shape (batch_size, "
                             f"output_dim). Received input shapes: y_pred.shape={y_pred_shape} and "
                             f"y_true.shape={y_true_shape}.")
        shape = () if self.average == "micro" else (y_pred_shape[-1],)
        self.num_classes = y_pred_shape[-1]
        self.true_positives = self.add_variable(shape, initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape, initializer="zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape, initializer="zeros", name="false_negatives")
        self.intermediate_weights = self.add_variable(shape, initializer="zeros", name="intermediate_weights")
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Accumulate the per-class counts of one batch.

        Args:
            y_true: (N, C) one-hot or multilabel indicators.
            y_pred: (N, C) scores.
            sample_weight: optional (N,) weights.
        """
        cls = type(self).__name__
        yt, yp = _asarray(y_true, dtype=np.float64), _asarray(y_pred, dtype=np.float64)
        if not self._built:
            self._build(yt.shape, yp.shape)
        if yp.ndim != 2 or yt.shape != yp.shape or yp.shape[1] != self.num_classes:
            raise ValueError(f"[{cls}] expected y_true and y_pred of shape (batch_size, {self.num_classes}), got "
                             f"y_true.shape={yt.shape} and y_pred.shape={yp.shape}")
        if self.threshold is None:
            # the row maximum is positive; abs > 1e-9 keeps an all-zero row all negative
            pred = (yp >= yp.max(axis=-1, keepdims=True)) & (np.abs(yp) > 1e-9)
        else:
            pred = yp > self.threshold
        pred = pred.astype(np.float64)
        if sample_weight is None:
            def weighted_sum(v):
                return v.sum(axis=self.axis)
        else:
            sw = _asarray(sample_weight, dtype=np.float64)
            if sw.ndim == 2 and sw.shape[1] == 1:
                sw = sw[:, 0]
            if sw.shape != (yp.shape[0],):
                raise ValueError(f"[{cls}] sample_weight must have shape ({yp.shape[0]},), got {sw.shape}")

            def weighted_sum(v):
                return (sw @ v) if self.axis == 0 else (sw @ v).sum()
        tp = weighted_sum(pred * yt)
        fp = weighted_sum(pred * (1 - yt))
        fn = weighted_sum((1 - pred) * yt)
        support = weighted_sum(yt)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn
        self.intermediate_weights += support

    def result(self):
        if not self._built:
            return 0.0 if self.average is not None else np.zeros(0, dtype=self.dtype)
        tp, fp, fn = (np.asarray(v) for v in (self.true_positives, self.false_positives, self.false_negatives))
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        beta2 = self.beta ** 2
        f_score = (1 + beta2) * (precision * recall) / (beta2 * precision + recall + EPSILON)
        if self.average == "weighted":
            weights = np.asarray(self.intermediate_weights)
            f_score = np.sum(f_score * weights / (weights.sum() + EPSILON))
        elif self.average is not None:
            f_score = np.mean(f_score)
        return self._cast_result(f_score)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "beta": self.beta, "average": self.average,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """Computes the F1 score ``2 * precision * recall / (precision + recall)`` for each
    class, or averaged over classes (FBetaScore with beta=1).

    Args:
        average: None (one score per class), 'micro', 'macro' or 'weighted'.
        threshold: (Optional) float in (0, 1]; None means top-1 per row.
        name: (Optional) string name of the metric instance.
        dtype: (Optional) data type of the metric result.

    Shape:
        y_true, y_pred: (N, C). sample_weight: (N,).

    Example:

    >>> m = F1Score(threshold=0.5)
    >>> m.update_state(np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]]),
    ...                np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]))
    >>> m.result().round(4)
    array([0.5   , 0.8   , 0.6667], dtype=float32)
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
