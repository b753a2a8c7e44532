"""Tensor: creation and dtype rules, memory sharing, and every differentiable method checked
by gradcheck in float64 (which compares full Jacobians, so every upstream gradient)."""

import numpy as np
import pytest

import fastnn
from fastnn.autograd import gradcheck


def leaf(rng, *shape, positive=False):
    a = rng.standard_normal(shape)
    return fastnn.tensor(np.abs(a) + 0.5 if positive else a, requires_grad=True)


# ---- creation ----

def test_tensor_dtype_rules():
    assert fastnn.tensor([1.0, 2.0]).dtype == fastnn.float32
    assert fastnn.tensor([1, 2]).dtype == fastnn.int64
    assert fastnn.tensor([1, 2.5]).dtype == fastnn.float32
    assert fastnn.tensor([True, False]).dtype == np.bool_
    assert fastnn.tensor(3.0).shape == ()
    assert fastnn.tensor(np.zeros(2, np.float64)).dtype == fastnn.float64
    assert fastnn.tensor(np.zeros(2, np.int32)).dtype == fastnn.int32
    assert fastnn.tensor([1, 2], dtype=fastnn.float64).dtype == fastnn.float64
    assert fastnn.arange(5).dtype == fastnn.int64 and fastnn.arange(0, 1, 0.25).dtype == fastnn.float32
    assert fastnn.full((2,), 3).dtype == fastnn.int64 and fastnn.full((2,), 3.0).dtype == fastnn.float32
    assert fastnn.zeros(2, 3).shape == (2, 3) and fastnn.ones((2, 3)).dtype == fastnn.float32
    assert fastnn.empty([4]).shape == (4,)


def test_tensor_copies_but_from_numpy_shares():
    a = np.arange(4.0)
    t = fastnn.tensor(a)
    f = fastnn.from_numpy(a)
    a[0] = 42
    assert t.data[0] == 0 and f.data[0] == 42
    f.numpy()[1] = 7
    assert a[1] == 7
    assert np.shares_memory(np.asarray(f), a)
    with pytest.raises(TypeError, match="expected np.ndarray"):
        fastnn.from_numpy([1, 2])


def test_dlpack_exchange_shares_memory():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = fastnn.from_numpy(a)
    b = np.from_dlpack(t)
    assert np.shares_memory(a, b) and b.dtype == np.float32 and b.shape == (2, 3)
    assert t.__dlpack_device__() == a.__dlpack_device__()
    u = fastnn.from_dlpack(a[:, 1:])  # strided views travel too
    a[0, 1] = -1
    assert u.shape == (2, 2) and u.data[0, 0] == -1
    with pytest.raises(RuntimeError, match="requires grad"):
        fastnn.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(TypeError, match="from_dlpack"):
        fastnn.from_dlpack([1.0, 2.0])


def test_randint_like():
    fastnn.manual_seed(3)
    base = fastnn.zeros(1000, dtype=fastnn.int64)
    r = fastnn.randint_like(base, 5)
    assert r.shape == (1000,) and r.dtype == fastnn.int64 and set(np.unique(r.data)) == set(range(5))
    s = fastnn.randint_like(fastnn.zeros(2, 3), 10, 12)
    assert s.dtype == fastnn.float32 and s.shape == (2, 3) and set(np.unique(s.data)) <= {10.0, 11.0}


def test_numpy_refused_when_requiring_grad():
    t = fastnn.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        t.numpy()
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(t)
    assert t.detach().numpy() is t.data


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        fastnn.tensor([1, 2], requires_grad=True)
    x = fastnn.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf variables"):
        (x * 2).requires_grad = False
    assert x.is_leaf and fastnn.tensor([1.0]).is_leaf and not (x * 2).is_leaf


def test_random_creation_seeded():
    fastnn.manual_seed(3)
    a = (fastnn.rand(3), fastnn.randn(2, 2), fastnn.randint(0, 10, (5,)), fastnn.randint(4, (2,)))
    fastnn.manual_seed(3)
    b = (fastnn.rand(3), fastnn.randn(2, 2), fastnn.randint(0, 10, (5,)), fastnn.randint(4, (2,)))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)
    assert a[0].dtype == fastnn.float32 and a[2].dtype == fastnn.int64
    assert np.all((a[0].data >= 0) & (a[0].data < 1)) and np.all((a[2].data >= 0) & (a[2].data < 10))
    like = fastnn.randn_like(fastnn.zeros(2, dtype=fastnn.float64))
    assert like.dtype == fastnn.float64 and fastnn.zeros_like(a[1]).shape == (2, 2)
    assert fastnn.full_like(a[1], 7.0).data[0, 0] == 7 and fastnn.ones_like(a[2]).dtype == fastnn.int64


