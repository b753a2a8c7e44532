"""Metric functions on NumPy arrays (or fastnn Tensors), with scikit-learn's names, arguments
and semantics: accuracy_score, precision/recall/f1/fbeta scores, confusion_matrix and the
mean absolute/squared errors. Keras's per-sample accuracy functions (binary_accuracy,
categorical_accuracy, ...) live here too; fastnn.keras.metrics builds its classes on them.
Scores come back as Python floats, per-label or per-output results as float64 arrays.
"""

import numbers
import warnings

import numpy as np

from .tensor import Tensor

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "precision_score",
    "recall_score",
    "f1_score",
    "fbeta_score",
    "precision_recall_fscore_support",
    "confusion_matrix",
    "mean_absolute_error",
    "mean_squared_error",
    "root_mean_squared_error",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
]


class UndefinedMetricWarning(UserWarning):
    """Warning raised when a score is ill-defined (a division by zero) and ``zero_division``
    is ``"warn"``: the score is then set to 0.0, as scikit-learn does."""


# --------------------------------------------------------------------------------------------
# Input checks shared by every function
# --------------------------------------------------------------------------------------------

def _asarray(x, dtype=None):
    """An ndarray view of x; Tensors give their data (detached), never a graph node."""
    if isinstance(x, Tensor):
        x = x.detach().numpy()
    return np.asarray(x, dtype=dtype)


def _check_consistent_length(fn, *arrays):
    lengths = [a.shape[0] if a.ndim else 1 for a in arrays if a is not None]
    if len(set(lengths)) > 1:
        raise ValueError(f"[{fn}] Found input variables with inconsistent numbers of samples: {lengths}")
    if lengths and lengths[0] == 0:
        raise ValueError(f"[{fn}] Found array with 0 sample(s) (shape={arrays[0].shape}) while a minimum of 1 "
                         "is required")


def _check_sample_weight(fn, sample_weight, n):
    """None, or a float64 array of shape (n,); a scalar is repeated n times."""
    if sample_weight is None:
        return None
    sw = _asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        return np.full(n, float(sw))
    if sw.ndim != 1:
        raise ValueError(f"[{fn}] Sample weights must be 1D array or scalar, got shape {sw.shape}")
    if sw.shape[0] != n:
        raise ValueError(f"[{fn}] sample_weight.shape == {sw.shape}, expected ({n},)")
    return sw


def _type_of_target(y):
    """scikit-learn's target types: 'binary', 'multiclass', 'multilabel-indicator',
    'continuous', 'multiclass-multioutput', 'continuous-multioutput' or 'unknown'."""
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] == 0) or y.dtype.kind == "c":
        return "unknown"
    is_numeric = y.dtype.kind in "biuf"
    if y.ndim == 2 and y.shape[1] > 1:
        if is_numeric and np.all((y == 0) | (y == 1)):
            return "multilabel-indicator"
        suffix = "-multioutput"
    else:
        suffix = ""
    if y.dtype.kind == "f" and np.any(y != np.floor(y)):
        return "continuous" + suffix
    if suffix:
        return "multiclass" + suffix
    return "multiclass" if np.unique(y).size > 2 else "binary"


def _is_text(a):
    return a.dtype.kind in "USO"


def _check_targets(fn, y_true, y_pred):
    """(y_type, y_true, y_pred): the common target type, labels raveled to 1-D unless
    multilabel-indicator. Mixed or unsupported types raise ValueError, as in scikit-learn."""
    yt, yp = _asarray(y_true), _asarray(y_pred)
    _check_consistent_length(fn, yt, yp)
    type_true, type_pred = _type_of_target(yt), _type_of_target(yp)
    types = {type_true, type_pred}
    if types == {"binary", "multiclass"}:
        types = {"multiclass"}
    if len(types) > 1:
        raise ValueError(f"[{fn}] Classification metrics can't handle a mix of {type_true} and {type_pred} "
                         f"targets (y_true shape {yt.shape}, y_pred shape {yp.shape})")
    y_type = types.pop()
    if y_type not in ("binary", "multiclass", "multilabel-indicator"):
        raise ValueError(f"[{fn}] {y_type} is not supported (y_true shape {yt.shape}, y_pred shape {yp.shape})")
    if y_type == "multilabel-indicator":
        if yt.shape != yp.shape:
            raise ValueError(f"[{fn}] y_true and y_pred have different shapes: {yt.shape} and {yp.shape}")
        return y_type, yt, yp
    yt, yp = yt.reshape(-1), yp.reshape(-1)
    if _is_text(yt) != _is_text(yp):
        raise TypeError(f"[{fn}] Labels in y_true and y_pred should be of the same type. Got "
                        f"y_true={np.unique(yt)} and y_pred={np.unique(yp)}")
    if y_type == "binary" and np.union1d(yt, yp).size > 2:
        y_type = "multiclass"
    return y_type, yt, yp


