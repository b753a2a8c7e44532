"""Keras activation functions by name (``keras.activations``), each on fastnn Tensors and
built on fastnn.functional, so autograd flows through them.

``softmax`` and ``sigmoid`` outputs remember their input as ``_keras_logits``: the
cross-entropy losses then work from the logits, fused and stable, as Keras's
TensorFlow backend does (see :mod:`fastnn.keras.losses`).
"""

from .. import functional as F

__all__ = ["relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "gelu", "linear", "get", "serialize"]


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """``max(x, 0)``; with ``negative_slope``, ``max_value`` or ``threshold``, Keras's
    generalised form: ``x`` above threshold (capped at max_value), ``negative_slope * (x -
    threshold)`` below."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return F.relu(x)
    if threshold != 0.0:
        raise ValueError(f"[relu] threshold={threshold} is not supported; only 0")
    y = F.leaky_relu(x, negative_slope) if negative_slope else F.relu(x)
    return y.clamp(max=float(max_value)) if max_value is not None else y


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise (Keras's default slope 0.2)."""
    return F.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise."""
    return F.elu(x, alpha)


def gelu(x, approximate=False):
    """Gaussian error linear unit; ``approximate=True`` is the tanh form (Keras's default
    is the exact erf form)."""
    return F.gelu(x, "tanh" if approximate else "none")


def sigmoid(x):
    """``1 / (1 + exp(-x))``; the output keeps ``x`` as its logits."""
    y = F.sigmoid(x)
    y._keras_logits = x
    return y


def tanh(x):
    return F.tanh(x)


def softmax(x, axis=-1):
    """Softmax along ``axis`` (default the last); over the last axis the output keeps ``x``
    as its logits."""
    y = F.softmax(x, dim=axis)
    if axis in (-1, x.ndim - 1):
        y._keras_logits = x
    return y


def linear(x):
    """The identity (Keras's ``activation=None``)."""
    return x


_ALIASES = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "leaky_relu": leaky_relu,
            "elu": elu, "gelu": gelu, "linear": linear}


def get(identifier):
    """An activation function from a name (``'relu'``), a callable (returned as is) or None
    (``linear``).

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        TypeError: neither a string, a callable nor None.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _ALIASES.get(identifier)
        if fn is None:
            raise ValueError(f"[activations.get] Unknown activation function {identifier!r}; known: "
                             f"{', '.join(sorted(_ALIASES))}")
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(f"[activations.get] Could not interpret activation function identifier: {identifier!r}")


def serialize(activation):
    """The name of a built-in activation (what ``get_config`` stores).

    Raises:
        ValueError: a callable that is not one of this module's functions (it could not be
            rebuilt from a saved file).
    """
    for name, fn in _ALIASES.items():
        if activation is fn:
            return name
    raise ValueError(f"[activations.serialize] {activation!r} is not a built-in activation and cannot be saved "
                     "by name")
