"""Sequential: a plain stack of layers (``keras.Sequential``).

Its forward pass keeps image tensors NCHW between channels_last image layers (one
transpose in at the first one, one out where a layer needs the Keras layout, Flatten
reordering to H, W, C itself), so a CNN runs on fastnn's NCHW kernels without a transpose
per layer; inputs and outputs are always in Keras's layout.
"""

from ...nn.module import Module
from ..layers import layer as layer_module
from ..layers.convolutional import fused_conv_relu_max_pool
from ..layers.layer import InputLayer, KerasTensor, Layer
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: a list of layers; it may start with ``Input(shape)`` or an InputLayer.
        trainable: default True. name: default ``sequential``, numbered.

    The model is built (its weights created) as soon as its input shape is known: from an
    Input, from ``input_shape=`` on the first layer, from :meth:`build`, or on the first
    call / fit.

    Example::

        model = Sequential([
            Input(shape=(28, 28, 1)),
            Conv2D(32, 3, activation="relu"),
            MaxPooling2D(),
            Flatten(),
            Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, batch_size=128, epochs=3, validation_split=0.1)
    """

    def __init__(self, layers=None, trainable=True, name=None):
        Model.__init__(self, trainable=trainable, name=name)
        object.__setattr__(self, "_input_layer", None)
        object.__setattr__(self, "_stack", [])
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    # ---- the stack ----

    @property
    def layers(self):
        return list(self._stack)

    def add(self, layer, rebuild=True):
        """Append a layer (or set the input with an Input / InputLayer first)."""
        if isinstance(layer, KerasTensor):
            if not isinstance(layer._layer, InputLayer):
                raise ValueError(f"[Sequential.add] only a keras.Input can start a Sequential; {layer!r} is the "
                                 f"output of layer {layer._layer.name!r} (use keras.Model(inputs, outputs) for a "
                                 "graph of layers)")
            layer = layer._layer
        if not isinstance(layer, Layer):
            hint = " (wrap a fastnn.nn.Module in keras.layers.TorchModuleWrapper)" if isinstance(layer, Module) else ""
            raise ValueError(f"[Sequential.add] Only instances of `keras.Layer` can be added to a Sequential model. "
                             f"Received: {layer!r} (of type {type(layer).__name__}){hint}")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError(f"[Sequential.add] Sequential model '{self.name}' has already been configured to use "
                                 "an input; an InputLayer can only be its first layer.")
            object.__setattr__(self, "_input_layer", layer)
        else:
            if any(existing.name == layer.name for existing in self._stack) or layer.name in self._modules:
                raise ValueError(f"[Sequential.add] All layers added to a Sequential model should have unique names. "
                                 f"Name '{layer.name}' is already the name of a layer in this model. Update the "
                                 "`name` argument to pass a unique name.")
            if not self._stack and self._input_layer is None and layer._input_shape_arg is not None:
                object.__setattr__(self, "_input_layer", InputLayer(shape=layer._input_shape_arg))
            self._stack.append(layer)
            self._modules[layer.name] = layer
            if self.training != layer.training:
                layer.train(self.training)
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        """Remove and return the last layer."""
        if not self._stack:
            raise TypeError("[Sequential.pop] There are no layers in the model.")
        layer = self._stack.pop()
        del self._modules[layer.name]
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        self.built = False
        if self._input_layer is not None and self._stack:
            self.build(self._input_layer.batch_shape)

    @property
    def input_shape(self):
        if self._input_layer is not None:
            return self._input_layer._build_shape
        return super().input_shape

    # ---- build and call ----

    def _build_for(self, input_shape):
        self.build(input_shape)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch first, may be
        None), checking each layer against the shape it receives."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"[Sequential.build] You must provide an `input_shape` argument to build "
                                 f"'{self.name}' (it has no Input).")
            input_shape = self._input_layer.batch_shape
        shape = (None,) + tuple(input_shape[1:])
        for layer in self._stack:
            if not layer.built:
                layer._build_for(shape)
            layer._check_input(shape)
            out = tuple(layer.compute_output_shape(shape))
            layer._output_shape = out
            shape = out
        self._build_shape = (None,) + tuple(input_shape[1:])
        self._output_shape = shape
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = inputs
        nchw = False  # x is an NCHW stand-in for a channels_last tensor
        training = bool(training)
        recorder = layer_module._RECORDER
        stack, i = self._stack, 0
        while i < len(stack):
            # a Conv2D(activation="relu") + MaxPooling2D pair runs fused unless each layer's
            # output is being recorded (TerminateOnNaN names the layer that went non-finite)
            fused = None
            if recorder is None and i + 1 < len(stack):
                fused = fused_conv_relu_max_pool(stack[i], stack[i + 1], x, nchw)
            if fused is not None:
                (x, nchw), i = fused, i + 2
                continue
            layer = stack[i]
            x, nchw = layer._apply(x, nchw, training)
            if recorder is not None:
                recorder.append((layer, x))
            i += 1
        if nchw:
            x = x.permute(0, 2, 3, 1)
        return x

    def _invoke(self, x, training, **kwargs):
        return self.call(x, training=training)

    def compute_output_shape(self, input_shape):
        shape = (None,) + tuple(input_shape[1:])
        for layer in self._stack:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    # ---- config ----

    def get_config(self):
        from ..layers import serialize
        layers = ([serialize(self._input_layer)] if self._input_layer is not None else []) + \
            [serialize(layer) for layer in self._stack]
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "build_input_shape": None if self._build_shape is None else list(self._build_shape)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..layers import deserialize
        config = dict(config)
        layers = []
        for entry in config.pop("layers"):
            if custom_objects and entry.get("class_name") in custom_objects:
                layers.append(custom_objects[entry["class_name"]].from_config(entry.get("config", {})))
            else:
                layers.append(deserialize(entry))
        shape = config.pop("build_input_shape", None)
        model = cls(layers, name=config.get("name"), trainable=config.get("trainable", True))
        if not model.built and shape is not None:
            model.build(tuple(shape))
        return model
