"""Parameter: a Tensor that a Module registers as one of its parameters when assigned."""

import numpy as np

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor marked as a module parameter (``requires_grad=True`` by default).

    Args:
        data: a Tensor (its array is shared, not copied), a NumPy array (wrapped as is), or
            None (an empty float32 tensor).
        requires_grad: whether the parameter requires gradient.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty(0, np.float32)
        elif isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
