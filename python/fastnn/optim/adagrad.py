"""Adagrad, as torch.optim.Adagrad."""

import numpy as np

from .. import kernels
from ..tensor import Tensor
from .optimizer import Optimizer, _implementation_flags, _steps_arg

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (torch.optim.Adagrad).

    For each parameter ``p`` with gradient ``g`` at step ``t`` (counted from 1)::

        g = -g if maximize else g
        g = g + weight_decay * p                           (when weight_decay != 0)
        s = s + g * g                                      (s starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: the starting value of ``s`` (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: maximize the objective (default False).
        foreach, fused: accepted for PyTorch compatibility; every group is always updated in
            one fused kernel call. capturable, differentiable: must stay False.

    State per parameter: ``step`` (int) and ``sum``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        _implementation_flags("Adagrad", foreach, capturable, differentiable, fused)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["sum"] = Tensor(np.full(p.data.shape, group["initial_accumulator_value"], p.data.dtype))

    def _update(self, group, params, grads, states):
        steps = [st["step"] + 1 for st in states]
        kernels.adagrad_step_([p.data for p in params], grads, [st["sum"].data for st in states],
                              _steps_arg(steps),
                              lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                              eps=group["eps"], maximize=group["maximize"])
        for st, t in zip(states, steps):
            st["step"] = t
