"""Functional: the model ``keras.Model(inputs, outputs)`` returns (Keras 3's functional
API). Its graph is what calling layers on KerasTensors recorded (layers/node.py): the
nodes between the outputs and the inputs, run in topological order. A layer called at
several nodes is one layer (its weights shared, counted once).

The forward pass keeps each intermediate value in the layout its consumers want: image
tensors stay NCHW stand-ins between channels_last image layers, as in Sequential, and a
value read in both layouts is transposed once.
"""

from ..layers import layer as layer_module
from ..layers.layer import InputLayer, KerasTensor, to_tensor
from ..layers.merging import _Merge
from ..layers.node import is_shape, map_structure, shape_str
from .model import Model

__all__ = ["Functional"]


def _check_tensors(what, structure):
    """The KerasTensors of ``structure`` (one, a list/tuple, or a dict); ValueError otherwise."""
    if isinstance(structure, (list, tuple)) and not structure:
        raise ValueError(f"[Model] `{what}` must not be empty")
    if isinstance(structure, dict):
        leaves = list(structure.values())
    elif isinstance(structure, (list, tuple)):
        leaves = list(structure)
    else:
        leaves = [structure]
    for t in leaves:
        if not isinstance(t, KerasTensor):
            raise ValueError(f"[Model] All `{what}` values must be KerasTensors (from keras.Input or from calling "
                             f"layers on them); received a value of type {type(t).__name__} (a functional model is "
                             "defined on symbolic tensors, not on data)")
    return leaves


class _Value:
    """One tensor of the forward pass, held in the Keras layout, as an NCHW stand-in, or
    both (each made once, when first needed)."""

    __slots__ = ("keras", "nchw")

    def __init__(self, keras=None, nchw=None):
        self.keras, self.nchw = keras, nchw

    def as_keras(self):
        if self.keras is None:
            self.keras = self.nchw.permute(0, 2, 3, 1)
        return self.keras

    def as_nchw(self):
        if self.nchw is None:
            self.nchw = self.keras.permute(0, 3, 1, 2)
        return self.nchw


