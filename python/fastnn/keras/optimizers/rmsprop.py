"""RMSprop with Keras 3's update rule (epsilon inside the square root, a momentum buffer
that carries the learning rate), in vectorised NumPy: fastnn's fused kernel follows
PyTorch's rule (epsilon outside the root), which no choice of arguments turns into Keras's.
"""

import numpy as np

from .base_optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (``keras.optimizers.RMSprop``), for each variable ``w`` with gradient ``g``::

        velocity = rho * velocity + (1 - rho) * g * g
        if centered: average_grad = rho * average_grad + (1 - rho) * g
                     denominator = velocity - average_grad**2 + epsilon
        else:        denominator = velocity + epsilon
        increment = learning_rate * g / sqrt(denominator)
        if momentum > 0: buffer = momentum * buffer + increment; w = w - buffer
        else:            w = w - increment

    Args:
        learning_rate: default 0.001. rho: default 0.9. momentum: default 0.0.
        epsilon: default 1e-7. centered: default False. weight_decay, clipnorm, clipvalue,
        global_clipnorm, name: see :class:`~fastnn.keras.optimizers.Optimizer`.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor, gradient_accumulation_steps=gradient_accumulation_steps,
                         name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _build_slots(self, variables):
        self._slots["velocity"] = self._zeros(variables)
        if self.momentum > 0:
            self._slots["momentum"] = self._zeros(variables)
        if self.centered:
            self._slots["average_gradient"] = self._zeros(variables)

    def _update(self, idx, params, grads, lr):
        for i, w, g in zip(idx, params, grads):
            dt = w.dtype
            rho = np.asarray(self.rho, dt)
            one_minus = np.asarray(1.0 - self.rho, dt)
            v = self._slots["velocity"][i]
            v *= rho
            v += one_minus * g * g
            if self.centered:
                a = self._slots["average_gradient"][i]
                a *= rho
                a += one_minus * g
                denominator = v - a * a + np.asarray(self.epsilon, dt)
            else:
                denominator = v + np.asarray(self.epsilon, dt)
            increment = np.asarray(lr, dt) * g / np.sqrt(denominator)
            if self.momentum > 0:
                b = self._slots["momentum"][i]
                b *= np.asarray(self.momentum, dt)
                b += increment
                w -= b
            else:
                w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
