"""Activations and softmax/log_softmax against the float64 oracle in reference.py: forward
and backward (random upstream gradient), float32 and float64, edge shapes and values,
in-place variants, bad input, and identical bits at 1 and 2 threads."""

import numpy as np
import pytest

from fastnn import kernels as K
import reference as R

DTYPES = (np.float32, np.float64)

# name -> (forward kwargs, what the backward saves)
ELEMENTWISE = {
    "relu": ({}, "input"),
    "leaky_relu": ({"negative_slope": 0.2}, "input"),
    "elu": ({"alpha": 1.5}, "input"),
    "gelu": ({}, "input"),
    "gelu_tanh": ({"approximate": "tanh"}, "input"),
    "sigmoid": ({}, "output"),
    "tanh": ({}, "output"),
    "softplus": ({"beta": 2.0, "threshold": 15.0}, "input"),
}
# The oracle's parameter names where they differ from torch's.
REF_KW = {"leaky_relu": {"slope": 0.2}}


def _fns(name):
    base = "gelu" if name == "gelu_tanh" else name
    kw, saved = ELEMENTWISE[name]
    ref_kw = REF_KW.get(name, kw)
    return (getattr(K, base), getattr(K, base + "_backward"), getattr(R, base + "_ref"),
            getattr(R, base + "_backward_ref"), base, kw, ref_kw, saved)


def _scales(name, x, g):
    """Absolute-error scales (forward, backward). gelu's tanh form cancels in 1 + tanh(u)
    and 1 - tanh(u)^2 for |x| >> 1 (PyTorch's formula; the oracle has it too): tanh's few-u
    absolute error is multiplied by |x|/2 forward and by about |x| (1 + 0.13 x^2) backward."""
    ax = np.abs(x.astype(np.float64))
    with np.errstate(over="ignore"):
        if name == "gelu_tanh":
            return 1 + ax, np.abs(g) * (1 + ax + 0.2 * ax**3)
    return 1.0, np.abs(g)


def _check(name, x, g):
    fwd, bwd, ref, ref_bwd, base, kw, ref_kw, saved = _fns(name)
    dt = x.dtype
    before = x.copy()
    y = fwd(x, **kw)
    np.testing.assert_array_equal(x, before)  # the input is never modified
    fs, bs = _scales(name, x, g)
    R.assert_allclose(base, y, ref(x, **ref_kw), dtype=dt, scale=fs)
    s = x if saved == "input" else y
    dx = bwd(g, s, **kw)
    R.assert_allclose(base + "_backward", dx, ref_bwd(g, s, **ref_kw), dtype=dt, scale=bs)


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 17), (2, 3, 5, 7), (40009,)])
def test_elementwise(name, dtype, shape, rng):
    x = rng.uniform(-8, 8, size=shape).astype(dtype)
    if x.size > 2:
        x.reshape(-1)[:2] = (-100, 100)  # logits at +-100
    g = rng.standard_normal(shape).astype(dtype)
    _check(name, x, g)


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_wide_range(name, dtype, rng):
    """vmath's exp/expm1/log1p/tanh/sigmoid through the kernels, over the whole range where
    they overflow, underflow and go subnormal, plus infinities, NaN and signed zeros."""
    lim = 120.0 if dtype == np.float32 else 800.0
    x = np.concatenate([np.linspace(-lim, lim, 20001), rng.uniform(-1e-3, 1e-3, 2000),
                        [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30, -1e-30]]).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    fwd, bwd, ref, ref_bwd, base, kw, ref_kw, saved = _fns(name)
    with np.errstate(all="ignore"):
        y = fwd(x, **kw)
        fs, bs = _scales(name, x, g)
        R.assert_allclose(base, y, ref(x, **ref_kw), dtype=dtype, scale=fs)
        finite = np.isfinite(x)  # oracle backwards on inf give inf * 0 forms
        s = (x if saved == "input" else y)[finite]
        bs = np.broadcast_to(bs, x.shape)[finite]
        R.assert_allclose(base + "_backward", bwd(g[finite], s, **kw),
                          ref_bwd(g[finite], s, **ref_kw), dtype=dtype, scale=bs)