def _label_indices(labels, values):
    """Position of each value in `labels` (in the given order), -1 where it is absent."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.searchsorted(sorted_labels, values)
    pos_clipped = np.minimum(pos, sorted_labels.size - 1)
    found = sorted_labels[pos_clipped] == values
    return np.where(found, order[pos_clipped], -1)


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------

def accuracy_score(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Accuracy classification score: the (weighted) fraction of samples predicted exactly.
    For multilabel-indicator targets a sample counts only when all its labels match
    (subset accuracy).

    Args:
        y_true: true labels, shape (n_samples,) or a (n_samples, n_labels) indicator matrix.
        y_pred: predicted labels, the same form as y_true.
        normalize: if False, return the (weighted) number of correct samples instead.
        sample_weight: optional weights, shape (n_samples,).

    Example:
        >>> accuracy_score([0, 1, 2, 3], [0, 2, 1, 3])
        0.5
    """
    y_type, yt, yp = _check_targets("accuracy_score", y_true, y_pred)
    sw = _check_sample_weight("accuracy_score", sample_weight, yt.shape[0])
    score = np.all(yt == yp, axis=1) if y_type == "multilabel-indicator" else yt == yp
    if normalize:
        return float(np.average(score, weights=sw))
    return float(score.sum() if sw is None else np.dot(score, sw))


def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None):
    """Confusion matrix C with C[i, j] the (weighted) number of samples of true label i
    predicted as label j.

    Args:
        y_true, y_pred: labels, shape (n_samples,).
        labels: the labels indexing the matrix, in this order; samples whose label is not
            listed are ignored. Default: the sorted union of y_true and y_pred.
        sample_weight: optional weights, shape (n_samples,).
        normalize: 'true' (rows sum to 1), 'pred' (columns sum to 1), 'all' (the matrix sums
            to 1) or None. Empty rows/columns stay 0.

    Shape:
        Output: (n_labels, n_labels); int64, or float64 with float weights or normalize.

    Example:
        >>> confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2])
        array([[2, 0, 0],
               [0, 0, 1],
               [1, 0, 2]])
    """
    fn = "confusion_matrix"
    if normalize not in ("true", "pred", "all", None):
        raise ValueError(f"[{fn}] normalize must be one of {{'true', 'pred', 'all', None}}, got {normalize!r}")
    y_type, yt, yp = _check_targets(fn, y_true, y_pred)
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"[{fn}] {y_type} is not supported")
    if labels is None:
        labels = np.union1d(yt, yp)
    else:
        labels = _asarray(labels).reshape(-1)
        if labels.size == 0:
            raise ValueError(f"[{fn}] 'labels' should contains at least one label.")
        if not np.isin(yt, labels).any():
            raise ValueError(f"[{fn}] At least one label specified must be in y_true; labels={labels.tolist()}")
    sw = _check_sample_weight(fn, sample_weight, yt.shape[0])
    if sample_weight is not None and _asarray(sample_weight).dtype.kind in "iub":
        dtype = np.int64
    else:
        dtype = np.int64 if sw is None else np.float64
    n = labels.size
    ti, pi = _label_indices(labels, yt), _label_indices(labels, yp)
    keep = (ti >= 0) & (pi >= 0)
    cm = np.bincount(ti[keep] * n + pi[keep], weights=None if sw is None else sw[keep], minlength=n * n)
    cm = cm.reshape(n, n).astype(dtype)
    if normalize is None:
        return cm
    with np.errstate(all="ignore"):
        if normalize == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        else:
            cm = cm / cm.sum()
    return np.nan_to_num(cm)


