"""Core Keras layers: Dense, Activation, ReLU, LeakyReLU, Softmax, Flatten, Dropout, Reshape.
Each delegates to fastnn.functional (one engine). Dense keeps its kernel as fastnn's
``(units, in)`` weight and shows Keras's ``(in, units)`` through get_weights/``kernel``.
"""

import numpy as np

from ... import functional as F
from ... import ops
from ...nn.parameter import Parameter
from ...tensor import Tensor
from .. import activations, initializers, regularizers
from .layer import Layer, shape_str

__all__ = ["Dense", "Activation", "ReLU", "LeakyReLU", "Softmax", "Flatten", "Dropout", "Reshape"]

_ELEMENTWISE = {activations.relu, activations.sigmoid, activations.tanh, activations.leaky_relu, activations.elu,
                activations.gelu, activations.linear}


def _unsupported(cls, **options):
    for key, value in options.items():
        if value is not None:
            raise NotImplementedError(f"[{cls}] {key} is not supported by fastnn.keras")


def apply_activation_nchw(activation, y):
    """An activation on an NCHW stand-in of a channels_last tensor: (output, still NCHW)."""
    if activation in _ELEMENTWISE:
        return activation(y), True
    if activation is activations.softmax:
        return F.softmax(y, dim=1), True  # Keras's softmax runs over the channels, axis 1 here
    return activation(y.permute(0, 2, 3, 1)), False  # an arbitrary callable sees the Keras layout


class Dense(Layer):
    """A densely connected layer: ``activation(inputs @ kernel + bias)`` over the last axis.

    Args:
        units: the output size.
        activation: a name from :mod:`fastnn.keras.activations`, a callable, or None.
        use_bias: add a bias (default True).
        kernel_initializer: default ``'glorot_uniform'``; bias_initializer: default ``'zeros'``.
        kernel_regularizer, bias_regularizer: penalties of the kernel (in Keras's ``(in,
            units)`` layout) and the bias, added to :attr:`~Layer.losses` (see
            :mod:`fastnn.keras.regularizers`).
        activity_regularizer: a penalty of the layer's output, from each outermost call.
        name, trainable: as :class:`Layer`. Constraints are not supported.

    Shape:
        Input ``(batch, ..., in)``; output ``(batch, ..., units)``.

    Weights (Keras order): kernel ``(in, units)``, bias ``(units,)``. Stored as the
    Parameters ``weight`` ``(units, in)`` and ``bias``, as :class:`fastnn.nn.Linear`.

    Example::

        layer = Dense(64, activation="relu")
        y = layer(np.ones((2, 16), np.float32))   # y.shape == (2, 64)
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _unsupported("Dense", kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                     lora_rank=lora_rank)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"[Dense] Received an invalid value for `units`, expected a positive integer. "
                             f"Received: units={units}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features is None:
            raise ValueError(f'[Dense] layer "{self.name}" needs a known last input dimension, got input shape '
                             f"{shape_str(input_shape)}")
        kernel = np.asarray(self.kernel_initializer((in_features, self.units), np.float32), np.float32)
        self.weight = Parameter(np.ascontiguousarray(kernel.T))
        self._weight_names = [("weight", True)]
        if self.use_bias:
            self.bias = Parameter(np.asarray(self.bias_initializer((self.units,), np.float32), np.float32))
            self._weight_names.append(("bias", True))
        else:
            self.bias = None
        self._weight_regularizers = {a: r for a, r in (("weight", self.kernel_regularizer),
                                                       ("bias", self.bias_regularizer)) if r is not None}
        self._spec = (None, {-1: in_features})

    @property
    def kernel(self):
        """The kernel in Keras's ``(in, units)`` layout: a Tensor view of ``weight``."""
        return Tensor(self.weight.data.T)

    def _to_keras(self, index, array):
        return array.T.copy() if index == 0 else array.copy()

    def _from_keras(self, index, array):
        return array.T if index == 0 else array

    def _keras_view(self, attr, tensor):
        return tensor.t() if attr == "weight" else tensor

    def call(self, inputs):
        if self.activation is activations.relu:  # the relu in the product's epilogue, same bits
            return ops.LinearReLU.apply(inputs, self.weight, self.bias)
        return self.activation(F.linear(inputs, self.weight, self.bias))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _layout(self, ndim):
        return "keras"

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer)}