def test_special_values():
    nan, inf = np.nan, np.inf
    x = np.array([nan, -inf, inf, 0.0], np.float32)
    assert np.isnan(K.relu(x)[0]) and K.relu(x)[1] == 0 and K.relu(x)[2] == inf
    np.testing.assert_array_equal(K.sigmoid(x)[1:], [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(K.tanh(x)[1:], [-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(K.elu(x)[1:], [-1.0, inf, 0.0])
    assert np.isnan(K.sigmoid(x)[0]) and np.isnan(K.tanh(x)[0]) and np.isnan(K.softplus(x)[0])
    # torch: relu's backward passes the gradient at NaN; leaky_relu/elu use the slope at 0
    g = np.full(4, 3.0, np.float32)
    np.testing.assert_array_equal(K.relu_backward(g, x), [3.0, 0.0, 3.0, 0.0])
    assert K.elu_backward(g, x)[0] == 3.0  # torch tests x <= 0, so NaN takes the x > 0 branch
    assert K.leaky_relu_backward(g, x, negative_slope=0.5)[0] == 1.5  # and tests x > 0 here
    z = np.zeros(1, np.float32)
    assert K.leaky_relu_backward(g[:1], z, negative_slope=0.5)[0] == np.float32(1.5)
    assert K.elu_backward(g[:1], z, alpha=2.0)[0] == np.float32(6.0)
    # softplus returns x itself above the threshold (beta x > threshold)
    big = np.array([10.5, 10.0], np.float64)
    out = K.softplus(big, beta=2.0, threshold=20.0)
    assert out[0] == 10.5 and out[1] != 10.0


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_oracle_backward_matches_finite_differences(name, rng):
    fwd, bwd, ref, ref_bwd, base, kw, ref_kw, saved = _fns(name)
    x = rng.uniform(-3, 3, size=11)
    x = x[np.abs(x) > 1e-3]  # away from relu's kink
    g = rng.standard_normal(x.shape)
    if saved == "input":
        analytic = ref_bwd(g, x, **ref_kw)
    else:
        analytic = ref_bwd(g, ref(x, **ref_kw), **ref_kw)
    R.assert_grad_matches(analytic, lambda t: ref(t, **ref_kw), x, g)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace(name, dtype, rng):
    fwd = getattr(K, name)
    x = rng.uniform(-3, 3, size=(5, 9)).astype(dtype)
    expected = fwd(x)
    out = fwd(x, inplace=True)
    assert out is x
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu"])
def test_inplace_rejects_what_it_cannot_write(name, rng):
    fwd = getattr(K, name)
    x = rng.uniform(-3, 3, size=(6, 8)).astype(np.float32)
    before = x.copy()
    with pytest.raises(TypeError, match=rf"\[{name}\] input .*C-contiguous"):
        fwd(x[:, ::2], inplace=True)
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(TypeError, match=rf"\[{name}\] input .*read-only"):
        fwd(ro, inplace=True)
    with pytest.raises(TypeError, match=rf"\[{name}\]"):
        fwd(x.astype(np.float16), inplace=True)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_non_contiguous(name, rng):
    x = rng.uniform(-5, 5, size=(9, 14)).astype(np.float32)
    g = rng.standard_normal((14, 9)).astype(np.float32)
    _check(name, x.T, g[:, :])
    _check(name, x[::2, 1::3], g[::2][:5, ::2])


def test_bad_inputs():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"\[relu\] input"):
        K.relu([1.0, 2.0])
    with pytest.raises(TypeError, match=r"\[sigmoid\] input"):
        K.sigmoid(np.ones(3, np.int64))
    with pytest.raises(ValueError, match=r"\[tanh_backward\] grad_output has shape \(2, 3\) but output has shape \(3, 2\)"):
        K.tanh_backward(x, x.T.copy())
    with pytest.raises(TypeError, match=r"\[relu_backward\] grad_output has dtype float32 but input has dtype float64"):
        K.relu_backward(x, x.astype(np.float64))
    with pytest.raises(ValueError, match=r"\[gelu\] approximate"):
        K.gelu(x, approximate="erf")


# ---- softmax / log_softmax ----

SOFTMAX = ("softmax", "log_softmax")


def _check_softmax(name, x, dim, g):
    fwd, bwd = getattr(K, name), getattr(K, name + "_backward")
    ref, ref_bwd = getattr(R, name + "_ref"), getattr(R, name + "_backward_ref")
    dt = x.dtype
    y = fwd(x, dim)
    # log_softmax's (x - max) - log(sum) may cancel: its absolute error is u |x - max| plus
    # log's argument's relative error (a few u per exp, ~sqrt(D) u for a float64 sum of D
    # terms, as a random walk: Higham & Mary 2019, cited at the top of reference.py).
    x64 = x.astype(np.float64)
    d = x.shape[dim] if x.ndim else 1
    with np.errstate(invalid="ignore"):
        fs = 1 + np.sqrt(d) + (np.abs(x64 - np.max(x64, axis=dim, keepdims=True, initial=-np.inf)) if x.ndim else 0)
    R.assert_allclose(name, y, ref(x, dim), dtype=dt, scale=fs)
    dx = bwd(g, y, dim)
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    # the row sum errs by ~D u sum|g y| (softmax) or D u sum|g| (log_softmax)
    w = np.abs(g64 * y64) if name == "softmax" else np.abs(g64)
    d = x.shape[dim] if x.ndim else 1
    scale = np.abs(g64) + d * np.sum(w, axis=dim, keepdims=True) * (np.exp(y64) if name == "log_softmax" else np.abs(y64))
    R.assert_allclose(name + "_backward", dx, ref_bwd(g, y, dim), dtype=dt, scale=scale)


@pytest.mark.parametrize("name", SOFTMAX)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 1, 7), (1, 1), (5, 1), (0, 3), (4, 0), (13,), (3, 2, 4099)])
def test_softmax_every_dim(name, dtype, shape, rng):
    x = (rng.standard_normal(shape) * 30).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    for dim in range(-len(shape), len(shape)):
        _check_softmax(name, x, dim, g)


