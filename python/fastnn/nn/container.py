"""Containers: Sequential (chains its modules); ModuleList, ModuleDict, ParameterList and
ParameterDict (hold modules or parameters so that they are registered; no forward)."""

import operator
from collections import OrderedDict

from .. import ops
from .activation import ReLU
from .linear import Linear
from .module import Module, _addindent
from .parameter import Parameter
from .pooling import MaxPool2d

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _index(idx, n, kind):
    """idx (an int-like, negative from the end) as 0..n-1; IndexError as PyTorch."""
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"[{kind}] index {idx} is out of range")
    return idx % n


class Sequential(Module):
    """Modules applied in order: ``Sequential(m1, m2)`` or ``Sequential(OrderedDict(...))``
    (named children). Indexing gives a module, slicing a new Sequential of the same
    modules; ``append``, ``extend``, ``insert``, ``pop``, ``len`` and iteration as in PyTorch.

    A ``ReLU`` directly followed by a ``MaxPool2d`` runs as one pass that pools first and
    applies the relu to the pooled array, a quarter of the size for 2x2 pooling; a ``Linear``
    followed by a ``ReLU`` (not last in the chain) applies the relu in the product's
    epilogue. Both give the same outputs and gradients, bit for bit, with less memory traffic.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(idx, len(self), "Sequential")]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[_index(idx, len(self), "Sequential")]
        setattr(self, key, module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, list(self._modules.keys())[_index(idx, len(self), "Sequential")])
        # Renumber so that the keys stay 0..len-1, as PyTorch does.
        self.__dict__["_modules"] = OrderedDict((str(i), m) for i, m in enumerate(self._modules.values()))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __add__(self, other):
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        out = Sequential()
        for m in list(self) + list(other):
            out.append(m)
        return out

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential):
        for m in sequential:
            self.append(m)
        return self

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        index = index % (n + 1) if index < 0 else index
        mods = list(self._modules.values())
        mods.insert(index, module)
        self.__dict__["_modules"] = OrderedDict((str(i), m) for i, m in enumerate(mods))
        return self

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def forward(self, input):
        modules = list(self._modules.values())
        i = 0
        while i < len(modules):
            module = modules[i]
            if i + 2 < len(modules) and type(module) is Linear and type(modules[i + 1]) is ReLU:
                # inside the chain only: the relu'd output, saved for backward, stays private
                input = ops.LinearReLU.apply(input, module.weight, module.bias)
                i += 2
                continue
            if i + 1 < len(modules) and _fuses_with_max_pool(module, modules[i + 1], first=i == 0):
                pool = modules[i + 1]
                input = ops.ReLUMaxPool2d.apply(input, pool.kernel_size, pool.stride, pool.padding, pool.dilation,
                                                pool.ceil_mode)
                i += 2
                continue
            input = module(input)
            i += 1
        return input


def _fuses_with_max_pool(module, following, first):
    """Whether a ReLU followed by a MaxPool2d may run as one fused pass (ops.ReLUMaxPool2d):
    exactly those classes (not subclasses, which may change forward), no indices asked of the
    pool, and not an in-place ReLU on the Sequential's own input, which the caller would see."""
    return (type(module) is ReLU and type(following) is MaxPool2d and not following.return_indices
            and not (first and module.inplace))


class ModuleList(Module):
    """A list of modules, registered as children (so their parameters are the list's).

    Args:
        modules: an optional iterable of modules.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx, module):
        setattr(self, str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx):
        if isinstance(idx, slice):
            for k in range(len(self))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, str(_index(idx, len(self), "ModuleList")))
        self.__dict__["_modules"] = OrderedDict((str(i), m) for i, m in enumerate(self._modules.values()))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)) or \
                not hasattr(modules, "__iter__"):
            raise TypeError("ModuleList.extend should be called with an iterable, but got " + type(modules).__name__)
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        n = len(self)
        index = max(0, min(n, index + n if index < 0 else index))
        mods = list(self._modules.values())
        mods.insert(index, module)
        self.__dict__["_modules"] = OrderedDict()
        for m in mods:
            self.append(m)

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def __repr__(self):
        # PyTorch's form: runs of modules with the same repr are folded into "(i-j): n x ...".
        child_lines, runs = [], []
        for i, m in enumerate(self):
            r = repr(m)
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        for start, end, r in runs:
            r = _addindent(r, 2)
            if start == end:
                child_lines.append(f"({start}): {r}")
            else:
                child_lines.append(f"({start}-{end}): {end - start + 1} x {r}")
        s = self._get_name() + "("
        if child_lines:
            s += "\n  " + "\n  ".join(child_lines) + "\n"
        return s + ")"


class ModuleDict(Module):
    """An ordered dict of modules, registered as children under their keys.

    Args:
        modules: an optional mapping or iterable of (key, module) pairs.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def clear(self):
        self._modules.clear()

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        _update_from(self, modules, "ModuleDict")


def _update_from(container, pairs, kind):
    """container[key] = value for each pair of a mapping or an iterable of 2-sequences."""
    if hasattr(pairs, "keys") and hasattr(pairs, "__getitem__"):
        pairs = [(k, pairs[k]) for k in pairs.keys()]
    elif not hasattr(pairs, "__iter__"):
        raise TypeError(f"{kind}.update should be called with an iterable of key/value pairs, "
                        f"but got {type(pairs).__name__}")
    for i, pair in enumerate(pairs):
        if not hasattr(pair, "__len__") or len(pair) != 2:
            raise ValueError(f"{kind} update sequence element #{i} should be a key/value pair")
        container[pair[0]] = pair[1]


def _as_parameter(value):
    # PyTorch wraps plain tensors put into a ParameterList/ParameterDict as Parameters.
    from ..tensor import Tensor
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value.data)
    return value


class ParameterList(Module):
    """A list of parameters, registered under the keys "0", "1", ...; plain Tensors put in
    it become Parameters.

    Args:
        values: an optional iterable of Tensors.
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__([self[i] for i in range(len(self))[idx]])
        return getattr(self, str(_index(idx, len(self), "ParameterList")))

    def __setitem__(self, idx, param):
        self.register_parameter(str(_index(idx, len(self), "ParameterList")), _as_parameter(param))

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values):
        if not hasattr(values, "__iter__"):
            raise TypeError("ParameterList.extend should be called with an iterable, but got "
                            + type(values).__name__)
        for v in values:
            self.append(v)
        return self

    def extra_repr(self):
        return "\n".join(f"({i}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"
                         for i, p in enumerate(self))


class ParameterDict(Module):
    """An ordered dict of parameters, registered under their keys; plain Tensors put in it
    become Parameters.

    Args:
        parameters: an optional mapping or iterable of (key, Tensor) pairs.
    """

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, param):
        self.register_parameter(key, _as_parameter(param))

    def __delitem__(self, key):
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()

    def pop(self, key):
        v = self[key]
        del self[key]
        return v

    def update(self, parameters):
        _update_from(self, parameters, "ParameterDict")

    def extra_repr(self):
        return "\n".join(f"({k}): Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"
                         for k, p in self.items())