_AVERAGES = ("binary", "micro", "macro", "weighted", "samples", None)


def _check_zero_division(fn, zero_division):
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return
    elif isinstance(zero_division, numbers.Real) and not isinstance(zero_division, bool):
        if zero_division in (0, 1) or np.isnan(zero_division):
            return
    raise ValueError(f"[{fn}] zero_division must be 'warn', 0.0, 1.0 or np.nan, got {zero_division!r}")


def _prf_counts(fn, y_true, y_pred, labels, pos_label, average, sample_weight):
    """(tp_sum, pred_sum, true_sum, sample_weight) per selected label (or per sample for
    average='samples'), weighted; micro averaging sums them into length-1 arrays."""
    if average not in _AVERAGES:
        raise ValueError(f"[{fn}] average has to be one of {_AVERAGES}, got average={average!r}")
    y_type, yt, yp = _check_targets(fn, y_true, y_pred)
    n_samples = yt.shape[0]
    sw = _check_sample_weight(fn, sample_weight, n_samples)
    multilabel = y_type == "multilabel-indicator"
    present = np.arange(yt.shape[1]) if multilabel else np.union1d(yt, yp)

    if average == "binary":
        if y_type != "binary":
            options = [a for a in _AVERAGES if a != "binary" and (multilabel or a != "samples")]
            raise ValueError(f"[{fn}] Target is {y_type} but average='binary'. Please choose another average "
                             f"setting, one of {options}. (labels found: {present.tolist()})")
        if pos_label not in present.tolist() and present.size >= 2:
            raise ValueError(f"[{fn}] pos_label={pos_label!r} is not a valid label. It should be one of "
                             f"{present.tolist()}")
        labels = [pos_label]
    elif pos_label not in (None, 1):
        warnings.warn(f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' (got "
                      f"{average!r}). You may use labels=[pos_label] to specify a single positive class.",
                      UserWarning, stacklevel=3)
    if average == "samples" and not multilabel:
        raise ValueError(f"[{fn}] Sample-based precision, recall, fscore is not meaningful outside multilabel "
                         "classification. See the accuracy_score instead.")

    if multilabel:
        if labels is not None:
            labels = _asarray(labels).reshape(-1)
            if labels.size and labels.max() >= yt.shape[1]:
                raise ValueError(f"[{fn}] All labels must be in [0, n labels) for multilabel targets. "
                                 f"Got {labels.max()} > {yt.shape[1] - 1}")
            if labels.size and labels.min() < 0:
                raise ValueError(f"[{fn}] All labels must be in [0, n labels) for multilabel targets. "
                                 f"Got {labels.min()} < 0")
            yt, yp = yt[:, labels], yp[:, labels]
        t, p = yt.astype(bool), yp.astype(bool)

        def count(m):
            # per sample for 'samples' (the weights then weight the average), else per label
            if average == "samples":
                return m.sum(axis=1, dtype=np.float64)
            return m.sum(axis=0, dtype=np.float64) if sw is None else sw @ m

        tp_sum, pred_sum, true_sum = count(t & p), count(p), count(t)
    else:
        labels = present if labels is None else _asarray(labels).reshape(-1)
        n = labels.size
        ti, pi = _label_indices(labels, yt), _label_indices(labels, yp)
        hit, t_in, p_in = (ti == pi) & (ti >= 0), ti >= 0, pi >= 0

        def count(idx, mask):
            return np.bincount(idx[mask], weights=None if sw is None else sw[mask], minlength=n).astype(np.float64)

        tp_sum, pred_sum, true_sum = count(ti, hit), count(pi, p_in), count(ti, t_in)

    if average == "micro":
        tp_sum, pred_sum, true_sum = (np.array([a.sum()]) for a in (tp_sum, pred_sum, true_sum))
    return tp_sum, pred_sum, true_sum, sw


