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


def _check_within(op, actual, expected, dtype, tol_of, what):
    """The one comparison: `actual` is an ndarray of `expected`'s shape and `dtype`, and every
    element is within tol_of(expected) of the float64 oracle (equal values, infinities
    included, pass; NaN passes only against NaN). `what` describes the case in the message."""
    dtype = np.dtype(dtype)
    assert isinstance(actual, np.ndarray), f"[{op}] result is {type(actual).__name__}, not ndarray"
    assert actual.shape == expected.shape, f"[{op}] shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == dtype, f"[{op}] dtype {actual.dtype}, expected {dtype}"
    got = actual.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf and 0 * inf: equal infinities pass by ==
        tol = np.broadcast_to(tol_of(expected), expected.shape)
        ok = (got == expected) | (np.abs(got - expected) <= tol) | (np.isnan(got) & np.isnan(expected))
    if not ok.all():
        bad = np.argwhere(~ok)
        idx = tuple(bad[0])
        err = abs(got[idx] - expected[idx])
        raise AssertionError(
            f"[{op}] {len(bad)} of {ok.size} elements ({what}) out of tolerance; first at "
            f"{idx}: got {got[idx]!r}, expected {expected[idx]!r}, |diff| {err:.3e} > tol {tol[idx]:.3e}")


def assert_close(op, actual, expected, k, *, scale, dtype):
    """Checks a kernel result completely: ndarray type, shape, dtype, and every element
    within tolerance(op, dtype, k, scale) of the float64 oracle `expected` (equal infinities
    count as equal; NaN never passes unless both sides are NaN).

    scale: |alpha| |op(a)| @ |op(b)| + |beta| |c| (gemm_scale), elementwise or broadcastable.
    """
    _check_within(op, actual, expected, dtype, lambda e: tolerance(op, dtype, k, scale),
                  f"{np.dtype(dtype)}, K={k}")


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
    t = TOLERANCES[(op, np.dtype(dtype))]
    u = unit_roundoff(dtype)
    _check_within(op, actual, expected, dtype,
                  lambda e: u * (t.rtol * np.abs(e) + t.atol * np.asarray(scale, np.float64)), str(np.dtype(dtype)))


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


# ---- linear ----

def linear_ref(x, weight, bias=None):
    """x @ weight.T + bias in float64. Shape: x (*, K), weight (N, K), bias (N,) -> (*, N)."""
    out = _as64(x) @ _as64(weight).T
    return out if bias is None else out + _as64(bias)


def linear_backward_ref(grad_output, x, weight):
    """(dx, dweight, dbias) of linear_ref for upstream gradient grad_output (*, N)."""
    rows = math.prod(x.shape[:-1])
    g = _as64(grad_output).reshape(rows, weight.shape[0])
    x2 = _as64(x).reshape(rows, weight.shape[1])
    return (g @ _as64(weight)).reshape(x.shape), g.T @ x2, g.sum(axis=0)


# linear is the GEMM (a K-long dot product per element) plus a bias addition: the GEMM model
# with one more rounding. Its gradients are GEMMs with inner dimensions N (dx) and M (dweight),
# and dbias is a sum of M terms, covered by the same model with K = M.
TOLERANCES.update({
    ("linear", np.dtype(np.float32)): Tol(lam=4.0, n_extra=2),
    ("linear", np.dtype(np.float64)): Tol(lam=8.0, n_extra=4),
})


# ---- conv2d ----
# Direct convolution by shift-and-accumulate over the zero-padded input: one einsum per
# kernel tap, independent of any im2col layout. Paddings are per side (top, bottom, left,
# right), as the kernel takes them.


def _conv2d_pads(padding):
    return tuple(padding) if len(padding) == 4 else (padding[0], padding[0], padding[1], padding[1])


def _conv2d_geometry(x, w, stride, padding, dilation):
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = _conv2d_pads(padding)
    kh, kw = w.shape[2:]
    oh = (x.shape[2] + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[3] + pl + pr - dw * (kw - 1) - 1) // sw + 1
    return (pt, pb, pl, pr), oh, ow


