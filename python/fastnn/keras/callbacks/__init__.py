"""fastnn.keras.callbacks: Keras 3's training callbacks."""

from .callback import Callback, CallbackList
from .history import History

__all__ = ["Callback", "CallbackList", "History"]
