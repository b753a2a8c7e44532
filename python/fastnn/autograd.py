"""Reverse-mode automatic differentiation: Function, the backward engine, grad mode, gradcheck.

A Function's forward and backward work on raw arrays, never on Tensors. ``apply`` records a
node (the ``ctx`` itself) only when grad mode is on and some input requires grad. The engine
walks the recorded graph once, in a topological order computed without recursion, and is the
only place where gradients are added up; Functions and kernels always return new arrays.
"""

import functools
import threading
import warnings

import numpy as np

__all__ = ["Function", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "gradcheck", "GradcheckError"]

_state = threading.local()  # grad mode is per thread, as in PyTorch


def is_grad_enabled():
    """Whether operations on Tensors are being recorded for backward."""
    return getattr(_state, "enabled", True)


def _set_enabled(mode):
    _state.enabled = bool(mode)


class _GradMode:
    """Base of no_grad/enable_grad: a context manager that is also a function decorator."""

    mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_enabled(self.mode)

    def __exit__(self, *exc):
        _set_enabled(self._prev)

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Disable gradient recording inside a ``with`` block or a decorated function."""

    mode = False


class enable_grad(_GradMode):
    """Enable gradient recording inside a ``with`` block or a decorated function (for use
    inside ``no_grad``)."""

    mode = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(mode)`` sets grad mode at once; used as a context manager or
    decorator it restores the previous mode afterwards, as in PyTorch."""

    def __init__(self, mode):
        self._prev = is_grad_enabled()
        self.mode = bool(mode)
        _set_enabled(mode)

    def __enter__(self):
        pass

    def __call__(self, func):
        _set_enabled(self._prev)  # as a decorator, the mode applies only inside func
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapper


_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Saved intermediate values of the graph are freed "
          "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
          "backward through the graph a second time or if you need to access saved tensors after "
          "calling backward.")


class Node:
    """The ``ctx`` of one recorded Function call, and its node in the graph.

    ``_inputs`` holds, per forward argument, the Tensor that requires grad or None;
    ``_outputs`` the (shape, dtype) of each output, to build zero gradients for outputs that
    received none. Arrays that backward needs go through ``save_for_backward`` so that they
    are freed after backward (unless ``retain_graph``).
    """

    # Defaults live on the class, so that a node costs two attribute writes to create.
    _inputs = ()
    _outputs = ()
    _non_differentiable = ()
    _saved = ()
    _retained = None  # output index -> weakref to a non-leaf Tensor that retains grad
    _versions = ()  # (version box, version, array) of each saved array backed by a Tensor

    def __init__(self, fn, needs_input_grad):
        self._fn = fn
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError(_FREED)
        return self._saved

    def mark_non_differentiable(self, *arrays):
        self._non_differentiable = arrays

    def _name(self):
        return f"{self._fn.__name__}Backward0"

    def __repr__(self):
        return f"<{self._name()}>"


_tensor_class = None


def _tensor():
    """fastnn.tensor.Tensor, imported on first use (tensor.py imports this module)."""
    global _tensor_class
    if _tensor_class is None:
        from .tensor import Tensor
        _tensor_class = Tensor
    return _tensor_class


