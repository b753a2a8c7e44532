"""The NumPy float64 oracle for fastnn's kernels, and the per-op tolerance table.

Every function here computes in float64 whatever the dtype of its inputs, and never reads
what the contract says is not read (``c`` when ``beta == 0``; ``a`` and ``b`` when
``alpha == 0``), so NaN or Inf there do not reach the expected values either.
``assert_close`` is the one comparison the tests use; the oracle itself is checked against
explicit Python loops in ``test_gemm.py``.
"""

import math
from collections import namedtuple

import numpy as np


def _op(x, trans):
    """op(x): x, or x with its last two axes swapped."""
    return np.swapaxes(x, -1, -2) if trans else x


def _as64(x):
    return np.asarray(x, dtype=np.float64)


def _result_shape(a, b, trans_a, trans_b):
    """Shape of op(a) @ op(b) for 2-D/3-D a and b, batch dims broadcasting as in np.matmul."""
    opa, opb = _op(a, trans_a), _op(b, trans_b)
    if opa.shape[-1] != opb.shape[-2]:
        raise ValueError(f"oracle: inner dimensions differ: {opa.shape} @ {opb.shape}")
    batch = np.broadcast_shapes(opa.shape[:-2], opb.shape[:-2])
    return batch + (opa.shape[-2], opb.shape[-1])


