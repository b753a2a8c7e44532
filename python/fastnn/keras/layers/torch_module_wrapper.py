"""TorchModuleWrapper: any fastnn.nn.Module as a Keras layer (Keras 3's
``keras.layers.TorchModuleWrapper``), so it can sit in a Sequential and be compiled and
fitted. Its weights are the module's parameters, in the module's own layouts.
"""

import numpy as np

from ...autograd import no_grad
from ...nn.module import Module
from ...tensor import Tensor
from .layer import Layer

__all__ = ["TorchModuleWrapper"]


class TorchModuleWrapper(Layer):
    """Wraps a fastnn :class:`~fastnn.nn.Module`: calling the layer calls the module (in
    training mode when the layer is called with ``training=True``, else in eval mode).

    The module receives the tensor as the model has it (a Keras image tensor is
    channels_last; a fastnn.nn.Conv2d inside expects NCHW, so permute in the module if
    needed).

    Args:
        module: the fastnn.nn.Module to wrap.
        name: the layer's name (default ``torch_module_wrapper``, numbered).
        output_shape: the output shape without the batch dimension; by default found by
            running the module on one zero sample.

    Example::

        model = Sequential([Input((20,)), TorchModuleWrapper(fastnn.nn.Linear(20, 5)), Dense(1)])
    """

    def __init__(self, module, name=None, output_shape=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(module, Module):
            raise TypeError(f"[TorchModuleWrapper] module must be a fastnn.nn.Module, got {type(module).__name__}")
        self.module = module
        self._fixed_output_shape = None if output_shape is None else tuple(output_shape)

    def _own_weights(self):
        return []

    def _weight_entries(self):
        return [(None, 0, p, self._trainable) for p in self.module.parameters()]

    def call(self, inputs, training=None):
        mode = bool(training)
        if self.module.training != mode:
            self.module.train(mode)
        return self.module(inputs)

    def compute_output_shape(self, input_shape):
        if self._fixed_output_shape is not None:
            return (input_shape[0],) + self._fixed_output_shape
        was = self.module.training
        self.module.train(False)
        try:
            with no_grad():
                out = self.module(Tensor(np.zeros((1,) + tuple(input_shape[1:]), np.float32)))
        finally:
            self.module.train(was)
        return (input_shape[0],) + tuple(out.shape[1:])

    def get_config(self):
        raise NotImplementedError(f"[TorchModuleWrapper] layer {self.name!r} wraps a Python module that cannot be "
                                  "described in a JSON config (fastnn never pickles): save the model with "
                                  "save_weights and rebuild it in code")
