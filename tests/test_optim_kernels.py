"""Tests for the in-place optimizer updates fastnn.kernels.{sgd,adam,rmsprop,adagrad}_step_
(csrc/optim.cpp).

Every option combination runs 10 steps on a list of parameters of awkward shapes (0-d, one
element, empty, primes, one spanning several parallel chunks) in float32 and float64, and
every parameter and state array is compared with the float64 oracle in reference.py. Also:
identical bits at 1 and 2 threads, per-parameter step numbers and first steps, mixed
dtypes, strided and aliased gradients, and bad arguments, each leaving everything as it was.
"""

import itertools

import numpy as np
import pytest

from fastnn import kernels
from reference import adagrad_ref, adam_ref, assert_allclose, rmsprop_ref, sgd_ref

DTYPES = (np.float32, np.float64)
STEPS = 10
# 0-d, one element, empty, primes, and one crossing two boundaries of the 16384-element chunks.
SHAPES = [(), (1,), (7, 13), (0, 3), (5, 3, 2), (32771,)]

# State lists in each kernel's argument order, named as the oracles name one entry.
STATE_NAMES = {
    "sgd": ["momentum_buffer"],
    "adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "rmsprop": ["square_avg", "grad_avg", "momentum_buffer"],
    "adagrad": ["state_sum"],
}
OP = {"sgd": "sgd_step_", "adam": "adam_step_", "rmsprop": "rmsprop_step_", "adagrad": "adagrad_step_"}
REF = {"sgd": sgd_ref, "adam": adam_ref, "rmsprop": rmsprop_ref, "adagrad": adagrad_ref}


def _configs():
    out = []
    for mom, nest, damp, wd, mx in itertools.product((0.0, 0.9), (False, True), (0.0, 0.3), (0.0, 0.1),
                                                     (False, True)):
        if not nest or (mom > 0 and damp == 0):
            out.append(("sgd", dict(lr=0.1, momentum=mom, nesterov=nest, dampening=damp, weight_decay=wd,
                                    maximize=mx)))
    for ams, wd, mx, dec in itertools.product((False, True), (0.0, 0.1), (False, True), (False, True)):
        out.append(("adam", dict(lr=0.01, amsgrad=ams, weight_decay=wd, maximize=mx, decoupled_weight_decay=dec)))
    out.append(("adam", dict(lr=0.05, beta1=0.6, beta2=0.9, eps=0.1, weight_decay=0.1)))
    out.append(("adam", dict(lr=0.05, beta1=0.3, eps=0.1, amsgrad=True)))  # lerp's large-weight branch
    for c, mom, wd, mx in itertools.product((False, True), (0.0, 0.9), (0.0, 0.1), (False, True)):
        out.append(("rmsprop", dict(lr=0.01, centered=c, momentum=mom, weight_decay=wd, maximize=mx)))
    out.append(("rmsprop", dict(lr=0.02, alpha=0.4, eps=0.1, centered=True, momentum=0.5)))
    for lrd, wd, mx in itertools.product((0.0, 0.1), (0.0, 0.1), (False, True)):
        out.append(("adagrad", dict(lr=0.1, lr_decay=lrd, weight_decay=wd, maximize=mx)))
    out.append(("adagrad", dict(lr=0.1, eps=0.1, lr_decay=0.5)))
    return out


CONFIGS = _configs()


def config_id(case):
    opt, cfg = case
    return opt + "-" + "-".join(f"{k}={v}" for k, v in cfg.items())


def make_problem(rng, dtype, shapes=SHAPES, steps=STEPS):
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return params, grads


def fresh_state(opt, params, fill=0.0):
    """One zero-filled list per state of `opt`, each entry shaped like its parameter."""
    return {name: [np.full_like(p, fill) for p in params] for name in STATE_NAMES[opt]}