@pytest.mark.parametrize("name", SOFTMAX)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_extreme_logits(name, dtype, rng):
    x = rng.choice([-100.0, 100.0, 0.0], size=(6, 11)).astype(dtype)
    x[2] = 1e8  # all-equal huge row: uniform, never NaN
    g = rng.standard_normal(x.shape).astype(dtype)
    _check_softmax(name, x, 1, g)
    _check_softmax(name, x, 0, g)
    y = getattr(K, name)(x, 1)
    assert np.all(np.isfinite(y))
    one = getattr(K, name)(np.full((4, 1), 7.0, dtype), -1)  # rows of length 1
    np.testing.assert_array_equal(one, np.full((4, 1), 1.0 if name == "softmax" else 0.0, dtype))
    zero_d = getattr(K, name)(np.array(3.0, dtype), 0)
    assert zero_d.shape == () and zero_d == (1.0 if name == "softmax" else 0.0)


@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_non_contiguous(name, rng):
    x = rng.standard_normal((7, 10, 6)).astype(np.float32)
    g = rng.standard_normal((6, 10, 7)).astype(np.float32)
    for dim in (0, 1, 2):
        _check_softmax(name, x.transpose(2, 1, 0), dim, g)
        g2 = np.asfortranarray(rng.standard_normal((7, 4, 3)).astype(np.float32))
        _check_softmax(name, x[:, ::3, 1::2], dim, g2)


@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_oracle_backward(name, rng):
    x = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    ref, ref_bwd = getattr(R, name + "_ref"), getattr(R, name + "_backward_ref")
    for dim in (0, 1):
        R.assert_grad_matches(ref_bwd(g, ref(x, dim), dim), lambda t: ref(t, dim), x, g)