def _conv2d_window(xp, i, j, oh, ow, stride, dilation):
    """The (N, C, OH, OW) view of the padded input that kernel tap (i, j) reads."""
    (sh, sw), (dh, dw) = stride, dilation
    return xp[:, :, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """float64 conv2d (cross-correlation). x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC,)
    or None; padding (pH, pW) or (top, bottom, left, right); returns (N, OC, OH, OW)."""
    x, w = _as64(x), _as64(w)
    (pt, pb, pl, pr), oh, ow = _conv2d_geometry(x, w, stride, padding, dilation)
    n, c = x.shape[:2]
    oc, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    wg = w.reshape(groups, oc // groups, cg, kh, kw)
    out = np.zeros((n, groups, oc // groups, oh, ow))
    for i in range(kh):
        for j in range(kw):
            win = _conv2d_window(xp, i, j, oh, ow, stride, dilation).reshape(n, groups, cg, oh, ow)
            out += np.einsum("ngchw,goc->ngohw", win, wg[:, :, :, i, j])
    out = out.reshape(n, oc, oh, ow)
    if b is not None:
        out += _as64(b)[None, :, None, None]
    return out


def conv2d_backward_ref(dy, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """float64 (dx, dw, db) of conv2d_ref for upstream gradient dy (N, OC, OH, OW)."""
    dy, x, w = _as64(dy), _as64(x), _as64(w)
    (pt, pb, pl, pr), oh, ow = _conv2d_geometry(x, w, stride, padding, dilation)
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    dxp = np.zeros_like(xp)
    wg = w.reshape(groups, oc // groups, cg, kh, kw)
    dyg = dy.reshape(n, groups, oc // groups, oh, ow)
    dw = np.zeros((groups, oc // groups, cg, kh, kw))
    for i in range(kh):
        for j in range(kw):
            win = _conv2d_window(xp, i, j, oh, ow, stride, dilation)
            dw[:, :, :, i, j] = np.einsum("ngohw,ngchw->goc", dyg, win.reshape(n, groups, cg, oh, ow))
            dwin = _conv2d_window(dxp, i, j, oh, ow, stride, dilation)
            dwin += np.einsum("ngohw,goc->ngchw", dyg, wg[:, :, :, i, j]).reshape(n, c, oh, ow)
    dx = dxp[:, :, pt: pt + h, pl: pl + wd]
    return dx, dw.reshape(w.shape), dy.sum(axis=(0, 2, 3))


def conv2d_scale(dy, x, w, b, stride, padding, dilation, groups):
    """Magnitudes that rounding errors in each result scale with: (|x| * |w| + |b|, and the
    backward of |dy|, |x|, |w|) as (out, dx, dw, db); dy may be None (forward only)."""
    out = conv2d_ref(np.abs(_as64(x)), np.abs(_as64(w)), None if b is None else np.abs(_as64(b)),
                     stride, padding, dilation, groups)
    if dy is None:
        return out, None, None, None
    return (out,) + conv2d_backward_ref(np.abs(_as64(dy)), np.abs(_as64(x)), np.abs(_as64(w)),
                                        stride, padding, dilation, groups)


# Each forward element is a dot product of length K = C/groups * KH * KW plus the bias, so the
# GEMM model above applies with that K: the bias joins the sum (the kernel starts from it), the
# store is one more rounding, n_extra = 2 (doubled for float64 as for matmul, whose oracle rounds
# at the kernel's level). The gradients are sums of products too: grad_weight and grad_bias over
# K = N*OH*OW terms (blocked per image group, then partials added: a different order, the same
# probabilistic bound), grad_input over at most K = OC/groups * KH * KW terms (GEMM into
# column gradients, then col2im adds the taps), with only the store outside the sum.
TOLERANCES.update({
    ("conv2d", np.dtype(np.float32)): Tol(lam=4.0, n_extra=2),
    ("conv2d", np.dtype(np.float64)): Tol(lam=8.0, n_extra=4),
    ("conv2d_backward", np.dtype(np.float32)): Tol(lam=4.0, n_extra=1),
    ("conv2d_backward", np.dtype(np.float64)): Tol(lam=8.0, n_extra=2),
})


# Winograd F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR
# 2016): each 2x2 output tile is A^T [sum_c (G g_c G^T) (.) (B^T d_c B)] A + b. Its rounding
# errors scale not with |x| * |w| but with the same pipeline run on magnitudes,
#     S = |A^T| [sum_c (|G| |g_c| |G^T|) (.) (|B^T| |d_c| |B|)] |A| + |b|,
# (computed by conv2d_winograd_scale): 64/9 ~ 7 times |x| * |w| for all-equal magnitudes
# (|G| rows sum to 1, 1.5, 1.5, 1 and |B^T| rows to 2; |A^T| adds 3 x 3 of the 16 products);
# measured on Gaussian data 7 on average, up to 15 at image borders. The GEMM over the C channels contributes lam * sqrt(C) u (as in the model above);
# outside it each value passes through a fixed number of roundings, each bounded by u times
# its magnitude term: 4 in G g G^T (two additions per side; the halvings are exact), 2 in
# B^T d B (one addition per side), 1 for the product, 4 in A^T m A (two additions per side),
# 1 for the bias: n_extra = 12. Doubled for float64 as for conv2d. K passed to assert_close is
# the GEMM's length C (OC for the input gradient).
_WINO_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
_WINO_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
_WINO_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)


def conv2d_winograd_scale(x, w, b, padding):
    """S above for a 3x3, stride-1 conv2d of x (N, C, H, W) with w (OC, C, 3, 3), bias b or
    None and per-side padding (top, bottom, left, right; negative crops): (N, OC, OH, OW)."""
    x, w = np.abs(_as64(x)), np.abs(_as64(w))
    pt, pb, pl, pr = padding
    n, c, h, wd = x.shape
    oh, ow = h + pt + pb - 2, wd + pl + pr - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2))
    # Place x at offset (pt, pl) of the tile grid, clipping what a negative padding crops.
    r0, c0 = max(pt, 0), max(pl, 0)
    src = x[:, :, max(-pt, 0):, max(-pl, 0):][:, :, :xp.shape[2] - r0, :xp.shape[3] - c0]
    xp[:, :, r0:r0 + src.shape[2], c0:c0 + src.shape[3]] = src
    tiles = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]
    v = np.einsum("ia,ncyxab,jb->ncyxij", np.abs(_WINO_BT), tiles, np.abs(_WINO_BT))
    u = np.einsum("ia,ocab,jb->ocij", np.abs(_WINO_G), w, np.abs(_WINO_G))
    m = np.einsum("ocij,ncyxij->noyxij", u, v)
    y = np.einsum("pi,noyxij,qj->noypxq", np.abs(_WINO_AT), m, np.abs(_WINO_AT))
    y = y.reshape(n, w.shape[0], 2 * th, 2 * tw)[:, :, :oh, :ow]
    if b is not None:
        y = y + np.abs(_as64(b))[None, :, None, None]
    return y


TOLERANCES.update({
    ("conv2d_winograd", np.dtype(np.float32)): Tol(lam=4.0, n_extra=12),
    ("conv2d_winograd", np.dtype(np.float64)): Tol(lam=8.0, n_extra=24),
})

# ---- optim ----
# Optimizer updates: float64 transcriptions of the algorithm boxes in torch.optim's
# documentation (SGD, Adam/AdamW, RMSprop, Adagrad), one parameter at a time, run for a
# list of per-step gradients. Each returns (state, scale): `state` maps "param" and each
# state array's name to its final float64 value; `scale` maps the same names to the
# tolerance scale of that array: the sum over the steps of the magnitudes the step rounds
# at, i.e. the same recursion evaluated on absolute values (|g| for g, |p| for p), so
# cancellation in a signed running average cannot hide the size of its rounding errors.

def _grad64(g, p, sp, maximize, weight_decay):
    """The gradient every torch optimizer starts from, and its magnitude bound. With weight
    decay the gradient reads the parameter, whose error so far is bounded in proportion to
    |p| + sp (sp: the parameter's scale accumulated over the earlier steps), so that error
    reaches the states through the gradient's magnitude."""
    g = -_as64(g) if maximize else _as64(g)
    if weight_decay != 0:
        return g + weight_decay * p, np.abs(g) + weight_decay * (np.abs(p) + sp)
    return g, np.abs(g)


def _lerp64(a, b, w):
    return a + w * (b - a)


def sgd_ref(param, grads, *, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
            maximize=False):
    """torch.optim.SGD for len(grads) steps from a fresh momentum buffer."""
    p = _as64(param).copy()
    buf = bufm = None
    sp, sb = np.zeros_like(p), np.zeros_like(p)
    for g_in in grads:
        g, gm = _grad64(g_in, p, sp, maximize, weight_decay)
        if momentum != 0:
            if buf is None:
                buf, bufm = g.copy(), gm.copy()
            else:
                buf = momentum * buf + (1 - dampening) * g
                bufm = momentum * bufm + abs(1 - dampening) * gm
            sb += bufm
            if nesterov:
                g, gm = g + momentum * buf, gm + momentum * bufm
            else:
                g, gm = buf, bufm
        sp += np.abs(p) + lr * gm
        p = p - lr * g
    state, scale = {"param": p}, {"param": sp}
    if momentum != 0:
        state["momentum_buffer"], scale["momentum_buffer"] = buf, sb
    return state, scale


def adam_ref(param, grads, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
             amsgrad=False, maximize=False, decoupled_weight_decay=False):
    """torch.optim.Adam (AdamW when decoupled_weight_decay) for len(grads) steps from zero
    state, steps numbered from 1."""
    p = _as64(param).copy()
    m, v, vmax, mm = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    sp, sm, sv, svmax = (np.zeros_like(p) for _ in range(4))
    for t, g_in in enumerate(grads, start=1):
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)
            g, gm = _grad64(g_in, p, sp, maximize, 0.0)
        else:
            g, gm = _grad64(g_in, p, sp, maximize, weight_decay)
        m = _lerp64(m, g, 1 - beta1)
        mm = beta1 * mm + (1 - beta1) * gm
        v = beta2 * v + (1 - beta2) * g * g
        if amsgrad:
            vmax = np.maximum(vmax, v)
        vu = vmax if amsgrad else v
        step_size = lr / (1 - beta1 ** t)
        denom = np.sqrt(vu) / math.sqrt(1 - beta2 ** t) + eps
        sp += np.abs(p) + step_size * mm / denom
        sm += mm
        sv += v
        svmax += vmax
        p = p - step_size * m / denom
    state = {"param": p, "exp_avg": m, "exp_avg_sq": v}
    scale = {"param": sp, "exp_avg": sm, "exp_avg_sq": sv}
    if amsgrad:
        state["max_exp_avg_sq"], scale["max_exp_avg_sq"] = vmax, svmax
    return state, scale


def rmsprop_ref(param, grads, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    """torch.optim.RMSprop for len(grads) steps from zero state."""
    p = _as64(param).copy()
    sq, ga, gam, buf, bufm = (np.zeros_like(p) for _ in range(5))
    sp, ssq, sga, sbuf = (np.zeros_like(p) for _ in range(4))
    for g_in in grads:
        g, gm = _grad64(g_in, p, sp, maximize, weight_decay)
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            ga = _lerp64(ga, g, 1 - alpha)
            gam = alpha * gam + (1 - alpha) * gm
            avg = np.sqrt(sq - ga * ga) + eps
            # sq - ga^2 rounds at the size of sq + ga^2; its square root turns that into a
            # relative error of avg amplified by (sq + ga^2) / (sq - ga^2).
            amp = (sq + ga * ga) / (sq - ga * ga)
        else:
            avg = np.sqrt(sq) + eps
            amp = 1.0
        if momentum > 0:
            buf = momentum * buf + g / avg
            bufm = momentum * bufm + amp * gm / avg
            upd, updm = buf, bufm
        else:
            upd, updm = g / avg, amp * gm / avg
        sp += np.abs(p) + lr * updm
        ssq += sq
        sga += gam
        sbuf += bufm
        p = p - lr * upd
    state, scale = {"param": p, "square_avg": sq}, {"param": sp, "square_avg": ssq}
    if centered:
        state["grad_avg"], scale["grad_avg"] = ga, sga
    if momentum > 0:
        state["momentum_buffer"], scale["momentum_buffer"] = buf, sbuf
    return state, scale


def adagrad_ref(param, grads, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                maximize=False, initial_accumulator_value=0.0):
    """torch.optim.Adagrad for len(grads) steps, steps numbered from 1."""
    p = _as64(param).copy()
    s = np.full_like(p, initial_accumulator_value)
    sp, ss = np.zeros_like(p), np.zeros_like(p)
    for t, g_in in enumerate(grads, start=1):
        g, gm = _grad64(g_in, p, sp, maximize, weight_decay)
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        std = np.sqrt(s) + eps
        sp += np.abs(p) + clr * gm / std
        ss += s
        p = p - clr * g / std
    return {"param": p, "state_sum": s}, {"param": sp, "state_sum": ss}


# Tolerances (tol = u * (rtol * |expected| + atol * scale), scale from the *_ref above).
# Each step of each kernel rounds every quantity a bounded number of times, each rounding
# at most u relative to a magnitude the scale includes (the scale sums, over the steps,
# |p| and the absolute-value recursion of every state and of the update), so the error is
# bounded by u * (roundings per step) * scale to first order; rtol = 1 is the rounding of
# the stored result. Roundings per step on the longest chain, scalars rounded to float32
# included: SGD 9 (decay product and sum, two momentum products and their sum, the Nesterov
# product and sum, lr * g, the subtraction), Adagrad 8 (decay 2, square and sum, sqrt, +eps,
# division, step product and sum), Adam 14 (decay 2, lerp 3, second moment 4, sqrt, bias
# division, +eps, division, step product and sum), RMSprop 14 (decay 2, square average 4,
# centered lerp 3 and subtraction, sqrt, +eps, division, momentum 2, step product and sum).
# The centered RMSprop scale also carries the conditioning of sqrt(sq - ga^2). Measured
# worst case over the tests' option combinations, 10 steps, ~20k elements: 1.7 (float32),
# 1.1 (float64) in these units: well inside the bound. In float64 the oracle rounds at the
# same level as the kernel, so the bounds double. A misplaced eps (inside the square
# root) or a missing bias correction errs by orders of magnitude more whenever eps is not
# negligible, which is why the tests also run a large eps.
TOLERANCES.update({
    ("sgd_step_", np.dtype(np.float32)): Rel(rtol=1.0, atol=9.0),
    ("sgd_step_", np.dtype(np.float64)): Rel(rtol=2.0, atol=18.0),
    ("adam_step_", np.dtype(np.float32)): Rel(rtol=1.0, atol=14.0),
    ("adam_step_", np.dtype(np.float64)): Rel(rtol=2.0, atol=28.0),
    ("rmsprop_step_", np.dtype(np.float32)): Rel(rtol=1.0, atol=14.0),
    ("rmsprop_step_", np.dtype(np.float64)): Rel(rtol=2.0, atol=28.0),
    ("adagrad_step_", np.dtype(np.float32)): Rel(rtol=1.0, atol=8.0),
    ("adagrad_step_", np.dtype(np.float64)): Rel(rtol=2.0, atol=16.0),
})


# ---- pool ----
# Pooling oracles, written per output position straight from torch's definitions, vectorised
# over the planes (every leading dimension). Inputs (..., H, W); any float dtype, computed
# in float64.

def pool_output_size(n, k, s, p, d, ceil_mode):
    """torch's output length: floor or ceil of (n + 2p - d(k-1) - 1) / s, plus one, less one
    when ceil_mode would start the last window in the right padding."""
    num = n + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def max_pool2d_ref(x, k, s, p, d, ceil_mode):
    """(out, indices): the window maximum (the first one in row-major window order; a NaN
    replaces any running maximum, so the last NaN wins) and its flat offset h*W + w in the
    plane. Padding is never a candidate. k, s, p, d are (h, w) pairs."""
    x = _as64(x)
    H, W = x.shape[-2:]
    OH = pool_output_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = pool_output_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    lead = x.shape[:-2]
    out = np.empty(lead + (OH, OW))
    ind = np.empty(lead + (OH, OW), dtype=np.int64)
    for oh in range(OH):
        for ow in range(OW):
            m = np.full(lead, -np.inf)
            mi = None
            for kh in range(k[0]):
                ih = oh * s[0] - p[0] + kh * d[0]
                for kw in range(k[1]):
                    iw = ow * s[1] - p[1] + kw * d[1]
                    if not (0 <= ih < H and 0 <= iw < W):
                        continue
                    v = x[..., ih, iw]
                    if mi is None:  # the first in-range element starts the scan
                        mi = np.full(lead, ih * W + iw, dtype=np.int64)
                    take = (v > m) | np.isnan(v)
                    m = np.where(take, v, m)
                    mi = np.where(take, ih * W + iw, mi)
            out[..., oh, ow] = m
            ind[..., oh, ow] = mi
    return out, ind


def max_pool2d_backward_ref(g, indices, input_shape):
    """grad_input[plane, indices[plane, o]] += g[plane, o], in float64."""
    H, W = input_shape[-2:]
    gi = np.zeros((int(np.prod(input_shape[:-2])), H * W))
    g2 = _as64(g).reshape(gi.shape[0], -1)
    i2 = np.asarray(indices).reshape(gi.shape[0], -1)
    for plane in range(gi.shape[0]):
        np.add.at(gi[plane], i2[plane], g2[plane])
    return gi.reshape(input_shape)


def max_pool2d_backward_scale(g, indices, input_shape):
    """(m - 1) * sum |g| over the m outputs that feed each input element: what the rounding
    error of an m-term float sum is bounded by (first order; see TOLERANCES)."""
    H, W = input_shape[-2:]
    n = int(np.prod(input_shape[:-2]))
    total, count = np.zeros((n, H * W)), np.zeros((n, H * W))
    g2, i2 = np.abs(_as64(g)).reshape(n, -1), np.asarray(indices).reshape(n, -1)
    for plane in range(n):
        np.add.at(total[plane], i2[plane], g2[plane])
        np.add.at(count[plane], i2[plane], 1.0)
    return (np.maximum(count - 1, 0) * total).reshape(input_shape)


def avg_pool2d_windows(H, W, k, s, p, ceil_mode, count_include_pad, divisor_override):
    """[(oh, ow, h0, h1, w0, w1, divisor)] for avg_pool2d, torch's rule: the window
    [h0, h0 + k) is first clipped to the padded edge H + p (that size is the divisor with
    count_include_pad), then to the input."""
    OH = pool_output_size(H, k[0], s[0], p[0], 1, ceil_mode)
    OW = pool_output_size(W, k[1], s[1], p[1], 1, ceil_mode)
    wins = []
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            padded = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            div = divisor_override or (padded if count_include_pad else (h1 - h0) * (w1 - w0))
            wins.append((oh, ow, h0, h1, w0, w1, div))
    return OH, OW, wins


def adaptive_avg_pool2d_windows(H, W, OH, OW):
    """torch's adaptive windows: rows floor(i*H/OH) to ceil((i+1)*H/OH), likewise columns."""
    wins = []
    for i in range(OH):
        h0, h1 = (i * H) // OH, -(-((i + 1) * H) // OH)
        for j in range(OW):
            w0, w1 = (j * W) // OW, -(-((j + 1) * W) // OW)
            wins.append((i, j, h0, h1, w0, w1, (h1 - h0) * (w1 - w0)))
    return OH, OW, wins


def window_avg_ref(x, OH, OW, wins):
    """Forward of an average pooling given its windows: (out, scale), where scale is
    (terms in the window) * sum |x| / divisor, what the summation error grows with."""
    x = _as64(x)
    out = np.zeros(x.shape[:-2] + (OH, OW))
    scale = np.zeros_like(out)
    for oh, ow, h0, h1, w0, w1, div in wins:
        win = x[..., h0:h1, w0:w1]
        out[..., oh, ow] = win.sum(axis=(-2, -1)) / div
        scale[..., oh, ow] = (h1 - h0) * (w1 - w0) * np.abs(win).sum(axis=(-2, -1)) / div
    return out, scale


def window_avg_backward_ref(g, input_shape, wins):
    """Backward of an average pooling given its windows: (grad_input, scale), scale being
    (windows covering the element) * sum |g / divisor| over them."""
    g = _as64(g)
    gi = np.zeros(input_shape)
    total, count = np.zeros(input_shape), np.zeros(input_shape[-2:])
    for oh, ow, h0, h1, w0, w1, div in wins:
        share = g[..., oh, ow] / div
        gi[..., h0:h1, w0:w1] += share[..., None, None]
        total[..., h0:h1, w0:w1] += np.abs(share)[..., None, None]
        count[h0:h1, w0:w1] += 1
    return gi, count * total


# Pooling tolerances (Rel: tol = u * (rtol |expected| + atol * scale)).
# max_pool2d selects an element: exact. Its backward adds the m gradients routed to one
# input element in float: error <= (m - 1) u sum|g| (Higham, ch. 4), the scale passed; the
# float64 oracle's own np.add.at rounds as much again, hence atol 2 for float64.
# Average pooling sums in double and rounds once: float32 errs by u |expected| plus the
# double sums of kernel and oracle, each <= K u64 sum|x| / div = 2^-29 K u32 sum|x| / div,
# with scale = K sum|x| / div; float64 sums in the kernel's dtype (kernel and oracle each
# K u sum|x|/div) and divides (u |expected| each). Backward: each share g/div is rounded
# once (u |g/div|) and then m shares are summed ((m - 1) u sum|g/div|): at most m u sum|g/div|,
# the scale passed; float64 doubles it for the oracle.
TOLERANCES.update({
    ("max_pool2d", np.dtype(np.float32)): Rel(0.0, 0.0),
    ("max_pool2d", np.dtype(np.float64)): Rel(0.0, 0.0),
    ("max_pool2d_backward", np.dtype(np.float32)): Rel(0.0, 1.0),
    ("max_pool2d_backward", np.dtype(np.float64)): Rel(0.0, 2.0),
    ("avg_pool2d", np.dtype(np.float32)): Rel(1.0, 2.0 ** -28),
    ("avg_pool2d", np.dtype(np.float64)): Rel(2.0, 2.0),
    ("avg_pool2d_backward", np.dtype(np.float32)): Rel(0.0, 1.0),
    ("avg_pool2d_backward", np.dtype(np.float64)): Rel(0.0, 2.0),
    ("adaptive_avg_pool2d", np.dtype(np.float32)): Rel(1.0, 2.0 ** -28),
    ("adaptive_avg_pool2d", np.dtype(np.float64)): Rel(2.0, 2.0),
    ("adaptive_avg_pool2d_backward", np.dtype(np.float32)): Rel(0.0, 1.0),
    ("adaptive_avg_pool2d_backward", np.dtype(np.float64)): Rel(0.0, 2.0),
})


# ---- norm ----
# batch_norm over (N, C, *): statistics over every axis but 1, in float64.

def _bn_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _bn_channel(v, x):
    """A (C,) vector shaped to broadcast against x."""
    return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm_ref(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """(out, save_mean, save_invstd, new_running_mean, new_running_var), nothing in place.
    Training: batch mean and biased variance normalise; the running variance takes the
    unbiased one (torch). Eval: running statistics. None running stats stay None."""
    x = _as64(x)
    axes = _bn_axes(x)
    C = x.shape[1]
    w = np.ones(C) if weight is None else _as64(weight)
    b = np.zeros(C) if bias is None else _as64(bias)
    new_rm = None if running_mean is None else _as64(running_mean).copy()
    new_rv = None if running_var is None else _as64(running_var).copy()
    if training:
        m = x.size // C
        mean = x.mean(axis=axes)
        var = ((x - _bn_channel(mean, x)) ** 2).mean(axis=axes)
        if new_rm is not None:
            new_rm = (1 - momentum) * new_rm + momentum * mean
        if new_rv is not None:
            new_rv = (1 - momentum) * new_rv + momentum * var * m / (m - 1)
    else:
        mean, var = _as64(running_mean), _as64(running_var)
    invstd = 1.0 / np.sqrt(var + eps)
    out = (x - _bn_channel(mean, x)) * _bn_channel(invstd * w, x) + _bn_channel(b, x)
    return out, mean, invstd, new_rm, new_rv


def batch_norm_backward_ref(g, x, weight, save_mean, save_invstd, training):
    """(grad_input, grad_weight, grad_bias) of batch_norm_ref's output, given its statistics."""
    g, x = _as64(g), _as64(x)
    axes = _bn_axes(x)
    C = x.shape[1]
    m = x.size // C
    w = np.ones(C) if weight is None else _as64(weight)
    xhat = (x - _bn_channel(save_mean, x)) * _bn_channel(save_invstd, x)
    gb = g.sum(axis=axes)
    gw = (g * xhat).sum(axis=axes)
    if training:
        gi = _bn_channel(w * save_invstd, x) * (g - _bn_channel(gb / m, x) - xhat * _bn_channel(gw / m, x))
    else:
        gi = _bn_channel(w * save_invstd, x) * g
    return gi, gw, gb


def batch_norm_scales(x, g, weight, bias, running_mean, running_var, training, momentum, eps):
    """What the rounding errors of each batch_norm result grow with (see TOLERANCES): M times
    the magnitudes summed into it (M values per channel), elementwise. Keys: out, save_mean,
    save_invstd, running_mean, running_var, grad_input, grad_weight, grad_bias."""
    x = _as64(x)
    axes = _bn_axes(x)
    C = x.shape[1]
    m = max(1, x.size // C)
    w = np.ones(C) if weight is None else _as64(weight)
    b = np.zeros(C) if bias is None else _as64(bias)
    out, mean, invstd, _, _ = batch_norm_ref(x, running_mean, running_var, weight, bias, training, momentum, eps)
    mean_abs = np.abs(x).mean(axis=axes)
    dev = np.abs(x - _bn_channel(mean, x))
    s = {
        "out": m * (dev + _bn_channel(mean_abs, x)) * _bn_channel(np.abs(invstd * w), x) + _bn_channel(np.abs(b), x),
        "save_mean": m * (mean_abs if training else np.abs(mean)),
        "save_invstd": m * invstd,
    }
    if running_mean is not None:
        s["running_mean"] = np.abs(_as64(running_mean)) + momentum * m * mean_abs
    if running_var is not None:
        s["running_var"] = np.abs(_as64(running_var)) + momentum * m * (dev ** 2).mean(axis=axes) * m / max(1, m - 1)
    if g is not None:
        g = _as64(g)
        xhat = dev * _bn_channel(invstd, x)
        s["grad_bias"] = m * np.abs(g).sum(axis=axes)
        s["grad_weight"] = m * np.abs(g * xhat).sum(axis=axes)
        s["grad_input"] = _bn_channel(np.abs(w * invstd), x) * (
            np.abs(g) + _bn_channel(np.abs(g).mean(axis=axes), x)
            + xhat * _bn_channel(m * np.abs(g * xhat).mean(axis=axes), x))
    return s


# batch_norm tolerances (Rel: tol = u * (rtol |expected| + atol * scale), scale from
# batch_norm_scales). Every per-channel sum of M terms errs by at most (M - 1) u times the sum
# of the magnitudes (Higham, ch. 4); the scales are M times those magnitudes, propagated
# through the few operations after the sums to first order. float32 sums in double and
# rounds each result once (rtol 1); the double sums of kernel and oracle add 2 u64 * scale =
# 2^-28 u32 * scale, and a few more double roundings, hence atol 2^-26. float64 rounds as
# float32 does in double, in kernel and oracle alike, plus a handful of roundings after the
# sums: rtol 4, atol 4.
TOLERANCES.update({
    ("batch_norm", np.dtype(np.float32)): Rel(1.0, 2.0 ** -26),
    ("batch_norm", np.dtype(np.float64)): Rel(4.0, 4.0),
    ("batch_norm_backward", np.dtype(np.float32)): Rel(1.0, 2.0 ** -26),
    ("batch_norm_backward", np.dtype(np.float64)): Rel(4.0, 4.0),
})


# ---- dropout ----
# Philox4x32-10 in NumPy (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
# 1, 2, 3", SC 2011), vectorised over counters, and dropout's mask built from it.

_PHILOX_M = (0xD2511F53, 0xCD9E8D57)
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10_ref(ctr, key):
    """ctr: four uint64 arrays of 32-bit words (broadcastable), key: two ints. Returns the four
    output words as uint64 arrays."""
    c = [np.asarray(v, dtype=np.uint64) & _MASK32 for v in ctr]
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    for r in range(10):
        if r:
            k0, k1 = (k0 + _PHILOX_W[0]) & 0xFFFFFFFF, (k1 + _PHILOX_W[1]) & 0xFFFFFFFF
        p0 = c[0] * np.uint64(_PHILOX_M[0])  # < 2^64: no overflow
        p1 = c[2] * np.uint64(_PHILOX_M[1])
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & _MASK32,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & _MASK32]
    return c


def dropout_keep_ref(n, p, seed, offset):
    """Boolean keep mask of n elements: word (offset + i) % 4 of Philox at counter
    (offset + i) // 4 (64 bits over the two low words) and key seed (two 32-bit halves),
    kept when below round((1 - p) * 2^32)."""
    j = np.uint64(offset) + np.arange(n, dtype=np.uint64)
    q = j // np.uint64(4)
    words = philox4x32_10_ref((q & _MASK32, q >> np.uint64(32), 0, 0), (seed & 0xFFFFFFFF, seed >> 32))
    w = np.choose((j % np.uint64(4)).astype(np.int64), words)
    threshold = int(np.round(np.ldexp(1.0 - p, 32)))
    return w < threshold


def dropout_ref(x, p, seed, offset):
    """x * (keep ? 1 / (1 - p) : 0) in float64 (x * 0 for dropped elements: NaN stays NaN)."""
    x = _as64(x)
    keep = dropout_keep_ref(x.size, p, seed, offset).reshape(x.shape)
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    with np.errstate(invalid="ignore"):
        return x * np.where(keep, scale, 0.0)


# dropout: the kernel rounds 1 / (1 - p) to the dtype and then the product: two roundings
# (rtol 2); float64's oracle rounds the same two, hence 4.
TOLERANCES.update({
    ("dropout", np.dtype(np.float32)): Rel(2.0, 0.0),
    ("dropout", np.dtype(np.float64)): Rel(4.0, 0.0),
})


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