class Function:
    """Base class of differentiable operations.

    Subclasses define ``forward(ctx, *args, **kwargs)`` returning an array or a tuple of
    arrays, and ``backward(ctx, *grad_outputs)`` returning one gradient (an array of that
    input's shape, or None) per positional forward argument. Tensor arguments reach forward
    as their arrays; other arguments pass through unchanged. Call ``Fn.apply(...)``.
    """

    # Whether forward/backward do floating-point arithmetic in NumPy, whose warnings are then
    # silenced (inf and nan are results, as in PyTorch). Functions that only call compiled
    # kernels, which never set NumPy's floating-point flags, set False and skip the cost of
    # entering np.errstate, a large share of a small op.
    numpy_arithmetic = True

    # Whether backward returns, for each input, a new array that nothing else refers to
    # (kernel outputs, never the upstream gradient or a view of it). A leaf's first
    # gradient then becomes its ``.grad`` as it is, instead of a copy: for a large weight
    # that copy costs as much as a small layer's whole backward.
    fresh_grads = False

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        # This runs for every operation, so it is written for few bytecodes: one pass over
        # the arguments, and the tuple-of-outputs handling only when there are several.
        Tensor = _tensor_class or _tensor()
        needs, raw, tensors = [], [], []
        for a in args:
            if isinstance(a, Tensor):
                needs.append(a._requires_grad)
                raw.append(a.data)
                tensors.append(a)
            else:
                needs.append(False)
                raw.append(a)
        needs = tuple(needs)
        record = True in needs and getattr(_state, "enabled", True)
        ctx = Node(cls, needs)
        if cls.numpy_arithmetic:
            with np.errstate(all="ignore"):
                out = cls.forward(ctx, *raw, **kwargs)
        else:
            out = cls.forward(ctx, *raw, **kwargs)
        if type(out) is not tuple:
            if not record:
                return _share_version(Tensor(out), tensors)
            ctx._inputs = tuple([a if n else None for a, n in zip(args, needs)])
            ctx._outputs = ((out.shape, out.dtype),)
            if ctx._non_differentiable and any(out is nd for nd in ctx._non_differentiable):
                result = _share_version(Tensor(out), tensors)
            else:
                result = _share_version(Tensor._from_op(out, ctx, 0), tensors)
            if ctx._saved:
                tensors.append(result)
                _record_versions(ctx, tensors)
            return result
        if not record:
            return tuple([_share_version(Tensor(o), tensors) for o in out])
        ctx._inputs = tuple([a if n else None for a, n in zip(args, needs)])
        ctx._outputs = tuple([(o.shape, o.dtype) for o in out])
        result = tuple([_share_version(Tensor(o) if any(o is nd for nd in ctx._non_differentiable)
                                       else Tensor._from_op(o, ctx, i), tensors)
                        for i, o in enumerate(out)])
        if ctx._saved:
            _record_versions(ctx, tensors + list(result))
        return result


def _share_version(result, tensors):
    """result, given the version counter of the argument whose array its array is a view of
    (NumPy views name the owning array as their base), so that in-place writes through
    either are seen by both, as in PyTorch."""
    base = result.data.base
    if type(base) is np.ndarray:  # (kernel outputs have a capsule or no base)
        for t in tensors:
            if base is t.data or base is t.data.base:
                result._vbox = t._version_box()
                break
    return result


def _record_versions(ctx, tensors):
    """Note, for each array ctx saved that is one of `tensors`' arrays (the arguments and
    outputs), its version counter and current version, which backward checks."""
    checks = []
    for a in ctx._saved:
        for t in tensors:
            if t.data is a:
                box = t._vbox
                if box is None:
                    box = t._vbox = [0]
                checks.append((box, box[0], a))
                break
    if checks:
        ctx._versions = checks


def _topological_order(roots):
    """Nodes reachable from roots, every node before the nodes it feeds (inputs last).
    An explicit stack replaces recursion, so graph depth is limited only by memory."""
    if len(roots) == 1 and roots[0] is not None and all(t is None or t.grad_fn is None for t in roots[0]._inputs):
        return roots  # one node fed by leaves only (a layer's own backward): nothing to sort
    order, visited = [], set()
    for root in roots:
        if root is None or id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(root._inputs))]
        while stack:
            node, children = stack[-1]
            for t in children:
                child = t.grad_fn if t is not None else None
                if child is not None and id(child) not in visited:
                    visited.add(id(child))
                    stack.append((child, iter(child._inputs)))
                    break
            else:
                stack.pop()
                order.append(node)  # post-order: after everything it depends on
    order.reverse()
    return order