def test_item_size_repr():
    t = fastnn.tensor([[1.0, 2.5]], requires_grad=True)
    assert t.size() == (1, 2) and t.size(-1) == 2 and t.numel() == 2 and t.ndim == 2
    assert fastnn.tensor([3.5]).item() == 3.5
    with pytest.raises(RuntimeError, match="2 elements cannot be converted to Scalar"):
        t.item()
    assert repr(t) == "tensor([[1.0000, 2.5000]], requires_grad=True)"
    assert repr(fastnn.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(fastnn.tensor([1.0, 2.0], dtype=fastnn.float64)) == "tensor([1., 2.], dtype=fastnn.float64)"
    assert repr(t * 2).endswith("grad_fn=<MulBackward0>)")


def test_type_promotion_and_conversions():
    i = fastnn.tensor([1, 2])
    f = fastnn.tensor([1.0, 2.0])
    d = fastnn.tensor([1.0, 2.0], dtype=fastnn.float64)
    assert (i + 1.5).dtype == fastnn.float32 and (i + 1).dtype == fastnn.int64
    assert (i + d).dtype == fastnn.float64 and (f + d).dtype == fastnn.float64 and (f + 1.0).dtype == fastnn.float32
    assert (i / 2).dtype == fastnn.float32
    assert f.double().dtype == fastnn.float64 and f.long().dtype == fastnn.int64 and i.float().dtype == fastnn.float32
    assert f.to(fastnn.float64).dtype == fastnn.float64 and f.to("cpu") is f


def test_comparisons_give_bool_without_grad(rng):
    x = leaf(rng, 4)
    for r in (x > 0, x < 0, x >= x, x <= 0.5, x == x, x != 1.0):
        assert r.dtype == np.bool_ and not r.requires_grad
    np.testing.assert_array_equal((x > 0).data, x.data > 0)


# ---- gradients (float64 gradcheck) ----

def test_arithmetic_grads(rng):
    a, b = leaf(rng, 3, 4), leaf(rng, 3, 4, positive=True)
    assert gradcheck(lambda a, b: a + b, (a, b))
    assert gradcheck(lambda a, b: a - b, (a, b))
    assert gradcheck(lambda a, b: a * b, (a, b))
    assert gradcheck(lambda a, b: a / b, (a, b))
    assert gradcheck(lambda a: -a, (a,))
    assert gradcheck(lambda a: 2.0 - a * 3 + 1 / (a * a + 1) + (a + 0.5) / 2, (a,))


def test_pow_grads(rng):
    a, b = leaf(rng, 2, 3, positive=True), leaf(rng, 2, 3)
    assert gradcheck(lambda a: a ** 3, (a,))
    assert gradcheck(lambda a: a ** 0.5, (a,))
    assert gradcheck(lambda a: a.pow(-1.5), (a,))
    assert gradcheck(lambda a, b: a ** b, (a, b))
    assert gradcheck(lambda b: 2.0 ** b, (b,))
    z = fastnn.tensor([0.0, 1.0], dtype=fastnn.float64, requires_grad=True)
    (z ** 0).sum().backward()
    np.testing.assert_array_equal(z.grad.data, [0.0, 0.0])


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((2, 3, 4), (4, 2)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2))])
def test_matmul_grads(rng, shapes):
    a, b = leaf(rng, *shapes[0]), leaf(rng, *shapes[1])
    assert gradcheck(lambda a, b: a @ b, (a, b))
    np.testing.assert_allclose((a @ b).data, a.data @ b.data, rtol=1e-12, atol=1e-12)


