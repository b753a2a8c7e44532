"""Layer, the base of every Keras layer and model (a :class:`fastnn.nn.Module`), and the
Input / InputLayer placeholders. Weights live in fastnn's layouts and show in Keras's
through get_weights. Layers start in inference mode (as ``layer(x)`` is in Keras);
``train()``/``eval()`` or ``training=`` switch it. Inside a model, image tensors stay
NCHW between channels_last image layers (``_layout`` / ``_call_nchw`` / ``_apply``).
Called on KerasTensors, a layer records a graph Node instead of computing (node.py).
"""

import inspect
import weakref

import numpy as np

from ...nn.module import Module
from ...nn.parameter import Parameter
from ...tensor import Tensor
from .. import backend, initializers, regularizers
from .node import KerasTensor, Node, flatten, is_shape, map_structure, shape_str

__all__ = ["Layer", "InputLayer", "Input", "KerasTensor"]

_ALLOWED_KWARGS = {"input_shape", "input_dim", "batch_size", "batch_input_shape", "dtype", "trainable", "name",
                   "autocast"}


_TRAINING = None   # the training flag of the enclosing layer call, None outside any call
_RECORDER = None   # a list collecting (layer, output) during a training step, or None
# layers holding add_loss / activity penalties; an outermost call clears its own layers'
# (as Keras), and skips that walk while no layer holds any
_LOSS_HOLDERS = weakref.WeakSet()


def set_output_recorder(recorder):
    """Collect (layer, output) of every layer call into ``recorder`` (a list), or stop (None)."""
    global _RECORDER
    _RECORDER = recorder


def to_tensor(x):
    """A fastnn Tensor for x: Tensors as they are, NumPy arrays and lists as float32 (Keras
    casts layer inputs to its float dtype); integer Tensors are cast too."""
    if isinstance(x, Tensor):
        return x if x.dtype.kind == "f" else x.float()
    a = np.asarray(x)
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    return Tensor(a)


def _logical_shape(shape, nchw):
    """The channels_last shape an NCHW stand-in of ``shape`` represents."""
    return (shape[0], shape[2], shape[3], shape[1]) if nchw else tuple(shape)


def _scalar_loss(value):
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value, np.float32))


def _class_accepts_training(cls):
    try:
        return "training" in inspect.signature(cls.call).parameters
    except (TypeError, ValueError):
        return False


