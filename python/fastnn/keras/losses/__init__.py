"""fastnn.keras.losses: Keras 3's loss classes, their per-sample functions and ``get``."""

from .losses import *  # noqa: F401,F403
from .losses import MAE, MSE, __all__, mae, mse  # noqa: F401