def test_matmul_float32_uses_kernel_and_rejects_bad_shapes(rng):
    a = fastnn.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    b = fastnn.tensor(rng.standard_normal((4, 2)).astype(np.float32))
    np.testing.assert_allclose((a @ b).data, a.data @ b.data, rtol=1e-5, atol=1e-5)
    assert (a @ b).dtype == fastnn.float32
    with pytest.raises(RuntimeError, match=r"\[matmul\].*\(3, 4\).*\(3, 4\)"):
        a @ a


def test_shape_mismatch_names_op_and_shapes(rng):
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)|\(4,\).*\(3,\)"):
        leaf(rng, 3) + leaf(rng, 4)
    with pytest.raises(RuntimeError, match=r"\[reshape\] shape '\[5\]' is invalid for input of size 6"):
        leaf(rng, 2, 3).reshape(5)
    with pytest.raises(RuntimeError, match=r"\[cat\].*\(2, 3\).*\(2, 4\)"):
        fastnn.cat([leaf(rng, 2, 3), leaf(rng, 2, 4)])
    with pytest.raises(IndexError, match=r"\[sum\] Dimension out of range"):
        leaf(rng, 2, 3).sum(2)


def test_reduction_grads(rng):
    a = leaf(rng, 3, 4, 2)
    assert gradcheck(lambda a: a.sum(), (a,))
    assert gradcheck(lambda a: a.sum(1), (a,))
    assert gradcheck(lambda a: a.sum((0, -1), keepdim=True), (a,))
    assert gradcheck(lambda a: a.mean(), (a,))
    assert gradcheck(lambda a: a.mean(-2, keepdim=True), (a,))
    assert gradcheck(lambda a: a.var(1), (a,))
    assert gradcheck(lambda a: a.var((0, 2), unbiased=False, keepdim=True), (a,))
    assert gradcheck(lambda a: a.std(), (a,))
    assert gradcheck(lambda a: a.std(0, correction=0), (a,))
    assert gradcheck(lambda a: a.logsumexp(1), (a,))
    assert gradcheck(lambda a: a.max(), (a,))
    assert gradcheck(lambda a: a.min(1).values, (a,))
    assert gradcheck(lambda a: a.max(-1, keepdim=True)[0], (a,))


def test_reduction_values(rng):
    x = fastnn.tensor(rng.standard_normal((3, 5)))
    np.testing.assert_allclose(x.var(1).data, np.var(x.data, 1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(x.std(0, unbiased=False).data, np.std(x.data, 0), rtol=1e-12)
    m = x.data.max(1, keepdims=True)
    np.testing.assert_allclose(x.logsumexp(1).data, np.log(np.exp(x.data - m).sum(1)) + m[:, 0], rtol=1e-12)
    big = fastnn.tensor([1000.0, 1000.0])
    assert np.isclose(big.logsumexp(0).item(), 1000 + np.log(2))
    assert x.argmax().item() == np.argmax(x.data) and np.array_equal(x.argmax(1).data, np.argmax(x.data, 1))
    assert x.max().item() == x.data.max() and x.min().item() == x.data.min()
    assert x.sum().shape == () and fastnn.tensor([1, 2]).sum().dtype == fastnn.int64


def test_max_ties():
    x = fastnn.tensor([[1.0, 3.0, 3.0, 2.0]], dtype=fastnn.float64, requires_grad=True)
    x.max().backward()  # without dim: tied maxima share the gradient, as PyTorch
    np.testing.assert_array_equal(x.grad.data, [[0, 0.5, 0.5, 0]])
    x.grad = None
    values, indices = x.max(1)
    assert indices.item() == 1  # the first maximum
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 1, 0, 0]])


def test_elementwise_grads(rng):
    a, p = leaf(rng, 3, 4), leaf(rng, 3, 4, positive=True)
    assert gradcheck(lambda a: a.exp(), (a,))
    assert gradcheck(lambda p: p.log(), (p,))
    assert gradcheck(lambda p: p.sqrt(), (p,))
    assert gradcheck(lambda a: a.abs(), (a,))
    assert gradcheck(lambda a: a.clamp(-0.5, 0.5), (a,))
    assert gradcheck(lambda a: a.clamp(min=0.1), (a,))
    assert gradcheck(lambda a: a.relu(), (a,))
    assert gradcheck(lambda a: a.sigmoid(), (a,))
    assert gradcheck(lambda a: a.tanh(), (a,))
    assert gradcheck(lambda a: a.softmax(1), (a,))
    assert gradcheck(lambda a: a.log_softmax(0), (a,))
    assert gradcheck(lambda a: a.to(fastnn.float64) * 1.0, (a,))