def _prf_divide(numerator, denominator, metric, modifier, average, warn_for, zero_division):
    """numerator / denominator with zero_division where the denominator is 0, warning with
    UndefinedMetricWarning when zero_division is 'warn' and `metric` is in warn_for."""
    mask = denominator == 0
    denominator = np.where(mask, 1.0, denominator)
    result = numerator / denominator
    if not mask.any():
        return result
    result[mask] = 0.0 if zero_division == "warn" else float(zero_division)
    if zero_division != "warn" or metric not in warn_for:
        return result
    axis0, axis1 = ("label", "sample") if average == "samples" else ("sample", "label")
    where = "due to" if result.size == 1 else f"in {axis1}s with"
    warnings.warn(f"{metric.capitalize()} is ill-defined and being set to 0.0 {where} no {modifier} {axis0}s. "
                  "Use `zero_division` parameter to control this behavior.", UndefinedMetricWarning, stacklevel=4)
    return result


def _nanaverage(a, weights=None):
    """Average ignoring NaN entries (zero_division=np.nan); weights summing to 0 are ignored."""
    mask = np.isnan(a)
    if a.size == 0 or mask.all():
        return float("nan")
    a = a[~mask]
    if weights is not None:
        weights = weights[~mask]
        if weights.sum() == 0:
            weights = None
    return float(np.average(a, weights=weights))


def precision_recall_fscore_support(y_true, y_pred, *, beta=1.0, labels=None, pos_label=1, average=None,
                                    warn_for=("precision", "recall", "f-score"), sample_weight=None,
                                    zero_division="warn"):
    """Precision ``tp / (tp + fp)``, recall ``tp / (tp + fn)``, F-beta
    ``(1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)`` and support (the number of true
    samples) for each label, or averaged.

    Args:
        y_true, y_pred: labels (n_samples,) or indicator matrices (n_samples, n_labels).
        beta: weight of recall in the F-score (> 0).
        labels: the labels to report (and, for averages, to include); default all present.
        pos_label: the positive class when average='binary' (ignored otherwise, with a
            warning when it is not 1).
        average: None (per label), 'binary' (pos_label only, binary targets), 'micro'
            (global counts), 'macro' (unweighted mean over labels), 'weighted' (mean weighted
            by support) or 'samples' (mean over samples, multilabel only).
        warn_for: the scores that warn (UndefinedMetricWarning) when ill-defined.
        sample_weight: optional weights, shape (n_samples,).
        zero_division: value of an ill-defined score: 'warn' (0.0 and a warning), 0.0, 1.0
            or np.nan (NaN scores are left out of averages).

    Returns:
        (precision, recall, fbeta, support): floats when averaged (support then None),
        else float64 arrays of shape (n_labels,).

    Example:
        >>> precision_recall_fscore_support([0, 1, 1, 0], [0, 1, 0, 0], average="binary")
        (1.0, 0.5, 0.6666666666666666, None)
    """
    fn = "precision_recall_fscore_support"
    if not isinstance(beta, numbers.Real) or not beta > 0:
        raise ValueError(f"[{fn}] beta should be >0 in the F-beta score, got {beta!r}")
    return _prfs(fn, y_true, y_pred, beta, labels, pos_label, average, warn_for, sample_weight, zero_division)


def _prfs(fn, y_true, y_pred, beta, labels, pos_label, average, warn_for, sample_weight, zero_division):
    _check_zero_division(fn, zero_division)
    tp_sum, pred_sum, true_sum, sw = _prf_counts(fn, y_true, y_pred, labels, pos_label, average, sample_weight)
    precision = _prf_divide(tp_sum, pred_sum, "precision", "predicted", average, warn_for, zero_division)
    recall = _prf_divide(tp_sum, true_sum, "recall", "true", average, warn_for, zero_division)
    beta2 = float(beta) ** 2
    fscore = _prf_divide((1 + beta2) * tp_sum, beta2 * true_sum + pred_sum, "f-score", "true nor predicted",
                         average, warn_for, zero_division)
    if average is None:
        return precision, recall, fscore, true_sum
    weights = true_sum if average == "weighted" else (sw if average == "samples" else None)
    return _nanaverage(precision, weights), _nanaverage(recall, weights), _nanaverage(fscore, weights), None


