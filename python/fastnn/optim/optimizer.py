"""Optimizer: the base class of fastnn.optim, PyTorch's API (param groups, per-parameter
state, state_dict) over fastnn's fused in-place update kernels.

A subclass implements ``_init_state(p, state, group)`` (state arrays on a parameter's first
update) and ``_update(group, params, grads, states)``, which calls one fused kernel over
every parameter of the group that has a gradient. State arrays are Tensors whose ``.data``
the kernels update in place; ``state["step"]`` is a Python int.
"""

import copy
from collections import defaultdict
from itertools import chain

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter every param group must give (no default)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _implementation_flags(name, foreach, capturable, differentiable, fused):
    """PyTorch's implementation switches, accepted so that ported code runs: fastnn always
    updates a whole group in one fused kernel call, whatever ``foreach`` and ``fused`` say.
    ``capturable`` (CUDA graphs) and ``differentiable`` (autograd through the update) have
    no CPU-kernel counterpart and raise ValueError when set."""
    for flag, value in (("capturable", capturable), ("differentiable", differentiable)):
        if value:
            raise ValueError(f"[{name}] {flag}=True is not supported: updates run in fused in-place kernels")
    del foreach, fused  # always fused


def _typename(obj):
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, or of dicts (param groups) each with a ``"params"``
            entry and any per-group options overriding ``defaults``.
        defaults: the default value of every option.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of Tensors) and every
            option.
        state: dict from a parameter to its state dict (empty until its first update).
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            "dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        self._cache = {}
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        """Add a param group (a dict with ``"params"`` and optional per-group options; the
        missing options take the optimizer's defaults).

        Raises:
            TypeError: not a dict, params in a set, or a param that is not a Tensor.
            ValueError: a non-leaf Tensor, a missing required option, a parameter repeated
                within the group or already in another group.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(p))
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group)
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        # torch only warns here; a fused update cannot apply a repeated parameter twice.
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Reset the gradient of every parameter: to None (default) or, with
        ``set_to_none=False``, to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient (the others are skipped).

        Args:
            closure: optional callable that re-evaluates the model and returns the loss;
                called with gradients enabled before the update.

        Returns:
            the closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad.data for p in params]
            self._update(group, params, grads, self._group_states(i, params, group))
            for p in params:
                p._bump_version()  # updated in place: a graph that saved them is stale now
        return loss

    def _group_states(self, i, params, group):
        """The state dicts of `params` (group i), creating each on its parameter's first
        update. The list is cached while the group's parameters with gradients stay the same
        objects (and ``self.state`` the same dict), so a steady training loop does no
        per-parameter dict look-ups."""
        cached = self._cache.get(i)
        if (cached is not None and cached[2] is self.state and len(cached[0]) == len(params)
                and all(map(_same, cached[0], params))):
            return cached[1]
        state = self.state
        states = []
        for p in params:
            st = state[p]
            if not st:
                self._init_state(p, st, group)
            states.append(st)
        self._cache[i] = (params, states, state)
        return states

    def _init_state(self, p, state, group):
        raise NotImplementedError

    def _update(self, group, params, grads, states):
        raise NotImplementedError

    # ---- state_dict ----

    def state_dict(self):
        """The optimizer's state in torch's layout: ``{"state": {index: {...}},
        "param_groups": [{..., "params": [index, ...]}]}``, parameters numbered in group
        order. State arrays are copies (Tensors); nothing in it aliases the optimizer."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, st in self.state.items():
            if not st:  # a parameter whose optimizer keeps no state (SGD without momentum)
                continue
            key = index[id(p)] if isinstance(p, Tensor) and id(p) in index else p
            state[key] = {k: _copy_value(v) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a :meth:`state_dict`: the groups' options and every parameter's state, which
        is copied (floating arrays cast to the parameter's dtype). Everything is checked
        before anything changes.

        Raises:
            ValueError: a different number of param groups, a group of a different size, or
                a state array whose shape differs from its parameter's.
        """
        groups = self.param_groups
        saved_groups = state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = {name: _load_value(p, name, value) for name, value in v.items()}
            else:
                state[k] = copy.deepcopy(v)
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            new = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            new["params"] = group["params"]
            new_groups.append(new)
        self.state = state
        self.param_groups = new_groups
        self._cache = {}


def _steps_arg(steps):
    """The kernels' ``steps`` argument: one int when every parameter is at the same step
    (the usual case, and cheaper for the binding to read than a list)."""
    return steps[0] if steps.count(steps[0]) == len(steps) else steps


def _same(a, b):
    return a is b


def _copy_value(v):
    if isinstance(v, Tensor):
        return Tensor(v.data.copy())
    if isinstance(v, np.ndarray):
        return v.copy()
    return copy.deepcopy(v)


def _load_value(p, name, value):
    """A copy of one saved state entry for parameter p: ``step`` as an int, arrays as
    C-contiguous Tensors of p's dtype and shape."""
    if name == "step":
        return int(value.item() if isinstance(value, (Tensor, np.ndarray)) else value)
    if isinstance(value, (Tensor, np.ndarray)):
        arr = value.data if isinstance(value, Tensor) else value
        if arr.shape != p.shape:
            raise ValueError(f"loaded state {name!r} has shape {arr.shape}, but its parameter has shape {p.shape}")
        dtype = p.dtype if arr.dtype.kind == "f" else arr.dtype
        return Tensor(np.array(arr, dtype=dtype, order="C", copy=True))
    return copy.deepcopy(value)
