"""clip_grad_norm_: rescale gradients in place so their total norm is at most max_norm, as
torch.nn.utils.clip_grad_norm_."""

import math

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_"]


def _vector_norm(x, norm_type):
    """torch.linalg.vector_norm of an array in its own dtype."""
    a = np.abs(x.reshape(-1))
    if norm_type == math.inf:
        return a.max(initial=x.dtype.type(0))
    if norm_type == -math.inf:
        return a.min() if a.size else x.dtype.type(math.inf)
    if norm_type == 0:
        return x.dtype.type(np.count_nonzero(a))
    if norm_type == 1:
        return a.sum(dtype=x.dtype)
    if norm_type == 2:
        return np.sqrt(np.dot(a, a)) if a.size else x.dtype.type(0)
    p = x.dtype.type(norm_type)
    return np.sum(a ** p, dtype=x.dtype) ** (x.dtype.type(1) / p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of ``parameters`` in place so that their total norm (the norm of
    the vector of every gradient's norm) is at most ``max_norm``: each gradient is
    multiplied by ``min(1, max_norm / (total_norm + 1e-6))``.

    Args:
        parameters: a Tensor or an iterable of Tensors; those without a gradient are
            ignored.
        max_norm: the largest total norm allowed.
        norm_type: the p of the p-norm (``math.inf`` for the largest absolute value).
        error_if_nonfinite: raise if the total norm is NaN or infinite (otherwise the
            gradients are scaled by it anyway, as torch does).

    Returns:
        the total norm before clipping, a 0-d Tensor (the gradients' dtype; 0.0 when no
        parameter has a gradient).

    Raises:
        RuntimeError: the total norm is not finite and ``error_if_nonfinite``; nothing is
            changed then.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = np.result_type(*grads)
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite norm is a result here
        norms = np.array([_vector_norm(g, norm_type) for g in grads], dtype=dtype)
        total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                           "so it cannot be clipped. To disable this error and scale the gradients by the "
                           "non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = min(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    with np.errstate(invalid="ignore"):  # inf * 0 when scaling by an infinite norm
        for g in grads:
            np.multiply(g, coef.astype(g.dtype), out=g)
    return Tensor(np.array(total, dtype=dtype))