def step(opt, cfg, params, grads, state, t, **extra):
    """One update of every parameter; t counts from 1."""
    lists = [state[name] for name in STATE_NAMES[opt]]
    if opt == "sgd":
        kernels.sgd_step_(params, grads, *lists, first_step=extra.get("first_step", t == 1), **cfg)
    elif opt == "adam":
        kernels.adam_step_(params, grads, *lists, extra.get("steps", t), **cfg)
    elif opt == "rmsprop":
        kernels.rmsprop_step_(params, grads, *lists, **cfg)
    else:
        kernels.adagrad_step_(params, grads, *lists, extra.get("steps", t), **cfg)


def run(opt, cfg, params, grads_per_step):
    """STEPS updates from fresh state; returns the state lists (params are updated in place)."""
    state = fresh_state(opt, params)
    for t, grads in enumerate(grads_per_step, start=1):
        step(opt, cfg, params, grads, state, t)
    return state


# ---------------------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------------------

def test_oracles_first_step_closed_forms(rng):
    """From zero state the first step has closed forms: SGD (with momentum, the buffer is the
    gradient), Adam (m/sqrt(v) bias-corrected is sign(g)), Adagrad (g/|g|), RMSprop
    (g / (sqrt(1 - alpha) |g|))."""
    p, g = rng.standard_normal(50), rng.standard_normal(50)
    lr, eps = 0.1, 1e-3
    s, _ = sgd_ref(p, [g], lr=lr, momentum=0.9)
    np.testing.assert_allclose(s["param"], p - lr * g, rtol=1e-15)
    np.testing.assert_array_equal(s["momentum_buffer"], g)
    s, _ = adam_ref(p, [g], lr=lr, eps=eps)
    np.testing.assert_allclose(s["param"], p - lr * g / (np.abs(g) + eps), rtol=1e-12)
    s, _ = adagrad_ref(p, [g], lr=lr, eps=eps)
    np.testing.assert_allclose(s["param"], p - lr * g / (np.abs(g) + eps), rtol=1e-12)
    s, _ = rmsprop_ref(p, [g], lr=lr, alpha=0.75, eps=eps)
    np.testing.assert_allclose(s["param"], p - lr * g / (np.sqrt(0.25) * np.abs(g) + eps), rtol=1e-12)


def test_oracles_constant_gradient(rng):
    """A constant gradient makes every moment an exact geometric sum: Adam's bias-corrected
    m and v equal g and g^2, SGD's buffer is g * sum(momentum^k), Adagrad's sum is t g^2."""
    p, g = rng.standard_normal(20), rng.standard_normal(20)
    t, lr = 6, 0.01
    s, _ = adam_ref(p, [g] * t, lr=lr, eps=0.0)
    np.testing.assert_allclose(s["param"], p - t * lr * np.sign(g), rtol=1e-12)
    s, _ = sgd_ref(p, [g] * t, lr=lr, momentum=0.5)
    np.testing.assert_allclose(s["momentum_buffer"], g * sum(0.5 ** k for k in range(t)), rtol=1e-14)
    s, _ = adagrad_ref(p, [g] * t, lr=lr, eps=0.0)
    np.testing.assert_allclose(s["state_sum"], t * g * g, rtol=1e-14)
    np.testing.assert_allclose(s["param"], p - lr * np.sign(g) * sum(1 / np.sqrt(k) for k in range(1, t + 1)),
                               rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Against the oracle
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONFIGS, ids=config_id)
def test_matches_oracle(case, dtype, rng):
    opt, cfg = case
    params, grads = make_problem(rng, dtype)
    initial = [p.copy() for p in params]
    grads_before = [[g.copy() for g in gs] for gs in grads]
    state = run(opt, cfg, params, grads)
    for i, p0 in enumerate(initial):
        expected, scale = REF[opt](p0, [gs[i] for gs in grads], **cfg)
        assert_allclose(OP[opt], params[i], expected["param"], dtype=dtype, scale=scale["param"])
        for name in STATE_NAMES[opt]:
            if name in expected:
                assert_allclose(OP[opt], state[name][i], expected[name], dtype=dtype, scale=scale[name])
            else:  # a state this configuration does not use is never touched
                assert not state[name][i].any(), f"{name}[{i}] written although unused"
    for gs, gs0 in zip(grads, grads_before):
        for g, g0 in zip(gs, gs0):
            np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("opt", list(OP))
