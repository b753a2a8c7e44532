"""Which way a monitored quantity should move: the "auto"/"min"/"max" rule shared by
EarlyStopping, ModelCheckpoint and ReduceLROnPlateau.

"auto" follows Keras: the loss is minimised; a metric the model declares (`_direction` "up"
or "down" on a metric in `model.metrics`) goes its declared way; otherwise names of
quantities that grow as the model improves (accuracy, AUC, precision, recall, F-scores, IoU,
R2) are maximised and everything else (errors, losses) is minimised.
"""

import warnings

# Substrings of metric names that Keras's built-in metrics maximise ("acc" covers
# accuracy, acc, binary_accuracy, top_k_categorical_accuracy, ...).
_MAXIMISED = ("acc", "auc", "precision", "recall", "f1_score", "fbeta_score", "iou", "r2_score")


def check_mode(owner, mode):
    """Returns `mode`, or "auto" with a UserWarning (as Keras does) when it is not one of
    "auto", "min", "max"."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def _declared_direction(model, name):
    metrics = getattr(model, "metrics", None)
    if not metrics:
        return None
    for metric in metrics:
        # A container of metrics (as Keras's compiled metrics) is searched one level down.
        for m in getattr(metric, "metrics", None) or [metric]:
            if getattr(m, "name", None) == name:
                direction = getattr(m, "_direction", None)
                if direction in ("up", "down"):
                    return direction
    return None


def is_maximised(monitor, mode, model=None):
    """True when larger values of `monitor` are better under `mode`."""
    if mode == "max":
        return True
    if mode == "min":
        return False
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return False
    direction = _declared_direction(model, name)
    if direction is not None:
        return direction == "up"
    return any(part in name for part in _MAXIMISED)