class Layer(Module):
    """Base class of Keras layers (``keras.layers.Layer``).

    Weights are Parameters (trainable) or buffers (non-trainable) in fastnn's own layouts
    (a Dense weight is ``(units, in)``); :meth:`get_weights` shows Keras's layouts. A layer
    starts in inference mode, so ``layer(x)`` is deterministic as in Keras; ``train()`` /
    ``eval()`` switch the mode, an explicit ``training=`` overrides it, and layers called
    inside another layer's call inherit its training flag (Keras's call context).

    Inside a Sequential, a tensor reaching a channels_last image layer is transposed to
    NCHW once and stays so through the following image layers (their ``_call_nchw``); it
    goes back to NHWC only where a layer needs the Keras layout (Flatten reorders to
    H, W, C itself).

    Subclasses create their weights in ``build(input_shape)`` (with :meth:`add_weight`) and
    compute in ``call(inputs)`` or ``call(inputs, training=None)``, on channels_last
    tensors. Calling a layer builds it on its first input, checks the input's shape against
    what the layer was built for, and calls ``call``.

    Args:
        trainable: whether the weights are updated by training (default True).
        name: the layer's name; default the snake_case class name, numbered (``dense``,
            ``dense_1``, ...).
        dtype: ``'float32'`` (the only dtype of fastnn.keras layers) or None.
        input_shape: (Keras's legacy argument for a Sequential's first layer) the input shape
            without the batch dimension.
        activity_regularizer: a regularizer (see :mod:`fastnn.keras.regularizers`) of the
            layer's output: its value on each outermost call's output joins :attr:`losses`
            (not divided by the batch size, as in Keras 3).

    Example::

        class Scale(Layer):
            def build(self, input_shape):
                self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            def call(self, x):
                return x * self.s
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            def wrapped(self, input_shape=None, _build=build):
                # as Keras's build wrapper: a layer counts as built (for this shape) once its
                # build returns, whoever called it
                out = _build(self, input_shape)
                self.built = True
                if self._build_shape is None and input_shape is not None and is_shape(input_shape):
                    self._build_shape = (None,) + tuple(input_shape[1:])
                return out
            wrapped._marks_built = True
            wrapped.__doc__, wrapped.__name__ = build.__doc__, "build"
            cls.build = wrapped

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None, autocast=True, name=None,
                 **kwargs):
        super().__init__()
        cls = type(self).__name__
        unknown = set(kwargs) - _ALLOWED_KWARGS
        if unknown:
            raise TypeError(f"[{cls}] Unrecognized keyword arguments passed to {cls}: {sorted(unknown)}")
        if dtype not in (None, "float32", np.float32) and np.dtype(dtype) != np.float32:
            raise ValueError(f"[{cls}] fastnn.keras layers compute in float32, got dtype={dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"[{cls}] name must be a string, got {name!r}")
        object.__setattr__(self, "training", False)
        self.name = name or backend.unique_name(backend.snake_case(cls))
        self._trainable = bool(trainable)
        self.built = False
        self._spec = None          # (ndim or None, {axis: size}) checked on every call
        self._build_shape = None   # the input shape (batch None) the layer was built for
        self._output_shape = None  # its output shape, once known
        self._weight_names = []    # add_weight order: (attribute name, trainable)
        self._weight_regularizers = {}  # attribute name -> regularizer
        self._losses = []          # add_loss / activity penalties of the last outermost call
        self._inbound_nodes = []   # the functional API's calls of this layer (node.Node)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        input_shape = kwargs.get("input_shape")
        if input_shape is None and kwargs.get("input_dim") is not None:
            input_shape = (kwargs["input_dim"],)
        if input_shape is None and kwargs.get("batch_input_shape") is not None:
            input_shape = tuple(kwargs["batch_input_shape"])[1:]
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        cache = type(self).__dict__.get("_accepts_training_cache")
        if cache is None:
            cache = _class_accepts_training(type(self))
            type.__setattr__(type(self), "_accepts_training_cache", cache)
        self._call_training = cache

    # ---- Keras attributes ----

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._sublayers(recursive=True):
            layer._trainable = bool(value)

    @property
    def dtype(self):
        return "float32"

    @property
    def input_shape(self):
        if self._build_shape is None:
            raise AttributeError(f"The layer {self.name!r} has never been called and thus has no defined input shape.")
        return self._build_shape

    @property
    def output_shape(self):
        if self._output_shape is None:
            raise AttributeError(f"The layer {self.name!r} has never been called and thus has no defined output shape.")
        return self._output_shape

    def _sublayers(self, recursive=False):
        out = []
        for m in self._modules.values():
            if isinstance(m, Layer):
                out.append(m)
                if recursive:
                    out.extend(m._sublayers(recursive=True))
        return out

    # ---- weights ----

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True, regularizer=None,
                   constraint=None, aggregation="none", overwrite_with_gradient=False, name=None):
        """Create, register and return a weight: a Parameter when trainable, else a buffer
        Tensor. ``initializer`` defaults to glorot_uniform for floats (as Keras);
        ``regularizer`` (anything :func:`fastnn.keras.regularizers.get` takes) adds its
        penalty of the weight to :attr:`losses` while the weight is trainable."""
        if constraint is not None:
            raise NotImplementedError(f"[{type(self).__name__}.add_weight] constraints are not supported by "
                                      "fastnn.keras")
        regularizer = regularizers.get(regularizer)
        shape = () if shape is None else tuple(int(s) for s in shape)
        init = initializers.get("glorot_uniform" if initializer is None else initializer)
        value = np.ascontiguousarray(np.asarray(init(shape, np.float32), dtype=np.float32).reshape(shape))
        attr = name or f"weight_{len(self._weight_names)}"
        if attr in self._parameters or attr in self._buffers:
            attr = f"{attr}_{len(self._weight_names)}"
        if trainable:
            setattr(self, attr, Parameter(value))
        else:
            self.register_buffer(attr, Tensor(value))
        self._weight_names.append((attr, bool(trainable)))
        if regularizer is not None:
            self._weight_regularizers[attr] = regularizer
        return getattr(self, attr)

    def _own_weights(self):
        """[(tensor, trainable)] of this layer's own weights in Keras order (trainable ones
        first, then the others, each in creation order)."""
        items = [(getattr(self, a), t) for a, t in self._weight_names]
        return [w for w in items if w[1]] + [w for w in items if not w[1]]

    def _to_keras(self, index, array):
        """Own weight ``index`` (Keras order) from fastnn's layout to Keras's (a copy)."""
        return array.copy()

    def _from_keras(self, index, array):
        """Own weight ``index`` from Keras's layout to fastnn's (the inverse of _to_keras)."""
        return array

    def _weight_entries(self):
        """[(layer, index, tensor, trainable)] of every weight in Keras order: this layer's
        own, then each sublayer's (a frozen layer's weights count as non-trainable)."""
        out = [(self, i, t, tr and self._trainable) for i, (t, tr) in enumerate(self._own_weights())]
        for m in self._modules.values():
            if isinstance(m, Layer):
                out.extend(m._weight_entries())
            elif m is not None:  # a plain fastnn Module inside a Keras model: its parameters as they are
                out.extend((None, 0, p, self._trainable) for p in m.parameters())
        return out

    @property
    def weights(self):
        """Every weight (Tensors, fastnn layout), trainable ones first, then the others."""
        entries = self._weight_entries()
        return [e[2] for e in entries if e[3]] + [e[2] for e in entries if not e[3]]

    @property
    def trainable_weights(self):
        return [e[2] for e in self._weight_entries() if e[3]]

    @property
    def non_trainable_weights(self):
        return [e[2] for e in self._weight_entries() if not e[3]]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def get_weights(self):
        """The weights as NumPy copies in Keras's order and layouts (a Dense kernel is
        ``(in, units)``, a Conv2D kernel ``(kh, kw, in, filters)``)."""
        out = []
        for layer, i, t, _ in self._weight_entries():
            out.append(t.data.copy() if layer is None else layer._to_keras(i, t.data))
        return out

    def set_weights(self, weights):
        """Set the weights from NumPy arrays in :meth:`get_weights`'s order and shapes. All
        are checked before any changes.

        Raises:
            ValueError: a different number of arrays, or an array of the wrong shape
                (naming the layer and both shapes).
        """
        entries = self._weight_entries()
        weights = list(weights)
        if len(weights) != len(entries):
            raise ValueError(f"[set_weights] You called `set_weights(weights)` on layer {self.name!r} with a weight "
                             f"list of length {len(weights)}, but the layer was expecting {len(entries)} weights.")
        staged = []
        for (layer, i, t, _), w in zip(entries, weights):
            w = np.asarray(w.data if isinstance(w, Tensor) else w)
            expected = t.shape if layer is None else layer._to_keras(i, t.data).shape
            if w.shape != expected:
                owner = self.name if layer is None else layer.name
                raise ValueError(f"[set_weights] Layer {owner!r} weight shape {tuple(expected)} is not compatible "
                                 f"with provided weight shape {tuple(w.shape)}.")
            staged.append((t, w if layer is None else layer._from_keras(i, w)))
        for t, w in staged:
            t.data[...] = w

    def count_params(self):
        """The number of scalars in all weights (trainable or not)."""
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                             "You can build it manually via: `layer.build(input_shape)`.")
        return int(sum(t.numel() for t in self.weights))

    # ---- losses (add_loss, activity and weight regularization) ----

    def _keras_view(self, attr, tensor):
        """Weight ``attr`` as a Tensor in Keras's layout (a differentiable view), for
        regularizers that depend on the layout."""
        return tensor

    def _layers_below(self):
        """This layer and every layer under it, each once, depth first."""
        out, seen, stack = [], set(), [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed([m for m in layer._modules.values() if isinstance(m, Layer)]))
        return out

    def add_loss(self, loss):
        """Add a scalar penalty (a Tensor, or a list of them) to :attr:`losses` until the next
        outermost call of a layer holding this one; call it inside ``call()``."""
        for value in flatten(loss):
            if not isinstance(value, (Tensor, float, int, np.floating, np.integer, np.ndarray)):
                raise ValueError(f"[{type(self).__name__}.add_loss] expected a scalar Tensor, got "
                                 f"{type(value).__name__}")
            self._losses.append(_scalar_loss(value))
        if self._losses:
            _LOSS_HOLDERS.add(self)

    def _clear_losses(self):
        for layer in self._layers_below():
            if layer._losses:
                layer._losses = []
                _LOSS_HOLDERS.discard(layer)

    def _weight_regularization_losses(self):
        out = []
        for layer in self._layers_below():
            if not layer._weight_regularizers or not layer._trainable:
                continue
            for attr, trainable in layer._weight_names:
                regularizer = layer._weight_regularizers.get(attr)
                weight = getattr(layer, attr, None)
                if not trainable or regularizer is None or weight is None:
                    continue
                view = weight if getattr(regularizer, "_layout_free", False) else layer._keras_view(attr, weight)
                out.append(_scalar_loss(regularizer(view)))
        return out

    @property
    def losses(self):
        """The scalar penalties as Tensors (differentiable): those added by :meth:`add_loss`
        and the activity regularizers in the last outermost call, this layer's first then
        its sublayers', then every trainable weight's regularizer applied to the weight's
        current value (in Keras's layout), in :attr:`trainable_weights` order."""
        out = []
        for layer in self._layers_below():
            out.extend(layer._losses)
        out.extend(self._weight_regularization_losses())
        return out

    def _add_activity_loss(self, output):
        if isinstance(output, Tensor):
            self._losses.append(_scalar_loss(self.activity_regularizer(output)))
            _LOSS_HOLDERS.add(self)
        else:
            for value in flatten(output):
                if isinstance(value, Tensor):
                    self._add_activity_loss(value)

    # ---- build and call ----

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch dimension None)."""
        self.built = True

    def _build_for(self, input_shape):
        """Build for one input shape, or for a list of them (a layer taking several inputs)."""
        if is_shape(input_shape):
            input_shape = (None,) + tuple(input_shape[1:])
        else:
            input_shape = [(None,) + tuple(s[1:]) for s in input_shape]
        self.build(input_shape)
        self.built = True
        self._build_shape = input_shape

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (batch None; a list of shapes for several
        inputs). By default: the shape(s) the layer gives zero inputs of batch size 1,
        computed without recording a graph.

        Raises:
            ValueError: an input dimension other than the batch is None (the layer must
                then implement compute_output_shape itself).
        """
        from ...autograd import no_grad
        shapes = [input_shape] if is_shape(input_shape) else list(input_shape)
        for shape in shapes:
            if None in tuple(shape[1:]):
                raise ValueError(f"[{type(self).__name__}] layer {self.name!r} cannot infer its output shape for "
                                 f"input shape {shape_str(shape)}: only the batch dimension may be None unless the "
                                 "layer implements compute_output_shape()")
        probes = [Tensor(np.zeros((1,) + tuple(s[1:]), np.float32)) for s in shapes]
        with no_grad():
            out = self._invoke(probes[0] if is_shape(input_shape) else probes, False)
        self._clear_losses()
        if isinstance(out, Tensor):
            return (None,) + tuple(out.shape[1:])
        return map_structure(lambda t: (None,) + tuple(t.shape[1:]), out)

    def _check_input(self, shape):
        """ValueError naming this layer when ``shape`` does not fit what it was built for."""
        spec = self._spec
        if spec is None:
            return
        ndim, axes = spec
        cls = type(self).__name__
        if ndim is not None and len(shape) != ndim:
            raise ValueError(f'[{cls}] Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"ndim={ndim}, found ndim={len(shape)}. Full shape received: {shape_str(shape)}")
        for axis, size in axes.items():
            if len(shape) <= (axis if axis >= 0 else -axis - 1) or shape[axis] != size:
                raise ValueError(f'[{cls}] Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                                 f"axis {axis} of input shape to have value {size}, but received input with shape "
                                 f"{shape_str(shape)}")

    def _invoke(self, x, training, **kwargs):
        if self._call_training:
            return self.call(x, training=training, **kwargs)
        return self.call(x, **kwargs)

    def __call__(self, inputs, *args, training=None, **kwargs):
        x = _convert_inputs(inputs)
        if isinstance(x, Tensor):
            if not self.built:
                self._build_for(x.shape)
            self._check_input(x.shape)
        else:
            leaves = flatten(x)
            if any(isinstance(v, KerasTensor) for v in leaves):
                return self._symbolic_call(x, args, training, kwargs)
            if not self.built:
                if leaves and all(isinstance(v, Tensor) for v in leaves) and isinstance(x, (list, tuple)):
                    self._build_for([v.shape for v in leaves])
                else:
                    self.built = True
        global _TRAINING
        outer = _TRAINING
        if outer is None and _LOSS_HOLDERS:
            self._clear_losses()  # an outermost call starts its layers' penalties afresh (Keras)
        if training is None:
            training = self.training if outer is None else outer
        training = bool(training)
        _TRAINING = training  # sublayers called without training= inherit it, as in Keras
        try:
            if self._call_training:
                out = self.call(x, *args, training=training, **kwargs)
            else:
                out = self.call(x, *args, **kwargs)
        finally:
            _TRAINING = outer
        if self.activity_regularizer is not None:
            self._add_activity_loss(out)
        if isinstance(out, Tensor):
            if self._output_shape is None:
                self._output_shape = (None,) + tuple(out.shape[1:])
            if _RECORDER is not None:
                _RECORDER.append((self, out))
        return out

    def _symbolic_call(self, x, args, training, kwargs):
        """The functional API: build the layer for the KerasTensors' shapes, record a Node
        and return KerasTensors of the output shape(s)."""
        cls = type(self).__name__
        leaves = flatten(x)
        if not all(isinstance(v, KerasTensor) for v in leaves):
            kinds = sorted({type(v).__name__ for v in leaves if not isinstance(v, KerasTensor)})
            raise ValueError(f"[{cls}] layer {self.name!r} was called on a mix of symbolic KerasTensors and other "
                             f"values ({', '.join(kinds)}); in a functional model every input of a layer must come "
                             "from keras.Input or from another layer")
        if args:
            raise ValueError(f"[{cls}] layer {self.name!r}: pass the inputs of a functional call as one argument "
                             "(a KerasTensor, or a list/dict of them); other arguments must be keywords")
        shapes = map_structure(lambda t: t.shape, x)
        if isinstance(x, KerasTensor):
            if not self.built:
                self._build_for(shapes)
            self._check_input(shapes)
        elif not self.built:
            if isinstance(x, (list, tuple)) and all(is_shape(s) for s in shapes):
                self._build_for(list(shapes))
            else:
                self.build(shapes)
                self.built = True
        if isinstance(shapes, tuple) and not is_shape(shapes):
            shapes = list(shapes)
        out_shapes = self.compute_output_shape(shapes)
        if training is not None:
            kwargs = dict(kwargs, training=bool(training))
        if is_shape(out_shapes):
            outputs = KerasTensor(out_shapes, "float32", self.name, self)
            flat_out = [outputs]
            if self._output_shape is None:
                self._output_shape = (None,) + tuple(out_shapes[1:])
        else:
            flat_out = [KerasTensor(s, "float32", f"{self.name}_{i}", self) for i, s in enumerate(out_shapes)]
            outputs = flat_out
        node = Node(self, x, kwargs, outputs)
        for i, t in enumerate(flat_out):
            t._node, t._index = node, i
        return outputs

    def _apply(self, x, nchw, training):
        """This (built) layer on one tensor inside a model's forward pass: ``x`` is an NCHW
        stand-in of a channels_last tensor when ``nchw``. Returns (output, whether the
        output is such a stand-in). Adds the activity penalty, on the Keras layout."""
        self._check_input(_logical_shape(x.shape, nchw))
        mode = self._layout(x.ndim)
        if mode == "nchw":
            y, y_nchw = self._call_nchw(x if nchw else x.permute(0, 3, 1, 2), training)
        else:
            if nchw and mode == "keras":
                x, nchw = x.permute(0, 2, 3, 1), False
            y, y_nchw = self._invoke(x, training), nchw
        if self.activity_regularizer is not None:
            self._add_activity_loss(y.permute(0, 2, 3, 1) if y_nchw else y)
        return y, y_nchw

    def forward(self, inputs, *args, **kwargs):
        return self.__call__(inputs, *args, **kwargs)

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not have a `call()` method implemented.")

    # ---- layout (see the module docstring) ----

    def _layout(self, ndim):
        """'nchw': given a 4-D channels_last tensor, prefers it as NCHW (``_call_nchw``);
        'any': elementwise, either layout; 'keras': needs the Keras layout."""
        return "keras"

    def _call_nchw(self, x, training):
        """This layer on ``x``, an NCHW tensor standing for a channels_last one. Returns
        (output, whether the output is still such an NCHW stand-in)."""
        raise NotImplementedError

    # ---- config ----

    def get_config(self):
        """The constructor arguments as a JSON-able dict (what save/load rebuild from)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _get_name(self):  # repr: Keras's "<Dense name=dense, built=True>"-like header
        return type(self).__name__

    def extra_repr(self):
        return f"name={self.name!r}, built={self.built}"


def _convert_inputs(inputs):
    if isinstance(inputs, (Tensor, KerasTensor)):
        return to_tensor(inputs) if isinstance(inputs, Tensor) else inputs
    if isinstance(inputs, np.ndarray) or np.isscalar(inputs):
        return to_tensor(inputs)
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_convert_inputs(v) for v in inputs)
    if isinstance(inputs, dict):
        return {k: _convert_inputs(v) for k, v in inputs.items()}
    return inputs


class InputLayer(Layer):
    """The entry point of a model: declares the input shape (without the batch dimension).

    Args:
        shape: the shape of one sample, e.g. ``(28, 28, 1)``.
        batch_size: an optional fixed batch size (only reported).
        dtype: ``'float32'`` or None.
        batch_shape: alternatively, the full shape with the batch dimension first.
        name: the layer's name (default ``input_layer``, numbered).

    Example::

        model = Sequential([InputLayer(shape=(784,)), Dense(10)])
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, input_tensor=None,
                 optional=False, name=None, **kwargs):
        if "input_shape" in kwargs and shape is None:
            shape = kwargs.pop("input_shape")
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse or input_tensor is not None or optional:
            raise NotImplementedError("[InputLayer] sparse, input_tensor and optional inputs are not supported")
        if batch_shape is not None:
            if shape is not None:
                raise ValueError("[InputLayer] give either `shape` or `batch_shape`, not both")
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if shape is None:
            raise ValueError("[InputLayer] You must pass a `shape` argument.")
        if isinstance(shape, int):
            shape = (shape,)
        shape = tuple(None if s is None else int(s) for s in shape)
        self.batch_size = batch_size
        self._batch_shape = (batch_size,) + shape
        self._build_shape = (None,) + shape
        self._output_shape = (None,) + shape
        self.built = True
        self.output = KerasTensor((None,) + shape, "float32", self.name, self)
        self.output._node = Node(self, None, None, self.output)

    @property
    def batch_shape(self):
        return self._batch_shape

    def call(self, inputs):
        return inputs

    def _layout(self, ndim):
        return "any"

    def get_config(self):
        return {"batch_shape": list(self._batch_shape), "dtype": "float32", "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False):
    """A symbolic input of ``shape`` (without the batch dimension): the start of a
    functional model's graph, or of a Sequential.

    Example::

        inputs = Input(shape=(28, 28, 1))
        x = Conv2D(8, 3, activation="relu")(inputs)
        outputs = Dense(10)(Flatten()(x))
        model = Model(inputs, outputs)
        # or: Sequential([Input(shape=(28, 28, 1)), Conv2D(8, 3), Flatten(), Dense(10)])
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape,
                       input_tensor=tensor, optional=optional, name=name)
    return layer.output
