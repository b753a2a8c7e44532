"""Model: a Layer that trains, and is a fastnn.nn.Module.

``Model(inputs, outputs)`` makes a functional model (models/functional.py). Or subclass
it, create layers in ``__init__`` and compute in ``call(self, inputs, training=None)``;
then compile/fit/evaluate/predict, or train it in a PyTorch-style loop (``model(x)``
returns a Tensor, ``model.parameters()`` are its weights once built).
"""

import numpy as np

from ...autograd import no_grad
from ...tensor import Tensor
from ..layers import layer as layer_module
from ..layers.layer import Layer
from . import saving, summary_utils
from .trainer import Trainer

__all__ = ["Model"]


class Model(Trainer, Layer):
    """A model: layers plus training (``keras.Model``).

    ``Model(inputs, outputs, name=None)`` builds a functional model from KerasTensors (see
    :class:`~fastnn.keras.models.functional.Functional`); otherwise subclass it.

    Args:
        name: the model's name (default: the snake_case class name, numbered).
        trainable: whether its weights are trained (default True).

    Attributes:
        layers: the direct sublayers, in the order they were assigned.
        optimizer, loss: what compile set. stop_training: set True (by a callback) to end
            fit after the current batch/epoch. history: the History of the last fit.

    Example::

        class MLP(Model):
            def __init__(self):
                super().__init__()
                self.hidden = Dense(64, activation="relu")
                self.out = Dense(10)

            def call(self, inputs, training=None):
                return self.out(self.hidden(inputs))

        model = MLP()
        model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=2)

    A subclass of Model cannot pass ``inputs``/``outputs`` to ``Model.__init__`` (Keras's
    "subclassed functional model"); build the functional model with ``Model(inputs,
    outputs)`` and wrap or call it instead.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise NotImplementedError(f"[{type(self).__name__}] a subclass of Model cannot take inputs/outputs "
                                      "(Keras's subclassed functional model is not supported by fastnn.keras); use "
                                      "keras.Model(inputs, outputs), or define call() in the subclass")
        self._plain_init(**kwargs)

    def _plain_init(self, **kwargs):
        Layer.__init__(self, **kwargs)
        self._trainer_init()

    def _num_outputs(self):
        return 1

    @property
    def layers(self):
        return self._sublayers()

    def get_layer(self, name=None, index=None):
        """A layer by ``name`` or by ``index`` in :attr:`layers`.

        Raises:
            ValueError: neither or both given, or no such layer.
        """
        if (name is None) == (index is None):
            raise ValueError("[get_layer] Provide only a layer name or a layer index.")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"[get_layer] Was asked to retrieve layer at index {index} but model only has "
                                 f"{len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"[get_layer] No such layer: {name}. Existing layers are: {[l.name for l in layers]}.")

    # ---- build ----

    def _build_for(self, input_shape):
        # the first real call builds the sublayers itself; only remember the shape
        self._build_shape = (None,) + tuple(input_shape[1:])
        self.built = True

    def build(self, input_shape=None):
        """Build every weight by running the model once on a zero batch of ``input_shape``
        (its batch dimension may be None), without recording a graph."""
        if input_shape is None:
            raise ValueError("[build] You must provide an `input_shape` argument.")
        shape = tuple(1 if s is None else int(s) for s in ((None,) + tuple(input_shape[1:])))
        self._build_for(shape)
        with no_grad():
            self._invoke(Tensor(np.zeros(shape, np.float32)), False)

    def call(self, inputs, training=None):
        raise NotImplementedError(f"Model {type(self).__name__} does not have a `call()` method implemented: "
                                  "subclass Model and define call(self, inputs, training=None)")

    # ---- inspection ----

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print Keras's table: ``Layer (type) | Output Shape | Param #`` (output shapes with
        None for the batch), then the total, trainable and non-trainable parameter counts
        with their sizes in bytes. ``print_fn`` (default print) receives each line."""
        summary_utils.print_summary(self, line_length=line_length, print_fn=print_fn)

    def first_nonfinite_layer(self):
        """The name of the first layer (in order) whose weights, or whose output on the last
        training batch, hold NaN or Inf; None when all are finite."""
        outputs = {}
        for layer, out in self._last_batch_outputs or []:
            outputs.setdefault(id(layer), out)
        for layer in self.layers:
            for w in layer.weights:
                if not np.isfinite(w.data).all():
                    return layer.name
            out = outputs.get(id(layer))
            if out is not None and not np.isfinite(out.data).all():
                return layer.name
        return None

    def _train_step(self, x, y, sw, params):
        recorded = []
        layer_module.set_output_recorder(recorded)
        try:
            return super()._train_step(x, y, sw, params)
        finally:
            layer_module.set_output_recorder(None)
            object.__setattr__(self, "_last_batch_outputs", recorded)

    # ---- saving ----

    def save_weights(self, filepath, overwrite=True):
        """Write :meth:`get_weights` to ``filepath`` in fastnn's data-only format
        (:func:`fastnn.save`). The name must end in ``.weights.fnn`` (Keras requires
        ``.weights.h5`` for its HDF5 files; fastnn does not write HDF5)."""
        saving.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Load weights written by :meth:`save_weights` (or a whole model saved by
        :meth:`save`) into this built model."""
        saving.load_weights(self, filepath, skip_mismatch)

    def save(self, filepath, overwrite=True, zipped=None):
        """Write the architecture (JSON of every layer's get_config), the weights, and the
        compile settings with the optimizer's state, in one fastnn data-only file (never a
        pickle). The name must end in ``.fnn`` (Keras's ``.keras`` is a zip archive, which
        fastnn does not write). Reload with :func:`~fastnn.keras.models.load_model`."""
        saving.save_model(self, filepath, overwrite)

    def get_config(self):
        raise NotImplementedError(f"[{type(self).__name__}] a subclassed Model must implement get_config() (and "
                                  "accept its entries in __init__) to be saved with save(); save_weights always works")

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model of ``get_config()``: ``Model.from_config`` of a functional model's
        config rebuilds its graph (as Keras); a subclass gets ``cls(**config)``."""
        if cls is Model and "input_layers" in config and "output_layers" in config:
            from .functional import Functional
            return Functional.from_config(config, custom_objects=custom_objects)
        return cls(**config)