_SCORE_ARGS_DOC = """
    Args:
        y_true, y_pred: labels (n_samples,) or indicator matrices (n_samples, n_labels).
        labels: the labels to report (and, for averages, to include); default all present.
        pos_label: the positive class when average='binary'.
        average: 'binary' (default: pos_label only, binary targets), None (per label),
            'micro' (global counts), 'macro' (unweighted mean over labels), 'weighted' (mean
            weighted by support) or 'samples' (mean over samples, multilabel only).
        sample_weight: optional weights, shape (n_samples,).
        zero_division: value when ill-defined: 'warn' (0.0 and an UndefinedMetricWarning),
            0.0, 1.0 or np.nan (left out of averages).

    Returns:
        A float, or a float64 array of shape (n_labels,) when average is None.
"""


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
                    zero_division="warn"):
    p, _, _, _ = _prfs("precision_score", y_true, y_pred, 1.0, labels, pos_label, average, ("precision",),
                       sample_weight, zero_division)
    return p


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division="warn"):
    _, r, _, _ = _prfs("recall_score", y_true, y_pred, 1.0, labels, pos_label, average, ("recall",),
                       sample_weight, zero_division)
    return r


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
             zero_division="warn"):
    _, _, f, _ = _prfs("f1_score", y_true, y_pred, 1.0, labels, pos_label, average, ("f-score",),
                       sample_weight, zero_division)
    return f


def fbeta_score(y_true, y_pred, *, beta, labels=None, pos_label=1, average="binary", sample_weight=None,
                zero_division="warn"):
    if not isinstance(beta, numbers.Real) or not beta > 0:
        raise ValueError(f"[fbeta_score] beta should be >0 in the F-beta score, got {beta!r}")
    _, _, f, _ = _prfs("fbeta_score", y_true, y_pred, beta, labels, pos_label, average, ("f-score",),
                       sample_weight, zero_division)
    return f


precision_score.__doc__ = """Precision ``tp / (tp + fp)``: the fraction of predicted positives that are
    true positives.
""" + _SCORE_ARGS_DOC + """
    Example:
        >>> precision_score([0, 1, 1, 0], [1, 1, 0, 0])
        0.5
"""
recall_score.__doc__ = """Recall ``tp / (tp + fn)``: the fraction of true positives that are found.
""" + _SCORE_ARGS_DOC + """
    Example:
        >>> recall_score([0, 1, 1, 0], [1, 1, 0, 0])
        0.5
"""
f1_score.__doc__ = """F1 score ``2 tp / (2 tp + fp + fn)``, the harmonic mean of precision and recall.
""" + _SCORE_ARGS_DOC + """
    Example:
        >>> f1_score([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], average="macro")
        0.26666666666666666
"""
fbeta_score.__doc__ = """F-beta score ``(1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)``: recall
    counts beta times as much as precision (keyword ``beta`` > 0, required).
""" + _SCORE_ARGS_DOC + """
    Example:
        >>> fbeta_score([0, 1, 1, 0], [1, 1, 0, 0], beta=2.0)
        0.5
"""


# --------------------------------------------------------------------------------------------
# Regression
# --------------------------------------------------------------------------------------------

def _check_reg_targets(fn, y_true, y_pred, sample_weight, multioutput):
    """float64 (n_samples, n_outputs) arrays, the sample weights and the output weights
    (None for a uniform average, 'raw_values' for none)."""
    yt, yp = _asarray(y_true, dtype=np.float64), _asarray(y_pred, dtype=np.float64)
    _check_consistent_length(fn, yt, yp)
    for name, a in (("y_true", yt), ("y_pred", yp)):
        if a.ndim > 2 or a.ndim == 0:
            raise ValueError(f"[{fn}] {name} must be 1-D or 2-D, got shape {a.shape}")
    yt, yp = yt.reshape(yt.shape[0], -1), yp.reshape(yp.shape[0], -1)
    if yt.shape[1] != yp.shape[1]:
        raise ValueError(f"[{fn}] y_true and y_pred have different number of output "
                         f"({yt.shape[1]}!={yp.shape[1]})")
    sw = _check_sample_weight(fn, sample_weight, yt.shape[0])
    if isinstance(multioutput, str):
        if multioutput not in ("raw_values", "uniform_average"):
            raise ValueError(f"[{fn}] Allowed 'multioutput' string values are ('raw_values', "
                             f"'uniform_average'). You provided multioutput={multioutput!r}")
        weights = multioutput if multioutput == "raw_values" else None
    else:
        weights = _asarray(multioutput, dtype=np.float64).reshape(-1)
        if yt.shape[1] == 1:
            raise ValueError(f"[{fn}] Custom weights are useful only in multi-output cases.")
        if weights.size != yt.shape[1]:
            raise ValueError(f"[{fn}] There must be equally many custom weights ({weights.size}) as outputs "
                             f"({yt.shape[1]}).")
    return yt, yp, sw, weights


