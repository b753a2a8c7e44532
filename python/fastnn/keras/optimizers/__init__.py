"""fastnn.keras.optimizers: Keras 3's optimizers (exact Keras update rules) and ``get``."""

from . import schedules
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base_optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "schedules", "get", "serialize",
           "deserialize"]

_CLASSES = {"Adam": Adam, "AdamW": AdamW, "SGD": SGD, "RMSprop": RMSprop, "Adagrad": Adagrad}
_ALIASES = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, **_CLASSES}


def get(identifier):
    """An optimizer from a name (``'adam'``, ``'sgd'``, ``'rmsprop'``, ``'adagrad'``,
    ``'adamw'``, or the class names), a config dict, or an Optimizer (returned as is).

    Raises:
        ValueError: an unknown name or identifier.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier) or _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"[optimizers.get] Could not interpret optimizer identifier: {identifier!r}; known: "
                             f"{', '.join(sorted(k for k in _ALIASES if k.islower()))}")
        return cls()
    raise ValueError(f"[optimizers.get] Could not interpret optimizer identifier: {identifier!r}")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"[optimizers.deserialize] Unknown optimizer {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))