def test_identical_bits_at_1_and_2_threads(opt, rng, set_threads):
    cfg = [c for o, c in CONFIGS if o == opt][-1]  # the richest combination of each
    shapes = [(16383,), (5,), (), (16390,), (0,), (40001,)]
    params, grads = make_problem(rng, np.float32, shapes, steps=3)
    results = []
    for threads in (1, 2):
        set_threads(threads)
        ps = [p.copy() for p in params]
        state = run(opt, cfg, ps, grads)
        results.append(ps + [a for name in STATE_NAMES[opt] for a in state[name]])
    for a, b in zip(*results):
        assert np.array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(results[0], params))  # something happened


# ---------------------------------------------------------------------------------------
# Per-parameter steps, mixed dtypes, gradients as they come
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("opt", ["adam", "adagrad"])
def test_per_parameter_steps_equal_separate_calls(opt, rng):
    cfg = dict(lr=0.1, lr_decay=0.3) if opt == "adagrad" else dict(lr=0.1, amsgrad=True)
    params, grads = make_problem(rng, np.float32, [(3, 4), (17,), ()], steps=1)
    steps = [1, 5, 9]
    together = [p.copy() for p in params]
    state = fresh_state(opt, params, fill=0.5)
    step(opt, cfg, together, grads[0], state, None, steps=tuple(steps))
    for i, t in enumerate(steps):
        alone, st = [params[i].copy()], {k: [np.full_like(params[i], 0.5)] for k in STATE_NAMES[opt]}
        step(opt, cfg, alone, [grads[0][i]], st, None, steps=t)
        assert np.array_equal(alone[0], together[i])
        for name in STATE_NAMES[opt]:
            assert np.array_equal(st[name][0], state[name][i])


def test_sgd_per_parameter_first_step(rng):
    """first_step per parameter: a fresh buffer is set to the gradient and never read (NaN
    there does not leak); an old one is decayed."""
    cfg = dict(lr=0.1, momentum=0.9, dampening=0.2)
    params, grads = make_problem(rng, np.float64, [(4,), (4,)], steps=1)
    bufs = [np.full(4, np.nan), np.full(4, 0.5)]
    ps = [p.copy() for p in params]
    kernels.sgd_step_(ps, grads[0], bufs, first_step=[True, False], **cfg)
    g0, g1 = grads[0]
    np.testing.assert_array_equal(bufs[0], g0)
    np.testing.assert_allclose(bufs[1], 0.9 * 0.5 + 0.8 * g1, rtol=1e-15)
    np.testing.assert_allclose(ps[0], params[0] - 0.1 * g0, rtol=1e-15)
    np.testing.assert_allclose(ps[1], params[1] - 0.1 * bufs[1], rtol=1e-15)


@pytest.mark.parametrize("opt", list(OP))
def test_mixed_dtypes_in_one_list(opt, rng):
    """Each parameter keeps its own dtype: a mixed list equals one call per dtype."""
    cfg = [c for o, c in CONFIGS if o == opt][-1]
    p32, g32 = make_problem(rng, np.float32, [(30,), (20001,)], steps=2)
    p64, g64 = make_problem(rng, np.float64, [(7,), (3, 3)], steps=2)
    mixed = [p32[0].copy(), p64[0].copy(), p32[1].copy(), p64[1].copy()]
    st = run(opt, cfg, mixed, [[a[0], b[0], a[1], b[1]] for a, b in zip(g32, g64)])
    s32, s64 = run(opt, cfg, p32, g32), run(opt, cfg, p64, g64)
    for got, want in zip(mixed, [p32[0], p64[0], p32[1], p64[1]]):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    for name in STATE_NAMES[opt]:
        want = [s32[name][0], s64[name][0], s32[name][1], s64[name][1]]
        assert all(np.array_equal(a, b) for a, b in zip(st[name], want))