def gemm_ref(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """alpha * op(a) @ op(b) + beta * c in float64 (c only read when beta != 0).

    Shape: a (M, K) / (batch, M, K), b (K, N) / (batch, K, N) after the optional
    transposes; batch dims broadcast; returns (M, N) or (batch, M, N).
    """
    shape = _result_shape(a, b, trans_a, trans_b)
    out = np.zeros(shape)
    if alpha != 0:
        out += alpha * np.matmul(_op(_as64(a), trans_a), _op(_as64(b), trans_b))
    if beta != 0:
        out += beta * _as64(c)
    return out


def gemm_scale(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """|alpha| |op(a)| @ |op(b)| + |beta| |c| in float64: the magnitude that rounding errors
    in each element of gemm scale with (see TOLERANCES). Reads what gemm_ref reads."""
    shape = _result_shape(a, b, trans_a, trans_b)
    out = np.zeros(shape)
    if alpha != 0:
        out += abs(alpha) * np.matmul(np.abs(_op(_as64(a), trans_a)), np.abs(_op(_as64(b), trans_b)))
    if beta != 0:
        out += abs(beta) * np.abs(_as64(c))
    return out


# Tolerances, derived rather than guessed.
#
# Each element of C = alpha * op(A) @ op(B) + beta * C is a dot product of length K followed
# by a few scalar operations. The classical bound (Higham, "Accuracy and Stability of
# Numerical Algorithms", 2nd ed., section 3.1) is
#     |C_hat - C| <= (gamma_K + n_extra * u) * (|alpha| |A| |B| + |beta| |C|)   elementwise,
# with u the unit roundoff (2**-24 for float32, 2**-53 for float64) and
# gamma_K = K u / (1 - K u). Treating the rounding errors as independent zero-mean random
# variables replaces gamma_K by lam * sqrt(K) * u, which holds with a probability that grows
# quickly with lam (Higham & Mary, "A new approach to probabilistic rounding error analysis",
# SIAM J. Sci. Comput. 41(5), 2019, Theorem 2.4). So the tolerance used is
#     tol = u * (lam * sqrt(K) + n_extra) * (|alpha| |A| |B| + |beta| |C|)
# where the last factor is gemm_scale(...). n_extra counts the roundings outside the dot
# product: the alpha product, the beta product, the final addition and the store (4 for
# gemm, 1 for matmul, which has alpha = 1 and beta = 0); rounding alpha and beta themselves to
# float32 costs one more u each, included in the 4.
# lam = 4 was checked against measured errors: the worst case seen, all-positive data summed
# by the plain triple loop (no cancellation, one K-long chain), reached 0.3 of tol; blocked
# summation and zero-mean data stay far lower. For
# float64 the oracle itself rounds at the same level as the kernel, so lam and n_extra are
# doubled. A kernel that drops or repeats one product in a sum of K errs by about
# scale / K, which exceeds tol by orders of magnitude for every K tested; a global 1e-2
# would miss it.
Tol = namedtuple("Tol", ["lam", "n_extra"])

TOLERANCES = {
    ("matmul", np.dtype(np.float32)): Tol(lam=4.0, n_extra=1),
    ("matmul", np.dtype(np.float64)): Tol(lam=8.0, n_extra=2),
    ("gemm", np.dtype(np.float32)): Tol(lam=4.0, n_extra=4),
    ("gemm", np.dtype(np.float64)): Tol(lam=8.0, n_extra=8),
    # The reference kernel (plain triple loop, one K-long chain per element): same model.
    ("gemm_ref", np.dtype(np.float32)): Tol(lam=4.0, n_extra=4),
    ("gemm_ref", np.dtype(np.float64)): Tol(lam=8.0, n_extra=8),
}


def unit_roundoff(dtype):
    """u = eps / 2: the largest relative error of one correctly rounded operation."""
    return float(np.finfo(dtype).eps) / 2


def tolerance(op, dtype, k, scale):
    """Elementwise absolute tolerance for `op` in `dtype` with inner dimension k (see above)."""
    t = TOLERANCES[(op, np.dtype(dtype))]
    return unit_roundoff(dtype) * (t.lam * math.sqrt(k) + t.n_extra) * np.asarray(scale, dtype=np.float64)


def assert_close(op, actual, expected, k, *, scale, dtype):
    """Checks a kernel result completely: ndarray type, shape, dtype, and every element
    within tolerance(op, dtype, k, scale) of the float64 oracle `expected` (equal infinities
    count as equal; NaN never passes unless both sides are NaN).

    scale: |alpha| |op(a)| @ |op(b)| + |beta| |c| (gemm_scale), elementwise or broadcastable.
    """
    dtype = np.dtype(dtype)
    assert isinstance(actual, np.ndarray), f"[{op}] result is {type(actual).__name__}, not ndarray"
    assert actual.shape == expected.shape, f"[{op}] shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == dtype, f"[{op}] dtype {actual.dtype}, expected {dtype}"
    got = actual.astype(np.float64)
    tol = np.broadcast_to(tolerance(op, dtype, k, scale), expected.shape)
    with np.errstate(invalid="ignore"):
        ok = (got == expected) | (np.abs(got - expected) <= tol) | (np.isnan(got) & np.isnan(expected))
    if not ok.all():
        bad = np.argwhere(~ok)
        idx = tuple(bad[0])
        err = abs(got[idx] - expected[idx])
        raise AssertionError(
            f"[{op}] {len(bad)} of {ok.size} elements ({dtype}, K={k}) out of tolerance; first at "
            f"{idx}: got {got[idx]!r}, expected {expected[idx]!r}, |diff| {err:.3e} > tol {tol[idx]:.3e}")


# Kernels other than the GEMM (elementwise maps, reductions, losses, optimizer updates) are
# compared with a relative-plus-absolute model, in units of the unit roundoff u:
#     tol = u * (rtol * |expected| + atol * scale)
# where `scale` is what absolute errors in that op grow with (1 for values of order one;
# the magnitude of the summed terms for a reduction). Entries join TOLERANCES under the
# op's public name, with a comment saying where the numbers come from.
Rel = namedtuple("Rel", ["rtol", "atol"])


def assert_allclose(op, actual, expected, *, dtype, scale=1.0):
    """Checks an op's result completely against the float64 oracle `expected`: ndarray
    type, shape, dtype, and every element within the op's Rel tolerance (equal values,
    including infinities, pass; NaN passes only against NaN)."""
    dtype = np.dtype(dtype)
    t = TOLERANCES[(op, dtype)]
    assert isinstance(actual, np.ndarray), f"[{op}] result is {type(actual).__name__}, not ndarray"
    assert actual.shape == expected.shape, f"[{op}] shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == dtype, f"[{op}] dtype {actual.dtype}, expected {dtype}"
    got = actual.astype(np.float64)
    u = unit_roundoff(dtype)
    tol = np.broadcast_to(u * (t.rtol * np.abs(expected) + t.atol * np.asarray(scale, np.float64)),
                          expected.shape)
    with np.errstate(invalid="ignore"):
        ok = (got == expected) | (np.abs(got - expected) <= tol) | (np.isnan(got) & np.isnan(expected))
    if not ok.all():
        bad = np.argwhere(~ok)
        idx = tuple(bad[0])
        err = abs(got[idx] - expected[idx])
        raise AssertionError(
            f"[{op}] {len(bad)} of {ok.size} elements ({dtype}) out of tolerance; first at {idx}: "
            f"got {got[idx]!r}, expected {expected[idx]!r}, |diff| {err:.3e} > tol {tol[idx]:.3e}")


def numerical_grad(f, x, g, eps=1e-6):
    """d/dx of sum(f(x) * g) by central differences, in float64: the check every oracle's
    backward passes. `f` maps a float64 array shaped like `x` to an array shaped like `g`
    (or to a scalar, with g a scalar)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        up = np.sum(np.asarray(f(x)) * g)
        flat[i] = saved - eps
        down = np.sum(np.asarray(f(x)) * g)
        flat[i] = saved
        gflat[i] = (up - down) / (2 * eps)
    return grad


def assert_grad_matches(analytic, f, x, g, *, eps=1e-6, rtol=1e-6, atol=1e-7):
    """An oracle's backward `analytic` (float64) against numerical_grad(f, x, g). Central
    differences err by O(eps^2 |f'''|) + O(u |f| / eps); with eps = 1e-6 and smooth functions
    of order one both stay below 1e-7."""
    num = numerical_grad(f, x, g, eps)
    np.testing.assert_allclose(analytic, num, rtol=rtol, atol=atol)


# ---- activation ----
# Oracles in float64 with the same formulas PyTorch documents; erfc through math.erfc.
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _sigmoid64(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def relu_ref(x):
    x = _as64(x)
    return np.where(x <= 0, 0.0, x)


def relu_backward_ref(g, x):
    return np.where(_as64(x) <= 0, 0.0, _as64(g))


def leaky_relu_ref(x, slope=0.01):
    x = _as64(x)
    return np.where(x > 0, x, x * slope)


def leaky_relu_backward_ref(g, x, slope=0.01):
    return np.where(_as64(x) > 0, _as64(g), _as64(g) * slope)


def elu_ref(x, alpha=1.0):
    x = _as64(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_backward_ref(g, x, alpha=1.0):
    x = _as64(x)
    return np.where(x <= 0, _as64(g) * alpha * np.exp(np.minimum(x, 0)), _as64(g))


def gelu_ref(x, approximate="none"):
    x = _as64(x)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * _erfc(-x / math.sqrt(2))


def gelu_backward_ref(g, x, approximate="none"):
    x, g = _as64(x), _as64(g)
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        t = np.tanh(k * (x + 0.044715 * x**3))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))
    return g * (0.5 * _erfc(-x / math.sqrt(2)) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


def sigmoid_ref(x):
    return _sigmoid64(_as64(x))


def sigmoid_backward_ref(g, y):
    y = _as64(y)
    return _as64(g) * y * (1 - y)


def tanh_ref(x):
    return np.tanh(_as64(x))


def tanh_backward_ref(g, y):
    y = _as64(y)
    return _as64(g) * (1 - y * y)


def softplus_ref(x, beta=1.0, threshold=20.0):
    x = _as64(x)
    z = x * beta
    return np.where(z > threshold, x, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)


def softplus_backward_ref(g, x, beta=1.0, threshold=20.0):
    z = _as64(x) * beta
    return np.where(z > threshold, _as64(g), _as64(g) * _sigmoid64(z))


def softmax_ref(x, dim):
    x = _as64(x)
    e = np.exp(x - np.max(x, axis=dim, keepdims=True, initial=-np.inf))
    return e / np.sum(e, axis=dim, keepdims=True)


def log_softmax_ref(x, dim):
    x = _as64(x)
    s = x - np.max(x, axis=dim, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # an empty axis: nothing is read
        return s - np.log(np.sum(np.exp(s), axis=dim, keepdims=True))


def softmax_backward_ref(g, y, dim):
    g, y = _as64(g), _as64(y)
    return y * (g - np.sum(g * y, axis=dim, keepdims=True))


def log_softmax_backward_ref(g, y, dim):
    g, y = _as64(g), _as64(y)
    return g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)


# Elementwise activations: vmath.h's exp/expm1/log/tanh/sigmoid err by at most ~3.3 ulp
# (float) / ~4.6 ulp (double) as measured over their whole ranges (see vmath.h), i.e.
# 6.6 u / 9.2 u; one to three more roundings follow (alpha *, / beta, the products of a
# backward), each 1 u relative. A product with an input that is already rounded (y in the
# sigmoid/tanh backward is the float output) carries no extra error: the oracle uses the same
# y. rtol = 16 covers the worst case with margin; atol = 4 absorbs results that are tiny
# differences near a root (gelu'(x) near x = -0.75, 1 - t^2 with t near 1).
# softmax: exp per element (<= 6.6 u), a D-term sum in double (negligible), one divide or
# log/subtract: rtol 16 again, atol 4 for log_softmax's x - m - log s when it cancels to ~0.
# float64 uses the same counts (u is 2^-53 there).
TOLERANCES.update({
    (op, np.dtype(dt)): Rel(rtol=16.0, atol=4.0)
    for op in ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "softmax",
               "log_softmax")
    for dt in (np.float32, np.float64)
})
# Backwards: the same kernels plus the chain-rule product (2 more roundings) and, for
# softmax, the row sum of g*y which errs by ~D u * sum|g y|: scale carries that term.
TOLERANCES.update({
    (op + "_backward", np.dtype(dt)): Rel(rtol=24.0, atol=8.0)
    for op in ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "softmax",
               "log_softmax")
    for dt in (np.float32, np.float64)
})


# ---- softmax_xent ----
# Loss oracles in float64, written from PyTorch's documented formulas. A classification
# input is handled as (M, C) rows: (C,) is one row, (N, C, d1, ...) moves the class axis last.


def _rows(x):
    """(M, C) float64 rows of a classification input, and a function mapping (M, C) back."""
    x = _as64(x)
    if x.ndim == 1:
        return x[None, :], lambda r: r.reshape(x.shape)
    moved = np.moveaxis(x, 1, -1)
    return moved.reshape(-1, x.shape[1]), lambda r: np.moveaxis(r.reshape(moved.shape), -1, 1)


def _sample_shape(x):
    return () if np.ndim(x) == 1 else (x.shape[0],) + x.shape[2:]


def _reduce(per_sample, reduction, denom):
    if reduction == "none":
        return per_sample
    s = np.sum(per_sample)
    if reduction == "sum":
        return np.asarray(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(s / denom)


def _upstream(g, reduction, denom, m):
    """Each sample's upstream gradient, (m,)."""
    g = _as64(g)
    if reduction == "none":
        return g.reshape(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.full(m, g / denom if reduction == "mean" else g)


def _class_parts(x, target, weight, ignore_index):
    xr, back = _rows(x)
    m, c = xr.shape
    w = np.ones(c) if weight is None else _as64(weight)
    y = np.asarray(target).reshape(m)
    valid = y != ignore_index
    yc = np.where(valid, y, 0)
    return xr, back, m, c, w, y, valid, yc


def cross_entropy_ref(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch.nn.functional.cross_entropy in float64 (class indices, or probabilities when
    target has x's shape)."""
    eps = label_smoothing
    if np.shape(target) == np.shape(x):
        xr, back = _rows(x)
        m, c = xr.shape
        w = np.ones(c) if weight is None else _as64(weight)
        tt = _rows(target)[0] * (1 - eps) + eps / c
        loss = -np.sum(log_softmax_ref(xr, 1) * tt * w, axis=1)
        return _reduce(loss.reshape(_sample_shape(x)), reduction, m)
    xr, back, m, c, w, y, valid, yc = _class_parts(x, target, weight, ignore_index)
    logp = log_softmax_ref(xr, 1)
    nll = -w[yc] * logp[np.arange(m), yc]
    smooth = -np.sum(logp * w, axis=1)
    loss = np.where(valid, (1 - eps) * nll + eps / c * smooth, 0.0)
    return _reduce(loss.reshape(_sample_shape(x)), reduction, np.sum(w[yc] * valid))


def cross_entropy_backward_ref(g, x, target, weight=None, ignore_index=-100, reduction="mean",
                               label_smoothing=0.0):
    eps = label_smoothing
    if np.shape(target) == np.shape(x):
        xr, back = _rows(x)
        m, c = xr.shape
        w = np.ones(c) if weight is None else _as64(weight)
        tt = _rows(target)[0] * (1 - eps) + eps / c
        p = softmax_ref(xr, 1)
        d = p * np.sum(w * tt, axis=1, keepdims=True) - w * tt
        return back(d * _upstream(g, reduction, m, m)[:, None])
    xr, back, m, c, w, y, valid, yc = _class_parts(x, target, weight, ignore_index)
    p = softmax_ref(xr, 1)
    onehot = np.zeros_like(p)
    onehot[np.arange(m), yc] = 1
    d = (1 - eps) * w[yc][:, None] * (p - onehot) + eps / c * (np.sum(w) * p - w)
    gi = np.where(valid, _upstream(g, reduction, np.sum(w[yc] * valid), m), 0.0)  # ignored: 0
    return back(d * gi[:, None])


def nll_loss_ref(x, target, weight=None, ignore_index=-100, reduction="mean"):
    xr, back, m, c, w, y, valid, yc = _class_parts(x, target, weight, ignore_index)
    loss = np.where(valid, -w[yc] * xr[np.arange(m), yc], 0.0)
    return _reduce(loss.reshape(_sample_shape(x)), reduction, np.sum(w[yc] * valid))


def nll_loss_backward_ref(g, x, target, weight=None, ignore_index=-100, reduction="mean"):
    xr, back, m, c, w, y, valid, yc = _class_parts(x, target, weight, ignore_index)
    d = np.zeros_like(xr)
    gi = np.where(valid, _upstream(g, reduction, np.sum(w[yc] * valid), m), 0.0)
    d[np.arange(m), yc] = -w[yc] * gi
    return back(d)


def _bce_parts(x, t, weight, pos_weight):
    x, t = _as64(x), _as64(t)
    w = np.ones_like(x) if weight is None else np.broadcast_to(_as64(weight), x.shape)
    pw = np.ones_like(x) if pos_weight is None else np.broadcast_to(_as64(pos_weight), x.shape)
    return x, t, w, pw


def binary_cross_entropy_with_logits_ref(x, t, weight=None, reduction="mean", pos_weight=None):
    x, t, w, pw = _bce_parts(x, t, weight, pos_weight)
    log_sig = -np.logaddexp(0.0, -x)
    return _reduce(w * ((1 - t) * x - (1 + (pw - 1) * t) * log_sig), reduction, x.size)


def binary_cross_entropy_with_logits_backward_ref(g, x, t, weight=None, reduction="mean", pos_weight=None):
    x, t, w, pw = _bce_parts(x, t, weight, pos_weight)
    d = w * ((1 + (pw - 1) * t) * _sigmoid64(x) - pw * t)
    return d * _upstream(g, reduction, x.size, x.size).reshape(x.shape)


def _point_term(d, kind, param):
    a = np.abs(d)
    if kind == "mse_loss":
        return d * d, 2 * d
    if kind == "l1_loss" or (kind == "smooth_l1_loss" and param == 0):
        return a, np.sign(d)
    if kind == "huber_loss":
        return np.where(a < param, 0.5 * d * d, param * (a - 0.5 * param)), np.clip(d, -param, param)
    return np.where(a < param, 0.5 * d * d / param, a - 0.5 * param), np.clip(d / param, -1, 1)


def point_loss_ref(kind, x, t, reduction="mean", param=1.0):
    """mse_loss, l1_loss, huber_loss (param = delta), smooth_l1_loss (param = beta)."""
    d = _as64(x) - _as64(t)
    return _reduce(_point_term(d, kind, param)[0], reduction, d.size)


def point_loss_backward_ref(kind, g, x, t, reduction="mean", param=1.0):
    d = _as64(x) - _as64(t)
    return _point_term(d, kind, param)[1] * _upstream(g, reduction, d.size, d.size).reshape(d.shape)


# Every loss kernel computes in double and rounds once to the output dtype, so float32
# results err by about 1 u of the result: rtol 4 leaves margin for the final division of
# 'mean'. In float64 the intermediate roundings matter: log-sum-exp errs by u (|max| +
# sqrt(C)) (the max-shifted sum of C terms, as a random walk: Higham & Mary 2019, cited
# above), and the loss lse - x_y inherits u |x_y| too; reductions add u sqrt(M) times the
# summed magnitudes. The tests pass that magnitude as `scale` (loss_scale below), and
# atol = 4 multiplies it. A wrong weight, a missed ignore or an off-by-one class errs by
# O(1) relative, far outside.
TOLERANCES.update({
    (op, np.dtype(dt)): Rel(rtol=4.0, atol=4.0)
    for op in ("cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
               "huber_loss", "smooth_l1_loss")
    for dt in (np.float32, np.float64)
})
TOLERANCES.update({
    (op + "_backward", np.dtype(dt)): Rel(rtol=4.0, atol=4.0)
    for op in ("cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss",
               "huber_loss", "smooth_l1_loss")
    for dt in (np.float32, np.float64)
})


def loss_scale(per_sample_magnitude, reduction, denom):
    """The absolute-error scale of a loss from each sample's magnitude (what its terms sum
    to in absolute value): itself for 'none', the reduced magnitudes times 1 + sqrt(M) for a
    reduction of M samples (the rounding of the sum)."""
    a = _as64(per_sample_magnitude)
    if reduction == "none":
        return a
    s = np.sum(a) * (1 + math.sqrt(max(a.size, 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(s / denom if reduction == "mean" else s)
