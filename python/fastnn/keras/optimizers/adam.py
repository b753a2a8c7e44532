"""Adam and AdamW with Keras 3's update rule, on fastnn's fused Adam kernel.

Keras puts epsilon beside the raw ``sqrt(v)``; fastnn's kernel (PyTorch's rule) beside the
bias-corrected one. The two agree exactly when the kernel gets ``epsilon / sqrt(1 -
beta_2**t)`` at step t, which is what is passed.
"""

import math

from ... import kernels
from .base_optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (``keras.optimizers.Adam``). At step ``t`` (from 1), for each variable ``w``
    with gradient ``g``::

        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        if amsgrad: v_hat = max(v_hat, v); v = v_hat
        w = w - learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    Args:
        learning_rate: default 0.001. beta_1: default 0.9. beta_2: default 0.999.
        epsilon: default 1e-7. amsgrad: default False.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: see
            :class:`~fastnn.keras.optimizers.Optimizer`.

    Example::

        model.compile(optimizer=Adam(learning_rate=1e-3), loss="mse")
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None, name="adam",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor, gradient_accumulation_steps=gradient_accumulation_steps,
                         name=name, **kwargs)
        if not (0.0 <= beta_1 < 1.0 and 0.0 <= beta_2 < 1.0) or epsilon < 0:
            raise ValueError(f"[{type(self).__name__}] expected 0 <= beta_1, beta_2 < 1 and epsilon >= 0, got "
                             f"beta_1={beta_1}, beta_2={beta_2}, epsilon={epsilon}")
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _build_slots(self, variables):
        self._slots["momentum"] = self._zeros(variables)
        self._slots["velocity"] = self._zeros(variables)
        if self.amsgrad:
            self._slots["velocity_hat"] = self._zeros(variables)

    def _update(self, idx, params, grads, lr):
        t = self.iterations + 1
        m = self._slots["momentum"]
        v = self._slots["velocity"]
        vh = self._slots.get("velocity_hat")
        eps = self.epsilon / math.sqrt(1.0 - self.beta_2 ** t)
        kernels.adam_step_(params, grads, [m[i] for i in idx], [v[i] for i in idx],
                           [vh[i] for i in idx] if self.amsgrad else None, t, lr=lr, beta1=self.beta_1,
                           beta2=self.beta_2, eps=eps, amsgrad=self.amsgrad)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """AdamW (``keras.optimizers.AdamW``): :class:`Adam` with decoupled weight decay
    ``w = w - w * weight_decay * learning_rate`` before each update.

    Args:
        learning_rate: default 0.001. weight_decay: default 0.004. beta_1, beta_2, epsilon,
        amsgrad: as :class:`Adam`.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("[AdamW] Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
