"""fastnn.optim's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) and clip_grad_norm_.

Each optimizer runs 10 steps on Tensors of awkward shapes against the float64 oracles in
reference.py (tolerances from its TOLERANCES table); then param groups, parameters without
gradients, zero_grad, state_dict round trips that continue training bit for bit,
load_state_dict and constructor validation, and gradient clipping.
"""

import io
import math

import numpy as np
import pytest

import fastnn
from fastnn import optim
from reference import adagrad_ref, adam_ref, assert_allclose, rmsprop_ref, sgd_ref

STEPS = 10
SHAPES = [(), (1,), (7, 13), (5, 3, 2)]
DTYPES = (np.float32, np.float64)

# (optimizer class, its options, oracle, oracle options, kernel name for the tolerance,
#  {optimizer state name: oracle state name})
CASES = [
    (optim.SGD, dict(lr=0.1), sgd_ref, dict(lr=0.1), "sgd_step_", {}),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1), sgd_ref,
     dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1), "sgd_step_",
     {"momentum_buffer": "momentum_buffer"}),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True), sgd_ref,
     dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True), "sgd_step_", {"momentum_buffer": "momentum_buffer"}),
    (optim.Adam, dict(lr=0.01), adam_ref, dict(lr=0.01), "adam_step_",
     {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}),
    (optim.Adam, dict(lr=0.05, betas=(0.6, 0.9), eps=0.1, weight_decay=0.1, amsgrad=True, maximize=True),
     adam_ref, dict(lr=0.05, beta1=0.6, beta2=0.9, eps=0.1, weight_decay=0.1, amsgrad=True, maximize=True),
     "adam_step_", {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "max_exp_avg_sq": "max_exp_avg_sq"}),
    (optim.AdamW, dict(lr=0.01), adam_ref, dict(lr=0.01, weight_decay=1e-2, decoupled_weight_decay=True),
     "adam_step_", {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), adam_ref,
     dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), "adam_step_",
     {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}),
    (optim.RMSprop, dict(lr=0.01), rmsprop_ref, dict(lr=0.01), "rmsprop_step_", {"square_avg": "square_avg"}),
    (optim.RMSprop, dict(lr=0.02, alpha=0.4, eps=0.1, weight_decay=0.1, momentum=0.5, centered=True, maximize=True),
     rmsprop_ref, dict(lr=0.02, alpha=0.4, eps=0.1, weight_decay=0.1, momentum=0.5, centered=True, maximize=True),
     "rmsprop_step_", {"square_avg": "square_avg", "grad_avg": "grad_avg", "momentum_buffer": "momentum_buffer"}),
    (optim.Adagrad, dict(lr=0.1), adagrad_ref, dict(lr=0.1), "adagrad_step_", {"sum": "state_sum"}),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.3, eps=0.1,
                         maximize=True), adagrad_ref,
     dict(lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.3, eps=0.1, maximize=True),
     "adagrad_step_", {"sum": "state_sum"}),
]


def case_id(case):
    return case[0].__name__ + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


