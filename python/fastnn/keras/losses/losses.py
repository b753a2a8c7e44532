"""Keras 3 losses: classes, per-sample functions and ``get``, on fastnn Tensors (autograd
flows through them), with Keras's ``sum_over_batch_size`` reduction and 1e-7 probability
clipping; a softmax/sigmoid output is taken from its logits by fastnn's fused, stable
kernels, as Keras's TensorFlow backend does.
"""

import numpy as np

from ... import functional as F
from ...tensor import Tensor
from .. import backend

__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge", "mean_squared_error",
           "mean_absolute_error", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "hinge", "get", "serialize", "deserialize"]

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _pred(y_pred):
    if isinstance(y_pred, Tensor):
        return y_pred if y_pred.dtype.kind == "f" else y_pred.float()
    return Tensor(np.asarray(y_pred, np.float32))


def _true(y_true, dtype=np.float32):
    a = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
    return a if a.dtype == dtype else a.astype(dtype)


def _same_rank(y_true, y_pred):
    """Keras's squeeze_or_expand_to_same_rank: a trailing size-1 axis is added to or
    dropped from y_true so that its rank matches y_pred's."""
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        return y_true.reshape(y_true.shape + (1,))
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        return y_true.reshape(y_true.shape[:-1])
    return y_true


def _check_same_shape(op, y_true, y_pred):
    if y_true.shape != tuple(y_pred.shape):
        raise ValueError(f"[{op}] y_true and y_pred must have the same shape, got y_true {y_true.shape} and y_pred "
                         f"{tuple(y_pred.shape)}")


def _clip(p):
    eps = backend.epsilon()
    return p.clamp(eps, 1.0 - eps)


def mean_squared_error(y_true, y_pred):
    """Per sample: ``mean((y_true - y_pred) ** 2, axis=-1)``."""
    y_pred = _pred(y_pred)
    t = _same_rank(_true(y_true, y_pred.dtype), y_pred)
    _check_same_shape("mean_squared_error", t, y_pred)
    d = y_pred - Tensor(t)
    return (d * d).mean(-1)


def mean_absolute_error(y_true, y_pred):
    """Per sample: ``mean(|y_true - y_pred|, axis=-1)``."""
    y_pred = _pred(y_pred)
    t = _same_rank(_true(y_true, y_pred.dtype), y_pred)
    _check_same_shape("mean_absolute_error", t, y_pred)
    return (y_pred - Tensor(t)).abs().mean(-1)


def _smooth_binary(t, label_smoothing):
    return t * (1.0 - label_smoothing) + 0.5 * label_smoothing if label_smoothing else t


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per sample: ``mean(-(y log p + (1 - y) log(1 - p)), axis)`` with p clipped to
    [1e-7, 1 - 1e-7] (from_logits=False) or ``p = sigmoid(y_pred)`` computed stably."""
    y_pred = _pred(y_pred)
    t = _same_rank(_true(y_true, y_pred.dtype), y_pred)
    _check_same_shape("binary_crossentropy", t, y_pred)
    t = _smooth_binary(t, label_smoothing)
    logits = y_pred if from_logits else getattr(y_pred, "_keras_logits", None)
    if logits is not None:
        per = F.binary_cross_entropy_with_logits(logits, Tensor(t), reduction="none")
    else:
        p = _clip(y_pred)
        tt = Tensor(t)
        per = -(tt * p.log() + (1.0 - tt) * (1.0 - p).log())
    return per.mean(axis)


def _smooth_categorical(t, label_smoothing):
    if not label_smoothing:
        return t
    return t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per sample: ``-sum(y_true * log(p), axis)``. With from_logits=False, p is y_pred
    divided by its sum over ``axis`` and clipped to [1e-7, 1 - 1e-7] (Keras's rule);
    otherwise ``log p = log_softmax(y_pred)``."""
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred.dtype)
    _check_same_shape("categorical_crossentropy", t, y_pred)
    t = _smooth_categorical(t, label_smoothing)
    logits = y_pred if from_logits else getattr(y_pred, "_keras_logits", None)
    if logits is not None and axis in (-1, y_pred.ndim - 1):
        if logits.ndim == 2:
            return F.cross_entropy(logits, Tensor(t), reduction="none")
        return -(Tensor(t) * F.log_softmax(logits, dim=-1)).sum(-1)
    if logits is not None:
        return -(Tensor(t) * F.log_softmax(logits, dim=axis)).sum(axis)
    p = _clip(y_pred / y_pred.sum(axis, keepdim=True))
    return -(Tensor(t) * p.log()).sum(axis)


