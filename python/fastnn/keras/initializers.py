"""Keras weight initializers (``keras.initializers``) by name or object. An initializer
is called with a Keras shape and returns a NumPy float32 array of it; the random ones draw
from fastnn's generator (:func:`fastnn.manual_seed`), or from their own when given a seed.

Fans follow Keras: a 2-D kernel ``(in, out)`` has fan_in = in, fan_out = out; a
convolution kernel ``(kh, kw, in, out)`` multiplies both by ``kh * kw``.
"""

import math

import numpy as np

from ..tensor import generator as _default_generator

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
           "VarianceScaling", "get"]


def compute_fans(shape):
    """(fan_in, fan_out) of a Keras-layout kernel shape."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``initializer(shape, dtype=None)`` returns a new array."""

    def __init__(self, seed=None):
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _gen(self):
        return self._rng if self._rng is not None else _default_generator()

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed} if "seed" in self.__dict__ else {}


class Zeros(Initializer):
    """All zeros."""

    def __init__(self):
        pass

    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype or np.float32)

    def get_config(self):
        return {}


class Ones(Zeros):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype or np.float32)


class Constant(Initializer):
    """Every entry ``value``."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype or np.float32)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """N(mean, stddev**2) (Keras defaults mean 0, stddev 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return self._gen().normal(self.mean, self.stddev, shape).astype(dtype or np.float32)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """U(minval, maxval) (Keras defaults -0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        return self._gen().uniform(self.minval, self.maxval, shape).astype(dtype or np.float32)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(gen, stddev, shape):
    """N(0, stddev**2) redrawn outside two standard deviations, as Keras's truncated normal."""
    out = gen.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = gen.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


class TruncatedNormal(RandomNormal):
    """N(mean, stddev**2) truncated at two standard deviations."""

    def __call__(self, shape, dtype=None):
        return (self.mean + _truncated_normal(self._gen(), self.stddev, shape)).astype(dtype or np.float32)


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: variance ``scale / n`` with n the fan_in, fan_out or their
    mean (``mode``); ``distribution`` 'truncated_normal' (stddev divided by .8796..., the
    stddev of a unit normal truncated at 2), 'untruncated_normal' or 'uniform' (limit
    ``sqrt(3 * scale / n)``)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"[VarianceScaling] Invalid `mode` argument: {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"[VarianceScaling] Invalid `distribution` argument: {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        gen = self._gen()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            out = gen.uniform(-limit, limit, shape)
        elif self.distribution == "truncated_normal":
            out = _truncated_normal(gen, math.sqrt(scale) / 0.87962566103423978, shape)
        else:
            out = gen.normal(0.0, math.sqrt(scale), shape)
        return out.astype(dtype or np.float32)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "U(-limit, limit), ``limit = sqrt(6 / (fan_in + fan_out))`` (Keras's default kernel init).")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Truncated normal, stddev ``sqrt(2 / (fan_in + fan_out))``.")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform", "U(-limit, limit), ``limit = sqrt(6 / fan_in)``.")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal, stddev ``sqrt(2 / fan_in)``.")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform", "U(-limit, limit), ``limit = sqrt(3 / fan_in)``.")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "Truncated normal, stddev ``sqrt(1 / fan_in)``.")

_ALIASES = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
            "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
            "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
            "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
            "variance_scaling": VarianceScaling}
_ALIASES.update({cls.__name__: cls for cls in list(_ALIASES.values())})


def get(identifier):
    """An initializer from a name (``'glorot_uniform'`` or ``'GlorotUniform'``), a config
    dict ``{"class_name": ..., "config": {...}}``, an Initializer, or a callable
    ``(shape, dtype) -> array``.

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(identifier, dict):
        cls = _ALIASES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"[initializers.get] Unknown initializer: {identifier!r}")
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier)
        if cls is None:
            raise ValueError(f"[initializers.get] Unknown initializer {identifier!r}; known: "
                             f"{', '.join(sorted(k for k in _ALIASES if k.islower()))}")
        return cls()
    if callable(identifier):
        return identifier
    raise ValueError(f"[initializers.get] Could not interpret initializer identifier: {identifier!r}")


def serialize(initializer):
    """``{"class_name": ..., "config": ...}`` for a built-in initializer (saved in configs)."""
    if isinstance(initializer, Initializer) and type(initializer).__name__ in _ALIASES:
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    raise ValueError(f"[initializers.serialize] {initializer!r} is not a built-in initializer and cannot be saved")
