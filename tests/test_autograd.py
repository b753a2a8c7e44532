"""The autograd engine: recording rules, accumulation, graph freeing, grad mode, gradcheck."""

import numpy as np
import pytest

import fastnn
from fastnn import autograd
from fastnn.autograd import Function, GradcheckError, gradcheck


def leaf(rng, *shape):
    return fastnn.tensor(rng.standard_normal(shape), requires_grad=True)


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class WrongSquare(Square):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2.01 * x * g


def test_custom_function_records_and_differentiates(rng):
    x = leaf(rng, 3, 4)
    y = Square.apply(x)
    assert not y.is_leaf and y.requires_grad and repr(y.grad_fn) == "<SquareBackward0>"
    g = rng.standard_normal((3, 4))
    y.backward(g)
    np.testing.assert_allclose(x.grad.data, 2 * x.data * g, rtol=1e-12)


def test_node_recorded_only_when_needed(rng):
    x = fastnn.tensor(rng.standard_normal(3))
    assert Square.apply(x).grad_fn is None  # no input requires grad
    w = leaf(rng, 3)
    with fastnn.no_grad():
        y = Square.apply(w)
    assert y.grad_fn is None and not y.requires_grad
    assert Square.apply(w).grad_fn.needs_input_grad == (True,)


def test_needs_input_grad_per_argument(rng):
    a, b = leaf(rng, 2), fastnn.tensor(rng.standard_normal(2))
    y = a * b
    assert y.grad_fn.needs_input_grad == (True, False)
    y.backward(np.ones(2))
    assert b.grad is None
    np.testing.assert_array_equal(a.grad.data, b.data)


def test_gradcheck_accepts_right_and_rejects_wrong_gradients(rng):
    x = leaf(rng, 2, 3)
    assert gradcheck(Square.apply, (x,))
    with pytest.raises(GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"):
        gradcheck(WrongSquare.apply, (x,))
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False
    assert x.grad is None  # gradcheck never touches .grad


def test_gradcheck_warns_on_float32_inputs(rng):
    x = fastnn.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="not a double precision"):
        gradcheck(Square.apply, (x,), atol=1e-2, rtol=1e-2, eps=1e-3)


def test_broadcasting_gradients_reduce_to_input_shapes(rng):
    a, b, c = leaf(rng, 4, 1, 3), leaf(rng, 5, 1), leaf(rng, 3)
    assert gradcheck(lambda a, b, c: a * b + c - a / (b * b + 1), (a, b, c))
    out = a * b + c
    out.backward(rng.standard_normal(out.shape))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape and c.grad.shape == c.shape


def test_fan_out_accumulates(rng):
    x = leaf(rng, 3)
    y = x * 2
    z = y * y + y + y.exp()  # y used four times
    g = rng.standard_normal(3)
    z.backward(g)
    expected = g * (2 * y.data + 1 + np.exp(y.data)) * 2
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)


def test_leaf_grad_accumulates_across_backward_calls(rng):
    x = leaf(rng, 3)
    g1, g2 = rng.standard_normal(3), rng.standard_normal(3)
    (x * 3).backward(g1)
    first = x.grad
    (x * 3).backward(g2)
    np.testing.assert_allclose(x.grad.data, 3 * (g1 + g2), rtol=1e-12)
    np.testing.assert_allclose(first.data, 3 * g1, rtol=1e-12)  # the old .grad is not modified


def test_leaf_grad_does_not_alias_upstream_or_other_leaves(rng):
    a, b = leaf(rng, 3), leaf(rng, 3)
    g = rng.standard_normal(3)
    saved = g.copy()
    (a + b).backward(g)
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.data, saved)
    np.testing.assert_array_equal(g, saved)


def test_non_leaf_grad_not_retained_unless_asked(rng):
    x = leaf(rng, 3)
    y, z = x * 2, x * 3
    z.retain_grad()
    (y + z).sum().backward()
    assert y.grad is None
    np.testing.assert_array_equal(z.grad.data, np.ones(3))


def test_freed_graph_raises_and_retain_graph_allows_second_backward(rng):
    x = leaf(rng, 3)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * x.data, rtol=1e-12)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_implicit_gradient_only_for_scalars(rng):
    x = leaf(rng, 3)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        fastnn.tensor([1.0]).backward()
    with pytest.raises(RuntimeError, match=r"Mismatch in shape.*\[2\].*\[3\]"):
        (x * 2).backward(np.ones(2))


def test_ten_thousand_op_chain_without_recursion(rng):
    import sys
    limit = sys.getrecursionlimit()
    x = leaf(rng, 2)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full(2, 1.0001 ** 10_000), rtol=1e-9)
    assert sys.getrecursionlimit() == limit


def test_grad_mode_nesting_and_decorators(rng):
    x = leaf(rng, 2)
    assert fastnn.is_grad_enabled()
    with fastnn.no_grad():
        assert not fastnn.is_grad_enabled()
        with fastnn.enable_grad():
            assert fastnn.is_grad_enabled()
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert fastnn.is_grad_enabled()

    @fastnn.no_grad()
    def inference():
        return x * 2

    @fastnn.enable_grad()
    def training():
        return x * 2

    assert not inference().requires_grad and fastnn.is_grad_enabled()
    with fastnn.no_grad():
        assert training().requires_grad and not fastnn.is_grad_enabled()

    prev = fastnn.set_grad_enabled(False)
    assert not fastnn.is_grad_enabled()
    fastnn.set_grad_enabled(True)
    with fastnn.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert fastnn.is_grad_enabled() and prev is not None

    @fastnn.set_grad_enabled(False)
    def decorated():
        return fastnn.is_grad_enabled()

    assert fastnn.is_grad_enabled() and decorated() is False


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with fastnn.no_grad():
            raise ValueError("inside")
    assert fastnn.is_grad_enabled()