@pytest.mark.parametrize("opt", list(OP))
def test_strided_and_aliased_gradients(opt, rng):
    """A transposed or strided grad, and a grad that IS its parameter, read as their values
    at the call (the parameter is updated in place all the same)."""
    cfg = [c for o, c in CONFIGS if o == opt][-1]
    base = rng.standard_normal((6, 10))
    p_a, p_b = rng.standard_normal((5, 6)), rng.standard_normal(5)
    grads = [base.T[::2], p_b]  # strided view; the parameter itself
    ps = [p_a.copy(), p_b.copy()]
    st = fresh_state(opt, ps, fill=0.25)
    step(opt, cfg, ps, [grads[0], ps[1]], st, 2)
    ref_ps = [p_a.copy(), p_b.copy()]
    ref_st = fresh_state(opt, ref_ps, fill=0.25)
    step(opt, cfg, ref_ps, [np.ascontiguousarray(grads[0]), p_b.copy()], ref_st, 2)
    for got, want in zip(ps, ref_ps):
        assert np.array_equal(got, want)
    assert not np.array_equal(ps[1], p_b)


def test_unused_state_lists_may_be_none(rng):
    params, grads = make_problem(rng, np.float32, [(3,)], steps=1)
    z = [np.zeros(3, np.float32)]
    kernels.sgd_step_(params, grads[0], None, lr=0.1)
    kernels.adam_step_(params, grads[0], [a.copy() for a in z], [a.copy() for a in z], None, 1)
    kernels.rmsprop_step_(params, grads[0], [a.copy() for a in z], None, None)
    kernels.adagrad_step_(params, grads[0], [a.copy() for a in z], 1)
    assert np.isfinite(params[0]).all()


def test_empty_lists_are_a_no_op():
    kernels.adam_step_([], [], [], [], None, 1)
    kernels.sgd_step_((), (), (), lr=0.1, momentum=0.9)
    kernels.adagrad_step_([], [], [], [])


# ---------------------------------------------------------------------------------------
# Bad arguments: the right exception, and nothing written
# ---------------------------------------------------------------------------------------

def adam_args(rng, n=3, dtype=np.float32):
    """Fresh, valid adam_step_ arguments for parameters of shapes (4,), (2, 3), (5,)..."""
    shapes = [(4,), (2, 3), (5,), (1,)][:n]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
    m = [np.full(s, 0.5, dtype) for s in shapes]
    v = [np.full(s, 0.25, dtype) for s in shapes]
    vmax = [np.full(s, 0.25, dtype) for s in shapes]
    return [params, grads, m, v, vmax]


def assert_fails_untouched(exc, match, fn, lists):
    """fn() raises exc matching `match`, and every array in `lists` keeps its bits."""
    arrays = [a for lst in lists for a in lst if isinstance(a, np.ndarray)]
    before = [a.copy() for a in arrays]
    with pytest.raises(exc, match=match):
        fn()
    for a, b in zip(arrays, before):
        assert np.array_equal(a, b, equal_nan=True), "modified by a failed call"


def adam_call(args, steps=1, **cfg):
    return lambda: kernels.adam_step_(*args, steps, amsgrad=True, **cfg)