class Activation(Layer):
    """Applies an activation function (a name, a callable, or None for the identity).

    Shape: output as input.
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def _layout(self, ndim):
        return "any" if self.activation in _ELEMENTWISE else ("nchw" if ndim == 4 and self.activation is
                                                              activations.softmax else "keras")

    def _call_nchw(self, x, training):
        return apply_activation_nchw(self.activation, x)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(Layer):
    """``min(max(x, 0), max_value)``, with ``negative_slope * (x - threshold)`` below the
    threshold (Keras's ReLU layer).

    Args:
        max_value: cap (None: none); negative_slope: default 0; threshold: default 0.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"[ReLU] max_value of a ReLU layer cannot be a negative value. Received: {max_value}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"[ReLU] negative_slope of a ReLU layer cannot be a negative value. Received: "
                             f"{negative_slope}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return activations.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def compute_output_shape(self, input_shape):
        return input_shape

    def _layout(self, ndim):
        return "any"

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise (Keras's default slope 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"[LeakyReLU] The negative_slope value of a Leaky ReLU layer cannot be None or "
                             f"negative, got {negative_slope}")
        self.negative_slope = negative_slope

    def call(self, inputs):
        return F.leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def _layout(self, ndim):
        return "any"

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax over ``axis`` (default the last). Over the last axis the output keeps its
    logits, so a following cross-entropy loss is computed fused from them."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            raise NotImplementedError("[Softmax] masks are not supported by fastnn.keras")
        return activations.softmax(inputs, self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Flatten(Layer):
    """Flattens every axis but the batch axis, in Keras's (channels_last: H, W, C) order.

    Shape: input ``(batch, ...)``; output ``(batch, prod(...))``.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"[Flatten] data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
        self.data_format = data_format or "channels_last"

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.permute((0,) + tuple(range(2, inputs.ndim)) + (1,))
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def _layout(self, ndim):
        return "nchw" if ndim == 4 and self.data_format == "channels_last" else "keras"

    def _call_nchw(self, x, training):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1), False

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Dropout(Layer):
    """In training, zeroes each input with probability ``rate`` and scales the rest by
    ``1 / (1 - rate)``; the identity in inference.

    Args:
        rate: in [0, 1]. seed: an int to make this layer's masks reproducible on its own;
            without it the masks come from fastnn's generator (:func:`fastnn.manual_seed`).
        noise_shape: not supported (must be None).
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"[Dropout] Invalid value received for argument `rate`. Expected a float value between "
                             f"0 and 1. Received: rate={rate}")
        _unsupported("Dropout", noise_shape=noise_shape)
        self.rate, self.seed = float(rate), seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        if self._rng is None:
            return F.dropout(inputs, self.rate, True)
        return ops.Dropout.apply(inputs, self.rate, int(self._rng.integers(0, 2 ** 63)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def _layout(self, ndim):
        return "any"

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1).

    Shape: input ``(batch, ...)``; output ``(batch,) + target_shape``.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)

    def _resolve(self, input_shape):
        n = int(np.prod(input_shape[1:]))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        if self.target_shape.count(-1) > 1 or (-1 in self.target_shape and (known == 0 or n % known)) or \
                (-1 not in self.target_shape and known != n):
            raise ValueError(f'[Reshape] layer "{self.name}": total size of the input {shape_str(input_shape)} '
                             f"cannot be reshaped to {self.target_shape}")
        return tuple(n // known if s == -1 else s for s in self.target_shape)

    def call(self, inputs):
        return inputs.reshape((inputs.shape[0],) + self._resolve(inputs.shape))

    def compute_output_shape(self, input_shape):
        if None in input_shape[1:]:
            return (input_shape[0],) + self.target_shape
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