def make_params(rng, dtype, shapes=SHAPES):
    return [fastnn.Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def make_grads(rng, params, steps=STEPS):
    return [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(steps)]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = None if g is None else fastnn.Tensor(g.copy())


def train(opt, params, grads_per_step):
    for grads in grads_per_step:
        set_grads(params, grads)
        opt.step()


def check_against_oracle(case, p, initial, grads, state, dtype):
    _, _, ref, ref_kw, op, names = case
    expected, scale = ref(initial, grads, **ref_kw)
    assert_allclose(op, p.data, expected["param"], dtype=dtype, scale=scale["param"])
    for ours, theirs in names.items():
        arr = state[ours].data
        assert_allclose(op, arr, expected[theirs], dtype=dtype, scale=scale[theirs])


# ---------------------------------------------------------------------------------------
# Against the oracle
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_oracle(case, dtype, rng):
    cls, kw = case[0], case[1]
    params = make_params(rng, dtype)
    initial = [p.data.copy() for p in params]
    grads = make_grads(rng, params)
    opt = cls(params, **kw)
    train(opt, params, grads)
    for i, p in enumerate(params):
        state = opt.state[p]
        check_against_oracle(case, p, initial[i], [g[i] for g in grads], state, dtype)
        for name in case[5]:
            assert state[name].dtype == p.dtype and state[name].shape == p.shape
        if "step" in state:
            assert state["step"] == STEPS and type(state["step"]) is int


def test_mixed_dtypes_in_one_group(rng):
    """A group may hold float32 and float64 parameters; each state array takes its
    parameter's dtype."""
    case = CASES[3]
    params = make_params(rng, np.float32, [(3, 4)]) + make_params(rng, np.float64, [(5,)])
    initial = [p.data.copy() for p in params]
    grads = make_grads(rng, params)
    opt = optim.Adam(params, lr=0.01)
    train(opt, params, grads)
    for i, p in enumerate(params):
        check_against_oracle(case, p, initial[i], [g[i] for g in grads], opt.state[p], p.dtype)


def test_param_groups_with_different_lrs(rng):
    a, b = make_params(rng, np.float64, [(4, 3)]), make_params(rng, np.float64, [(6,), ()])
    initial = [p.data.copy() for p in a + b]
    grads = make_grads(rng, a + b)
    opt = optim.SGD([{"params": a}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9  # the default fills what the group leaves out
    train(opt, a + b, grads)
    for i, (p, lr) in enumerate(zip(a + b, (0.1, 0.5, 0.5))):
        expected, scale = sgd_ref(initial[i], [g[i] for g in grads], lr=lr, momentum=0.9)
        assert_allclose("sgd_step_", p.data, expected["param"], dtype=np.float64, scale=scale["param"])


def test_params_without_grad_are_skipped(rng):
    """A parameter without a gradient is neither updated nor given state; once it has one,
    its own step count starts at 1 (Adam's bias correction is per parameter)."""
    params = make_params(rng, np.float64, [(3,), (2, 2)])
    initial = [p.data.copy() for p in params]
    grads = make_grads(rng, params)
    opt = optim.Adam(params, lr=0.01)
    for t in range(STEPS):
        set_grads(params, [grads[t][0], grads[t][1] if t >= 4 else None])
        opt.step()
        if t < 4:
            np.testing.assert_array_equal(params[1].data, initial[1])
            assert not opt.state.get(params[1])
    assert opt.state[params[0]]["step"] == STEPS and opt.state[params[1]]["step"] == STEPS - 4
    for i, first in ((0, 0), (1, 4)):
        expected, scale = adam_ref(initial[i], [g[i] for g in grads[first:]], lr=0.01)
        assert_allclose("adam_step_", params[i].data, expected["param"], dtype=np.float64, scale=scale["param"])


def test_step_without_any_grad_changes_nothing(rng):
    params = make_params(rng, np.float32, [(4,)])
    before = params[0].data.copy()
    opt = optim.Adam(params)
    assert opt.step() is None
    np.testing.assert_array_equal(params[0].data, before)
    assert opt.state_dict()["state"] == {}


def test_step_updates_the_parameter_array_in_place(rng):
    params = make_params(rng, np.float32, [(4, 5)])
    data = params[0].data
    opt = optim.SGD(params, lr=0.1)
    set_grads(params, make_grads(rng, params, 1)[0])
    opt.step()
    assert params[0].data is data


def test_closure_is_called_with_grad_enabled_and_its_loss_returned(rng):
    params = make_params(rng, np.float64, [(3,)])
    opt = optim.SGD(params, lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        calls.append(fastnn.is_grad_enabled())
        loss = (params[0] * params[0]).sum()
        loss.backward()
        return loss

    before = params[0].data.copy()
    with fastnn.no_grad():
        loss = opt.step(closure)
    assert calls == [True]
    np.testing.assert_allclose(float(loss.item()), float((before * before).sum()), rtol=1e-15)
    np.testing.assert_allclose(params[0].data, before - 0.1 * 2 * before, rtol=1e-15)


def test_failed_step_changes_nothing(rng):
    """A gradient of the wrong shape fails in the kernel before anything is written: the
    parameters, states and step counts stay as they were."""
    params = make_params(rng, np.float32, [(3,), (4,)])
    opt = optim.Adam(params, lr=0.01)
    train(opt, params, make_grads(rng, params, 2))
    saved = opt.state_dict()
    before = [p.data.copy() for p in params]
    params[0].grad = fastnn.Tensor(np.ones(3, np.float32))
    params[1].grad = fastnn.Tensor(np.ones(5, np.float32))
    with pytest.raises(ValueError):
        opt.step()
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
    after = opt.state_dict()
    for i in range(2):
        assert after["state"][i]["step"] == saved["state"][i]["step"] == 2
        np.testing.assert_array_equal(after["state"][i]["exp_avg"].data, saved["state"][i]["exp_avg"].data)


def test_failed_first_sgd_momentum_step_keeps_no_buffer(rng):
    params = make_params(rng, np.float64, [(3,)])
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    params[0].grad = fastnn.Tensor(np.ones(4))
    with pytest.raises(ValueError):
        opt.step()
    assert "momentum_buffer" not in opt.state[params[0]]
    initial = params[0].data.copy()
    grads = make_grads(rng, params, 3)
    train(opt, params, grads)
    expected, scale = sgd_ref(initial, [g[0] for g in grads], lr=0.1, momentum=0.9)
    assert_allclose("sgd_step_", params[0].data, expected["param"], dtype=np.float64, scale=scale["param"])


# ---------------------------------------------------------------------------------------
# zero_grad
# ---------------------------------------------------------------------------------------

def test_zero_grad_sets_to_none_by_default(rng):
    params = make_params(rng, np.float32, [(3,), (2,)])
    set_grads(params, [np.ones(3, np.float32), None])
    optim.SGD(params).zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_without_set_to_none_zeroes_in_place(rng):
    params = make_params(rng, np.float32, [(3,), (2,)])
    set_grads(params, [np.ones(3, np.float32), None])
    grad, data = params[0].grad, params[0].grad.data
    optim.SGD(params).zero_grad(set_to_none=False)
    assert params[0].grad is grad and grad.data is data
    np.testing.assert_array_equal(data, np.zeros(3, np.float32))
    assert params[1].grad is None


# ---------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ---------------------------------------------------------------------------------------

RESUME_CASES = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1)),
]


@pytest.mark.parametrize("through_file", [False, True], ids=["dict", "file"])
@pytest.mark.parametrize("cls,kw", RESUME_CASES, ids=[c[0].__name__ for c in RESUME_CASES])
def test_state_dict_resumes_training_bitwise(cls, kw, through_file, rng):
    """5 steps, state_dict, a new optimizer over copies of the parameters loads it, 5 more
    steps: the same bits as 10 uninterrupted steps."""
    params = make_params(rng, np.float32, SHAPES)
    grads = make_grads(rng, params)
    twin = [fastnn.Tensor(p.data.copy(), requires_grad=True) for p in params]
    whole = cls(twin, **kw)
    train(whole, twin, grads)

    first = cls(params, **kw)
    train(first, params, grads[:5])
    saved = first.state_dict()
    if through_file:
        buf = io.BytesIO()
        fastnn.save(saved, buf)
        buf.seek(0)
        saved = fastnn.load(buf)
    resumed_params = [fastnn.Tensor(p.data.copy(), requires_grad=True) for p in params]
    resumed = cls(resumed_params, lr=123.0)  # the loaded groups' options replace these
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kw["lr"]
    train(resumed, resumed_params, grads[5:])
    for p, q in zip(resumed_params, twin):
        np.testing.assert_array_equal(p.data, q.data)
    for i, p in enumerate(twin):
        for name, v in whole.state[p].items():
            w = resumed.state[resumed_params[i]][name]
            if name == "step":
                assert w == v
            else:
                np.testing.assert_array_equal(w.data, v.data)


def test_state_dict_layout_is_torchs(rng):
    a, b = make_params(rng, np.float32, [(2,)]), make_params(rng, np.float32, [(3,), (4,)])
    opt = optim.Adam([{"params": a}, {"params": b, "lr": 0.1}], betas=(0.8, 0.9))
    train(opt, a + b, make_grads(rng, a + b, 2))
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.8, 0.9)
    assert list(sd["state"]) == [0, 1, 2]
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][1]["step"] == 2