def test_shape_grads(rng):
    a = leaf(rng, 2, 3, 4)
    assert gradcheck(lambda a: a.reshape(4, 6), (a,))
    assert gradcheck(lambda a: a.view(-1, 4), (a,))
    assert gradcheck(lambda a: a.flatten(1), (a,))
    assert gradcheck(lambda a: a.transpose(0, 2), (a,))
    assert gradcheck(lambda a: a.permute(2, 0, 1), (a,))
    assert gradcheck(lambda a: a.unsqueeze(1).squeeze(), (a,))
    assert gradcheck(lambda a: a[0].t(), (a,))
    assert gradcheck(lambda a: a.T, (a,))
    assert gradcheck(lambda a: a[:, :1].expand(2, 3, 4), (a,))
    assert a.flatten().shape == (24,) and a.flatten(0, 1).shape == (6, 4)
    assert a.unsqueeze(-1).shape == (2, 3, 4, 1) and a[:1].squeeze(0).shape == (3, 4)
    assert a.permute(2, 0, 1).shape == (4, 2, 3) and a.T.shape == (4, 3, 2)


def test_indexing_grads(rng):
    a = leaf(rng, 4, 5)
    assert gradcheck(lambda a: a[1], (a,))
    assert gradcheck(lambda a: a[1:3, ::2], (a,))
    assert gradcheck(lambda a: a[..., None, -1], (a,))
    assert gradcheck(lambda a: a[[0, 2, 0]], (a,))
    assert gradcheck(lambda a: a[a.data > 0], (a,))
    assert gradcheck(lambda a: a[fastnn.tensor([3, 1]), 1:], (a,))


def test_indexing_repeated_indices_accumulate(rng):
    a = leaf(rng, 4)
    g = rng.standard_normal(5)
    a[fastnn.tensor([1, 1, 3, 1, 0])].backward(g)
    np.testing.assert_allclose(a.grad.data, [g[4], g[0] + g[1] + g[3], 0, g[2]], rtol=1e-12)


def test_cat_stack_split_grads(rng):
    a, b = leaf(rng, 2, 3), leaf(rng, 2, 1)
    assert gradcheck(lambda a, b: fastnn.cat([a, b], dim=1), (a, b))
    assert gradcheck(lambda a: fastnn.stack([a, a * 2], dim=-1), (a,))
    assert gradcheck(lambda a: fastnn.split(a, 2, dim=1)[1], (a,))
    assert gradcheck(lambda a: a.split([1, 2], 1)[1] * a.split([1, 2], 1)[0], (a,))
    pieces = fastnn.split(a, 2, dim=1)
    assert [p.shape for p in pieces] == [(2, 2), (2, 1)]
    assert fastnn.stack([a, a]).shape == (2, 2, 3)


def test_inplace_rules(rng):
    w = leaf(rng, 3)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w += 1
    alias = w.data
    w.grad = fastnn.tensor(np.ones(3))
    with fastnn.no_grad():
        w -= 0.5 * w.grad
    assert w.data is alias and w.is_leaf  # updated in place, still the same leaf
    x = leaf(rng, 3)
    y = x * 2
    y += x  # a non-leaf: recorded, y now 3x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full(3, 3.0))
    i = fastnn.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i += 1.5


def test_mlp_trains_with_manual_sgd():
    fastnn.manual_seed(0)
    x, y = fastnn.randn(64, 5), fastnn.randn(64, 1)
    w1 = (fastnn.randn(5, 16) * 0.3).requires_grad_()
    b1 = fastnn.zeros(16, requires_grad=True)
    w2 = (fastnn.randn(16, 1) * 0.3).requires_grad_()
    b2 = fastnn.zeros(1, requires_grad=True)
    losses = []
    for _ in range(50):
        loss = (((x @ w1 + b1).relu() @ w2 + b2 - y) ** 2).mean()
        for p in (w1, b1, w2, b2):
            p.grad = None
        loss.backward()
        for p in (w1, b1, w2, b2):
            p.data -= 0.05 * p.grad.data
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