def test_softmax_bad_inputs():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(IndexError, match=r"\[softmax\] Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        K.softmax(x, 2)
    with pytest.raises(IndexError, match=r"\[log_softmax_backward\] Dimension out of range"):
        K.log_softmax_backward(x, x, -3)
    with pytest.raises(TypeError, match=r"\[softmax\] dim must be an int"):
        K.softmax(x, None)
    with pytest.raises(TypeError, match=r"\[log_softmax\] input"):
        K.log_softmax(np.ones((2, 3), np.int32), 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_bits_across_threads(dtype, rng, same_bits_on_1_and_2_threads):
    x = rng.uniform(-20, 20, size=(37, 61, 29)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)

    def run():
        out = []
        for name in ELEMENTWISE:
            fwd, bwd, _, _, _, kw, _, saved = _fns(name)
            y = fwd(x, **kw)
            out += [y, bwd(g, x if saved == "input" else y, **kw)]
        for name in SOFTMAX:
            for dim in (0, 1, 2):
                y = getattr(K, name)(x, dim)
                out += [y, getattr(K, name + "_backward")(g, y, dim)]
        return out

    same_bits_on_1_and_2_threads(run)


# ---- vmath.h, directly ----

def _ulp_error(got, expected, dtype):
    """|got - expected| in units of the dtype's spacing at expected (float64 arrays); 0
    where got equals expected rounded to dtype (so an overflow must give inf) or both are
    NaN, inf where a non-finite rounded value is missed."""
    finfo = np.finfo(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = expected.astype(dtype).astype(np.float64)
        spacing = np.maximum(np.abs(np.spacing(expected.astype(dtype)).astype(np.float64)),
                             float(finfo.smallest_subnormal))
        err = np.abs(got - expected) / spacing
    same = (got == rounded) | (np.isnan(got) & np.isnan(expected))
    return np.where(same, 0.0, np.where(np.isfinite(rounded) & np.isfinite(err), err, np.inf))


VMATH = {
    "exp": (np.exp, {np.float32: (-110, 92), np.float64: (-760, 712)}),
    "expm1": (np.expm1, {np.float32: (-20, 90), np.float64: (-40, 710)}),
    "log": (np.log, None),
    "log1p": (np.log1p, None),
    "tanh": (np.tanh, {np.float32: (-12, 12), np.float64: (-25, 25)}),
    "sigmoid": (lambda v: R._sigmoid64(v), {np.float32: (-110, 30), np.float64: (-760, 40)}),
}


@pytest.mark.parametrize("fn", list(VMATH))
@pytest.mark.parametrize("dtype", DTYPES)
def test_vmath_accuracy(fn, dtype, rng):
    """Every vmath function against NumPy's float64 (rounded to dtype by the comparison)
    over its whole range: within 4 ulp (measured worst: 3.3 float, 3.8 double for expm1),
    and exactly right at the special values."""
    from fastnn import _C
    ref, span = VMATH[fn]
    finfo = np.finfo(dtype)
    if span is None:  # log, log1p: every binade from the least subnormal to the largest float
        x = np.concatenate([np.exp2(rng.uniform(np.log2(float(finfo.smallest_subnormal)),
                                                np.log2(float(finfo.max)), 20000)),
                            rng.uniform(0, 2, 20000), rng.uniform(-1, 1, 5000) * 1e-5])
        if fn == "log1p":
            x = np.concatenate([x, rng.uniform(-1, 0, 5000)])
    else:
        x = np.concatenate([rng.uniform(*span[dtype], 40000), rng.uniform(-1, 1, 5000),
                            rng.uniform(-1, 1, 5000) * 1e-6])
    x = np.concatenate([x, [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 1.0]]).astype(dtype)
    with np.errstate(all="ignore"):
        expected = ref(x.astype(np.float64))
        got = _C._vmath(fn, x).astype(np.float64)
    err = _ulp_error(got, expected, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= 4.0, f"{fn} ({np.dtype(dtype)}): {err[worst]:.2f} ulp at x={x[worst]!r}"
