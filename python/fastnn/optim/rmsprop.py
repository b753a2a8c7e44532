"""RMSprop, as torch.optim.RMSprop."""

import numpy as np

from .. import kernels
from ..tensor import Tensor
from .optimizer import Optimizer, _implementation_flags

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (torch.optim.RMSprop).

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                           (when weight_decay != 0)
        s = alpha * s + (1 - alpha) * g * g
        if centered: a = alpha * a + (1 - alpha) * g; avg = sqrt(s - a * a) + eps
        else:        avg = sqrt(s) + eps
        if momentum > 0: b = momentum * b + g / avg; p = p - lr * b
        else:            p = p - lr * g / avg

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance of the gradient (default False).
        maximize: maximize the objective (default False).
        foreach, fused: accepted for PyTorch compatibility; every group is always updated in
            one fused kernel call. capturable, differentiable: must stay False.

    State per parameter: ``step`` (int), ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        _implementation_flags("RMSprop", foreach, capturable, differentiable, fused)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["square_avg"] = Tensor(np.zeros(p.data.shape, p.data.dtype))

    def _update(self, group, params, grads, states):
        momentum, centered = group["momentum"], group["centered"]
        for st, p in zip(states, params):  # created on first use, as torch does
            if momentum > 0 and "momentum_buffer" not in st:
                st["momentum_buffer"] = Tensor(np.zeros(p.data.shape, p.data.dtype))
            if centered and "grad_avg" not in st:
                st["grad_avg"] = Tensor(np.zeros(p.data.shape, p.data.dtype))
        kernels.rmsprop_step_([p.data for p in params], grads, [st["square_avg"].data for st in states],
                              [st["grad_avg"].data for st in states] if centered else None,
                              [st["momentum_buffer"].data for st in states] if momentum > 0 else None,
                              lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                              weight_decay=group["weight_decay"], momentum=momentum, centered=centered,
                              maximize=group["maximize"])
        for st in states:
            st["step"] += 1
