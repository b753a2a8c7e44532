"""Merging layers (Keras 3's ``keras.layers.Add`` ...): each takes a list of tensors.
The elementwise ones broadcast NumPy-style over the non-batch axes; inputs of lower rank
first gain size-1 axes at position 1, as Keras does. ``Concatenate`` joins along ``axis``.
Also the lowercase functional forms (``add([a, b])`` ...).

Inside a functional model, 4-D inputs kept as NCHW stand-ins (see layer.py) are merged
without a transpose (``_merge_nchw``; Concatenate moves its axis accordingly).
"""

from ...tensor import Tensor, cat
from .layer import Layer
from .node import is_shape, shape_str

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "add", "subtract",
           "multiply", "average", "maximum", "minimum", "concatenate"]


def _shapes_str(shapes):
    return "[" + ", ".join(shape_str(s) for s in shapes) + "]"


class _Merge(Layer):
    """Shared by the merging layers: input checks, rank alignment and shape inference."""

    _exact_inputs = None  # Subtract: exactly 2

    def _check_shapes(self, input_shape):
        cls = type(self).__name__
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(is_shape(s) for s in input_shape):
            raise ValueError(f"[{cls}] A merge layer should be called on a list of at least 1 input. Received: "
                             f"input_shape={input_shape!r}")
        if self._exact_inputs is not None and len(input_shape) != self._exact_inputs:
            raise ValueError(f"[{cls}] A `{cls}` layer should be called on exactly {self._exact_inputs} inputs. "
                             f"Received: input_shape={_shapes_str(input_shape)}")
        batches = {s[0] for s in input_shape if s} - {None}
        if len(batches) > 1:
            raise ValueError(f"[{cls}] Cannot merge tensors with different batch sizes. Received tensors with shapes "
                             f"{_shapes_str(input_shape)}")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # validates

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        out = ()
        for shape in input_shape:
            out = self._broadcast(out, tuple(shape[1:]), input_shape)
        batches = {s[0] for s in input_shape} - {None}
        return (batches.pop() if len(batches) == 1 else None,) + out

    def _broadcast(self, a, b, shapes):
        """The broadcast of two non-batch shapes, aligned at their last axes (None: unknown)."""
        if len(a) < len(b):
            a, b = b, a
        out = list(a[:len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b):], b):
            if i is None or j is None:
                out.append(None if i != 1 and j != 1 else (j if i == 1 else i))
            elif i == 1 or j == 1 or i == j:
                out.append(j if i == 1 else i)
            else:
                raise ValueError(f"[{type(self).__name__}] Inputs have incompatible shapes. Received shapes "
                                 f"{_shapes_str(shapes)}")
        return tuple(out)

    def _inputs(self, inputs):
        cls = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"[{cls}] A merge layer should be called on a list of inputs. Received: inputs of type "
                             f"{type(inputs).__name__} (not a list of tensors)")
        self._check_shapes([tuple(x.shape) for x in inputs])
        rank = max(x.ndim for x in inputs)
        out = []
        for x in inputs:
            while x.ndim < rank:
                x = x.unsqueeze(1)
            out.append(x)
        return out

    def call(self, inputs):
        return self._merge(self._inputs(inputs))

    def _merge_nchw(self, xs):
        """The merge of 4-D NCHW stand-ins (elementwise merges do not care about the layout)."""
        return self._merge(self._inputs(xs))


class Add(_Merge):
    """The elementwise sum of a list of inputs (``keras.layers.Add``).

    Shape: a list of tensors of broadcastable shapes; output of the broadcast shape.

    Example::

        y = Add()([x1, x2])   # x1 + x2
    """

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (``keras.layers.Subtract``; exactly two inputs)."""

    _exact_inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]


class Multiply(_Merge):
    """The elementwise product of a list of inputs (``keras.layers.Multiply``)."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """The elementwise mean of a list of inputs (``keras.layers.Average``)."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out * (1.0 / len(xs))


def _select(a, b, take_a):
    """Where ``take_a`` (a boolean array): a, else b; exact for finite values, and the
    gradient goes to the input chosen."""
    mask = Tensor(take_a.astype(a.dtype))
    return a * mask + b * (1.0 - mask)


class Maximum(_Merge):
    """The elementwise maximum of a list of inputs (``keras.layers.Maximum``); at ties the
    gradient goes to the earlier input."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = _select(out, x, out.data >= x.data)
        return out


class Minimum(_Merge):
    """The elementwise minimum of a list of inputs (``keras.layers.Minimum``); at ties the
    gradient goes to the earlier input."""

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = _select(out, x, out.data <= x.data)
        return out


class Concatenate(_Merge):
    """Joins a list of inputs along ``axis`` (``keras.layers.Concatenate``).

    Args:
        axis: the axis to join along (default -1: the channels of channels_last images).

    Shape: inputs of one rank, equal except along ``axis``; the output's ``axis`` is the
    sum of theirs.

    Raises:
        ValueError: inputs of different ranks or sizes off the axis, or an axis out of range.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _axis(self, rank, shapes):
        if not -rank <= self.axis < rank:
            raise ValueError(f"[Concatenate] axis {self.axis} is out of range for inputs of rank {rank} "
                             f"({_shapes_str(shapes)})")
        return self.axis % rank

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        shapes = [tuple(s) for s in input_shape]
        err = (f"[Concatenate] A `Concatenate` layer requires inputs with matching shapes except for the "
               f"concatenation axis. Received: input_shape={_shapes_str(shapes)}")
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(err)
        axis = self._axis(len(shapes[0]), shapes)
        out = list(shapes[0])
        for s in shapes[1:]:
            for i, (a, b) in enumerate(zip(out, s)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif a is None:
                    out[i] = b
                elif b is not None and a != b:
                    raise ValueError(err)
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def _inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"[Concatenate] A `Concatenate` layer should be called on a list of inputs. Received: "
                             f"inputs of type {type(inputs).__name__}")
        self.compute_output_shape([tuple(x.shape) for x in inputs])
        return list(inputs)

    def call(self, inputs):
        xs = self._inputs(inputs)
        return cat(xs, self._axis(xs[0].ndim, [x.shape for x in xs]))

    def _merge_nchw(self, xs):
        shapes = [(s[0], s[2], s[3], s[1]) for s in (x.shape for x in xs)]  # the channels_last shapes
        self.compute_output_shape(shapes)
        return cat(list(xs), (0, 2, 3, 1)[self._axis(4, shapes)])  # H, W, C are axes 2, 3, 1 of NCHW

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``: the functional form of :class:`{cls.__name__}`."
    return merge


add, subtract, multiply, average, maximum, minimum = (_functional(c) for c in (Add, Subtract, Multiply, Average,
                                                                                  Maximum, Minimum))


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``: the functional form of :class:`Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)