def _sparse_targets(op, y_true, y_pred):
    t = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
    if t.ndim == y_pred.ndim and t.shape[-1] == 1:
        t = t.reshape(t.shape[:-1])
    if t.shape != tuple(y_pred.shape[:-1]):
        raise ValueError(f"[{op}] y_true of shape {t.shape} does not match y_pred of shape {tuple(y_pred.shape)} "
                         "(expected class indices of shape y_pred.shape[:-1])")
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise ValueError(f"[{op}] y_true must hold integer class indices")
    elif t.dtype.kind not in "iu":
        raise TypeError(f"[{op}] y_true must hold integer class indices, got dtype {t.dtype}")
    return t.astype(np.int64, copy=False)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per sample: ``-log p[y_true]`` with y_true class indices (shape y_pred.shape[:-1], or
    with a trailing 1). p as in :func:`categorical_crossentropy`. Entries equal to
    ``ignore_class`` give 0."""
    if axis not in (-1,):
        raise NotImplementedError("[sparse_categorical_crossentropy] only axis=-1 is supported")
    op = "sparse_categorical_crossentropy"
    y_pred = _pred(y_pred)
    t = _sparse_targets(op, y_true, y_pred)
    c = y_pred.shape[-1]
    valid = np.ones(t.shape, bool) if ignore_class is None else t != ignore_class
    if np.any((t[valid] < 0) | (t[valid] >= c)):
        raise IndexError(f"[{op}] class indices must be in [0, {c}), got values from {t[valid].min()} to "
                         f"{t[valid].max()}")
    safe = np.where(valid, t, 0)
    logits = y_pred if from_logits else getattr(y_pred, "_keras_logits", None)
    if logits is not None:
        if logits.ndim == 2 and ignore_class is None:
            return F.cross_entropy(logits, Tensor(safe), reduction="none")
        logp = F.log_softmax(logits, dim=-1)
    else:
        logp = _clip(y_pred / y_pred.sum(-1, keepdim=True)).log()
    onehot = np.zeros(tuple(y_pred.shape), y_pred.dtype)
    np.put_along_axis(onehot, safe[..., None], 1.0, axis=-1)
    onehot *= valid[..., None]
    return -(logp * Tensor(onehot)).sum(-1)


def hinge(y_true, y_pred):
    """Per sample: ``mean(max(1 - y_true * y_pred, 0), axis=-1)``; y_true in {0, 1} is
    mapped to {-1, 1} first (Keras's rule)."""
    y_pred = _pred(y_pred)
    t = _same_rank(_true(y_true, y_pred.dtype), y_pred)
    _check_same_shape("hinge", t, y_pred)
    if t.size and np.all((t == 0) | (t == 1)):
        t = 2.0 * t - 1.0
    return (1.0 - Tensor(t) * y_pred).clamp(min=0.0).mean(-1)


def _reduce(values, sample_weight, reduction, op):
    """Keras's reduce_weighted_values over per-sample values (a Tensor)."""
    if sample_weight is not None:
        w = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight, values.dtype)
        while w.ndim > values.ndim and w.shape[-1] == 1:
            w = w.reshape(w.shape[:-1])
        while w.ndim < values.ndim:
            w = w[..., None]
        try:
            np.broadcast_shapes(w.shape, tuple(values.shape))
        except ValueError:
            raise ValueError(f"[{op}] sample_weight of shape {w.shape} does not match the per-sample losses of shape "
                             f"{tuple(values.shape)}") from None
        values = values * Tensor(w)
    if reduction in ("none", None):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return total / float(np.broadcast_to(w, tuple(values.shape)).sum())
    return total / float(max(values.numel(), 1))


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` is the reduced value of
    ``call(y_true, y_pred)`` (the per-sample losses).

    Args:
        name: the loss's name. reduction: ``'sum_over_batch_size'`` (default), ``'sum'``,
            ``'mean'``, ``'mean_with_sample_weight'`` or ``'none'``.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"[{type(self).__name__}] Invalid value for argument `reduction`. Expected one of "
                             f"{_REDUCTIONS[:-1]}. Received: reduction={reduction!r}")
        self.name = name or backend.snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        return _reduce(self.call(y_true, y_pred), sample_weight, self.reduction, self.name)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A Loss from a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn, self._fn_kwargs = fn, kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(LossFunctionWrapper):
    """Mean of the squared errors (see :func:`mean_squared_error`).

    Example::

        MeanSquaredError()(np.array([[0., 1.]]), fastnn.tensor([[1., 1.]]))   # 0.5
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None and self.reduction == "sum_over_batch_size":
            y_pred = _pred(y_pred)
            t = _same_rank(_true(y_true, y_pred.dtype), y_pred)
            if t.shape == tuple(y_pred.shape):  # the mean of the row means is the mean: one fused kernel
                return F.mse_loss(y_pred, Tensor(np.ascontiguousarray(t)))
        return super().__call__(y_true, y_pred, sample_weight)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of the absolute errors (see :func:`mean_absolute_error`)."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None and self.reduction == "sum_over_batch_size":
            y_pred = _pred(y_pred)
            t = _same_rank(_true(y_true, y_pred.dtype), y_pred)
            if t.shape == tuple(y_pred.shape):
                return F.l1_loss(y_pred, Tensor(np.ascontiguousarray(t)))
        return super().__call__(y_true, y_pred, sample_weight)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy (see :func:`binary_crossentropy`).

    Args:
        from_logits: y_pred holds logits (default False: probabilities).
        label_smoothing: ``y = y (1 - s) + 0.5 s``. axis: the averaged axis (default -1).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy against one-hot (or probability) targets (see
    :func:`categorical_crossentropy`).

    Args:
        from_logits: default False. label_smoothing: ``y = y (1 - s) + s / classes``.
        axis: the class axis (default -1).
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _pred(y_pred)
        logits = y_pred if self.from_logits else getattr(y_pred, "_keras_logits", None)
        if (sample_weight is None and self.reduction == "sum_over_batch_size" and logits is not None
                and logits.ndim == 2 and self.axis in (-1, 1)):
            t = _true(y_true, y_pred.dtype)
            _check_same_shape(self.name, t, y_pred)
            return F.cross_entropy(logits, Tensor(np.ascontiguousarray(t)), label_smoothing=self.label_smoothing)
        return super().__call__(y_true, y_pred, sample_weight)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy against integer class indices (see
    :func:`sparse_categorical_crossentropy`).

    Args:
        from_logits: default False. ignore_class: a class index whose entries count zero.

    Example::

        loss = SparseCategoricalCrossentropy()
        loss(np.array([1]), fastnn.tensor([[0.1, 0.9]]))   # -log(0.9)
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, ignore_class=ignore_class)
        self.from_logits, self.ignore_class = from_logits, ignore_class

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _pred(y_pred)
        logits = y_pred if self.from_logits else getattr(y_pred, "_keras_logits", None)
        if (sample_weight is None and self.reduction == "sum_over_batch_size" and self.ignore_class is None
                and logits is not None and logits.ndim == 2):
            t = _sparse_targets(self.name, y_true, y_pred)
            return F.cross_entropy(logits, Tensor(np.ascontiguousarray(t)))  # the fused log-softmax kernel
        return super().__call__(y_true, y_pred, sample_weight)


class Hinge(LossFunctionWrapper):
    """Hinge loss (see :func:`hinge`)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


_CLASSES = {"MeanSquaredError": MeanSquaredError, "MeanAbsoluteError": MeanAbsoluteError,
            "BinaryCrossentropy": BinaryCrossentropy, "CategoricalCrossentropy": CategoricalCrossentropy,
            "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy, "Hinge": Hinge}
_ALIASES = {"mse": MeanSquaredError, "mean_squared_error": MeanSquaredError, "mae": MeanAbsoluteError,
            "mean_absolute_error": MeanAbsoluteError, "binary_crossentropy": BinaryCrossentropy,
            "bce": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
            "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "hinge": Hinge, **_CLASSES}
_FUNCTIONS = {mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
              binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
              sparse_categorical_crossentropy: SparseCategoricalCrossentropy, hinge: Hinge}

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


def get(identifier):
    """A loss from a name (``'mse'``, ``'sparse_categorical_crossentropy'``,
    ``'MeanSquaredError'``, ...), a Loss instance, a config dict, or a callable
    ``fn(y_true, y_pred)`` (the module's functions map to their classes; other callables
    return per-sample losses, reduced as Keras does). None gives None.

    Raises:
        ValueError: an unknown name or an uninterpretable identifier.
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier)
        if cls is None:
            raise ValueError(f"[losses.get] Could not interpret loss identifier: {identifier!r}; known: "
                             f"{', '.join(sorted(_ALIASES))}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"[losses.get] Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    if type(loss).__name__ in _CLASSES and type(loss) is _CLASSES[type(loss).__name__]:
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    raise ValueError(f"[losses.serialize] {loss!r} is not a built-in loss and cannot be saved by name")


def deserialize(config):
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"[losses.deserialize] Unknown loss {config.get('class_name')!r}")
    return cls(**config.get("config", {}))