def _check_grad(g, shape, dtype, where, *where_args):
    """g as an array of `shape` and `dtype`, else RuntimeError starting with
    ``where.format(*where_args)`` (formatted only then: this runs for every gradient)."""
    if type(g) is np.ndarray and g.shape == shape and g.dtype == dtype:
        return g  # the usual case, checked cheaply
    g = np.asarray(g)
    if g.shape != tuple(shape):
        raise RuntimeError(f"{where.format(*where_args)}: got a gradient of shape {list(g.shape)} but expected "
                           f"shape {list(shape)}")
    return g if g.dtype == dtype else g.astype(dtype)


def _add(acc, g):
    return g if acc is None else acc + g


def _to_leaf(t, g, captured, fresh=False):
    """Accumulate g into leaf t's ``.grad``, or into ``captured[id(t)]`` when capturing."""
    if captured is not None:
        if id(t) in captured:
            captured[id(t)] = _add(captured[id(t)], g)
    elif t.grad is None:
        # An own copy unless g is known to be referenced nowhere else.
        t.grad = _tensor_class(g if fresh else np.array(g, dtype=t.dtype, copy=True))
    else:
        t.grad = _tensor_class(t.grad.data + g)


def _run_backward(tensors, grad_tensors, retain_graph, capture=None):
    """Propagate grad_tensors (arrays) back from tensors. Leaf gradients accumulate into
    ``.grad``; or, when ``capture`` (a list of Tensors) is given, are returned instead, one
    array or None per captured Tensor, and no ``.grad`` is touched."""
    _tensor()  # (makes sure _tensor_class is set)
    captured = {id(t): None for t in capture} if capture is not None else None
    captured_nonleaf = {}
    if capture is not None:
        for t in capture:
            if t.grad_fn is not None:
                captured_nonleaf.setdefault(id(t.grad_fn), []).append((t._output_nr, id(t)))

    pending = {}  # node id -> list of per-output gradients
    for t, g in zip(tensors, grad_tensors):
        if t.grad_fn is None:
            _to_leaf(t, g, captured)
        else:
            grads = pending.setdefault(id(t.grad_fn), [None] * len(t.grad_fn._outputs))
            grads[t._output_nr] = _add(grads[t._output_nr], g)

    for node in _topological_order([t.grad_fn for t in tensors]):
        grads = pending.pop(id(node), None)
        if grads is None:
            continue  # reachable, but no gradient flows through it
        if node._saved is None:
            raise RuntimeError(_FREED)
        for box, version, a in node._versions:
            if box[0] != version:
                raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an "
                                   f"inplace operation: [{a.dtype} tensor of shape {list(a.shape)}], saved by "
                                   f"{node._name()}, is at version {box[0]}; expected version {version} instead.")
        for nr, tid in captured_nonleaf.get(id(node), ()):
            captured[tid] = _add(captured[tid], grads[nr])
        if node._retained:
            for nr, ref in node._retained.items():
                t = ref()
                if t is not None and grads[nr] is not None:
                    t.grad = (_tensor_class(np.array(grads[nr], copy=True)) if t.grad is None
                              else _tensor_class(t.grad.data + grads[nr]))
        if len(grads) > 1 or grads[0] is None:  # (`None in grads` would compare arrays)
            grads = [np.zeros(shape, dtype) if g is None else g for g, (shape, dtype) in zip(grads, node._outputs)]
        if node._fn.numpy_arithmetic:
            with np.errstate(all="ignore"):
                input_grads = node._fn.backward(node, *grads)
        else:
            input_grads = node._fn.backward(node, *grads)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(node._inputs):
            raise RuntimeError(f"function {node._name()} returned an incorrect number of gradients "
                               f"(expected {len(node._inputs)}, got {len(input_grads)})")
        if not retain_graph and node._saved:
            node._saved = None  # a node that saved nothing can run again, as in PyTorch
        for i, (t, g) in enumerate(zip(node._inputs, input_grads)):
            if t is None or g is None:
                continue
            g = _check_grad(g, t.shape, t.dtype, "function {} returned an invalid gradient at index {}",
                            node._name(), i)
            if t.grad_fn is None:
                _to_leaf(t, g, captured, node._fn.fresh_grads)
            else:
                slot = pending.setdefault(id(t.grad_fn), [None] * len(t.grad_fn._outputs))
                slot[t._output_nr] = _add(slot[t._output_nr], g)
    if captured is not None:
        return [captured[id(t)] for t in capture]
    return None