@pytest.mark.parametrize("which, bad, exc, match", [
    (2, lambda a: a.astype(np.float64), TypeError, r"\[adam_step_\] exp_avgs\[2\] .*dtype float64"),
    (2, lambda a: np.repeat(a, 2)[::2], TypeError, r"exp_avgs\[2\] .*C-contiguous"),
    (3, lambda a: a[:-1], ValueError, r"exp_avg_sqs\[2\] has shape \(4,\) but params\[2\] has shape \(5,\)"),
    (4, lambda a: a.astype(np.float16), TypeError, r"max_exp_avg_sqs\[2\] .*dtype float16"),
    (1, lambda a: a.astype(np.float64), TypeError, r"params\[2\] has dtype float32 but grads\[2\] has dtype float64"),
    (1, lambda a: a[:2], ValueError, r"grads\[2\] has shape \(2,\) but params\[2\] has shape \(5,\)"),
    (1, lambda a: a.astype(np.int32), TypeError, r"grads\[2\] has unsupported dtype int32"),
    (1, lambda a: list(a), TypeError, r"grads\[2\] must be a numpy.ndarray"),
    (0, lambda a: a.astype(np.int64), TypeError, r"params\[2\] has unsupported dtype int64"),
    (0, lambda a: a[::-1], TypeError, r"params\[2\] .*C-contiguous"),
    (2, lambda a: None, TypeError, r"exp_avgs\[2\] must be a numpy.ndarray updated in place, got NoneType"),
])
def test_bad_third_array_leaves_all_untouched(which, bad, exc, match, rng):
    """The first two parameters are valid, the third is not: nothing at all is written."""
    args = adam_args(rng)
    args[which][2] = bad(args[which][2])
    assert_fails_untouched(exc, match, adam_call(args), args)


def test_read_only_param(rng):
    args = adam_args(rng)
    args[0][2].flags.writeable = False
    assert_fails_untouched(TypeError, r"params\[2\] .*read-only", adam_call(args), args)
    args[0][2].flags.writeable = True
    args[2][1].flags.writeable = False
    assert_fails_untouched(TypeError, r"exp_avgs\[1\] .*read-only", adam_call(args), args)


def test_read_only_grad_is_fine(rng):
    args = adam_args(rng, n=1)
    args[1][0].flags.writeable = False
    p0 = args[0][0].copy()
    adam_call(args)()
    assert not np.array_equal(args[0][0], p0)


@pytest.mark.parametrize("which, name", [(1, "grads"), (2, "exp_avgs"), (3, "exp_avg_sqs"),
                                         (4, "max_exp_avg_sqs")])
def test_mismatched_list_lengths(which, name, rng):
    args = adam_args(rng)
    args[which] = args[which][:2]
    assert_fails_untouched(ValueError, rf"\[adam_step_\] {name} has 2 entries but params has 3",
                           adam_call(args), args)


def test_lists_must_be_lists_or_tuples(rng):
    args = adam_args(rng, n=1)
    args[0] = args[0][0]  # a bare array is not a list of parameters
    assert_fails_untouched(TypeError, r"params must be a list or tuple", adam_call(args), args[1:])
    args = adam_args(rng)
    args[4] = None
    assert_fails_untouched(TypeError, r"max_exp_avg_sqs is None", adam_call(args), args[:4])


def test_shared_memory_between_updated_arrays(rng):
    args = adam_args(rng)
    args[2][1] = args[3][1]  # one array as both moments
    assert_fails_untouched(ValueError, r"exp_avg_sqs\[1\] .*share memory|exp_avgs\[1\] .*share memory",
                           adam_call(args), args)
    args = adam_args(rng)
    args[0][0] = args[0][2][:4]  # two parameters overlapping
    assert_fails_untouched(ValueError, r"params\[\d\] and params\[\d\] share memory", adam_call(args), args)


@pytest.mark.parametrize("steps, exc, match", [
    (0, ValueError, r"steps is 0; steps count from 1"),
    ([1, 2, 0], ValueError, r"steps\[2\] is 0"),
    ([1, 2], ValueError, r"steps has 2 entries but params has 3"),
    (1.0, TypeError, r"steps must be an int"),
    ([1, 2, 3.0], TypeError, r"steps\[2\] must be an int, got float"),
    (True, TypeError, r"steps must be an int"),
])
def test_bad_steps(steps, exc, match, rng):
    args = adam_args(rng)
    assert_fails_untouched(exc, match, adam_call(args, steps), args)
    adagrad = [args[0], args[1], args[3]]
    assert_fails_untouched(exc, match.replace("adam", "adagrad"),
                           lambda: kernels.adagrad_step_(*adagrad, steps), adagrad)


