"""Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW."""

import numpy as np

from .. import kernels
from ..tensor import Tensor
from .optimizer import Optimizer, _implementation_flags, _steps_arg

__all__ = ["Adam", "AdamW"]


def _check_adam_args(lr, betas, eps, weight_decay):
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    r"""Adam (torch.optim.Adam); with ``decoupled_weight_decay=True``, AdamW.

    For each parameter ``p`` with gradient ``g`` at step ``t`` (counted from 1)::

        g = -g if maximize else g
        if decoupled_weight_decay: p = p * (1 - lr * weight_decay)
        else:                      g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        if amsgrad: vmax = max(vmax, v); v = vmax
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-3).
        betas: ``(beta1, beta2)``, the moments' decay rates (default (0.9, 0.999)).
        eps: added to the denominator, outside the square root (default 1e-8).
        weight_decay: L2 penalty, or the decoupled decay rate (default 0).
        amsgrad: use the running maximum of ``v`` (default False).
        maximize: maximize the objective (default False).
        decoupled_weight_decay: AdamW's decay of the parameter itself (default False).
        foreach, fused: accepted for PyTorch compatibility; every group is always updated in
            one fused kernel call. capturable, differentiable: must stay False.

    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq`` and, with amsgrad,
    ``max_exp_avg_sq``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        _implementation_flags(type(self).__name__, foreach, capturable, differentiable, fused)
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["exp_avg"] = Tensor(np.zeros(p.data.shape, p.data.dtype))
        state["exp_avg_sq"] = Tensor(np.zeros(p.data.shape, p.data.dtype))
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = Tensor(np.zeros(p.data.shape, p.data.dtype))

    def _update(self, group, params, grads, states):
        amsgrad = group["amsgrad"]
        steps = [st["step"] + 1 for st in states]
        if amsgrad:
            for st, p in zip(states, params):
                if "max_exp_avg_sq" not in st:  # amsgrad switched on after the first step
                    st["max_exp_avg_sq"] = Tensor(np.zeros(p.data.shape, p.data.dtype))
        beta1, beta2 = group["betas"]
        kernels.adam_step_([p.data for p in params], grads, [st["exp_avg"].data for st in states],
                           [st["exp_avg_sq"].data for st in states],
                           [st["max_exp_avg_sq"].data for st in states] if amsgrad else None,
                           _steps_arg(steps), lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                           weight_decay=group["weight_decay"], amsgrad=amsgrad, maximize=group["maximize"],
                           decoupled_weight_decay=group["decoupled_weight_decay"])
        for st, t in zip(states, steps):  # counted only once the kernel has succeeded
            st["step"] = t


class AdamW(Adam):
    r"""AdamW (torch.optim.AdamW): Adam with decoupled weight decay,
    ``p = p * (1 - lr * weight_decay)`` before the Adam update (see :class:`Adam`).

    Args:
        params, lr, betas, eps, amsgrad, maximize: as :class:`Adam`.
        weight_decay: the decoupled decay rate (default 1e-2).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True, foreach=foreach, capturable=capturable,
                         differentiable=differentiable, fused=fused)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