def test_state_dict_never_aliases_the_optimizer(rng):
    params = make_params(rng, np.float64, [(3,)])
    opt = optim.Adam(params, lr=0.01)
    train(opt, params, make_grads(rng, params, 2))
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"].data[...] = 7.0
    sd["param_groups"][0]["lr"] = 9.0
    assert not np.any(opt.state[params[0]]["exp_avg"].data == 7.0)
    assert opt.param_groups[0]["lr"] == 0.01
    # and after loading, the optimizer owns its copy
    opt.load_state_dict(sd)
    sd["state"][0]["exp_avg"].data[...] = 5.0
    np.testing.assert_array_equal(opt.state[params[0]]["exp_avg"].data, np.full(3, 7.0))
    assert opt.param_groups[0]["lr"] == 9.0


def test_load_state_dict_casts_to_the_parameter_dtype(rng):
    params = make_params(rng, np.float32, [(3,)])
    opt = optim.Adam(params)
    sd = {"state": {0: {"step": np.array(4.0), "exp_avg": np.ones(3), "exp_avg_sq": np.ones(3)}},
          "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(sd)
    st = opt.state[params[0]]
    assert st["step"] == 4 and type(st["step"]) is int
    assert st["exp_avg"].dtype == np.float32 and st["exp_avg"].data.flags["C_CONTIGUOUS"]


def _loaded_opt(rng):
    params = make_params(rng, np.float32, [(3,), (2,)])
    opt = optim.Adam(params, lr=0.01)
    train(opt, params, make_grads(rng, params, 1))
    return opt, params


def test_load_state_dict_rejects_another_group_count(rng):
    opt, params = _loaded_opt(rng)
    sd = opt.state_dict()
    sd["param_groups"].append(dict(sd["param_groups"][0], params=[5]))
    before = opt.state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == before["param_groups"][0]["lr"]


def test_load_state_dict_rejects_another_group_size(rng):
    opt, params = _loaded_opt(rng)
    sd = opt.state_dict()
    sd["param_groups"][0]["params"] = [0]
    sd["param_groups"][0]["lr"] = 5.0
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.01


def test_load_state_dict_rejects_a_state_of_another_shape(rng):
    opt, params = _loaded_opt(rng)
    sd = opt.state_dict()
    sd["state"][1]["exp_avg"] = fastnn.Tensor(np.zeros(5, np.float32))
    sd["param_groups"][0]["lr"] = 5.0
    before = opt.state[params[1]]["exp_avg"].data.copy()
    with pytest.raises(ValueError, match=r"'exp_avg' has shape \(5,\), but its parameter has shape \(2,\)"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.01
    np.testing.assert_array_equal(opt.state[params[1]]["exp_avg"].data, before)


# ---------------------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------------------

BAD_OPTIONS = [
    (optim.SGD, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.SGD, dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    (optim.SGD, dict(weight_decay=-1e-3), "Invalid weight_decay value: -0.001"),
    (optim.SGD, dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (optim.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires"),
    (optim.Adam, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.Adam, dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (optim.Adam, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (optim.Adam, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    (optim.AdamW, dict(lr=-0.5), "Invalid learning rate: -0.5"),
    (optim.AdamW, dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    (optim.RMSprop, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.RMSprop, dict(eps=-1), "Invalid epsilon value: -1"),
    (optim.RMSprop, dict(momentum=-1), "Invalid momentum value: -1"),
    (optim.RMSprop, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    (optim.RMSprop, dict(alpha=-1), "Invalid alpha value: -1"),
    (optim.Adagrad, dict(lr=-1), "Invalid learning rate: -1"),
    (optim.Adagrad, dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    (optim.Adagrad, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    (optim.Adagrad, dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (optim.Adagrad, dict(eps=-1), "Invalid epsilon value: -1"),
]


@pytest.mark.parametrize("cls,kw,msg", BAD_OPTIONS, ids=[f"{c.__name__}-{k}" for c, k, _ in BAD_OPTIONS])
def test_constructor_rejects_invalid_options(cls, kw, msg, rng):
    with pytest.raises(ValueError, match="^" + msg.replace("(", r"\(").replace(")", r"\)")):
        cls(make_params(rng, np.float32, [(2,)]), **kw)


def test_defaults_are_torchs(rng):
    p = make_params(rng, np.float32, [(2,)])
    assert optim.SGD(p).defaults == dict(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                                         maximize=False)
    assert optim.Adam(p).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                                          maximize=False, decoupled_weight_decay=False)
    assert optim.AdamW(p).defaults["weight_decay"] == 1e-2 and optim.AdamW(p).defaults["decoupled_weight_decay"]
    assert optim.RMSprop(p).defaults == dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                                             centered=False, maximize=False)
    assert optim.Adagrad(p).defaults == dict(lr=1e-2, lr_decay=0, eps=1e-10, weight_decay=0,
                                             initial_accumulator_value=0, maximize=False)


def test_params_argument_errors(rng):
    a, b = make_params(rng, np.float32, [(2,), (3,)])
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got"):
        optim.SGD(a)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="organized in ordered collections"):
        optim.SGD([{"params": {a, b}}])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the params is numpy"):
        optim.SGD([a, np.zeros(2)])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([a * 2])
    with pytest.raises(ValueError, match="duplicate parameters"):
        optim.SGD([a, b, a])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [b, a]}])
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optim.SGD([a]).add_param_group([b])


def test_add_param_group(rng):
    a, b = make_params(rng, np.float64, [(2,), (3,)])
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": b, "lr": 0.1})
    assert opt.param_groups[1]["params"] == [b] or opt.param_groups[1]["params"][0] is b
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    initial = b.data.copy()
    grads = make_grads(rng, [a, b], 3)
    train(opt, [a, b], grads)
    expected, scale = adam_ref(initial, [g[1] for g in grads], lr=0.1)
    assert_allclose("adam_step_", b.data, expected["param"], dtype=np.float64, scale=scale["param"])


def test_required_option_must_be_given(rng):
    class Plain(optim.Optimizer):
        def __init__(self, params, lr=optim.optimizer.required):
            super().__init__(params, dict(lr=lr))

    a = make_params(rng, np.float32, [(2,)])
    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Plain(a)
    assert Plain([{"params": a, "lr": 0.5}]).param_groups[0]["lr"] == 0.5


# ---------------------------------------------------------------------------------------
# clip_grad_norm_
# ---------------------------------------------------------------------------------------

def _grad_params(rng, dtype, scale=1.0):
    params = make_params(rng, dtype, [(), (7, 13), (5,)])
    set_grads(params, [scale * rng.standard_normal(p.shape).astype(dtype) for p in params])
    return params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_scales_to_max_norm(norm_type, dtype, rng):
    params = _grad_params(rng, dtype)
    flat = np.concatenate([p.grad.data.astype(np.float64).ravel() for p in params])
    before = [p.grad.data.astype(np.float64) for p in params]
    expected = np.linalg.norm(flat, ord=norm_type)
    u = np.finfo(dtype).eps
    total = optim.clip_grad_norm_(params, max_norm=0.5, norm_type=norm_type)
    assert isinstance(total, fastnn.Tensor) and total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(float(total.item()), expected, rtol=100 * u)
    coef = 0.5 / (expected + 1e-6)
    for p, b in zip(params, before):
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad.data, b * coef, rtol=10 * u, atol=0)
    after = np.linalg.norm(np.concatenate([p.grad.data.astype(np.float64).ravel() for p in params]), ord=norm_type)
    assert after <= 0.5 * (1 + 100 * u)


def test_clip_grad_norm_leaves_small_gradients(rng):
    params = _grad_params(rng, np.float32, scale=1e-3)
    before = [p.grad.data.copy() for p in params]
    total = optim.clip_grad_norm_(params, 10.0)
    assert float(total.item()) < 10.0
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.data, b)


def test_clip_grad_norm_single_tensor_and_no_grads(rng):
    p = _grad_params(rng, np.float64)[1]
    norm = np.linalg.norm(p.grad.data)
    np.testing.assert_allclose(float(optim.clip_grad_norm_(p, 1.0).item()), norm, rtol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(p.grad.data), 1.0 / (norm + 1e-6) * norm, rtol=1e-13)
    q = make_params(rng, np.float32, [(3,)])
    assert float(optim.clip_grad_norm_(q, 1.0).item()) == 0.0 and q[0].grad is None


def test_clip_grad_norm_nonfinite(rng):
    params = _grad_params(rng, np.float32)
    params[1].grad.data[2, 3] = np.inf
    before = [p.grad.data.copy() for p in params]
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is "
                                           "non-finite"):
        optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad.data, b)
    total = optim.clip_grad_norm_(params, 1.0)  # scales by the infinite norm, as torch does
    assert math.isinf(float(total.item()))
    assert np.all(params[0].grad.data == 0) and np.isnan(params[1].grad.data[2, 3])
    params[2].grad.data[0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(params, 1.0, norm_type=math.inf, error_if_nonfinite=True)


def test_replacing_the_state_dict_object_resets_the_cached_states(rng):
    """step() caches each group's state dicts; assigning a new ``opt.state`` (or loading a
    state dict) must not leave it updating the old ones."""
    params = make_params(rng, np.float64, [(3,)])
    opt = optim.Adam(params, lr=0.01)
    grads = make_grads(rng, params, 4)
    train(opt, params, grads[:2])
    old = opt.state[params[0]]
    opt.state = type(opt.state)(dict)
    initial = params[0].data.copy()
    train(opt, params, grads[2:])
    assert old["step"] == 2 and opt.state[params[0]]["step"] == 2
    expected, scale = adam_ref(initial, [g[0] for g in grads[2:]], lr=0.01)
    assert_allclose("adam_step_", params[0].data, expected["param"], dtype=np.float64, scale=scale["param"])


@pytest.mark.parametrize("make", [
    lambda ps, **kw: fastnn.optim.SGD(ps, lr=0.1, momentum=0.9, **kw),
    lambda ps, **kw: fastnn.optim.Adam(ps, **kw),
    lambda ps, **kw: fastnn.optim.AdamW(ps, **kw),
    lambda ps, **kw: fastnn.optim.RMSprop(ps, **kw),
    lambda ps, **kw: fastnn.optim.Adagrad(ps, **kw),
])
def test_pytorch_implementation_flags(make):
    """foreach/fused are accepted (ported code keeps running; updates are always fused) and
    change nothing; capturable/differentiable are refused."""
    results = []
    for kw in ({}, {"fused": True}, {"foreach": False}):
        p = fastnn.tensor(np.linspace(-1, 1, 7, dtype=np.float32), requires_grad=True)
        opt = make([p], **kw)
        for _ in range(3):
            p.grad = fastnn.tensor(np.cos(p.data))
            opt.step()
        results.append(p.data.copy())
    assert all(np.array_equal(results[0], r) for r in results[1:])
    p = fastnn.tensor(np.ones(3, np.float32), requires_grad=True)
    for flag in ("capturable", "differentiable"):
        with pytest.raises(ValueError, match=flag + r"=True is not supported"):
            make([p], **{flag: True})


def test_clip_grad_norm_is_also_under_nn_utils():
    import fastnn.nn.utils

    assert fastnn.nn.utils.clip_grad_norm_ is optim.clip_grad_norm_
