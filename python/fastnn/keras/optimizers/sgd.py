"""SGD with Keras 3's momentum rule, on fastnn's fused SGD kernel.

Keras's velocity carries the learning rate (``velocity = momentum * velocity - lr * g``);
the kernel's buffer does not (``b = momentum * b + g``, ``w -= lr * b``). Keeping
``velocity = -lr_ref * b`` exact: when the learning rate changes, ``b`` is rescaled by
``lr_ref / lr`` first.
"""

import numpy as np

from ... import kernels
from .base_optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Gradient descent, optionally with momentum (``keras.optimizers.SGD``)::

        w = w - learning_rate * g                                  (momentum 0)
        velocity = momentum * velocity - learning_rate * g         (velocity starts at 0)
        w = w + velocity                                           (plain momentum)
        w = w + momentum * velocity - learning_rate * g            (nesterov)

    Args:
        learning_rate: default 0.01. momentum: a float in [0, 1] (default 0.0).
        nesterov: default False. weight_decay, clipnorm, clipvalue, global_clipnorm, name:
            see :class:`~fastnn.keras.optimizers.Optimizer`.

    Example::

        model.compile(optimizer=SGD(learning_rate=0.1, momentum=0.9), loss="mse")
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor, gradient_accumulation_steps=gradient_accumulation_steps,
                         name=name, **kwargs)
        if not isinstance(momentum, (float, int)) or isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ValueError("[SGD] `momentum` must be a float between [0, 1].")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _build_slots(self, variables):
        if self.momentum != 0:
            self._slots["momentum"] = self._zeros(variables)
            self._lr_ref = [1.0] * len(variables)  # velocity = -lr_ref * b; b = 0 fits any lr_ref

    def _update(self, idx, params, grads, lr):
        if self.momentum == 0:
            kernels.sgd_step_(params, grads, None, lr=lr)
            return
        bufs = [self._slots["momentum"][i] for i in idx]
        if lr == 0.0:  # the velocity still moves the weights; the kernel's lr would stop them
            for i, p, b in zip(idx, params, bufs):
                b *= np.asarray(self.momentum, b.dtype)
                velocity = b * np.asarray(-self._lr_ref[i], b.dtype)
                p += velocity * np.asarray(self.momentum, b.dtype) if self.nesterov else velocity
            return
        for i, b in zip(idx, bufs):
            if self._lr_ref[i] != lr:
                b *= np.asarray(self._lr_ref[i] / lr, b.dtype)
                self._lr_ref[i] = lr
        kernels.sgd_step_(params, grads, bufs, lr=lr, momentum=self.momentum, nesterov=self.nesterov)

    def _export_slots(self):
        if self.momentum == 0:
            return {}
        return {"momentum": [b * np.asarray(-r, b.dtype) for b, r in zip(self._slots["momentum"], self._lr_ref)]}

    def _import_slots(self, slots):
        if self.momentum == 0:
            return
        for k, (b, velocity) in enumerate(zip(self._slots["momentum"], slots["momentum"])):
            b[...] = -np.asarray(velocity)
            self._lr_ref[k] = 1.0

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
