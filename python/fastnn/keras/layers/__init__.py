"""fastnn.keras.layers: Keras 3's layers (channels_last image layers, merging layers for the
functional API) over fastnn's kernels."""

from .convolutional import *  # noqa: F401,F403
from .convolutional import __all__ as _convolutional
from .core import *  # noqa: F401,F403
from .core import __all__ as _core
from .layer import Input, InputLayer, KerasTensor, Layer
from .merging import *  # noqa: F401,F403
from .merging import __all__ as _merging
from .normalization import BatchNormalization
from .torch_module_wrapper import TorchModuleWrapper

Conv2d = Conv2D  # noqa: F405  (Keras's aliases)
MaxPool2D = MaxPooling2D  # noqa: F405
AvgPool2D = AveragePooling2D  # noqa: F405
GlobalAvgPool2D = GlobalAveragePooling2D  # noqa: F405
GlobalMaxPool2D = GlobalMaxPooling2D  # noqa: F405

__all__ = (["Input", "InputLayer", "KerasTensor", "Layer", "BatchNormalization", "TorchModuleWrapper", "Conv2d",
            "MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D"] + _convolutional + _core + _merging)

_BY_NAME = {name: globals()[name] for name in __all__ if isinstance(globals()[name], type)}


def deserialize(config):
    """A layer from ``{"class_name": ..., "config": {...}}`` (what saved models hold).

    Raises:
        ValueError: an unknown class name.
    """
    cls = _BY_NAME.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"[layers.deserialize] Unknown layer class {config.get('class_name')!r}")
    return cls.from_config(dict(config.get("config", {})))


def serialize(layer):
    """``{"class_name": ..., "config": layer.get_config()}``."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
