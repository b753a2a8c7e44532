"""fastnn.keras.utils: helpers of the Keras-style API (Keras 3's keras.utils).

Progbar draws the progress bar of fit/evaluate/predict; set_random_seed seeds every
generator a Keras program draws from.
"""

from ..backend import set_random_seed
from .progbar import Progbar

__all__ = ["Progbar", "set_random_seed"]
