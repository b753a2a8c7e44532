"""fastnn.nn: Module registration and traversal, state_dict, train/eval, every layer and loss
against the kernels or a NumPy formula and by float64 gradcheck (full Jacobians, so every
upstream gradient), reprs in PyTorch's format, containers, errors, and a small training run."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F
from fastnn import kernels
from fastnn.autograd import gradcheck


def t64(rng, *shape, requires_grad=True):
    return fastnn.tensor(rng.standard_normal(shape), requires_grad=requires_grad)


def check_module_grads(module, x):
    """gradcheck with respect to the input and every parameter of module (float64)."""
    params = list(module.parameters())
    assert gradcheck(lambda x, *ps: module(x), (x, *params))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(fastnn.ones(4))
        self.register_buffer("steps", fastnn.zeros(1))
        self.register_buffer("cache", fastnn.zeros(2), persistent=False)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))
        self.plain = fastnn.zeros(3)  # a plain attribute: not registered

    def forward(self, x):
        return self.head(self.fc(x) * self.scale)


# ---- Parameter and registration ----

def test_parameter():
    t = fastnn.zeros(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, fastnn.Tensor) and p.requires_grad and p.is_leaf and p.data is t.data
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p) == "Parameter containing:\n" + repr(fastnn.Tensor(t.data, requires_grad=True))
    assert repr(p).startswith("Parameter containing:\ntensor(") and "requires_grad=True" in repr(p)
    assert nn.Parameter().shape == (0,)
    assert not isinstance(p * 2, nn.Parameter)


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc.weight", "fc.bias", "head.1.weight", "head.1.bias"]
    assert [p is q for p, q in zip(net.parameters(), [net.scale, net.fc.weight])] == [True, True]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache"]
    assert list(net.buffers())[0] is net.steps
    assert [n for n, _ in net.named_children()] == ["fc", "head"]
    assert list(net.children()) == [net.fc, net.head]
    assert [n for n, _ in net.named_modules()] == ["", "fc", "head", "head.0", "head.1"]
    assert len(list(net.modules())) == 5 and net.get_submodule("head.1") is net.head[1]
    assert "plain" not in dict(net.named_buffers()) and isinstance(net.plain, fastnn.Tensor)
    # reassigning and deleting
    net.scale = None
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        net.scale = fastnn.ones(4)
    net.scale = nn.Parameter(fastnn.ones(4))
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'fc'"):
        net.fc = 3
    with pytest.raises(TypeError, match="buffer 'steps'"):
        net.steps = np.zeros(1)
    del net.head
    assert [n for n, _ in net.named_children()] == ["fc"]
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'head'"):
        net.head
    net.add_module("extra", nn.Identity())
    assert net.extra is net._modules["extra"]
    with pytest.raises(KeyError, match="contain"):
        net.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        net.add_module("x", 5)


def test_registration_before_init_and_shared_parameters():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(fastnn.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2 and len(list(seq.modules())) == 3
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward"'):
        nn.Module()(1)


def test_zero_grad_requires_grad_apply_and_train_flags(rng):
    net = Net()
    net(fastnn.randn(5, 3)).sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None for g in grads)
    net.zero_grad(set_to_none=False)
    assert all(p.grad is g and np.all(g.data == 0) for p, g in zip(net.parameters(), grads))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Net"]
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("no")


def test_to_dtype_keeps_identity():
    net = Net()
    net.fc.weight.grad = fastnn.zeros(4, 3)
    p, bn = net.fc.weight, nn.BatchNorm1d(3)
    assert net.to(fastnn.float64) is net and net.fc.weight is p and p.dtype == fastnn.float64
    assert p.grad.dtype == fastnn.float64 and net.steps.dtype == fastnn.float64
    bn.double()
    assert bn.running_mean.dtype == fastnn.float64 and bn.num_batches_tracked.dtype == fastnn.int64
    assert net.to("cpu") is net and net.float().fc.weight.dtype == fastnn.float32
    net.to(fastnn.zeros(1, dtype=fastnn.float64))
    assert net.scale.dtype == fastnn.float64
    with pytest.raises(RuntimeError, match="not available"):
        net.to("cuda")
    with pytest.raises(TypeError, match="floating point"):
        net.to(fastnn.int64)


def test_deepcopy():
    net = Net()
    twin = copy.deepcopy(net)
    assert twin.fc.weight is not net.fc.weight and isinstance(twin.fc.weight, nn.Parameter)
    np.testing.assert_array_equal(twin.fc.weight.data, net.fc.weight.data)
    assert not np.shares_memory(twin.fc.weight.data, net.fc.weight.data)
    x = fastnn.randn(2, 3)
    np.testing.assert_array_equal(twin(x).data, net(x).data)


# ---- state_dict ----

def test_state_dict_contents_and_round_trip():
    fastnn.manual_seed(1)
    a, b = Net(), Net()
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "steps", "fc.weight", "fc.bias", "head.1.weight", "head.1.bias"]
    assert all(not v.requires_grad and v.grad_fn is None for v in sd.values())
    assert sd["fc.weight"].data is a.fc.weight.data  # shares memory, as torch's detach()
    assert a.state_dict(keep_vars=True)["fc.weight"] is a.fc.weight
    w, warr = b.fc.weight, b.fc.weight.data
    x = fastnn.randn(4, 3)
    assert not np.array_equal(a(x).data, b(x).data)
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == [] and repr(result) == "<All keys matched successfully>"
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert b.fc.weight is w and b.fc.weight.data is warr  # copied into the existing memory
    # NumPy arrays and other dtypes are accepted (cast on copy)
    b.load_state_dict({k: v.data.astype(np.float64) for k, v in sd.items()})
    assert b.fc.weight.dtype == fastnn.float32


def test_load_state_dict_strictness_and_errors():
    net = Net()
    sd = net.state_dict()
    partial = {k: fastnn.zeros(*v.shape) for k, v in sd.items() if k != "fc.bias"}
    partial["bogus"] = fastnn.zeros(1)
    before = {k: v.data.copy() for k, v in net.state_dict().items()}
    with pytest.raises(RuntimeError, match=r'Error\(s\) in loading state_dict for Net:\n\tMissing key\(s\) in '
                                           r'state_dict: "fc.bias". \n\tUnexpected key\(s\) in state_dict: "bogus"'):
        net.load_state_dict(partial)
    for k, v in net.state_dict().items():  # nothing was copied
        np.testing.assert_array_equal(v.data, before[k])
    result = net.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["bogus"]
    assert np.all(net.fc.weight.data == 0) and np.array_equal(net.fc.bias.data, before["fc.bias"])
    bad = dict(sd, **{"fc.weight": fastnn.zeros(4, 5)})
    with pytest.raises(RuntimeError, match=r"size mismatch for fc.weight: copying a param with shape \(4, 5\) "
                                           r"from checkpoint, the shape in current model is \(4, 3\)"):
        net.load_state_dict(bad, strict=False)
    with pytest.raises(RuntimeError, match="expected Tensor or ndarray"):
        net.load_state_dict(dict(sd, scale=[1, 2, 3, 4]))


def test_batchnorm_and_loss_buffers_in_state_dict():
    bn = nn.BatchNorm2d(3)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm1d(3, affine=False, track_running_stats=False).state_dict()) == []
    loss = nn.CrossEntropyLoss(weight=fastnn.ones(3))
    assert list(loss.state_dict()) == ["weight"] and list(nn.MSELoss().state_dict()) == []


# ---- layers: forward vs references, gradients ----

def test_linear(rng):
    lin = nn.Linear(4, 3).double()
    x = t64(rng, 2, 5, 4)
    np.testing.assert_allclose(lin(x).data, x.data @ lin.weight.data.T + lin.bias.data, rtol=1e-12, atol=1e-12)
    check_module_grads(lin, x)
    nobias = nn.Linear(4, 3, bias=False).double()
    assert nobias.bias is None and [n for n, _ in nobias.named_parameters()] == ["weight"]
    check_module_grads(nobias, t64(rng, 3, 4))
    with pytest.raises(ValueError, match=r"linear.*\(2, 5\).*\(3, 4\)"):
        lin(t64(rng, 2, 5))


@pytest.mark.parametrize("kwargs, shape", [({"padding": 1}, (2, 4, 5, 6)), ({"padding": "same", "dilation": 2}, (1, 4, 6, 5)),
                                           ({"padding": "valid", "stride": (2, 1)}, (2, 4, 7, 5)),
                                           ({"padding": (2, 0), "groups": 2, "bias": False}, (4, 6, 5))])
def test_conv2d(rng, kwargs, shape):
    conv = nn.Conv2d(4, 6, (3, 2), **kwargs).double()
    x = t64(rng, *shape)
    out = conv(x)
    ref = kernels.conv2d(x.data, conv.weight.data, None if conv.bias is None else conv.bias.data, conv.stride,
                         conv.padding, conv.dilation, conv.groups)
    np.testing.assert_array_equal(out.data, ref)
    if kwargs.get("padding") == "same":
        assert out.shape[-2:] == x.shape[-2:]
    check_module_grads(conv, x)


def test_conv2d_errors(rng):
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d.*\(2, 5, 6, 6\).*5 channels.*in_channels=3"):
        conv(fastnn.randn(2, 5, 6, 6))
    with pytest.raises(ValueError, match="Conv2d.*3-D"):
        conv(fastnn.randn(6, 6))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="strided convolutions"):
        nn.Conv2d(3, 4, 3, padding="same", stride=2)
    with pytest.raises(NotImplementedError, match="padding_mode='reflect'"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")


def test_pooling(rng):
    x = t64(rng, 2, 3, 7, 6)
    mp = nn.MaxPool2d(3, stride=2, padding=1)
    np.testing.assert_array_equal(mp(x).data, kernels.max_pool2d(x.data, 3, 2, 1))
    assert gradcheck(mp, (x,))
    out, idx = nn.MaxPool2d(2, return_indices=True)(x)
    assert out.shape == (2, 3, 3, 3) and idx.dtype == fastnn.int64
    ap = nn.AvgPool2d((2, 3), padding=1, count_include_pad=False, ceil_mode=True)
    np.testing.assert_array_equal(ap(x).data, kernels.avg_pool2d(x.data, (2, 3), None, 1, True, False))
    assert gradcheck(ap, (x,))
    for size in (1, (3, 2), (None, 4)):
        aap = nn.AdaptiveAvgPool2d(size)
        np.testing.assert_array_equal(aap(x).data, kernels.adaptive_avg_pool2d(x.data, size))
        assert gradcheck(aap, (x,))
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).data, x.data.mean(axis=(2, 3), keepdims=True), rtol=1e-12)


def bn_reference(x, mean, var, weight, bias, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * weight.reshape(shape) + bias.reshape(shape)


@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm1d, (5, 3)), (nn.BatchNorm1d, (4, 3, 2)),
                                        (nn.BatchNorm2d, (2, 3, 2, 3))])
def test_batchnorm_train_eval_and_running_stats(rng, cls, shape):
    bn = cls(3, eps=1e-3).double()
    bn.weight.data[...] = rng.standard_normal(3)
    bn.bias.data[...] = rng.standard_normal(3)
    x = t64(rng, *shape)
    axes = tuple(i for i in range(x.ndim) if i != 1)
    m = x.data.size // 3
    mean, var = x.data.mean(axis=axes), x.data.var(axis=axes)
    out = bn(x)
    np.testing.assert_allclose(out.data, bn_reference(x.data, mean, var, bn.weight.data, bn.bias.data, 1e-3),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * var * m / (m - 1), rtol=1e-12)  # unbiased
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    running = bn.running_mean.data.copy(), bn.running_var.data.copy()
    np.testing.assert_allclose(bn(x).data, bn_reference(x.data, *running, bn.weight.data, bn.bias.data, 1e-3),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(bn.running_mean.data, running[0])  # eval leaves them alone
    assert int(bn.num_batches_tracked.item()) == 1
    check_module_grads(bn, x)  # eval mode
    bn.train()
    check_module_grads(bn, x)  # train mode: gradients through the batch statistics


def test_batchnorm_momentum_none_is_cumulative(rng):
    bn = nn.BatchNorm1d(4, momentum=None, affine=False).double()
    batches = [rng.standard_normal((6, 4)) * (i + 1) + i for i in range(3)]
    for b in batches:
        bn(fastnn.tensor(b))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], 0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, np.mean([b.var(0, ddof=1) for b in batches], 0), rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 3 and bn.weight is None


def test_batchnorm_without_running_stats_and_errors(rng):
    bn = nn.BatchNorm2d(2, track_running_stats=False, bias=False).double().eval()
    x = t64(rng, 3, 2, 2, 2)
    mean, var = x.data.mean(axis=(0, 2, 3)), x.data.var(axis=(0, 2, 3))
    np.testing.assert_allclose(bn(x).data, bn_reference(x.data, mean, var, np.ones(2), np.zeros(2), 1e-5), rtol=1e-10)
    assert bn.running_mean is None and bn.bias is None
    with pytest.raises(ValueError, match=r"BatchNorm2d.*expected 4D input \(got 3D input"):
        nn.BatchNorm2d(2)(fastnn.randn(2, 2, 2))
    with pytest.raises(ValueError, match=r"BatchNorm1d.*\(4, 5\) has 5 channels.*num_features=3"):
        nn.BatchNorm1d(3)(fastnn.randn(4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(fastnn.randn(1, 3))


def test_dropout_train_eval(rng):
    x = fastnn.tensor(rng.standard_normal((40, 50)) + 3.0)
    drop = nn.Dropout(0.3)
    y = drop(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], x.data[kept] / 0.7, rtol=1e-6)
    assert 0.6 < kept.mean() < 0.8
    assert drop.eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    xg = t64(rng, 3, 4)
    drop.train()

    def seeded(x):
        fastnn.manual_seed(11)  # the same mask on every call gradcheck makes
        return drop(x)
    assert gradcheck(seeded, (xg,))


@pytest.mark.parametrize("module, ref", [
    (nn.ReLU(), lambda x: kernels.relu(x)),
    (nn.LeakyReLU(0.2), lambda x: kernels.leaky_relu(x, 0.2)),
    (nn.ELU(0.5), lambda x: kernels.elu(x, 0.5)),
    (nn.GELU(), lambda x: kernels.gelu(x)),
    (nn.GELU("tanh"), lambda x: kernels.gelu(x, "tanh")),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
    (nn.Identity(3, foo=1), lambda x: x),
    (nn.Flatten(), lambda x: x.reshape(3, -1)),
    (nn.Flatten(0, 1), lambda x: x.reshape(12, 2)),
])
def test_activations_and_shape_layers(rng, module, ref):
    x = t64(rng, 3, 4, 2)
    np.testing.assert_allclose(module(x).data, ref(x.data), rtol=1e-10, atol=1e-12)
    assert gradcheck(module, (x,))


def test_inplace_activation(rng):
    h = t64(rng, 3, 3) * 1.0
    out = nn.ReLU(inplace=True)(h)
    assert out is h and np.all(h.data >= 0)


def test_sequential_model_gradcheck(rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(12, 4), nn.Tanh()).double()
    check_module_grads(model, t64(rng, 2, 2, 4, 4))


# ---- losses ----

def loss_cases(rng):
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    prob, bits = 1 / (1 + np.exp(-x)), (rng.random((4, 3)) > 0.5).astype(float)
    labels = rng.integers(0, 3, 4)
    signs = np.where(rng.random((4, 3)) > 0.5, 1.0, -1.0)
    w = rng.random(3) + 0.5
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    d = x - y

    def multi_margin(p, margin, weight):
        z = np.maximum(0, margin - x[np.arange(4), labels][:, None] + x) ** p
        z[np.arange(4), labels] = 0
        return z.sum(1) * (1 if weight is None else weight[labels]) / 3

    return [
        (nn.MSELoss(), x, y, d ** 2),
        (nn.L1Loss(), x, y, np.abs(d)),
        (nn.HuberLoss(delta=0.8), x, y, np.where(np.abs(d) < 0.8, d ** 2 / 2, 0.8 * (np.abs(d) - 0.4))),
        (nn.SmoothL1Loss(beta=0.6), x, y, np.where(np.abs(d) < 0.6, d ** 2 / 1.2, np.abs(d) - 0.3)),
        (nn.BCELoss(), prob, bits, -(bits * np.log(prob) + (1 - bits) * np.log(1 - prob))),
        (nn.BCELoss(weight=fastnn.tensor(w)), prob, bits, -w * (bits * np.log(prob) + (1 - bits) * np.log(1 - prob))),
        (nn.BCEWithLogitsLoss(pos_weight=fastnn.tensor(w)), x, bits,
         -(w * bits * np.log(prob) + (1 - bits) * np.log(1 - prob))),
        (nn.CrossEntropyLoss(), x, labels, -logp[np.arange(4), labels]),
        (nn.NLLLoss(), logp, labels, -logp[np.arange(4), labels]),
        (nn.HingeEmbeddingLoss(margin=0.7), x, signs, np.where(signs == 1, x, np.maximum(0, 0.7 - x))),
        (nn.MultiMarginLoss(), x, labels, multi_margin(1, 1.0, None)),
        (nn.MultiMarginLoss(p=2, margin=0.5, weight=fastnn.tensor(w)), x, labels, multi_margin(2, 0.5, w)),
    ]


@pytest.mark.parametrize("case", range(12))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(rng, case, reduction):
    loss, x, target, per_element = loss_cases(rng)[case]
    loss.reduction = reduction
    x = fastnn.tensor(x, requires_grad=True)
    target = fastnn.tensor(target)
    expected = {"mean": per_element.mean(), "sum": per_element.sum(), "none": per_element}[reduction]
    np.testing.assert_allclose(loss(x, target).data, expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x: loss(x, target), (x,))


def test_loss_options_and_edges(rng):
    x = t64(rng, 5, 4)
    target = fastnn.tensor(np.array([0, 3, -100, 2, 1]))
    w = fastnn.tensor(rng.random(4) + 0.5)
    ce = nn.CrossEntropyLoss(weight=w, ignore_index=-100, label_smoothing=0.1)
    np.testing.assert_array_equal(ce(x, target).data, F.cross_entropy(x, target, w, label_smoothing=0.1).data)
    assert gradcheck(lambda x: ce(x, target), (x,))
    assert nn.MSELoss(size_average=False).reduction == "sum" and nn.L1Loss(reduce=False).reduction == "none"
    # BCELoss clamps each log at -100, as PyTorch
    p = fastnn.tensor(np.array([0.0, 1.0, 0.5]), requires_grad=True)
    out = nn.BCELoss(reduction="none")(p, fastnn.tensor(np.array([1.0, 0.0, 1.0])))
    np.testing.assert_allclose(out.data, [100.0, 100.0, np.log(2)], rtol=1e-12)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        nn.BCELoss()(fastnn.tensor([1.5]), fastnn.tensor([1.0]))
    with pytest.raises(ValueError, match=r"target size \(3,\).*input size \(2,\)"):
        nn.BCELoss()(fastnn.tensor([0.5, 0.5]), fastnn.tensor([1.0, 0.0, 1.0]))
    # gradient with respect to the target of the probability BCE
    pr, tg = fastnn.tensor(rng.random(5) * 0.8 + 0.1, requires_grad=True), fastnn.tensor(rng.random(5), requires_grad=True)
    assert gradcheck(lambda p, t: F.binary_cross_entropy(p, t), (pr, tg))
    # unbatched multi-margin and its errors
    v = t64(rng, 4)
    lab = fastnn.tensor(np.array(2))
    np.testing.assert_allclose(nn.MultiMarginLoss()(v, lab).data,
                               nn.MultiMarginLoss()(v.reshape(1, 4), lab.reshape(1)).data, rtol=1e-15)
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(IndexError, match="out of range"):
        nn.MultiMarginLoss()(x, fastnn.tensor(np.array([0, 1, 2, 3, 4])))


# ---- repr ----

def test_repr_matches_pytorch_format():
    model = nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(1, 4, 3, padding="same")),
        ("bn", nn.BatchNorm2d(4)),
        ("act", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)),
        ("flat", nn.Flatten()),
        ("block", nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2, True))),
        ("drop", nn.Dropout()),
    ]))
    assert repr(model) == """Sequential(
  (conv): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=same)
  (bn): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  (act): ReLU()
  (pool): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (flat): Flatten(start_dim=1, end_dim=-1)
  (block): Sequential(
    (0): Linear(in_features=784, out_features=256, bias=True)
    (1): LeakyReLU(negative_slope=0.2, inplace=True)
  )
  (drop): Dropout(p=0.5, inplace=False)
)"""
    assert repr(nn.Conv2d(2, 4, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False)) == \
        "Conv2d(2, 4, kernel_size=(3, 2), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=2, bias=False)"
    assert repr(nn.BatchNorm1d(3, momentum=None, affine=False)) == \
        "BatchNorm1d(3, eps=1e-05, momentum=None, affine=False, bias=False, track_running_stats=True)"
    others = [nn.GELU(), nn.ELU(), nn.Softmax(1), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d((1, 1)), nn.Identity(),
              nn.CrossEntropyLoss(), nn.Sigmoid()]
    assert [repr(m) for m in others] == [
        "GELU(approximate='none')", "ELU(alpha=1.0)", "Softmax(dim=1)",
        "AvgPool2d(kernel_size=2, stride=2, padding=0)", "AdaptiveAvgPool2d(output_size=(1, 1))", "Identity()",
        "CrossEntropyLoss()", "Sigmoid()"]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])
    assert repr(ml) == "ModuleList(\n  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)\n  (3): ReLU()\n)"


# ---- containers ----

def test_sequential_behaviour(rng):
    a, b, c = nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head) == [b, c] and list(head._modules) == ["1", "2"]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        seq[3]
    x = fastnn.randn(5, 3)
    np.testing.assert_array_equal(seq(x).data, c(b(a(x))).data)
    d = nn.Tanh()
    assert seq.append(d) is seq and seq[3] is d and len(seq) == 4
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and list(seq) == [a, c, d]
    seq.insert(1, b)
    assert list(seq) == [a, b, c, d]
    seq[3] = nn.Sigmoid()
    assert isinstance(seq[3], nn.Sigmoid) and seq.pop(3) is not d and len(seq) == 3
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert named.fc is a and [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert len(seq + named) == 5


def test_module_list_behaviour():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers += [nn.Sigmoid()]
    assert len(layers) == 6 and isinstance(layers[-1], nn.Sigmoid)
    sub = layers[1:3]
    assert isinstance(sub, nn.ModuleList) and sub[0] is layers[1]
    del layers[0]
    assert list(layers._modules) == [str(i) for i in range(5)]
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 6

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 1)])

    assert [n for n, _ in Holder().named_parameters()] == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                                                            "blocks.1.bias"]
    with pytest.raises(TypeError, match="iterable"):
        nn.ModuleList(nn.Linear(1, 1))
    with pytest.raises(IndexError, match="out of range"):
        layers[10]


def test_module_dict_behaviour():
    d = nn.ModuleDict({"fc": nn.Linear(3, 2), "act": nn.ReLU()})
    d["out"] = nn.Linear(2, 1)
    assert list(d) == ["fc", "act", "out"] and len(d) == 3 and "act" in d
    assert [n for n, _ in d.named_parameters()] == ["fc.weight", "fc.bias", "out.weight", "out.bias"]
    d.update([("act", nn.Tanh())])
    assert isinstance(d["act"], nn.Tanh) and list(d.keys()) == ["fc", "act", "out"]
    assert isinstance(d.pop("act"), nn.Tanh) and list(d) == ["fc", "out"]
    assert [type(m).__name__ for m in d.values()] == ["Linear", "Linear"]
    with pytest.raises(TypeError, match="not a Module subclass"):
        d["bad"] = 3
    with pytest.raises(ValueError, match="element #0"):
        d.update([("a", nn.ReLU(), "extra")])
    with pytest.raises(KeyError):
        d["missing"]


def test_parameter_list_and_dict(rng):
    plist = nn.ParameterList([fastnn.randn(2, 2), nn.Parameter(fastnn.zeros(3))])
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in plist)
    plist.append(fastnn.ones(1))
    assert len(plist) == 3 and plist[-1].shape == (1,)
    assert [n for n, _ in plist.named_parameters()] == ["0", "1", "2"]
    assert isinstance(plist[0:2], nn.ParameterList) and plist[0:2][1] is plist[1]
    pdict = nn.ParameterDict({"scale": fastnn.ones(4)})
    pdict["shift"] = nn.Parameter(fastnn.zeros(4))
    assert list(pdict) == ["scale", "shift"] and isinstance(pdict["scale"], nn.Parameter)

    class Affine(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.ParameterDict({"w": fastnn.tensor(rng.standard_normal(4)), "b": fastnn.zeros(4)})

        def forward(self, x):
            return x * self.p["w"] + self.p["b"]

    m = Affine()
    assert sorted(m.state_dict()) == ["p.b", "p.w"]
    x = fastnn.tensor(rng.standard_normal((5, 4)))
    m(x).sum().backward()
    np.testing.assert_allclose(m.p["w"].grad.data, x.data.sum(0), rtol=1e-6)
    np.testing.assert_array_equal(m.p["b"].grad.data, np.full(4, 5.0))
    with pytest.raises(IndexError, match="out of range"):
        plist[3]


def _small_mlp(rng):
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 5))
    x = fastnn.tensor(rng.standard_normal((16, 20)).astype(np.float32))
    return model, x, fastnn.tensor(rng.integers(0, 5, 16)), nn.CrossEntropyLoss()


def _small_cnn(rng):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Tanh(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3), nn.Sigmoid())
    x = fastnn.tensor(rng.standard_normal((8, 1, 8, 8)).astype(np.float32))
    return model, x, fastnn.tensor(rng.random((8, 3)).astype(np.float32)), nn.MSELoss()


@pytest.mark.parametrize("build", [_small_mlp, _small_cnn])
def test_memory_stays_flat_over_1000_training_steps(rng, build):
    # Each step's graph must be freed by reference counting alone: with the cyclic
    # collector off during the steps, the collection afterwards finds no garbage, and the
    # traced memory is where it was. (A full collection also empties CPython's free lists
    # of small objects, which otherwise fill up over the first ~1,000 steps.)
    import gc
    import tracemalloc

    fastnn.manual_seed(0)
    model, x, y, loss_fn = build(rng)
    opt = fastnn.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    was_enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()
    try:
        first = step()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(999):
            step()
        last = step()
        garbage = gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()
    assert last < first  # it trained
    assert garbage == 0
    assert after - before < 16 * 1024, (before, after)


# ---- end to end ----

def test_mlp_trains_on_separable_problem():
    rng = np.random.default_rng(0)
    fastnn.manual_seed(0)
    n = 256
    x = rng.standard_normal((n, 2)).astype(np.float32)
    y = ((x[:, 0] * x[:, 1]) > 0).astype(np.int64)  # XOR of signs: needs the hidden layer
    x[:, 0] += np.sign(x[:, 0]) * 0.3
    x[:, 1] += np.sign(x[:, 1]) * 0.3  # a margin around the axes
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = fastnn.tensor(x), fastnn.tensor(y)
    first = None
    for step in range(300):
        loss = loss_fn(model(xt), yt)
        first = first if first is not None else loss.item()
        model.zero_grad()
        loss.backward()
        with fastnn.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    accuracy = (model(xt).argmax(1).data == y).mean()
    assert loss.item() < 0.2 * first and accuracy > 0.95


# ---------------------------------------------------------------------------------------
# Sequential's fused ReLU + MaxPool2d
# ---------------------------------------------------------------------------------------

def _unfused(seq, x):
    for module in seq:
        x = module(x)
    return x


@pytest.mark.parametrize("pool", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=2, stride=1, dilation=2, ceil_mode=True),
                                  dict(kernel_size=3, stride=2, ceil_mode=True)])
def test_sequential_relu_max_pool_matches_the_modules_bit_for_bit(pool):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((3, 4, 9, 11)).astype(np.float32)
    x0[0, 0, :4, :4] = -rng.random((4, 4))             # windows with no positive value
    x0[1, 1, :, :] = np.round(x0[1, 1, :, :])           # ties, zeros and negative zeros
    x0[1, 2, 2:6, 2:6] = 0.0
    x0[1, 2, 3, 3] = -0.0
    x0[2, 3, 4, 4] = np.nan
    seq = nn.Sequential(nn.Identity(), nn.ReLU(), nn.MaxPool2d(**pool))
    g = rng.standard_normal(seq(fastnn.tensor(x0)).shape).astype(np.float32)
    outs, grads = [], []
    for run in (seq, lambda x: _unfused(seq, x)):
        x = fastnn.tensor(x0, requires_grad=True)
        y = run(x)
        y.backward(fastnn.tensor(g))
        outs.append(y.detach().numpy().tobytes())
        grads.append(x.grad.numpy().tobytes())
    assert np.isnan(np.frombuffer(outs[0], np.float32)).any()
    assert outs[0] == outs[1]
    assert grads[0] == grads[1]


def test_sequential_fusion_leaves_other_patterns_alone():
    x0 = np.linspace(-2, 2, 2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    # an in-place ReLU first in the Sequential changes the caller's input, as unfused
    x = fastnn.tensor(x0.copy())
    nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool2d(2))(x)
    np.testing.assert_array_equal(x.numpy(), np.maximum(x0, 0))
    # return_indices keeps the pool's own tuple output; subclasses keep their forward
    out, idx = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True))(fastnn.tensor(x0))
    assert idx.dtype == np.int64 and out.shape == (2, 3, 2, 2)

    class Shifted(nn.ReLU):
        def forward(self, input):
            return super().forward(input) + 1.0

    y = nn.Sequential(Shifted(), nn.MaxPool2d(2))(fastnn.tensor(x0))
    np.testing.assert_array_equal(y.numpy(), np.maximum(x0, 0).reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)) + 1.0)


@pytest.mark.parametrize("bias", [True, False])
def test_sequential_linear_relu_matches_the_modules_bit_for_bit(bias):
    rng = np.random.default_rng(4)
    fastnn.manual_seed(0)
    seq = nn.Sequential(nn.Linear(13, 7, bias=bias), nn.ReLU(), nn.Linear(7, 5), nn.ReLU(inplace=True),
                        nn.Linear(5, 3), nn.ReLU())
    x0 = rng.standard_normal((6, 4, 13)).astype(np.float32)  # extra batch dimensions
    g = rng.standard_normal((6, 4, 3)).astype(np.float32)
    results = []
    for run in (seq, lambda x: _unfused(seq, x)):
        x = fastnn.tensor(x0, requires_grad=True)
        for p in seq.parameters():
            p.grad = None
        y = run(x)
        y.backward(fastnn.tensor(g))
        results.append([y.detach().numpy().tobytes(), x.grad.numpy().tobytes()]
                       + [p.grad.numpy().tobytes() for p in seq.parameters()])
    assert results[0] == results[1]
