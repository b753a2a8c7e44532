"""Adagrad with Keras 3's update rule on fastnn's fused Adagrad kernel.

Keras divides by ``sqrt(accumulator + epsilon)``; the kernel by ``sqrt(s) + eps``. Keeping
``s = accumulator + epsilon`` (so ``s`` starts at ``initial_accumulator_value + epsilon``)
and calling the kernel with ``eps = 0`` gives Keras's rule exactly.
"""

import numpy as np

from ... import kernels
from .base_optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (``keras.optimizers.Adagrad``), for each variable ``w`` with gradient ``g``::

        accumulator = accumulator + g * g       (starts at initial_accumulator_value)
        w = w - learning_rate * g / sqrt(accumulator + epsilon)

    Args:
        learning_rate: default 0.001. initial_accumulator_value: default 0.1.
        epsilon: default 1e-7. weight_decay, clipnorm, clipvalue, global_clipnorm, name:
            see :class:`~fastnn.keras.optimizers.Optimizer`.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor, gradient_accumulation_steps=gradient_accumulation_steps,
                         name=name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"[Adagrad] initial_accumulator_value must be non-negative, got "
                             f"{initial_accumulator_value}")
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _build_slots(self, variables):
        start = self.initial_accumulator_value + self.epsilon
        self._slots["accumulator"] = [np.full(v.shape, start, v.dtype) for v in variables]

    def _update(self, idx, params, grads, lr):
        acc = self._slots["accumulator"]
        kernels.adagrad_step_(params, grads, [acc[i] for i in idx], self.iterations + 1, lr=lr, eps=0.0)

    def _export_slots(self):
        return {"accumulator": [a - np.asarray(self.epsilon, a.dtype) for a in self._slots["accumulator"]]}

    def _import_slots(self, slots):
        for dst, src in zip(self._slots["accumulator"], slots["accumulator"]):
            dst[...] = np.asarray(src) + np.asarray(self.epsilon, dst.dtype)

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
