"""Metric: Keras 3's base class for stateful metrics. State lives in variables made by
add_variable (float64 NumPy arrays, updated in place with assign / assign_add); result()
returns a Python float, or a NumPy array of the metric's dtype for per-class results.
"""

import re

import numpy as np

__all__ = ["Metric", "MetricVariable"]


def to_snake_case(name):
    """'CategoricalAccuracy' -> 'categorical_accuracy' (Keras's rule for default names)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class MetricVariable(np.ndarray):
    """A metric's state array (float64). ``assign(value)`` and ``assign_add(value)`` update it
    in place, as Keras variables do; arithmetic on it gives plain values."""

    def assign(self, value):
        self[...] = value
        return self

    def assign_add(self, value):
        self += value
        return self

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # in-place updates (self += x) keep the variable itself; other results of
        # arithmetic are plain arrays or scalars, never new state variables
        if array is self:
            return self
        array = array.view(np.ndarray)
        return array[()] if return_scalar else array


class Metric:
    """Encapsulates metric logic and state (Keras 3's ``keras.metrics.Metric``).

    Subclasses create their state in ``__init__`` with ``self.add_variable(...)``, update it
    in ``update_state(...)`` and compute the value in ``result()``. ``reset_state()`` zeroes
    every variable; calling the metric updates the state and returns ``result()``.

    Args:
        dtype: (Optional) data type of the metric result. Defaults to ``"float32"``. State
            accumulates in float64 whatever the dtype.
        name: (Optional) string name of the metric instance; defaults to the class name in
            snake case.

    Example:

    >>> class BinaryTruePositives(Metric):
    ...     def __init__(self, name="binary_true_positives", **kwargs):
    ...         super().__init__(name=name, **kwargs)
    ...         self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         values = np.logical_and(np.asarray(y_true, bool), np.asarray(y_pred, bool)).astype(float)
    ...         if sample_weight is not None:
    ...             values = values * np.broadcast_to(sample_weight, values.shape)
    ...         self.true_positives.assign(self.true_positives + values.sum())
    ...     def result(self):
    ...         return float(self.true_positives)
    >>> m = BinaryTruePositives()
    >>> m([1, 0, 1], [1, 1, 1])
    2.0
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or to_snake_case(type(self).__name__)
        if not isinstance(self.name, str):
            raise TypeError(f"[{type(self).__name__}] name must be a string, got {type(self.name).__name__}")
        try:
            self._dtype = np.dtype(dtype or "float32").name
        except TypeError:
            raise ValueError(f"[{type(self).__name__}] dtype {dtype!r} is not a NumPy data type") from None
        self._variables = []

    @property
    def dtype(self):
        return self._dtype

    @property
    def variables(self):
        """The state variables, in creation order (those of nested metrics included)."""
        out = list(self._variables)
        for value in vars(self).values():
            if isinstance(value, Metric):
                out.extend(value.variables)
        return out

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A new state variable of the given shape, initialised to zeros (the only
        initializer metrics need); reset_state() sets it back to zeros."""
        if not hasattr(self, "_variables"):
            raise RuntimeError("You forgot to call `super().__init__()` in the `__init__()` method. Go add it!")
        if initializer not in ("zeros", None):
            raise ValueError(f"[{type(self).__name__}.add_variable] only initializer='zeros' is supported, "
                             f"got {initializer!r}")
        variable = np.zeros(shape, dtype=np.float64).view(MetricVariable)
        self._variables.append(variable)
        return variable

    add_weight = add_variable

    def update_state(self, *args, **kwargs):
        """Accumulate statistics for the metric."""
        raise NotImplementedError(f"[{type(self).__name__}] subclasses of Metric must implement update_state")

    def result(self):
        """The current value of the metric."""
        raise NotImplementedError(f"[{type(self).__name__}] subclasses of Metric must implement result")

    def reset_state(self):
        """Set every state variable back to zero (called between epochs)."""
        for v in self.variables:
            v[...] = 0

    def __call__(self, *args, **kwargs):
        if not hasattr(self, "_variables"):
            raise RuntimeError("You forgot to call `super().__init__()` in the `__init__()` method. Go add it!")
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        """The serializable config of the metric."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _cast_result(self, value):
        """Python float for scalars, an array of the metric's dtype otherwise."""
        value = np.asarray(value)
        if value.ndim == 0:
            return float(value)
        return value.astype(self.dtype)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