def _root_grads(tensors, grad_tensors):
    Tensor = _tensor()
    out = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            out.append(np.ones(t.shape, t.dtype))
        else:
            g = g.data if isinstance(g, Tensor) else g
            out.append(_check_grad(g, t.shape, t.dtype, "Mismatch in shape: grad_output[{0}] and output[{0}]", i))
    return out


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=False):
    """Accumulate d(tensors)/d(leaf) into each leaf's ``.grad``.

    Args:
        tensors: a Tensor or a sequence of Tensors to differentiate.
        grad_tensors: the upstream gradient of each (Tensor, array or None; None only for
            single-element tensors, where it means 1).
        retain_graph: keep the saved arrays so the graph can be walked again.
    """
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    _run_backward(tensors, _root_grads(tensors, grads), retain_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of outputs with respect to inputs, returned as a tuple of Tensors (None for
    an input the outputs do not depend on, when ``allow_unused``); ``.grad`` is untouched."""
    Tensor = _tensor()
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    grads = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    result = _run_backward(outputs, _root_grads(outputs, grads), retain_graph, capture=inputs)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not have been "
                               "used in the graph. Set allow_unused=True if this is the desired behavior.")
    return tuple(None if g is None else Tensor(g) for g in result)


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients differ."""


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compare the gradients backward computes with central finite differences.

    For every input Tensor that requires grad and every output, the full Jacobian is built
    both ways: numerically by perturbing each input element by ``+-eps``, analytically by one
    backward per output element with a one-hot upstream gradient (so every upstream
    gradient, as a combination of those, is checked). They must agree to
    ``|analytical - numerical| <= atol + rtol * |numerical|``. Inputs should be float64.

    Returns:
        True; or False on a mismatch when ``raise_exception`` is False.

    Raises:
        GradcheckError (a RuntimeError): on a mismatch, when ``raise_exception``.
    """
    Tensor = _tensor()
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in diff:
        if inputs[i].dtype != np.float64:
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating point. "
                          "This check will likely fail if all the inputs are not of double precision "
                          "floating point.", UserWarning, stacklevel=2)

    def outputs_of(result):
        return [o for o in _as_list(result) if isinstance(o, Tensor)]

    with enable_grad():
        outs = outputs_of(func(*inputs))
    for k, out in enumerate(outs):
        n_out = out.numel()
        for i in diff:
            x = inputs[i]
            numerical = np.zeros((x.numel(), n_out))
            flat = x.data.reshape(-1)  # a view: perturbations reach x
            if not np.shares_memory(flat, x.data) and x.numel() > 0:
                raise ValueError("gradcheck needs contiguous inputs")
            with no_grad():
                for j in range(x.numel()):
                    orig = flat[j]
                    flat[j] = orig + eps
                    plus = outputs_of(func(*inputs))[k].data.astype(np.float64).reshape(-1)
                    flat[j] = orig - eps
                    minus = outputs_of(func(*inputs))[k].data.astype(np.float64).reshape(-1)
                    flat[j] = orig
                    numerical[j] = (plus - minus) / (2 * eps)
            analytical = np.zeros_like(numerical)
            if out.requires_grad:
                for m in range(n_out):
                    onehot = np.zeros(n_out, out.dtype)
                    onehot[m] = 1
                    g = _run_backward([out], [onehot.reshape(out.shape)], True, capture=[x])[0]
                    if g is not None:
                        analytical[:, m] = np.asarray(g, np.float64).reshape(-1)
            if not np.all(np.abs(analytical - numerical) <= atol + rtol * np.abs(numerical)):
                if not raise_exception:
                    return False
                raise GradcheckError(f"Jacobian mismatch for output {k} with respect to input {i},\n"
                                     f"numerical:{numerical}\nanalytical:{analytical}\n")
    return True
