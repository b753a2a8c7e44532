"""fastnn.functional: each function's forward against the kernel or a NumPy formula, and its
gradients by float64 gradcheck (full Jacobians, so every upstream gradient)."""

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import kernels
from fastnn.autograd import gradcheck


def leaf(rng, *shape):
    return fastnn.tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("name, kwargs", [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}),
                                          ("elu", {"alpha": 0.7}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
                                          ("sigmoid", {}), ("tanh", {}), ("softplus", {"beta": 2.0}),
                                          ("softmax", {"dim": 1}), ("log_softmax", {"dim": -1})])
def test_activation_forward_and_grad(rng, name, kwargs):
    x = leaf(rng, 3, 5)
    out = getattr(F, name)(x, **kwargs)
    np.testing.assert_array_equal(out.data, getattr(kernels, name)(x.data, **kwargs))
    assert gradcheck(lambda x: getattr(F, name)(x, **kwargs), (x,))


def test_activation_float32_and_inplace(rng):
    x = fastnn.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    y = F.relu(x, inplace=True)
    assert y is x and np.all(x.data >= 0) and x.dtype == fastnn.float32
    w = leaf(rng, 3)
    h = w * 1.0
    F.relu(h, inplace=True).sum().backward()  # in-place on a non-leaf stays differentiable
    np.testing.assert_array_equal(w.grad.data, (w.data > 0).astype(float))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.relu(w, inplace=True)
    with pytest.raises(TypeError, match="dim must be given"):
        F.softmax(w)


def test_linear(rng):
    x, w, b = leaf(rng, 2, 3, 4), leaf(rng, 5, 4), leaf(rng, 5)
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data, rtol=1e-12, atol=1e-12)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(lambda x, w: F.linear(x, w), (x, w))
    with pytest.raises(ValueError, match=r"\[linear\].*\(2, 3, 4\).*\(5, 3\)"):
        F.linear(x, leaf(rng, 5, 3))


def test_conv2d(rng):
    x, w, b = leaf(rng, 2, 2, 5, 4), leaf(rng, 3, 2, 3, 2), leaf(rng, 3)
    out = F.conv2d(x, w, b, stride=(2, 1), padding=1)
    np.testing.assert_array_equal(out.data, kernels.conv2d(x.data, w.data, b.data, (2, 1), 1))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1), (x, w, b))
    assert gradcheck(lambda x, w: F.conv2d(x, w, groups=2, dilation=(1, 2)), (x, leaf(rng, 2, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"\[conv2d\]"):
        F.conv2d(x, leaf(rng, 3, 4, 3, 3))


def test_pooling(rng):
    x = leaf(rng, 2, 3, 5, 6)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    expected, expected_idx = kernels.max_pool2d(x.data, 2, return_indices=True)
    np.testing.assert_array_equal(out.data, expected)
    np.testing.assert_array_equal(idx.data, expected_idx)
    assert not idx.requires_grad
    assert gradcheck(lambda x: F.max_pool2d(x, 3, stride=2, padding=1), (x,))
    assert gradcheck(lambda x: F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False), (x,))
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).data, kernels.avg_pool2d(x.data, 2))


def test_cross_entropy_and_nll(rng):
    x = leaf(rng, 4, 5)
    t = fastnn.tensor([0, 3, 4, 1])
    weight = fastnn.tensor(rng.uniform(0.5, 2.0, 5))
    for kw in ({}, {"reduction": "sum"}, {"reduction": "none"}, {"weight": weight, "label_smoothing": 0.1},
               {"ignore_index": 3}):
        np.testing.assert_array_equal(F.cross_entropy(x, t, **kw).data,
                                      kernels.cross_entropy(x.data, t.data, **{k: getattr(v, "data", v) for k, v in kw.items()}))
        assert gradcheck(lambda x: F.cross_entropy(x, t, **kw), (x,))
    probs = fastnn.tensor(rng.dirichlet(np.ones(5), 4))
    assert gradcheck(lambda x: F.cross_entropy(x, probs), (x,))
    logp = F.log_softmax(x, 1)
    np.testing.assert_allclose(F.nll_loss(logp, t).data, F.cross_entropy(x, t).data, rtol=1e-12)
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), t, weight=weight), (x,))
    assert F.cross_entropy(x, t, reduce=False).shape == (4,)  # PyTorch's legacy argument
    with pytest.raises(IndexError, match=r"\[cross_entropy\]"):
        F.cross_entropy(x, fastnn.tensor([0, 1, 2, 5]))
    with pytest.raises(NotImplementedError, match=r"\[cross_entropy\].*target"):
        F.cross_entropy(x, fastnn.tensor(rng.dirichlet(np.ones(5), 4), requires_grad=True))


def test_pointwise_losses(rng):
    x, y = leaf(rng, 3, 4), leaf(rng, 3, 4)
    np.testing.assert_allclose(F.mse_loss(x, y).data, np.mean((x.data - y.data) ** 2), rtol=1e-12)
    np.testing.assert_allclose(F.l1_loss(x, y, reduction="sum").data, np.abs(x.data - y.data).sum(), rtol=1e-12)
    for red in ("mean", "sum", "none"):
        assert gradcheck(lambda x, y: F.mse_loss(x, y, reduction=red), (x, y))
        assert gradcheck(lambda x, y: F.l1_loss(x, y, reduction=red), (x, y))
    with pytest.raises(ValueError, match=r"\[mse_loss\]"):
        F.mse_loss(x, leaf(rng, 4, 3))


def test_bce_with_logits(rng):
    x = leaf(rng, 3, 4)
    t = fastnn.tensor(rng.uniform(0, 1, (3, 4)), requires_grad=True)
    pw = fastnn.tensor(rng.uniform(0.5, 2, 4))
    w = fastnn.tensor(rng.uniform(0.5, 2, (3, 4)))
    xs, ts = x.data, t.data
    expected = np.mean((1 - ts) * xs + np.logaddexp(0, -xs))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, t).data, expected, rtol=1e-12)
    for kw in ({}, {"reduction": "sum", "pos_weight": pw}, {"reduction": "none", "weight": w, "pos_weight": pw}):
        assert gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, **kw), (x, t))


def test_dropout(rng):
    x = leaf(rng, 50, 40)
    assert F.dropout(x, 0.3, training=False) is x and F.dropout(x, 0.0) is x
    fastnn.manual_seed(5)
    out = F.dropout(x, 0.3)
    fastnn.manual_seed(5)
    again = F.dropout(x, 0.3)
    np.testing.assert_array_equal(out.data, again.data)
    kept = out.data != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(out.data[kept], x.data[kept] / 0.7, rtol=1e-12)
    g = rng.standard_normal(x.shape)
    out.backward(g)  # the regenerated mask matches the forward's
    np.testing.assert_allclose(x.grad.data, np.where(kept, g / 0.7, 0), rtol=1e-12)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.5)


def test_classifier_trains_with_functional_ops():
    fastnn.manual_seed(1)
    x = fastnn.randn(64, 6)
    t = (x[:, 0] > 0).long()
    w1, b1 = (fastnn.randn(16, 6) * 0.4).requires_grad_(), fastnn.zeros(16, requires_grad=True)
    w2, b2 = (fastnn.randn(2, 16) * 0.4).requires_grad_(), fastnn.zeros(2, requires_grad=True)
    params = (w1, b1, w2, b2)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), t)
        for p in params:
            p.grad = None
        loss.backward()
        with fastnn.no_grad():
            for p in params:
                p -= 0.5 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
