"""fastnn.keras.utils: helpers of the Keras-style API (Keras 3's keras.utils).

Progbar draws the progress bar of fit/evaluate/predict.
"""

from .progbar import Progbar

__all__ = ["Progbar"]