def test_autograd_grad_returns_without_touching_dot_grad(rng):
    x, w = leaf(rng, 3), leaf(rng, 3)
    y = (x * w).sum()
    gx, gw = autograd.grad(y, [x, w])
    np.testing.assert_array_equal(gx.data, w.data)
    np.testing.assert_array_equal(gw.data, x.data)
    assert x.grad is None and w.grad is None
    unused = leaf(rng, 2)
    with pytest.raises(RuntimeError, match="not have been used"):
        autograd.grad((x * 2).sum(), [unused])
    assert autograd.grad((x * 2).sum(), [unused], allow_unused=True) == (None,)


def test_wrong_gradient_shape_from_a_function_is_reported(rng):
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return g[:1]

    x = leaf(rng, 3)
    with pytest.raises(RuntimeError, match=r"BadBackward0 returned an invalid gradient at index 0.*\[1\].*\[3\]"):
        Bad.apply(x).sum().backward()


def test_multiple_outputs_and_non_differentiable_output(rng):
    x = leaf(rng, 3, 4)
    values, indices = x.max(dim=1)
    assert indices.grad_fn is None and not indices.requires_grad and indices.dtype == np.int64
    g = rng.standard_normal(3)
    values.backward(g)
    expected = np.zeros((3, 4))
    expected[np.arange(3), np.argmax(x.data, 1)] = g
    np.testing.assert_array_equal(x.grad.data, expected)


@pytest.mark.parametrize("layer", ["linear", "conv2d", "batch_norm"])
def test_leaf_gradients_are_independent_writeable_arrays(rng, layer):
    # Kernel-backed Functions hand their new arrays to the leaves without a copy; each
    # .grad must still be its own memory, apart from the upstream gradient and the others.
    import fastnn.nn as nn
    module, shape = {"linear": (nn.Linear(5, 3), (4, 5)), "conv2d": (nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
                     "batch_norm": (nn.BatchNorm1d(5), (4, 5))}[layer]
    x = fastnn.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    out = module(x)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(fastnn.from_numpy(g))
    grads = [x.grad.data] + [p.grad.data for p in module.parameters()]
    for i, a in enumerate(grads):
        assert a.flags.writeable and a.flags.c_contiguous and not np.shares_memory(a, g)
        for b in grads[i + 1:]:
            assert not np.shares_memory(a, b)
    before = [a.copy() for a in grads]
    module.weight.grad.data *= 2  # in place, as clip_grad_norm_ does
    for a, b in zip(grads[2:] + grads[:1], before[2:] + before[:1]):
        np.testing.assert_array_equal(a, b)
    module(x).backward(fastnn.from_numpy(g))  # a second backward accumulates
    np.testing.assert_allclose(module.weight.grad.data, 3 * before[1], rtol=1e-6, atol=1e-6)


def _modified_in_place():
    return pytest.raises(RuntimeError, match="modified by an inplace operation")


def test_version_counter_catches_saved_arrays_changed_in_place(rng):
    # PyTorch's rule: an array saved for backward and then written in place makes backward
    # fail instead of silently using the new values.
    w = leaf(rng, 3)
    x = fastnn.tensor(rng.standard_normal(3))
    y = (x * w).sum()
    assert x._version == 0
    with fastnn.no_grad():
        x.add_(1.0)
    assert x._version == 1
    with _modified_in_place():
        y.backward()

    # through a view (basic indexing shares the array and its version counter) ...
    x = fastnn.tensor(rng.standard_normal((2, 3)))
    y = (x * leaf(rng, 2, 3)).sum()
    row = x[0]
    row.zero_()
    assert x._version == row._version == 1
    with _modified_in_place():
        y.backward()

    # ... through detach(), through indexed assignment, and on a saved output (sigmoid's)
    x = leaf(rng, 4)
    s = x.sigmoid()
    s.detach().mul_(2.0)
    with _modified_in_place():
        s.sum().backward()
    x = fastnn.tensor(rng.standard_normal(4))
    y = (x * leaf(rng, 4)).sum()
    x[1] = 0.0
    with _modified_in_place():
        y.backward()


def test_optimizer_step_makes_a_retained_graph_stale(rng):
    import fastnn.nn as nn

    layer = nn.Linear(3, 2)
    opt = fastnn.optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(fastnn.tensor(rng.standard_normal((4, 3)).astype(np.float32))).sum()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)  # nothing changed: fine
    opt.step()
    assert layer.weight._version == 1
    with _modified_in_place():
        loss.backward()


def test_writes_nothing_saved_are_fine(rng):
    # In-place writes to arrays no node saved, and recorded in-place ops (which give the
    # tensor a new array), leave backward correct and allowed.
    x = leaf(rng, 3)
    y = x * 2.0  # Mul saves x and the scalar, not y
    with fastnn.no_grad():
        y.add_(1.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(3, 2.0))
    x = leaf(rng, 3)
    h = x.exp()
    h.mul_(3.0)  # recorded: exp's saved output keeps its old values
    h.sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * np.exp(x.data), rtol=1e-12)
