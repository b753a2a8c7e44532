"""SGD with momentum, dampening, Nesterov momentum and weight decay, as torch.optim.SGD."""

import numpy as np

from .. import kernels
from ..tensor import Tensor
from .optimizer import Optimizer, _implementation_flags

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (torch.optim.SGD).

    For each parameter ``p`` with gradient ``g``::

        g = -g if maximize else g
        g = g + weight_decay * p                          (when weight_decay != 0)
        if momentum != 0:
            b = g on the first update, else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g

    Args:
        params: iterable of Tensors or of param-group dicts.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: Nesterov momentum (default False; needs momentum > 0 and zero dampening).
        maximize: maximize the objective instead of minimizing it (default False).
        foreach, fused: accepted for PyTorch compatibility; every group is always updated in
            one fused kernel call. capturable, differentiable: must stay False.

    State per parameter (with momentum only): ``momentum_buffer``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        _implementation_flags("SGD", foreach, capturable, differentiable, fused)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _init_state(self, p, state, group):
        pass  # the momentum buffer appears on the first update with momentum

    def _update(self, group, params, grads, states):
        momentum = group["momentum"]
        bufs, first, fresh = None, False, None
        if momentum != 0:
            bufs = [st.get("momentum_buffer") for st in states]
            if any(b is None for b in bufs):
                # A fresh buffer is set to the gradient without being read; it is kept only
                # once the kernel has succeeded.
                fresh = [b is None for b in bufs]
                bufs = [Tensor(np.empty(p.data.shape, p.data.dtype)) if b is None else b
                        for b, p in zip(bufs, params)]
                first = fresh
            bufs = [b.data for b in bufs]
        kernels.sgd_step_([p.data for p in params], grads, bufs, lr=group["lr"], momentum=momentum,
                          dampening=group["dampening"], nesterov=group["nesterov"],
                          weight_decay=group["weight_decay"], maximize=group["maximize"], first_step=first)
        if fresh is not None:
            for st, new, b in zip(states, fresh, bufs):
                if new:
                    st["momentum_buffer"] = Tensor(b)