def _elementwise_error(y_true, y_pred, squared):
    """|y_pred - y_true| or (y_pred - y_true)^2, elementwise: the one formula behind both the
    scikit-learn and the Keras forms of MAE / MSE / RMSE."""
    diff = y_pred - y_true
    return diff * diff if squared else np.abs(diff)


def _average_outputs(errors, weights):
    if isinstance(weights, str):
        return errors
    return float(np.average(errors, weights=weights))


def mean_absolute_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean absolute error ``mean(|y_true - y_pred|)`` over samples, per output.

    Args:
        y_true, y_pred: shape (n_samples,) or (n_samples, n_outputs).
        sample_weight: optional weights, shape (n_samples,).
        multioutput: 'uniform_average' (mean over outputs), 'raw_values' (one error per
            output) or an array of n_outputs weights.

    Example:
        >>> mean_absolute_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
        0.5
    """
    yt, yp, sw, weights = _check_reg_targets("mean_absolute_error", y_true, y_pred, sample_weight, multioutput)
    errors = np.average(_elementwise_error(yt, yp, squared=False), axis=0, weights=sw)
    return _average_outputs(errors, weights)


def mean_squared_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean squared error ``mean((y_true - y_pred)^2)`` over samples, per output.

    Args:
        y_true, y_pred: shape (n_samples,) or (n_samples, n_outputs).
        sample_weight: optional weights, shape (n_samples,).
        multioutput: 'uniform_average' (mean over outputs), 'raw_values' (one error per
            output) or an array of n_outputs weights.

    Example:
        >>> mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
        0.375
    """
    yt, yp, sw, weights = _check_reg_targets("mean_squared_error", y_true, y_pred, sample_weight, multioutput)
    errors = np.average(_elementwise_error(yt, yp, squared=True), axis=0, weights=sw)
    return _average_outputs(errors, weights)


def root_mean_squared_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Root mean squared error: ``sqrt`` of the mean squared error of each output, then
    averaged over outputs.

    Args:
        y_true, y_pred: shape (n_samples,) or (n_samples, n_outputs).
        sample_weight: optional weights, shape (n_samples,).
        multioutput: 'uniform_average' (mean over outputs), 'raw_values' (one error per
            output) or an array of n_outputs weights.

    Example:
        >>> root_mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
        0.6123724356957945
    """
    yt, yp, sw, weights = _check_reg_targets("root_mean_squared_error", y_true, y_pred, sample_weight,
                                             multioutput)
    errors = np.sqrt(np.average(_elementwise_error(yt, yp, squared=True), axis=0, weights=sw))
    return _average_outputs(errors, weights)


# --------------------------------------------------------------------------------------------
# Keras's per-sample functions (float32 results, as Keras's floatx)
# --------------------------------------------------------------------------------------------

def _squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rank alignment: when the ranks differ by one and the longer array ends in a
    size-1 axis, that axis is squeezed (or, for a rank-1 partner, the partner expanded)."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _check_broadcast(fn, a, b, a_shape, b_shape):
    if a.shape == b.shape:
        return  # the usual case, without np.broadcast_shapes's cost
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"[{fn}] y_true shape {a_shape} and y_pred shape {b_shape} do not match") from None


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-sample binary accuracy: the mean over the last axis of ``y_true == (y_pred >
    threshold)``, after Keras's rank alignment ((n,) labels with (n, 1) predictions give (n,)).

    Example:
        >>> binary_accuracy([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        array([1., 1., 1., 0.], dtype=float32)
    """
    yt, yp = _asarray(y_true), _asarray(y_pred)
    shapes = (yt.shape, yp.shape)
    yt, yp = _squeeze_or_expand_to_same_rank(yt, yp)
    _check_broadcast("binary_accuracy", yt, yp, *shapes)
    return np.mean(yt == (yp > threshold), axis=-1, dtype=np.float32)


