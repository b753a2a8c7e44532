"""The functional API's graph records: KerasTensor (a symbolic tensor: a shape with None
for the batch, a dtype, and the Node that produced it) and Node (one call of a layer on
KerasTensors). Calling a layer on KerasTensors creates a Node and returns new
KerasTensors; a functional Model walks these records back from its outputs.

Nested structures (a layer's inputs) are lists, tuples and dicts; their leaves are
visited in order (dicts in insertion order).
"""

__all__ = ["KerasTensor", "Node", "flatten", "map_structure", "is_shape", "shape_str"]


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def flatten(structure):
    """The leaves of a nested list/tuple/dict structure, in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def map_structure(fn, structure):
    """The structure with ``fn`` applied to every leaf (containers keep their type)."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def is_shape(value):
    """True for one shape (a tuple/list of ints and None), False for a list of shapes."""
    return isinstance(value, (tuple, list)) and all(d is None or (isinstance(d, int) and not isinstance(d, bool))
                                                    for d in value)


class KerasTensor:
    """A symbolic tensor (``keras.Input(shape)`` returns one; calling a layer on one returns
    more): ``shape`` with None for the batch dimension, ``dtype``, and where it came from
    (``_keras_history``: the layer, that layer's node index, the output index).

    It holds no values: it records the graph a functional :class:`~fastnn.keras.Model`
    runs, and an Input can also start a :class:`~fastnn.keras.Sequential`.
    """

    def __init__(self, shape, dtype="float32", name=None, layer=None, node=None, index=0):
        self.shape, self.dtype, self.name = tuple(shape), dtype, name
        self._layer, self._node, self._index = layer, node, index

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_history(self):
        """(layer, node index within the layer's calls, output index within the node)."""
        return self._layer, (None if self._node is None else self._node.index), self._index

    def __repr__(self):
        return f"<KerasTensor shape={shape_str(self.shape)}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"[KerasTensor] {self.name!r} is symbolic (it has no values): a KerasTensor can only be "
                        "passed to Keras layers and to keras.Model(inputs, outputs)")


class Node:
    """One call of ``layer`` on symbolic inputs.

    Attributes:
        layer: the layer called. index: this node's position in ``layer._inbound_nodes``.
        args: the inputs as given (a KerasTensor or a list/tuple/dict of them; None for an
            InputLayer's node). kwargs: the other keyword arguments of the call.
        outputs: the output KerasTensor, or a list of them.
    """

    def __init__(self, layer, args, kwargs, outputs):
        self.layer, self.args, self.kwargs, self.outputs = layer, args, dict(kwargs or {}), outputs
        self.index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)

    @property
    def input_tensors(self):
        return [] if self.args is None else flatten(self.args)

    @property
    def output_tensors(self):
        return flatten(self.outputs)

    @property
    def is_input(self):
        return self.args is None

    def __repr__(self):
        return f"<Node {self.layer.name}[{self.index}]>"
