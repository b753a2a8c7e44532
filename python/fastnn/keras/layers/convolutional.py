"""Image layers: Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
GlobalMaxPooling2D. The interface is Keras's (channels_last by default, ``padding='same'``
at any stride with the smaller half of the padding on top/left); the work is fastnn's NCHW
conv/pool kernels (see :mod:`fastnn.keras.layers.layer` for how the layout is kept).
"""

import numpy as np

from ... import functional as F
from ... import ops
from ...nn.parameter import Parameter
from ...tensor import Tensor, cat
from .. import activations, initializers, regularizers
from .core import _unsupported, apply_activation_nchw
from .layer import Layer, _logical_shape, shape_str

__all__ = ["Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"]


def _pair(cls, name, value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"[{cls}] The `{name}` argument must be a tuple of 2 integers. Received {name}={value!r}")


def _data_format(cls, data_format):
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"[{cls}] data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format


def _padding(cls, padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"[{cls}] The `padding` argument must be one of 'valid', 'same'. Received: {padding!r}")
    return p


def out_size(size, k, stride, dilation, padding):
    """Keras's output length: ``ceil(size / stride)`` for 'same', else
    ``floor((size - dilation (k - 1) - 1) / stride) + 1``."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - dilation * (k - 1) - 1) // stride + 1


def same_pads(size, k, stride, dilation=1):
    """(before, after): 'same' padding of one axis, the smaller half before (as Keras)."""
    total = max((-(-size // stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad_nchw(x, top, bottom, left, right, value):
    """x padded with ``value`` on the H and W axes (differentiable: built with cat)."""
    n, c, h, w = x.shape
    parts = []
    if top or bottom:
        rows = [Tensor(np.full((n, c, top, w), value, x.dtype))] if top else []
        rows += [x] + ([Tensor(np.full((n, c, bottom, w), value, x.dtype))] if bottom else [])
        x = cat(rows, 2)
        h = x.shape[2]
    if left or right:
        parts = [Tensor(np.full((n, c, h, left), value, x.dtype))] if left else []
        parts += [x] + ([Tensor(np.full((n, c, h, right), value, x.dtype))] if right else [])
        x = cat(parts, 3)
    return x


class _Spatial(Layer):
    """Shared by the image layers: the data format, and running the NCHW computation for
    a direct call on a channels_last tensor."""

    def _channels_last(self):
        return self.data_format == "channels_last"

    def _hw(self, shape):
        return (shape[1], shape[2]) if self._channels_last() else (shape[2], shape[3])

    def _layout(self, ndim):
        return "nchw" if self._channels_last() else "keras"

    def call(self, inputs, training=None):
        if inputs.ndim != 4:
            raise ValueError(f'[{type(self).__name__}] layer "{self.name}" expects 4-D input, got shape '
                             f"{shape_str(inputs.shape)}")
        if not self._channels_last():
            y, _ = self._nchw(inputs, training)
            return y
        y, still = self._nchw(inputs.permute(0, 3, 1, 2), training)
        return y.permute(0, 2, 3, 1) if still and y.ndim == 4 else y

    def _call_nchw(self, x, training):
        return self._nchw(x, training)


class Conv2D(_Spatial):
    """2-D convolution (cross-correlation) over images.

    Args:
        filters: output channels. kernel_size, strides, dilation_rate: an int or a pair.
        padding: ``'valid'`` (none) or ``'same'`` (output ``ceil(size / stride)``, any stride).
        data_format: ``'channels_last'`` (default, ``(batch, H, W, C)``) or
            ``'channels_first'``.
        groups: channel groups (dividing the input channels and ``filters``).
        activation, use_bias, kernel_initializer (default glorot_uniform), bias_initializer
            (default zeros), kernel_regularizer (on the ``(kh, kw, in, filters)`` kernel),
            bias_regularizer, activity_regularizer: as :class:`Dense`.

    Shape:
        channels_last: input ``(batch, H, W, C)``, output ``(batch, OH, OW, filters)``.

    Weights (Keras order): kernel ``(kh, kw, C / groups, filters)``, bias ``(filters,)``;
    stored as the Parameters ``weight`` ``(filters, C / groups, kh, kw)`` (fastnn's
    Conv2d layout) and ``bias``.

    Example::

        conv = Conv2D(32, 3, padding="same", activation="relu")
        y = conv(np.zeros((8, 28, 28, 1), np.float32))   # y.shape == (8, 28, 28, 32)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _unsupported("Conv2D", kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"[Conv2D] Invalid value for argument `filters`. Expected a strictly positive value. "
                             f"Received filters={filters}.")
        self.filters = int(filters)
        self.kernel_size = _pair("Conv2D", "kernel_size", kernel_size)
        self.strides = _pair("Conv2D", "strides", strides)
        self.dilation_rate = _pair("Conv2D", "dilation_rate", dilation_rate)
        if min(self.kernel_size + self.strides + self.dilation_rate) <= 0:
            raise ValueError(f"[Conv2D] kernel_size, strides and dilation_rate must be positive, got "
                             f"{self.kernel_size}, {self.strides}, {self.dilation_rate}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"[Conv2D] `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.padding = _padding("Conv2D", padding)
        self.data_format = _data_format("Conv2D", data_format)
        if groups <= 0 or self.filters % groups:
            raise ValueError(f"[Conv2D] The number of filters must be evenly divisible by the number of groups. "
                             f"Received: groups={groups}, filters={filters}.")
        self.groups = int(groups)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f'[Conv2D] layer "{self.name}" expects 4-D input, got shape {shape_str(input_shape)}')
        axis = -1 if self._channels_last() else 1
        channels = input_shape[axis]
        if channels is None or channels % self.groups:
            raise ValueError(f"[Conv2D] The number of input channels must be evenly divisible by the number of "
                             f"groups. Received groups={self.groups}, but the input has {channels} channels (full "
                             f"input shape is {shape_str(input_shape)}).")
        kh, kw = self.kernel_size
        kernel = np.asarray(self.kernel_initializer((kh, kw, channels // self.groups, self.filters), np.float32),
                            np.float32)
        self.weight = Parameter(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        self._weight_names = [("weight", True)]
        if self.use_bias:
            self.bias = Parameter(np.asarray(self.bias_initializer((self.filters,), np.float32), np.float32))
            self._weight_names.append(("bias", True))
        else:
            self.bias = None
        self._weight_regularizers = {a: r for a, r in (("weight", self.kernel_regularizer),
                                                       ("bias", self.bias_regularizer)) if r is not None}
        self._spec = (4, {axis: channels})

    @property
    def kernel(self):
        """The kernel in Keras's ``(kh, kw, in, filters)`` layout: a Tensor view of ``weight``."""
        return Tensor(self.weight.data.transpose(2, 3, 1, 0))

    def _to_keras(self, index, array):
        return array.transpose(2, 3, 1, 0).copy() if index == 0 else array.copy()

    def _from_keras(self, index, array):
        return array.transpose(3, 2, 0, 1) if index == 0 else array

    def _keras_view(self, attr, tensor):
        return tensor.permute(2, 3, 1, 0) if attr == "weight" else tensor

    def _nchw(self, x, training):
        # fastnn's conv2d takes Keras's 'same' (asymmetric at odd totals) directly
        y = F.conv2d(x, self.weight, self.bias, self.strides, self.padding, self.dilation_rate, self.groups)
        return apply_activation_nchw(self.activation, y)

    def compute_output_shape(self, input_shape):
        h, w = self._hw(input_shape)
        oh = out_size(h, self.kernel_size[0], self.strides[0], self.dilation_rate[0], self.padding)
        ow = out_size(w, self.kernel_size[1], self.strides[1], self.dilation_rate[1], self.padding)
        if self._channels_last():
            return (input_shape[0], oh, ow, self.filters)
        return (input_shape[0], self.filters, oh, ow)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer)}


class _Pooling2D(_Spatial):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        cls = type(self).__name__
        self.pool_size = _pair(cls, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _pair(cls, "strides", strides)
        if min(self.pool_size + self.strides) <= 0:
            raise ValueError(f"[{cls}] pool_size and strides must be positive, got {self.pool_size}, {self.strides}")
        self.padding = _padding(cls, padding)
        self.data_format = _data_format(cls, data_format)

    def build(self, input_shape):
        self._spec = (4, {})

    def _pads(self, x):
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        if self.padding == "valid":
            return (0, 0), (0, 0)
        return same_pads(x.shape[2], kh, sh), same_pads(x.shape[3], kw, sw)

    def compute_output_shape(self, input_shape):
        h, w = self._hw(input_shape)
        oh = out_size(h, self.pool_size[0], self.strides[0], 1, self.padding)
        ow = out_size(w, self.pool_size[1], self.strides[1], 1, self.padding)
        c = input_shape[3] if self._channels_last() else input_shape[1]
        return (input_shape[0], oh, ow, c) if self._channels_last() else (input_shape[0], c, oh, ow)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max pooling over ``pool_size`` windows.

    Args:
        pool_size: an int or a pair (default (2, 2)); strides: default ``pool_size``;
        padding: ``'valid'`` or ``'same'`` (padding never wins); data_format: as Conv2D.

    Shape:
        channels_last: ``(batch, H, W, C)`` -> ``(batch, OH, OW, C)``, with
        ``OH = floor((H - pool) / stride) + 1`` ('valid') or ``ceil(H / stride)`` ('same').
    """

    def _nchw(self, x, training):
        (top, bottom), (left, right) = self._pads(x)
        pad = (top, left)
        if (top, left) != (bottom, right):  # asymmetric 'same': pad explicitly with -inf
            x = _pad_nchw(x, top, bottom, left, right, -np.inf)
            pad = (0, 0)
        return F.max_pool2d(x, self.pool_size, self.strides, pad), True


class AveragePooling2D(_Pooling2D):
    """Average pooling over ``pool_size`` windows; with ``padding='same'`` the padding is
    left out of each average (Keras's rule). Arguments and shapes as
    :class:`MaxPooling2D`."""

    def _nchw(self, x, training):
        (top, bottom), (left, right) = self._pads(x)
        if (top, left) == (bottom, right):
            return F.avg_pool2d(x, self.pool_size, self.strides, (top, left), count_include_pad=False), True
        # asymmetric 'same': zero-pad, average over the full window, then rescale each output
        # by window size / number of real inputs in its window
        h, w = x.shape[2], x.shape[3]
        y = F.avg_pool2d(_pad_nchw(x, top, bottom, left, right, 0.0), self.pool_size, self.strides)
        (kh, kw), (sh, sw) = self.pool_size, self.strides

        def counts(size, before, k, s, n_out):
            start = np.arange(n_out) * s - before
            return np.minimum(start + k, size) - np.maximum(start, 0)

        ch = counts(h, top, kh, sh, y.shape[2])
        cw = counts(w, left, kw, sw, y.shape[3])
        scale = (kh * kw) / np.outer(ch, cw)
        return y * Tensor(scale.astype(x.dtype)[None, None]), True


class GlobalAveragePooling2D(_Spatial):
    """The mean over H and W.

    Args:
        data_format: as Conv2D. keepdims: keep H and W as size 1 (default False).

    Shape:
        channels_last: ``(batch, H, W, C)`` -> ``(batch, C)`` (``(batch, 1, 1, C)`` with keepdims).
    """

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format("GlobalAveragePooling2D", data_format)
        self.keepdims = keepdims

    def build(self, input_shape):
        self._spec = (4, {})

    def _pool(self, x):
        return F.adaptive_avg_pool2d(x, 1)

    def _nchw(self, x, training):
        y = self._pool(x)
        return (y, True) if self.keepdims else (y.reshape(x.shape[0], x.shape[1]), False)

    def compute_output_shape(self, input_shape):
        c = input_shape[3] if self._channels_last() else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], c)
        return (input_shape[0], 1, 1, c) if self._channels_last() else (input_shape[0], c, 1, 1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """The maximum over H and W; arguments and shapes as :class:`GlobalAveragePooling2D`."""

    def _pool(self, x):
        n, c, h, w = x.shape
        return F.max_pool2d(x, (h, w))



def fused_conv_relu_max_pool(conv, pool, x, nchw):
    """``pool(conv(x))`` for a channels_last Conv2D with the plain relu activation followed by
    a MaxPooling2D, run as convolution, then max pooling with the relu applied to the pooled
    array (ops.ReLUMaxPool2d: the same values and gradients, a quarter of the relu work for
    2x2 pooling). Returns (output, True: an NCHW stand-in), or None when the pair does not
    qualify (other classes or activations, activity penalties, channels_first), in which
    case the caller runs the layers one by one."""
    if not (type(conv) is Conv2D and type(pool) is MaxPooling2D and conv.activation is activations.relu
            and conv.activity_regularizer is None and pool.activity_regularizer is None
            and conv._channels_last() and pool._channels_last() and x.ndim == 4):
        return None
    conv._check_input(_logical_shape(x.shape, nchw))
    y = F.conv2d(x if nchw else x.permute(0, 3, 1, 2), conv.weight, conv.bias, conv.strides, conv.padding,
                 conv.dilation_rate, conv.groups)
    pool._check_input(_logical_shape(y.shape, True))
    (top, bottom), (left, right) = pool._pads(y)
    if (top, left) != (bottom, right):
        return F.max_pool2d(_pad_nchw(F.relu(y), top, bottom, left, right, -np.inf), pool.pool_size,
                            pool.strides), True
    return ops.ReLUMaxPool2d.apply(y, pool.pool_size, pool.strides, (top, left), 1, False), True
