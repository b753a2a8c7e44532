"""Optimizer: the base of Keras 3's optimizers on fastnn's arrays. Each step reads the
learning rate (a float, a schedule of ``iterations``, or a callable), clips the gradients,
applies Keras's decoupled weight decay (``w -= w * weight_decay * lr``), runs the
subclass's rule and counts the step. State lives in ``_slots`` (one array per variable).
"""

import math

import numpy as np

from ...tensor import Tensor
from .schedules import LearningRateSchedule

__all__ = ["Optimizer"]


def _array(g):
    a = g.data if isinstance(g, Tensor) else np.asarray(g)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


class Optimizer:
    """Base class of the Keras optimizers.

    Args:
        learning_rate: a float, a :class:`~fastnn.keras.optimizers.schedules.LearningRateSchedule`
            or a callable without arguments.
        weight_decay: decoupled decay rate, or None.
        clipnorm: clip each gradient to this L2 norm. clipvalue: clip each gradient entry to
            ``[-clipvalue, clipvalue]``. global_clipnorm: clip all gradients together to
            this global L2 norm.
        name: the optimizer's name.
        use_ema, loss_scale_factor, gradient_accumulation_steps: not supported (must keep
            their defaults).

    Attributes:
        iterations: the number of steps taken (an int).
        learning_rate: the current learning rate, a float; assignable (from the next step).
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        cls = type(self).__name__
        if "lr" in kwargs:
            raise ValueError(f"[{cls}] Argument `lr` is no longer supported. Use `learning_rate` instead.")
        if "decay" in kwargs:
            raise ValueError(f"[{cls}] Argument `decay` is no longer supported. Use a learning rate schedule instead.")
        if kwargs:
            raise ValueError(f"[{cls}] Argument(s) not recognized: {kwargs}")
        if use_ema or loss_scale_factor is not None or gradient_accumulation_steps is not None:
            raise NotImplementedError(f"[{cls}] use_ema, loss_scale_factor and gradient_accumulation_steps are not "
                                      "supported by fastnn.keras")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(f"[{cls}] Only one of `clipnorm` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}")
        self.name = name or cls.lower()
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = use_ema, ema_momentum, ema_overwrite_frequency
        self._check_lr(learning_rate)
        self._learning_rate = learning_rate
        self.iterations = 0
        self.built = False
        self._variables = []
        self._index = {}
        self._slots = {}

    def _check_lr(self, value):
        if isinstance(value, LearningRateSchedule) or callable(value):
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or value < 0:
            raise ValueError(f"[{type(self).__name__}] learning_rate must be a non-negative float, a "
                             f"LearningRateSchedule or a callable, got {value!r}")

    # ---- learning rate ----

    @property
    def learning_rate(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self.iterations))
        if callable(lr):
            return float(lr())
        return float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._learning_rate, LearningRateSchedule) and not isinstance(value, LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                            "constructor argument, hence its learning rate is not settable.")
        self._check_lr(value)
        self._learning_rate = value

    lr = learning_rate

    # ---- variables and state ----

    def build(self, variables):
        """Bind to ``variables`` (Tensors updated in place) and create their state."""
        variables = list(variables)
        for v in variables:
            if not isinstance(v, Tensor) or v.dtype.kind != "f":
                raise TypeError(f"[{type(self).__name__}.build] expected floating-point fastnn Tensors, got "
                                f"{type(v).__name__}")
        self._variables = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        self._slots = {}
        self._build_slots(variables)
        self.built = True

    def _build_slots(self, variables):
        pass

    def _zeros(self, variables):
        return [np.zeros(v.shape, v.dtype) for v in variables]

    @property
    def variables(self):
        """Keras's list, as NumPy arrays: the iteration count (int64), the learning rate
        (float32; not when it is a LearningRateSchedule, which is no variable), then the
        state arrays."""
        slots = self._export_slots()
        head = [np.asarray(self.iterations, np.int64)]
        if not isinstance(self._learning_rate, LearningRateSchedule):
            head.append(np.asarray(self.learning_rate, np.float32))
        return head + [a for name in sorted(slots) for a in slots[name]]

    def _export_slots(self):
        return {name: [a.copy() for a in arrays] for name, arrays in self._slots.items()}

    def _import_slots(self, slots):
        for name, arrays in slots.items():
            for dst, src in zip(self._slots[name], arrays):
                dst[...] = src

    # ---- steps ----

    def apply_gradients(self, grads_and_vars):
        """One step from ``[(gradient, variable), ...]``; returns ``iterations``."""
        grads_and_vars = list(grads_and_vars)
        return self.apply([g for g, _ in grads_and_vars], [v for _, v in grads_and_vars])

    def apply(self, grads, trainable_variables=None):
        """One step: ``grads`` (arrays or Tensors; None entries are skipped) for
        ``trainable_variables`` (default: the variables the optimizer was built with).
        Returns ``iterations`` after the step.

        Raises:
            ValueError: a variable the optimizer was not built with, a length mismatch, or a
                gradient whose shape differs from its variable's.
        """
        cls = type(self).__name__
        if trainable_variables is None:
            if not self.built:
                raise ValueError(f"[{cls}.apply] the optimizer is not built: pass trainable_variables")
            trainable_variables = self._variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        grads = list(grads)
        if len(grads) != len(trainable_variables):
            raise ValueError(f"[{cls}.apply] got {len(grads)} gradients for {len(trainable_variables)} variables")
        idx, params, arrays = [], [], []
        for v, g in zip(trainable_variables, grads):
            if g is None:
                continue
            i = self._index.get(id(v))
            if i is None:
                raise ValueError(f"[{cls}.apply] Unknown variable of shape {tuple(v.shape)}: this optimizer can only "
                                 "be called for the variables it was originally built with")
            a = _array(g)
            if a.shape != v.shape:
                raise ValueError(f"[{cls}.apply] gradient of shape {a.shape} for a variable of shape {v.shape}")
            idx.append(i)
            params.append(v.data)
            arrays.append(a if a.dtype == v.dtype else a.astype(v.dtype))
        if params:
            self._step(idx, params, arrays)
            for v, g in zip(trainable_variables, grads):
                if g is not None and hasattr(v, "_bump_version"):
                    v._bump_version()  # updated in place: a graph that saved it is stale now
        return self.iterations

    def _step(self, idx, params, grads):
        """One step on raw arrays (``params[k]`` is variable ``idx[k]``; grads C-contiguous)."""
        lr = self.learning_rate
        grads = self._clip(grads)
        if self.weight_decay:
            for p in params:
                p -= p * np.asarray(self.weight_decay * lr, p.dtype)
        self._update(idx, params, grads, lr)
        self.iterations += 1

    def _clip(self, grads):
        if self.clipvalue is not None:
            c = float(self.clipvalue)
            grads = [np.clip(g, -c, c) for g in grads]
        if self.clipnorm is not None:
            c = float(self.clipnorm)
            out = []
            for g in grads:
                n = math.sqrt(float(np.vdot(g, g)))
                out.append(g * np.asarray(c / n, g.dtype) if n > c else g)
            grads = out
        if self.global_clipnorm is not None:
            c = float(self.global_clipnorm)
            n = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if n > c:
                grads = [g * np.asarray(c / n, g.dtype) for g in grads]
        return grads

    def _update(self, idx, params, grads, lr):
        raise NotImplementedError

    # ---- config ----

    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        elif callable(lr):
            lr = self.learning_rate
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            from . import schedules
            config["learning_rate"] = getattr(schedules, lr["class_name"]).from_config(lr["config"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, learning_rate={self.learning_rate}>"