class Functional(Model):
    """A model defined by its inputs and outputs (``keras.Model(inputs, outputs)``).

    Args:
        inputs: a KerasTensor from :func:`~fastnn.keras.Input`, or a list / dict of them.
        outputs: a KerasTensor computed from the inputs by calling layers, or a list /
            dict of them.
        name: default ``functional``, numbered. trainable: default True.

    Calling the model runs the recorded layers on real tensors: give one array / Tensor
    per input, as a list in the order of ``inputs``, or a dict keyed by the inputs' dict
    keys or by the Inputs' names. ``compile``/``fit`` take x in the same forms; training
    is supported for models with one output.

    Example::

        inputs = keras.Input(shape=(28, 28, 1))
        x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
        y = layers.Conv2D(16, 3, padding="same")(x)
        x = layers.Activation("relu")(layers.Add()([x, y]))          # a skip connection
        outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x))
        model = keras.Model(inputs, outputs, name="resnet_block")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    Raises:
        ValueError: inputs or outputs that are not KerasTensors, inputs that are not from
            keras.Input, an output that cannot be computed from the inputs (a disconnected
            graph), or two different layers with one name.
    """

    def __init__(self, inputs, outputs, name=None, trainable=True):
        Model._plain_init(self, name=name, trainable=trainable)
        input_list = _check_tensors("inputs", inputs)
        output_list = _check_tensors("outputs", outputs)
        for t in input_list:
            if not isinstance(t._layer, InputLayer):
                raise ValueError(f"[Model] Every input of a functional model must come from keras.Input; {t!r} is "
                                 f"the output of layer {t._layer.name!r}")
        if len({id(t) for t in input_list}) != len(input_list):
            raise ValueError("[Model] The same keras.Input is given twice in `inputs`")
        object.__setattr__(self, "_input_struct", inputs if not isinstance(inputs, tuple) else list(inputs))
        object.__setattr__(self, "_output_struct", outputs if not isinstance(outputs, tuple) else list(outputs))
        object.__setattr__(self, "_input_list", input_list)
        object.__setattr__(self, "_output_list", output_list)
        nodes = self._topological_nodes()
        object.__setattr__(self, "_nodes", nodes)
        object.__setattr__(self, "_run_nodes", [n for n in nodes if not n.is_input])
        ordered, seen = [], set()
        for layer in [t._layer for t in input_list] + [n.layer for n in nodes]:
            if id(layer) not in seen:
                seen.add(id(layer))
                ordered.append(layer)
        for layer in ordered:
            if layer.name in self._modules:
                raise ValueError(f"[Model] The name {layer.name!r} is used 2 times in the model. All layer names "
                                 "should be unique.")
            self._modules[layer.name] = layer
        object.__setattr__(self, "_layer_list", ordered)
        if len(input_list) == 1:
            self._build_shape = input_list[0].shape
        if len(output_list) == 1 and is_shape(output_list[0].shape):
            self._output_shape = output_list[0].shape
        self.built = True

    def _topological_nodes(self):
        """The nodes the outputs depend on, each after the nodes producing its inputs
        (a depth-first post-order from the outputs, iterative)."""
        inputs = {id(t) for t in self._input_list}
        done, order = set(), []
        for out in self._output_list:
            stack = [(out._node, False)]
            while stack:
                node, expanded = stack.pop()
                if id(node) in done:
                    continue
                if expanded:
                    done.add(id(node))
                    order.append(node)
                    continue
                if node.is_input:
                    tensor = node.outputs
                    if id(tensor) not in inputs:
                        given = ", ".join(t._layer.name for t in self._input_list)
                        raise ValueError(f"[Model] Graph disconnected: cannot obtain value for {tensor!r} at layer "
                                         f"{node.layer.name!r}: it is a keras.Input that is not among the model's "
                                         f"inputs ({given}). Give it in `inputs`, or compute the outputs from the "
                                         "given inputs only.")
                stack.append((node, True))
                for t in reversed(node.input_tensors):
                    if id(t._node) not in done:
                        stack.append((t._node, False))
        return order

    # ---- Keras attributes ----

    @property
    def layers(self):
        """Every layer of the graph once (the InputLayers first), in topological order."""
        return list(self._layer_list)

    @property
    def inputs(self):
        return list(self._input_list)

    @property
    def outputs(self):
        return list(self._output_list)

    @property
    def input(self):
        return self._input_struct

    @property
    def output(self):
        return self._output_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self._input_list]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self._output_list]
        return shapes[0] if len(shapes) == 1 else shapes

    def _num_outputs(self):
        return len(self._output_list)

    # ---- build and call ----

    def _build_for(self, input_shape):
        pass  # built when defined

    def build(self, input_shape=None):
        """A functional model is built when it is defined; this only checks ``input_shape``."""
        if input_shape is not None and len(self._input_list) == 1 and is_shape(input_shape):
            self._check_feed(0, self._input_list[0], tuple(input_shape))

    def compute_output_shape(self, input_shape):
        out = [t.shape for t in self._output_list]
        if isinstance(self._output_struct, dict):
            return dict(zip(self._output_struct, out))
        return out[0] if isinstance(self._output_struct, KerasTensor) else out

    def _check_feed(self, i, spec, shape):
        ok = len(shape) == len(spec.shape) and all(a is None or b is None or a == b
                                                   for a, b in zip(spec.shape[1:], shape[1:]))
        if not ok:
            raise ValueError(f'[Model] Input {i} of model "{self.name}" (keras.Input {spec.name!r}) is incompatible: '
                             f"expected shape={shape_str(spec.shape)}, found shape={shape_str(shape)}")

    def _feed(self, inputs):
        """{id(input KerasTensor): _Value} for the given inputs (one, a list or a dict)."""
        specs = self._input_list
        if isinstance(inputs, dict):
            if isinstance(self._input_struct, dict):
                keys = list(self._input_struct)
            else:
                keys = [t.name for t in specs]
            missing = [k for k in keys if k not in inputs]
            unknown = [k for k in inputs if k not in keys]
            if missing or unknown:
                raise ValueError(f'[Model] model "{self.name}" expects inputs {keys}; missing {missing}, unknown '
                                 f"{unknown}")
            values = [inputs[k] for k in keys]
        elif isinstance(inputs, (list, tuple)):
            values = list(inputs)
            if len(values) != len(specs):
                raise ValueError(f'[Model] model "{self.name}" expects {len(specs)} input(s), but it received '
                                 f"{len(values)} input tensors")
        else:
            if len(specs) != 1:
                raise ValueError(f'[Model] model "{self.name}" expects {len(specs)} inputs (a list or a dict), but '
                                 "it received one tensor")
            values = [inputs]
        feed = {}
        for i, (spec, value) in enumerate(zip(specs, values)):
            value = to_tensor(value)
            self._check_feed(i, spec, tuple(value.shape))
            feed[id(spec)] = _Value(keras=value)
        return feed

    def call(self, inputs, training=None, mask=None):
        values = self._feed(inputs)
        training = bool(training)
        recorder = layer_module._RECORDER
        for node in self._run_nodes:
            layer, args = node.layer, node.args
            if isinstance(args, KerasTensor) and not node.kwargs:
                value = values[id(args)]
                mode = layer._layout(len(args.shape))
                if mode == "nchw" or (mode == "any" and value.keras is None):
                    y, y_nchw = layer._apply(value.as_nchw(), True, training)
                else:
                    y, y_nchw = layer._apply(value.as_keras(), False, training)
                out = _Value(nchw=y) if y_nchw else _Value(keras=y)
                values[id(node.outputs)] = out
                if recorder is not None:
                    recorder.append((layer, y))
                continue
            ins = [values[id(t)] for t in node.input_tensors]
            if isinstance(layer, _Merge) and not node.kwargs and isinstance(args, (list, tuple)) and \
                    all(v.nchw is not None for v in ins) and all(len(t.shape) == 4 for t in node.input_tensors):
                y = layer._merge_nchw([v.nchw for v in ins])
                if layer.activity_regularizer is not None:
                    layer._add_activity_loss(y.permute(0, 2, 3, 1))
                values[id(node.outputs)] = _Value(nchw=y)
                if recorder is not None:
                    recorder.append((layer, y))
                continue
            real = map_structure(lambda t: values[id(t)].as_keras(), args)
            kwargs = dict(node.kwargs)
            out = layer(real, training=kwargs.pop("training", training), **kwargs)
            flat = [out] if isinstance(node.outputs, KerasTensor) else list(out.values()) \
                if isinstance(out, dict) else list(out)
            for t, y in zip(node.output_tensors, flat):
                values[id(t)] = _Value(keras=y)
        return map_structure(lambda t: values[id(t)].as_keras(), self._output_struct)

    def _invoke(self, x, training, **kwargs):
        return self.call(x, training=training)

    # ---- inspection ----

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print Keras's table for a functional model: ``Layer (type) | Output Shape |
        Param # | Connected to`` (each inbound tensor as ``layer[node][tensor]``), then the
        parameter totals as :meth:`Model.summary`."""
        from . import summary_utils
        mine = {id(n) for n in self._nodes}

        def connections(layer):
            found = []
            for node in layer._inbound_nodes:
                if id(node) in mine:
                    for t in node.input_tensors:
                        found.append(f"{t._layer.name}[{t._node.index}][{t._index}]")
            return found or ["-"]

        summary_utils.print_summary(self, line_length=line_length, print_fn=print_fn, connections=connections)

    # ---- config ----

    def get_config(self):
        """The graph as JSON-able data: each layer's class, config and the nodes it is
        called at (their inputs as ``{"keras_history": [layer name, node, tensor]}``), and
        the model's input and output tensors in the same form."""
        from ..layers import serialize
        local, counts = {}, {}  # id(node) -> its index among this model's nodes of its layer
        for node in sorted(self._nodes, key=lambda n: n.index):
            local[id(node)] = counts.get(id(node.layer), 0)
            counts[id(node.layer)] = local[id(node)] + 1

        def ref(t):
            return {"keras_history": [t._layer.name, local[id(t._node)], t._index]}

        entries = []
        for layer in self._layer_list:
            entry = _serialize_layer(layer, serialize)
            nodes = sorted((n for n in self._run_nodes if n.layer is layer), key=lambda n: n.index)
            entry["name"] = layer.name
            entry["inbound_nodes"] = [{"args": map_structure(ref, n.args), "kwargs": dict(n.kwargs)} for n in nodes]
            entries.append(entry)
        return {"name": self.name, "trainable": self.trainable, "layers": entries,
                "input_layers": map_structure(ref, self._input_struct),
                "output_layers": map_structure(ref, self._output_struct)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild the graph of :meth:`get_config` (fresh layers, called in the recorded
        order). ``custom_objects`` maps class names to classes defined outside fastnn.keras.

        Raises:
            ValueError: an unknown layer class, or nodes whose inputs never become available.
        """
        layers, pending, made = {}, [], {}
        for entry in config["layers"]:
            layer = _deserialize_layer(entry, custom_objects)
            layers[entry["name"]] = layer
            if isinstance(layer, InputLayer):
                made[(entry["name"], 0)] = layer.output
            pending.extend((entry["name"], k, node) for k, node in enumerate(entry.get("inbound_nodes", [])))

        def is_ref(v):
            return isinstance(v, dict) and set(v) == {"keras_history"}

        def resolve(v):
            name, node_index, tensor_index = v["keras_history"]
            out = made[(name, node_index)]
            return out if isinstance(out, KerasTensor) else out[tensor_index]

        def deep_map(fn, v):
            if is_ref(v):
                return fn(v)
            if isinstance(v, (list, tuple)):
                return [deep_map(fn, item) for item in v]
            if isinstance(v, dict):
                return {k: deep_map(fn, item) for k, item in v.items()}
            return v

        def ready(args):
            refs = []
            deep_map(lambda r: refs.append(r) or r, args)
            return all((r["keras_history"][0], r["keras_history"][1]) in made for r in refs)

        done_per_layer = {}
        while pending:
            progress = False
            for item in list(pending):
                name, k, node = item
                if done_per_layer.get(name, 0) != k or not ready(node["args"]):
                    continue
                made[(name, k)] = layers[name](deep_map(resolve, node["args"]), **node.get("kwargs", {}))
                done_per_layer[name] = k + 1
                pending.remove(item)
                progress = True
            if not progress:
                raise ValueError(f"[Model.from_config] the graph cannot be rebuilt: the inputs of "
                                 f"{[p[0] for p in pending]} are never computed")
        inputs = deep_map(resolve, config["input_layers"])
        outputs = deep_map(resolve, config["output_layers"])
        return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _serialize_layer(layer, serialize):
    if isinstance(layer, Model):
        return {"class_name": type(layer).__name__, "config": layer.get_config()}
    return serialize(layer)


def _deserialize_layer(entry, custom_objects):
    from ..layers import deserialize
    from .sequential import Sequential
    name = entry.get("class_name")
    custom = (custom_objects or {}).get(name)
    if custom is not None:
        return custom.from_config(dict(entry.get("config", {})))
    models = {"Sequential": Sequential, "Functional": Functional}
    if name in models:
        return models[name].from_config(dict(entry["config"]), custom_objects=custom_objects)
    return deserialize(entry)
