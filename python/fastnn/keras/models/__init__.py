"""fastnn.keras.models: Model (functional and subclassing APIs), Sequential and load_model."""

from .functional import Functional
from .model import Model
from .saving import load_model
from .sequential import Sequential

__all__ = ["Model", "Functional", "Sequential", "load_model"]
