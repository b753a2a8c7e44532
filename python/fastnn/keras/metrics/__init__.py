"""fastnn.keras.metrics: Keras 3's metric classes, its per-sample metric functions and
``get``, which resolves a string name, a config dict, a class, a function or an instance to
a Metric instance (functions are wrapped in MeanMetricWrapper, as ``compile`` does).
"""

import inspect

from ...metrics import (
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from .accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from .confusion_metrics import Precision, Recall
from .f_score_metrics import F1Score, FBetaScore
from .metric import Metric, to_snake_case
from .reduction_metrics import Mean, MeanMetricWrapper, Sum
from .regression_metrics import (
    MeanAbsoluteError,
    MeanSquaredError,
    RootMeanSquaredError,
    mean_absolute_error,
    mean_squared_error,
)

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

__all__ = [
    "Metric", "Mean", "Sum", "MeanMetricWrapper",
    "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "Precision", "Recall", "F1Score", "FBetaScore",
    "MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError",
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "mean_squared_error", "mean_absolute_error", "mse", "MSE", "mae", "MAE",
    "get", "serialize", "deserialize",
]

ALL_OBJECTS = (
    Metric, Mean, Sum, MeanMetricWrapper,
    MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError,
    Precision, Recall,
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    F1Score, FBetaScore,
)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update({to_snake_case(cls.__name__): cls for cls in ALL_OBJECTS})
# Short names: Keras's own aliases, plus 'acc' and 'rmse'. Each names the metric class; the
# instance keeps the class's default name (as in Keras).
ALL_OBJECTS_DICT.update({
    "acc": Accuracy,
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "rmse": RootMeanSquaredError, "RMSE": RootMeanSquaredError,
})


def serialize(metric):
    """``{"class_name": ..., "config": ...}`` for a Metric instance (rebuilt by deserialize)."""
    if not isinstance(metric, Metric):
        raise TypeError(f"[metrics.serialize] expected a Metric instance, got {type(metric).__name__}")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config, custom_objects=None):
    """The Metric instance described by ``{"class_name": ..., "config": {...}}``."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"[metrics.deserialize] expected a dict with 'class_name' and 'config', got {config!r}")
    objects = {**ALL_OBJECTS_DICT, **(custom_objects or {})}
    cls = objects.get(config["class_name"])
    if cls is None or not (inspect.isclass(cls) and issubclass(cls, Metric)):
        raise ValueError(f"[metrics.deserialize] unknown metric class {config['class_name']!r}; known: "
                         f"{sorted(n for n in objects if n[0].isupper())}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """Retrieves a metric as a Metric instance.

    Args:
        identifier: None; a name (a class name such as ``"CategoricalAccuracy"``, its snake
            case ``"categorical_accuracy"``, or an alias: ``"acc"``, ``"mse"``, ``"mae"``,
            ``"rmse"``); a ``{"class_name", "config"}`` dict; a Metric class or instance; or a
            function ``fn(y_true, y_pred)`` returning per-sample values, which is wrapped in
            ``MeanMetricWrapper(fn, name=fn.__name__)``.

    Returns:
        A Metric instance (the same object when given one), or None for None.

    Example:

    >>> get("accuracy")
    <Accuracy name=accuracy>
    >>> get("mse").name
    'mean_squared_error'
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
        if obj is None or obj is Metric or obj is MeanMetricWrapper:
            known = sorted(n for n in ALL_OBJECTS_DICT if ALL_OBJECTS_DICT[n] not in (Metric, MeanMetricWrapper))
            raise ValueError(f"[metrics.get] Could not interpret metric identifier: {identifier!r}. "
                             f"Known names: {', '.join(known)}")
        return obj()
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"[metrics.get] Could not interpret metric identifier: {identifier!r} "
                     f"(of type {type(identifier).__name__})")