def test_bad_first_step(rng):
    args = adam_args(rng)
    call = lambda fs: lambda: kernels.sgd_step_(args[0], args[1], args[2], lr=0.1, momentum=0.9, first_step=fs)
    assert_fails_untouched(ValueError, r"first_step has 2 entries but params has 3", call([True, False]), args)
    assert_fails_untouched(TypeError, r"first_step\[1\] must be a bool", call([True, 1, False]), args)
    assert_fails_untouched(TypeError, r"\[sgd_step_\] momentum_buffers is None",
                           lambda: kernels.sgd_step_(args[0], args[1], None, lr=0.1, momentum=0.9), args)


@pytest.mark.parametrize("opt, cfg, match", [
    ("sgd", dict(lr=-1.0), r"\[sgd_step_\] Invalid learning rate: -1.0"),
    ("sgd", dict(lr=0.1, momentum=-0.5), r"Invalid momentum value: -0.5"),
    ("sgd", dict(lr=0.1, weight_decay=-1e-4), r"Invalid weight_decay value: -0.0001"),
    ("sgd", dict(lr=0.1, nesterov=True), r"Nesterov momentum requires a momentum and zero dampening"),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), r"Nesterov momentum requires"),
    ("adam", dict(lr=-0.001), r"\[adam_step_\] Invalid learning rate: -0.001"),
    ("adam", dict(eps=-1e-8), r"Invalid epsilon value: -1e-08"),
    ("adam", dict(beta1=1.0), r"Invalid beta parameter at index 0: 1.0"),
    ("adam", dict(beta1=-0.1), r"Invalid beta parameter at index 0: -0.1"),
    ("adam", dict(beta2=1.5), r"Invalid beta parameter at index 1: 1.5"),
    ("adam", dict(weight_decay=-0.1), r"Invalid weight_decay value: -0.1"),
    ("adam", dict(lr=float("nan")), r"Invalid learning rate: nan"),
    ("rmsprop", dict(lr=-0.01), r"\[rmsprop_step_\] Invalid learning rate: -0.01"),
    ("rmsprop", dict(eps=-1.0), r"Invalid epsilon value: -1.0"),
    ("rmsprop", dict(momentum=-1.0), r"Invalid momentum value: -1.0"),
    ("rmsprop", dict(weight_decay=-1.0), r"Invalid weight_decay value: -1.0"),
    ("rmsprop", dict(alpha=-0.5), r"Invalid alpha value: -0.5"),
    ("adagrad", dict(lr=-0.01), r"\[adagrad_step_\] Invalid learning rate: -0.01"),
    ("adagrad", dict(lr_decay=-1.0), r"Invalid lr_decay value: -1.0"),
    ("adagrad", dict(weight_decay=-1.0), r"Invalid weight_decay value: -1.0"),
    ("adagrad", dict(eps=-1.0), r"Invalid epsilon value: -1.0"),
])
def test_bad_hyper_parameters(opt, cfg, match, rng):
    params, grads = make_problem(rng, np.float32, [(3,), (2,)], steps=1)
    state = fresh_state(opt, params, fill=0.5)
    lists = [params, grads[0]] + [state[n] for n in STATE_NAMES[opt]]
    assert_fails_untouched(ValueError, match, lambda: step(opt, cfg, params, grads[0], state, 2), lists)


def test_defaults_are_torchs():
    """Keyword defaults as torch.optim's constructors (SGD's lr included: 1e-3 since torch 2.2)."""
    import inspect
    expect = {
        "sgd_step_": dict(lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False),
        "adam_step_": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
                           maximize=False, decoupled_weight_decay=False),
        "rmsprop_step_": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                              maximize=False),
        "adagrad_step_": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False),
    }
    for name, defaults in expect.items():
        sig = inspect.signature(getattr(kernels, name))
        for arg, value in defaults.items():
            assert sig.parameters[arg].default == value, (name, arg)
            assert sig.parameters[arg].kind is inspect.Parameter.KEYWORD_ONLY
    assert set(expect) <= set(kernels.__all__)
