"""Keras weight and activity regularizers (``keras.regularizers``): a regularizer maps a
tensor (a weight in Keras's layout, or a layer's output) to a scalar penalty, computed
with fastnn Tensor operations so that the penalty is differentiable. Layers take them as
``kernel_regularizer`` / ``bias_regularizer`` / ``activity_regularizer``; the penalties
show in ``layer.losses`` and are added to the training and evaluation loss.
"""

import math

import numpy as np

from ..tensor import Tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]

# OrthogonalRegularizer's row normalisation divides by max(norm, this), as Keras's
# ops.normalize bounds 1 / norm by 1 / backend.epsilon()
_NORM_EPSILON = 1e-7


def _penalty_arg(cls, name, value):
    """``value`` as a float; ValueError unless it is a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            not math.isfinite(value) or value < 0:
        raise ValueError(f"[{cls}] Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, np.float32))


class Regularizer:
    """Base class: ``regularizer(x)`` returns a scalar penalty for the tensor ``x``.

    Subclasses implement ``__call__`` and ``get_config`` (the constructor arguments, so
    ``from_config(get_config())`` rebuilds an equal regularizer).
    """

    # True when the penalty depends only on the multiset of entries (L1, L2), so a weight
    # can be given in fastnn's layout instead of Keras's
    _layout_free = False

    def __call__(self, x):
        return 0.0

    def get_config(self):
        raise NotImplementedError(f"[{type(self).__name__}] Regularizer subclasses must implement get_config() to "
                                  "be serialized")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """``l1 * sum(abs(x))``.

    Args:
        l1: the factor (default 0.01; None also means 0.01).
    """

    _layout_free = True

    def __init__(self, l1=0.01):
        self.l1 = _penalty_arg("L1", "l1", 0.01 if l1 is None else l1)

    def __call__(self, x):
        return _as_tensor(x).abs().sum() * self.l1

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(square(x))`` (no factor 1/2, as Keras).

    Args:
        l2: the factor (default 0.01; None also means 0.01).
    """

    _layout_free = True

    def __init__(self, l2=0.01):
        self.l2 = _penalty_arg("L2", "l2", 0.01 if l2 is None else l2)

    def __call__(self, x):
        x = _as_tensor(x)
        return (x * x).sum() * self.l2

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(abs(x)) + l2 * sum(square(x))``.

    Args:
        l1, l2: the factors (default 0.0 each, so ``L1L2(l2=0.1)`` penalises only squares).
    """

    _layout_free = True

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _penalty_arg("L1L2", "l1", 0.0 if l1 is None else l1)
        self.l2 = _penalty_arg("L1L2", "l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        x = _as_tensor(x)
        penalty = None
        if self.l1:
            penalty = x.abs().sum() * self.l1
        if self.l2:
            square = (x * x).sum() * self.l2
            penalty = square if penalty is None else penalty + square
        return penalty if penalty is not None else x.sum() * 0.0

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D weight towards orthogonality: with each row
    scaled to unit L2 norm, the penalty is ``factor * 0.5 * sum(|off-diagonal entries of
    X X^T|) / (n (n - 1) / 2)`` for n rows (``mode='columns'``: the same on ``X^T X``).

    Args:
        factor: the factor (default 0.01).
        mode: ``'rows'`` (default) or ``'columns'``.

    Raises:
        ValueError: a negative factor, an unknown mode, or (when called) an input that is
            not 2-D.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _penalty_arg("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f"[OrthogonalRegularizer] Invalid value for argument `mode`. Expected one of "
                             f"{{'rows', 'columns'}}. Received: mode={mode!r}")
        self.mode = mode

    def __call__(self, x):
        x = _as_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"[OrthogonalRegularizer] Inputs to OrthogonalRegularizer must have rank 2. Received: "
                             f"inputs.shape={tuple(x.shape)}")
        if self.mode == "columns":
            x = x.t()
        n = x.shape[0]
        # sqrt of the clamped sum (not a clamped sqrt): a zero row must not give 0/0 gradients
        norms = (x * x).sum(1, keepdim=True).clamp(min=_NORM_EPSILON ** 2).sqrt()
        unit = x / norms
        off_diagonal = Tensor((1.0 - np.eye(n)).astype(np.float32))
        pairs = n * (n - 1) / 2.0
        if pairs == 0:
            return x.sum() * 0.0
        return ((unit @ unit.t()) * off_diagonal).abs().sum() * (self.factor * 0.5 / pairs)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras's lowercase aliases name the classes themselves
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_BY_NAME = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer, "l1": L1, "l2": L2,
            "l1_l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}


def serialize(regularizer):
    """``{"class_name": ..., "config": ...}`` for a regularizer (None for None).

    Raises:
        ValueError: a plain callable, which has no config to save.
    """
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    raise ValueError(f"[regularizers.serialize] {regularizer!r} is not a Regularizer and cannot be serialized")


def deserialize(config, custom_objects=None):
    """A regularizer from :func:`serialize`'s dict (``custom_objects`` maps further class
    names to classes)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"[regularizers.deserialize] expected a dict with 'class_name', got {config!r}")
    cls = (custom_objects or {}).get(config["class_name"]) or _BY_NAME.get(config["class_name"])
    if cls is None:
        raise ValueError(f"[regularizers.deserialize] Unknown regularizer: {config['class_name']!r}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A regularizer from None (None), a name (``'l1'``, ``'l2'``, ``'l1_l2'``,
    ``'orthogonal_regularizer'`` or a class name: the class with its defaults), a config
    dict, a Regularizer class or instance, or any callable ``fn(x) -> scalar``.

    Raises:
        ValueError: an unknown name or something that is not callable.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"[regularizers.get] Could not interpret regularizer identifier: {identifier!r}")
        return cls()
    if isinstance(identifier, type):
        if issubclass(identifier, Regularizer):
            return identifier()
        raise ValueError(f"[regularizers.get] Could not interpret regularizer identifier: {identifier!r}")
    if callable(identifier):
        return identifier
    raise ValueError(f"[regularizers.get] Could not interpret regularizer identifier: {identifier!r}")
