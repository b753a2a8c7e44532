"""BatchNormalization with Keras's conventions (momentum 0.99 on the old value, the biased
batch variance in the moving variance), computed by fastnn's batch-norm kernel.

The kernel's own running-statistics update is PyTorch's (momentum on the new value, the
unbiased variance); here it writes the batch mean and unbiased variance into scratch
vectors (momentum 1), and the Keras update is done on those C-length vectors.
"""

import numpy as np

from ... import functional as F
from ...nn.parameter import Parameter
from ...tensor import Tensor
from .. import initializers, regularizers
from .core import _unsupported
from .layer import Layer, shape_str

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalises each channel (the ``axis`` entries) with batch statistics in training and
    moving statistics in inference: ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    In training (and when the layer is trainable), after each batch::

        moving_mean     = moving_mean * momentum + mean(x) * (1 - momentum)
        moving_variance = moving_variance * momentum + var(x) * (1 - momentum)

    with ``var`` the biased batch variance, as Keras 3.

    Args:
        axis: the channel axis (default -1; 1 for channels_first images).
        momentum: default 0.99. epsilon: default 1e-3.
        center: learn ``beta`` (default True). scale: learn ``gamma`` (default True).
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: defaults zeros, ones, zeros, ones.
        beta_regularizer, gamma_regularizer: penalties of beta and gamma, added to
            :attr:`~Layer.losses` (see :mod:`fastnn.keras.regularizers`).

    Shape: output as input.

    Weights (Keras order): gamma, beta (when learned), moving_mean, moving_variance; stored
    as ``weight``, ``bias``, ``running_mean``, ``running_var`` as in fastnn.nn.BatchNorm2d.
    A frozen layer (``trainable = False``) always runs in inference mode, as in Keras.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, **kwargs):
        super().__init__(**kwargs)
        _unsupported("BatchNormalization", beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"[BatchNormalization] axis must be an int, got {axis!r}")
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale, self.synchronized = center, scale, synchronized
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        ndim = len(input_shape)
        axis = self.axis % ndim if -ndim <= self.axis < ndim else None
        if axis is None or axis == 0 or input_shape[axis] is None:
            raise ValueError(f'[BatchNormalization] layer "{self.name}": invalid axis {self.axis} for input shape '
                             f"{shape_str(input_shape)}")
        self._axis = axis
        c = input_shape[axis]
        names = []
        if self.scale:
            self.weight = Parameter(np.asarray(self.gamma_initializer((c,), np.float32), np.float32))
            names.append(("weight", True))
        else:
            self.weight = None
        if self.center:
            self.bias = Parameter(np.asarray(self.beta_initializer((c,), np.float32), np.float32))
            names.append(("bias", True))
        else:
            self.bias = None
        self.register_buffer("running_mean", Tensor(np.asarray(self.moving_mean_initializer((c,), np.float32),
                                                               np.float32)))
        self.register_buffer("running_var", Tensor(np.asarray(self.moving_variance_initializer((c,), np.float32),
                                                              np.float32)))
        self._weight_names = names + [("running_mean", False), ("running_var", False)]
        self._weight_regularizers = {a: r for a, r in (("weight", self.gamma_regularizer),
                                                       ("bias", self.beta_regularizer)) if r is not None}
        self._scratch = (np.zeros(c, np.float32), np.ones(c, np.float32))
        self._spec = (ndim, {axis: c})

    gamma = property(lambda self: self.weight)
    beta = property(lambda self: self.bias)
    moving_mean = property(lambda self: self.running_mean)
    moving_variance = property(lambda self: self.running_var)

    def _normalize(self, x, training):
        """x with its channel axis at position 1 (fastnn's batch-norm layout)."""
        training = bool(training) and self.trainable
        if not training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                self.epsilon)
        mean, var = self._scratch
        y = F.batch_norm(x, Tensor(mean), Tensor(var), self.weight, self.bias, True, 1.0, self.epsilon)
        n = x.numel() // x.shape[1]
        biased = var * ((n - 1) / n) if n > 1 else np.zeros_like(var)
        m = self.momentum
        self.running_mean.data[...] = self.running_mean.data * m + mean * (1.0 - m)
        self.running_var.data[...] = self.running_var.data * m + biased * (1.0 - m)
        return y

    def call(self, inputs, training=None):
        axis = self._axis
        if axis == 1:
            return self._normalize(inputs, training)
        order = (0, axis) + tuple(i for i in range(1, inputs.ndim) if i != axis)
        y = self._normalize(inputs.permute(order), training)
        return y.permute(tuple(np.argsort(order)))

    def _layout(self, ndim):
        return "nchw" if ndim == 4 and self._axis == 3 else "keras"

    def _call_nchw(self, x, training):
        return self._normalize(x, training), True

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "synchronized": self.synchronized}