def categorical_accuracy(y_true, y_pred):
    """Per-sample categorical accuracy: ``argmax(y_true, -1) == argmax(y_pred, -1)`` for
    one-hot (or probability) targets; y_pred may be logits.

    Example:
        >>> categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        array([0., 1.], dtype=float32)
    """
    yt_in, yp = _asarray(y_true), _asarray(y_pred)
    yt = np.argmax(yt_in, axis=-1)
    true_shape = yt.shape
    reshape_matches = yt.ndim == yp.ndim
    if reshape_matches:
        if yt.shape[-1] != 1:
            raise ValueError(f"[categorical_accuracy] y_true shape {yt_in.shape} and y_pred shape {yp.shape} "
                             "do not match")
        yt = yt[..., 0]
    pred = np.argmax(yp, axis=-1)
    _check_broadcast("categorical_accuracy", yt, pred, yt_in.shape, yp.shape)
    matches = (yt == pred).astype(np.float32)
    return matches.reshape(true_shape) if reshape_matches else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """Per-sample sparse categorical accuracy: ``y_true == argmax(y_pred, -1)`` for integer
    labels of shape (n,) or (n, 1).

    Example:
        >>> sparse_categorical_accuracy([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        array([0., 1.], dtype=float32)
    """
    yt, yp = _asarray(y_true), _asarray(y_pred)
    true_shape = yt.shape
    reshape_matches = yt.ndim == yp.ndim and yt.ndim > 0 and yt.shape[-1] == 1
    if reshape_matches:
        yt = yt[..., 0]
    pred = yp.argmax(axis=-1)
    _check_broadcast("sparse_categorical_accuracy", yt, pred, true_shape, yp.shape)
    matches = (yt == pred).astype(np.float32)
    if reshape_matches:
        matches = matches.reshape(true_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


def _in_top_k(fn, targets, predictions, k, true_shape):
    """targets (n,) int, predictions (n, C): whether each target's score is among the k
    largest; ties at the k-th place count as in (fewer than k scores strictly greater)."""
    if predictions.ndim != 2 or predictions.shape[0] != targets.shape[0]:
        raise ValueError(f"[{fn}] y_true shape {true_shape} and y_pred shape {predictions.shape} do not match")
    targets = targets.astype(np.int64)
    if targets.size and (targets.min() < 0 or targets.max() >= predictions.shape[1]):
        raise ValueError(f"[{fn}] labels must be in [0, {predictions.shape[1]}), got "
                         f"[{targets.min()}, {targets.max()}]")
    target_scores = np.take_along_axis(predictions, targets[:, None], axis=1)
    return (predictions > target_scores).sum(axis=1) < k


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample top-k accuracy for one-hot targets: whether ``argmax(y_true)`` is among
    the k highest-scored classes of y_pred.

    Example:
        >>> top_k_categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], k=1)
        array([0., 1.], dtype=float32)
    """
    yt_in, yp = _asarray(y_true), _asarray(y_pred)
    yt = np.argmax(yt_in, axis=-1)
    true_shape = yt.shape
    yp2 = yp.reshape(-1, yp.shape[-1]) if yp.ndim > 2 else yp
    matches = _in_top_k("top_k_categorical_accuracy", yt.reshape(-1), yp2, k, yt_in.shape)
    return matches.astype(np.float32).reshape(true_shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample top-k accuracy for integer labels: whether y_true is among the k
    highest-scored classes of y_pred.

    Example:
        >>> sparse_top_k_categorical_accuracy([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], k=1)
        array([0., 1.], dtype=float32)
    """
    yt, yp = _asarray(y_true), _asarray(y_pred)
    true_shape = yt.shape
    yp2 = yp.reshape(-1, yp.shape[-1]) if yp.ndim > 2 else yp
    matches = _in_top_k("sparse_top_k_categorical_accuracy", yt.reshape(-1), yp2, k, true_shape)
    return matches.astype(np.float32).reshape(true_shape)
