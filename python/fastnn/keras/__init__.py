"""fastnn.keras: a Keras 3-style API over fastnn (``from fastnn import keras`` stands in for
``import keras``): Sequential and subclassed Models that are fastnn.nn Modules,
the functional API (``Model(inputs, outputs)``), compile/fit/evaluate/predict, layers,
losses, regularizers, optimizers with Keras's exact update rules, and callbacks.
"""

from . import (activations, backend, callbacks, datasets, initializers, layers, losses, metrics, models, optimizers,
               regularizers, utils)
from .layers import Input
from .models import Model, Sequential, load_model

__all__ = ["Sequential", "Model", "Input", "load_model", "layers", "models", "optimizers", "losses", "callbacks",
           "activations", "backend", "initializers", "metrics", "regularizers", "utils", "datasets"]
