"""Tests for fastnn.kernels.matmul / gemm and the GEMM under them (csrc/gemm/).

Everything numeric runs on every CPU code path the machine supports (the cpu_path fixture)
and is compared with the float64 NumPy oracle in reference.py through assert_close. Also
here: strides and views, batching, empty shapes, NaN/Inf semantics, exact integer results,
thread-count independence, the reference kernel, bad inputs, aliasing, and the threads /
CPU-path / config API.
"""

import importlib.metadata
import itertools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnn
import fastnn.cuda
from fastnn import _C, kernels
from reference import assert_close, gemm_ref, gemm_scale, tolerance

CPU_PATHS = ("scalar", "avx2", "avx512")
DTYPES = (np.float32, np.float64)
TRANSPOSES = tuple(itertools.product((False, True), repeat=2))  # (trans_a, trans_b)

SENTINEL = 12345.5  # exactly representable in float32; marks memory a kernel must not write


def blocks(path, dtype):
    """(MR, NR, MC, KC, NC) of a path's microkernel, as the library reports them."""
    return _C.gemm_block_sizes(path, np.dtype(dtype) == np.float64)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def stored(rows, cols, trans, batch=()):
    """Shape of the array whose op() is rows x cols (transposed storage when trans)."""
    return tuple(batch) + ((cols, rows) if trans else (rows, cols))


def check_gemm(a, b, c, alpha, beta, trans_a, trans_b, *, reference=False):
    """Runs gemm (or the reference kernel) on the arrays as given and checks the result
    against the oracle, that c is returned when given, and that the inputs are untouched."""
    k = a.shape[-2] if trans_a else a.shape[-1]
    expected = gemm_ref(a, b, c, alpha, beta, trans_a, trans_b)
    scale = gemm_scale(a, b, c, alpha, beta, trans_a, trans_b)
    a0, b0 = a.copy(), b.copy()
    if reference:
        out = _C.gemm("gemm", a, b, c, alpha, beta, trans_a, trans_b, reference=True)
    else:
        out = kernels.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
    if c is not None:
        assert out is c
    assert_close("gemm_ref" if reference else "gemm", out, expected, k, scale=scale, dtype=a.dtype)
    assert np.array_equal(a, a0, equal_nan=True) and np.array_equal(b, b0, equal_nan=True), "input modified"
    return out


def check_matmul(a, b, out=None):
    """kernels.matmul against np.matmul in float64 (shape, dtype, values)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = np.asarray(np.matmul(a64, b64))
    scale = np.asarray(np.matmul(np.abs(a64), np.abs(b64)))
    result = kernels.matmul(a, b, out=out)
    if out is not None:
        assert result is out
    assert_close("matmul", result, expected, a.shape[-1], scale=scale, dtype=a.dtype)
    return result


# ---------------------------------------------------------------------------------------
# The oracle and the comparison helper
# ---------------------------------------------------------------------------------------

def loop_gemm(a, b, c, alpha, beta, trans_a, trans_b):
    """gemm written out index by index in Python: the oracle's own reference."""
    a3 = a if a.ndim == 3 else a[None]
    b3 = b if b.ndim == 3 else b[None]
    batch = max(a3.shape[0], b3.shape[0])
    at = lambda bi, i, p: float(a3[bi % a3.shape[0]][p, i] if trans_a else a3[bi % a3.shape[0]][i, p])
    bt = lambda bi, p, j: float(b3[bi % b3.shape[0]][j, p] if trans_b else b3[bi % b3.shape[0]][p, j])
    M = a3.shape[2] if trans_a else a3.shape[1]
    K = a3.shape[1] if trans_a else a3.shape[2]
    N = b3.shape[1] if trans_b else b3.shape[2]
    out = np.zeros((batch, M, N))
    for bi in range(batch):
        for i in range(M):
            for j in range(N):
                s = sum(at(bi, i, p) * bt(bi, p, j) for p in range(K))
                cij = 0.0 if beta == 0 else float(c.reshape(out.shape)[bi, i, j])
                out[bi, i, j] = alpha * s + beta * cij
    return out if (a.ndim == 3 or b.ndim == 3) else out[0]


@pytest.mark.parametrize("trans_a, trans_b", TRANSPOSES)
def test_oracle_matches_python_loops(trans_a, trans_b, rng):
    cases = [((), (), 3, 4, 5), ((2,), (2,), 2, 3, 4), ((1,), (3,), 2, 1, 3), ((), (2,), 3, 2, 2),
             ((2,), (), 1, 3, 2), ((), (), 2, 2, 0)]
    for batch_a, batch_b, m, n, k in cases:
        batch = np.broadcast_shapes(batch_a, batch_b)
        a = rng.standard_normal(stored(m, k, trans_a, batch_a))
        b = rng.standard_normal(stored(k, n, trans_b, batch_b))
        c = rng.standard_normal(batch + (m, n))
        for alpha, beta in ((1.0, 0.0), (2.5, -0.5), (0.0, 1.5)):
            want = loop_gemm(a, b, c, alpha, beta, trans_a, trans_b)
            got = gemm_ref(a, b, c, alpha, beta, trans_a, trans_b)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
            # |alpha a b + beta c| <= |alpha| |a| |b| + |beta| |c|, with equality for |.| inputs
            assert (gemm_scale(a, b, c, alpha, beta, trans_a, trans_b) >= np.abs(got) - 1e-12).all()
            absolute = gemm_ref(np.abs(a), np.abs(b), np.abs(c), abs(alpha), abs(beta), trans_a, trans_b)
            np.testing.assert_allclose(gemm_scale(a, b, c, alpha, beta, trans_a, trans_b), absolute,
                                       rtol=1e-13, atol=1e-13)
        # Integer-valued data: every order of summation is exact, so equality is exact too.
        ai, bi, ci = (np.rint(3 * x) for x in (a, b, c))
        assert np.array_equal(gemm_ref(ai, bi, ci, 2.0, -1.0, trans_a, trans_b),
                              loop_gemm(ai, bi, ci, 2.0, -1.0, trans_a, trans_b))


def test_oracle_does_not_read_what_the_contract_skips():
    a = np.full((2, 3), np.nan)
    b = np.full((3, 4), np.inf)
    c = np.full((2, 4), np.nan)
    assert np.array_equal(gemm_ref(a, b, c, alpha=0.0, beta=0.0), np.zeros((2, 4)))
    c2 = np.arange(8.0).reshape(2, 4)
    assert np.array_equal(gemm_ref(a, b, c2, alpha=0.0, beta=-2.0), -2.0 * c2)
    ones = np.ones((2, 3))
    assert np.array_equal(gemm_ref(ones, np.ones((3, 4)), c, alpha=1.0, beta=0.0), np.full((2, 4), 3.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_assert_close_catches_small_errors(dtype, rng):
    m, n, k = 9, 11, 300
    a = randn(rng, (m, k), dtype)
    b = randn(rng, (k, n), dtype)
    expected = gemm_ref(a, b)
    scale = gemm_scale(a, b)
    good = expected.astype(dtype)
    assert_close("matmul", good, expected, k, scale=scale, dtype=dtype)
    # One product dropped from one element of the sum (a classic off-by-one in K blocking);
    # the product of median size, so the test does not hinge on an unusually large term.
    terms = a[4, :].astype(np.float64) * b[:, 5]
    p = int(np.argsort(np.abs(terms))[k // 2])
    bad = good.copy()
    bad[4, 5] -= terms[p]
    with pytest.raises(AssertionError, match=r"out of tolerance"):
        assert_close("matmul", bad, expected, k, scale=scale, dtype=dtype)
    nan = good.copy()
    nan[0, 0] = np.nan
    with pytest.raises(AssertionError, match=r"out of tolerance"):
        assert_close("matmul", nan, expected, k, scale=scale, dtype=dtype)
    with pytest.raises(AssertionError, match=r"shape"):
        assert_close("matmul", good[:, :-1], expected, k, scale=scale, dtype=dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    with pytest.raises(AssertionError, match=r"dtype"):
        assert_close("matmul", good.astype(other), expected, k, scale=scale, dtype=dtype)
    # The float32 tolerance is far tighter than a loose global 1e-2 and grows like sqrt(K).
    assert (tolerance("gemm", np.float32, k, scale) < 1e-4 * scale).all()
    assert tolerance("gemm", np.float32, 4 * k, 1.0) < 2 * tolerance("gemm", np.float32, k, 1.0)


# ---------------------------------------------------------------------------------------
# Parity with the oracle: shapes around every block size, all transposes, alpha / beta
# ---------------------------------------------------------------------------------------

SMALL = (0, 1, 2, 3, 5, 7)
ALPHA_BETA = ((1.0, 0.0), (2.5, -0.5), (-0.75, 1.0))


def run_parity(shapes, alpha_betas, dtype, rng, reference=False):
    """Every transpose and (alpha, beta) of each shape against the oracle; with `reference`,
    through the plain reference kernel only."""
    for m, n, k in shapes:
        for trans_a, trans_b in TRANSPOSES:
            a = randn(rng, stored(m, k, trans_a), dtype)
            b = randn(rng, stored(k, n, trans_b), dtype)
            for alpha, beta in alpha_betas:
                # beta == 0: c starts as NaN, which must not leak into the result.
                c = randn(rng, (m, n), dtype) if beta else np.full((m, n), np.nan, dtype)
                check_gemm(a, b, c, alpha, beta, trans_a, trans_b, reference=reference)
            if reference:
                continue
            if not (trans_a or trans_b):
                check_matmul(a, b)
            fresh = kernels.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
            assert_close("gemm", fresh, gemm_ref(a, b, None, 1.0, 0.0, trans_a, trans_b), k,
                         scale=gemm_scale(a, b, None, 1.0, 0.0, trans_a, trans_b), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_small_shapes(cpu_path, dtype, rng):
    run_parity(itertools.product(SMALL, repeat=3), ALPHA_BETA, dtype, rng)


def edge_shapes(path, dtype):
    """(M, N, K) around the path's MR, NR, MC, KC and NC: each edge size appears as M and as N
    (the kernel may compute the transposed problem) and K crosses one and two KC blocks."""
    mr, nr, mc, kc, nc = blocks(path, dtype)
    mn_edges = sorted({mr - 1, mr + 1, nr - 1, nr + 1, mc + 1, 127, 257})
    k_edges = sorted({mr - 1, mr + 1, nr - 1, nr + 1, kc - 1, kc + 1, 2 * kc + 1, 127, 257})
    shapes = set()
    for v in mn_edges:
        shapes |= {(v, 5, 7), (3, v, 5), (v, v, 3)}
    for k in k_edges:
        shapes |= {(5, 7, k), (mr + 1, nr - 1, k), (mr - 1, nr + 1, k), (1, 1, k)}
    shapes |= {(127, 257, kc + 1), (257, 127, 2 * kc + 1), (mc + 1, nr + 1, kc - 1), (mr + 1, 257, 127),
               (2, nc + 1, 3), (nc + 1, 2, 3), (7, nc + 1, kc + 1)}
    return sorted(shapes)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_block_edges(cpu_path, dtype, rng):
    run_parity(edge_shapes(cpu_path, dtype), ((1.0, 0.0), (2.5, -0.5)), dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_random_alpha_beta(cpu_path, dtype, rng):
    mr, nr, mc, kc, nc = blocks(cpu_path, dtype)
    for _ in range(12):
        m, n = (int(x) for x in rng.integers(1, 2 * mc, size=2))
        k = int(rng.integers(1, 2 * kc + 2))
        alpha, beta = (float(x) for x in rng.uniform(-3, 3, size=2))
        trans_a, trans_b = (bool(x) for x in rng.integers(0, 2, size=2))
        a = randn(rng, stored(m, k, trans_a), dtype)
        b = randn(rng, stored(k, n, trans_b), dtype)
        check_gemm(a, b, randn(rng, (m, n), dtype), alpha, beta, trans_a, trans_b)


# Skinny products (one side at most 16 wide, K at least four vectors): the code paths that
# have one use a dot-product kernel there, so sweep its column blocks (1-6 wide, 2 rows),
# K's vector tail and both layouts of the second operand (read in place or transposed).
SKINNY_MN = (1, 2, 3, 5, 6, 7, 10, 11, 13, 16, 17)
SKINNY_K = (31, 32, 33, 39, 100, 257)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_skinny_products(cpu_path, dtype, rng):
    shapes = [(m, n, k) for n in SKINNY_MN for m in (1, 2, 3, 41) for k in SKINNY_K[::2]]
    shapes += [(41, n, k) for n in (5, 10, 16) for k in SKINNY_K]
    shapes += [(n, m, k) for m, n, k in shapes[::3]]  # the skinny side as M
    run_parity(sorted(set(shapes)), ((1.0, 0.0), (-0.75, 1.0)), dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_views_skinny(cpu_path, dtype, rng):
    for m, n, k in ((9, 10, 41), (10, 9, 40)):
        check_layouts(LAYOUTS, (m, k), (k, n), (m, n), TRANSPOSES, dtype, rng)


# Products with one to four rows: the code paths that have one stream B's rows in place
# through a rows kernel (pairs of rows, four rows of B at a time, stripes of 2048 floats or
# 1024 doubles), so sweep around those sizes, with the few rows as M and as N.
@pytest.mark.parametrize("dtype", DTYPES)
def test_parity_few_rows(cpu_path, dtype, rng):
    shapes = [(m, n, k) for m in (1, 2, 3, 4) for n in (1, 7, 9, 33, 1023, 1025, 2049) for k in (1, 3, 4, 5, 17)]
    shapes = shapes[::2] + [(n, m, k) for m, n, k in shapes[1::2]]
    run_parity(shapes, ((1.0, 0.0), (-0.75, 1.0)), dtype, rng)


# ---------------------------------------------------------------------------------------
# Memory layouts: padded leading dimensions, steps, negative strides, transposed views
# ---------------------------------------------------------------------------------------

# name -> (shape of the base buffer for a rows x cols operand, the rows x cols view of it).
LAYOUTS = {
    "contiguous": (lambda r, c: (r, c), lambda x, r, c: x),
    "padded": (lambda r, c: (r + 3, c + 5), lambda x, r, c: x[1:1 + r, 2:2 + c]),
    "step": (lambda r, c: (2 * r + 1, 3 * c + 1), lambda x, r, c: x[1::2, ::3][:r, :c]),
    "reversed": (lambda r, c: (r + 2, c + 2), lambda x, r, c: x[1:1 + r, 1:1 + c][::-1, ::-1]),
    "transposed": (lambda r, c: (c + 2, r + 1), lambda x, r, c: x[1:1 + c, :r].T),
    "fortran": (lambda r, c: (c, r), lambda x, r, c: x.T),
    "reversed_step_T": (lambda r, c: (2 * c, r + 1), lambda x, r, c: x[::-2, 1:].T),
}

# The same for (batch, rows, cols) operands.
LAYOUTS3 = {
    "contiguous": (lambda n, r, c: (n, r, c), lambda x, n, r, c: x),
    "batch_step_padded": (lambda n, r, c: (2 * n, r + 1, c + 3), lambda x, n, r, c: x[::2, 1:, 3:]),
    "transposed": (lambda n, r, c: (n, c, r), lambda x, n, r, c: x.swapaxes(1, 2)),
    "reversed": (lambda n, r, c: (n + 2, r + 1, c + 1), lambda x, n, r, c: x[n:0:-1, :r, 1:]),
    "batch_innermost": (lambda n, r, c: (r, c, n), lambda x, n, r, c: x.transpose(2, 0, 1)),
}


def make_operand(layouts, name, dims, rng, dtype, fill=None):
    """(base, view) for layout `name`: the view is random, the rest of base is `fill`
    (random when None). Also returns the mask of base elements inside the view."""
    base_shape, view_of = layouts[name]
    if fill is None:
        base = randn(rng, base_shape(*dims), dtype)
    else:
        base = np.full(base_shape(*dims), fill, dtype)
    view = view_of(base, *dims)
    assert view.shape == tuple(dims)
    view[...] = randn(rng, dims, dtype)
    mask = np.zeros(base.shape, bool)
    view_of(mask, *dims)[...] = True
    assert mask.sum() == np.prod(dims)  # the view's elements are distinct
    return base, view, mask


def check_layouts(layouts, dims_a, dims_b, dims_c, trans_list, dtype, rng, reference=False):
    """gemm over every (a, b, c) layout combination; c sits in a sentinel-filled buffer that
    must stay untouched outside the view."""
    combos = itertools.product(layouts, layouts, layouts, trans_list)
    for idx, (la, lb, lc, (trans_a, trans_b)) in enumerate(combos):
        da = dims_a[:-2] + (dims_a[-1], dims_a[-2]) if trans_a else dims_a
        db = dims_b[:-2] + (dims_b[-1], dims_b[-2]) if trans_b else dims_b
        _, a, _ = make_operand(layouts, la, da, rng, dtype)
        _, b, _ = make_operand(layouts, lb, db, rng, dtype)
        c_base, c, c_mask = make_operand(layouts, lc, dims_c, rng, dtype, fill=SENTINEL)
        alpha, beta = ((1.5, -0.5), (1.0, 0.0))[idx % 2]
        check_gemm(a, b, c, alpha, beta, trans_a, trans_b, reference=reference)
        assert (c_base[~c_mask] == SENTINEL).all(), f"wrote outside c ({la}, {lb}, {lc})"


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_views(cpu_path, dtype, rng):
    m, n, k = 13, 19, 37
    check_layouts(LAYOUTS, (m, k), (k, n), (m, n), TRANSPOSES, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_views_across_blocks(cpu_path, dtype, rng):
    mr, nr, mc, kc, nc = blocks(cpu_path, dtype)
    m, n, k = mc + 1, nr + 1, kc + 3
    picked = {name: LAYOUTS[name] for name in ("padded", "reversed", "transposed", "reversed_step_T")}
    check_layouts(picked, (m, k), (k, n), (m, n), ((False, False), (True, True)), dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_strided_views(cpu_path, dtype, rng):
    batch, m, n, k = 3, 7, 10, 9
    check_layouts(LAYOUTS3, (batch, m, k), (batch, k, n), (batch, m, n), TRANSPOSES, dtype, rng)


def test_fortran_and_sliced_inputs_to_matmul(cpu_path, rng):
    a = np.asfortranarray(randn(rng, (33, 41), np.float32))
    b = np.asfortranarray(randn(rng, (41, 29), np.float32))
    check_matmul(a, b)
    check_matmul(a[::3, 1::2], b[1::2, ::-1])
    out_base = np.full((29, 33), SENTINEL, np.float32)
    check_matmul(a, b, out=out_base.T)
    check_matmul(a[:, :0], b[:0], out=np.full((33, 29), np.nan, np.float32)[::-1])


def test_misaligned_inputs_are_read_correctly(cpu_path, rng):
    def misaligned(x):
        raw = np.zeros(x.nbytes + 1, np.uint8)
        view = raw[1:].view(x.dtype).reshape(x.shape)
        view[...] = x
        assert not view.flags.aligned
        return view
    a = randn(rng, (9, 14), np.float32)
    b = randn(rng, (14, 17), np.float32)
    check_matmul(misaligned(a), misaligned(b))
    check_gemm(misaligned(a), misaligned(b.T.copy()), randn(rng, (9, 17), np.float32), 2.0, 1.0, False, True)


# ---------------------------------------------------------------------------------------
# Batches, broadcasting, vectors, empty shapes
# ---------------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((4, 5, 6), (4, 6, 7)),
    ((1, 5, 6), (4, 6, 7)),
    ((4, 5, 6), (1, 6, 7)),
    ((5, 6), (4, 6, 7)),
    ((4, 5, 6), (6, 7)),
    ((1, 5, 6), (1, 6, 7)),
    ((1, 5, 6), (6, 7)),
    ((3, 17, 257), (1, 257, 33)),
    ((3, 1, 300), (300, 1)),
    ((6,), (6, 7)),
    ((5, 6), (6,)),
    ((6,), (4, 6, 7)),
    ((4, 5, 6), (6,)),
    ((1, 5, 6), (6,)),
    ((6,), (6,)),
    ((1,), (1,)),
    ((300,), (300,)),
    # empty: batch, M, N, K and vectors
    ((0, 5, 6), (6, 7)),
    ((0, 5, 6), (1, 6, 7)),
    ((5, 6), (0, 6, 7)),
    ((0, 5, 6), (0, 6, 7)),
    ((4, 0, 6), (4, 6, 7)),
    ((4, 5, 6), (6, 0)),
    ((4, 5, 0), (4, 0, 7)),
    ((0,), (0, 3)),
    ((3, 0), (0,)),
    ((0,), (0,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_batches_broadcasting_vectors(cpu_path, dtype, shape_a, shape_b, rng):
    a = randn(rng, shape_a, dtype)
    b = randn(rng, shape_b, dtype)
    result = check_matmul(a, b)
    assert result.shape == np.matmul(a, b).shape
    if result.ndim >= 1:
        # into a fresh out, and into a strided view of a bigger NaN-filled buffer
        check_matmul(a, b, out=np.full(result.shape, np.nan, dtype))
        base = np.full(result.shape + (2,), SENTINEL, dtype)
        check_matmul(a, b, out=base[..., 1])
        assert (base[..., 0] == SENTINEL).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_vector_dot_into_0d_out(dtype, rng):
    # np.matmul semantics: 1-D @ 1-D is a scalar, and a 0-d `out` receives it.
    a = randn(rng, (6,), dtype)
    b = randn(rng, (6,), dtype)
    out = np.full((), np.nan, dtype)
    assert check_matmul(a, b, out=out) is out


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_batched_broadcast_with_c(cpu_path, dtype, rng):
    mr, nr, mc, kc, nc = blocks(cpu_path, dtype)
    m, n, k = mr + 1, nr + 3, kc + 1
    for batch_a, batch_b in (((3,), (3,)), ((1,), (3,)), ((3,), (1,)), ((), (3,)), ((3,), ()), ((1,), ())):
        batch = np.broadcast_shapes(batch_a, batch_b)
        for trans_a, trans_b in TRANSPOSES:
            a = randn(rng, stored(m, k, trans_a, batch_a), dtype)
            b = randn(rng, stored(k, n, trans_b, batch_b), dtype)
            check_gemm(a, b, randn(rng, batch + (m, n), dtype), -1.25, 0.5, trans_a, trans_b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_size_dimensions(cpu_path, dtype, rng):
    # K == 0: a fresh result is all zeros (not uninitialised memory) ...
    for shape_a, shape_b in (((300, 0), (0, 400)), ((3, 50, 0), (3, 0, 70)), ((1, 8, 0), (0, 9))):
        r = kernels.matmul(np.ones(shape_a, dtype), np.ones(shape_b, dtype))
        assert r.dtype == dtype and r.shape == np.matmul(np.ones(shape_a), np.ones(shape_b)).shape
        assert (r == 0).all() and not np.signbit(r).any()
    # ... and gemm gives beta * C exactly (or zeros over NaN with beta == 0).
    a, b = np.ones((6, 0), dtype), np.ones((0, 5), dtype)
    c0 = randn(rng, (6, 5), dtype)
    c = c0.copy()
    assert kernels.gemm(a, b, c, alpha=3.0, beta=0.75) is c
    assert np.array_equal(c, dtype(0.75) * c0)
    c = np.full((6, 5), np.nan, dtype)
    kernels.gemm(a, b, c, alpha=3.0, beta=0.0)
    assert (c == 0).all()
    # M == 0 / N == 0 / empty batch: right shape, nothing written
    for shape_a, shape_b, shape_c in (((0, 4), (4, 5), (0, 5)), ((3, 4), (4, 0), (3, 0)),
                                      ((0, 3, 4), (4, 5), (0, 3, 5)), ((0, 3, 4), (1, 4, 5), (0, 3, 5))):
        c = np.empty(shape_c, dtype)
        assert kernels.gemm(np.ones(shape_a, dtype), np.ones(shape_b, dtype), c, beta=2.0) is c
        assert kernels.matmul(np.ones(shape_a, dtype), np.ones(shape_b, dtype)).shape == shape_c


# ---------------------------------------------------------------------------------------
# What the contract says is not read: c when beta == 0, a and b when alpha == 0
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_ignores_nan_inf_in_c(cpu_path, dtype, rng):
    mr, nr, mc, kc, nc = blocks(cpu_path, dtype)
    for m, n, k in ((1, 1, 1), (mr, nr, 5), (mr + 1, nr + 1, kc + 1), (2 * mr + 3, 3 * nr + 1, 2 * kc + 1)):
        for trans_a, trans_b in TRANSPOSES:
            a = randn(rng, stored(m, k, trans_a), dtype)
            b = randn(rng, stored(k, n, trans_b), dtype)
            for poison in (np.nan, np.inf, -np.inf):
                c = np.full((m, n), poison, dtype)
                check_gemm(a, b, c, 1.5, 0.0, trans_a, trans_b)
                assert np.isfinite(c).all()
                c_view = np.full((n, 2 * m), poison, dtype)[:, ::2].T
                check_gemm(a, b, c_view, 1.0, 0.0, trans_a, trans_b)
                out = np.full((m, n), poison, dtype)
                if not (trans_a or trans_b):
                    check_matmul(a, b, out=out)
    c3 = np.full((3, 5, 7), np.nan, dtype)
    check_gemm(randn(rng, (3, 5, 4), dtype), randn(rng, (4, 7), dtype), c3, 1.0, 0.0, False, False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_zero_ignores_nan_in_a_and_b(cpu_path, dtype, rng):
    for shape_a, shape_b, shape_c in (((7, 300), (300, 9), (7, 9)), ((2, 5, 3), (3, 4), (2, 5, 4))):
        a = np.full(shape_a, np.nan, dtype)
        b = np.full(shape_b, np.inf, dtype)
        c0 = randn(rng, shape_c, dtype)
        for beta in (1.0, -2.0, 0.75):
            c = c0.copy()
            assert kernels.gemm(a, b, c, alpha=0.0, beta=beta) is c
            assert np.array_equal(c, dtype(beta) * c0)
        c = np.full(shape_c, np.nan, dtype)
        kernels.gemm(a, b, c, alpha=0.0, beta=0.0)
        assert (c == 0).all()
        assert (kernels.gemm(a, b, alpha=0.0) == 0).all()


# ---------------------------------------------------------------------------------------
# Large sizes: a randomized residual check (Freivalds) instead of a full comparison
# ---------------------------------------------------------------------------------------

def test_large_residual_float32(cpu_path, rng):
    m, n, k = 1000, 1100, 1200
    a = randn(rng, (m, k), np.float32)
    b = randn(rng, (k, n), np.float32)
    c = kernels.matmul(a, b)
    assert c.shape == (m, n) and c.dtype == np.float32 and np.isfinite(c).all()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    t = rng.standard_normal((n, 2))
    residual = c.astype(np.float64) @ t - a64 @ (b64 @ t)
    # Each C_ij errs by at most tol_ij = tolerance(..., scale_ij) (reference.py), linear in
    # scale_ij = (|A||B|)_ij, so row i of C t errs by at most sum_j tol_ij |t_j|, which is the
    # tolerance of the scale |A| (|B| |t|). This worst-case sum is loose (a correct kernel
    # stays near 1e-3 of it) but still flags one product dropped from every element (~20x
    # over), one zeroed MR x NR tile (~50x) or one row missing a K block (~170x).
    bound = tolerance("matmul", np.float32, k, np.abs(a64) @ (np.abs(b64) @ np.abs(t)))
    assert (np.abs(residual) <= bound).all(), f"max residual/bound {np.max(np.abs(residual) / bound):.3g}"
    # Spot-check a sample of elements one by one, including the last row and column.
    rows = np.append(rng.integers(0, m, 40), m - 1)
    cols = np.append(rng.integers(0, n, 40), n - 1)
    want = np.einsum("ik,ki->i", a64[rows], b64[:, cols])
    scale = np.einsum("ik,ki->i", np.abs(a64[rows]), np.abs(b64[:, cols]))
    assert_close("matmul", c[rows, cols], want, k, scale=scale, dtype=np.float32)


def test_large_residual_transposed_gemm(cpu_path, rng):
    m, n, k = 517, 700, 1031
    at = randn(rng, (k, m), np.float32)   # op(a) = at.T
    bt = randn(rng, (n, k), np.float32)   # op(b) = bt.T
    c0 = randn(rng, (n, m), np.float32).T  # c is a transposed view
    c = c0.copy(order="K")
    out = kernels.gemm(at, bt, c, alpha=-0.5, beta=2.0, trans_a=True, trans_b=True)
    assert out is c
    a64, b64 = at.T.astype(np.float64), bt.T.astype(np.float64)
    t = rng.standard_normal((n, 2))
    residual = c.astype(np.float64) @ t - (-0.5 * (a64 @ (b64 @ t)) + 2.0 * (c0.astype(np.float64) @ t))
    scale = 0.5 * (np.abs(a64) @ (np.abs(b64) @ np.abs(t))) + 2.0 * (np.abs(c0.astype(np.float64)) @ np.abs(t))
    bound = tolerance("gemm", np.float32, k, scale)
    assert (np.abs(residual) <= bound).all(), f"max residual/bound {np.max(np.abs(residual) / bound):.3g}"


# ---------------------------------------------------------------------------------------
# Exactness and determinism
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_inputs_give_exact_results(cpu_path, dtype, rng):
    # Entries in [-3, 3] and K <= 2*KC+1 keep every partial sum an integer far below 2**24,
    # so any summation order is exact in float32 and the result must equal NumPy's int64
    # product bit for bit.
    mr, nr, mc, kc, nc = blocks(cpu_path, dtype)
    shapes = [((), 1, 1, 1), ((), mr + 1, nr - 1, kc - 1), ((), mr - 1, nr + 1, kc + 1),
              ((), 37, 45, 2 * kc + 1), ((), mc + 1, 2 * nr + 3, 300), ((3,), 9, 20, kc + 1),
              ((), 45, 10, 259), ((), 7, 13, 64), ((), 3, 2050, 9), ((), 2050, 1, 11)]
    for batch, m, n, k in shapes:
        for trans_a, trans_b in TRANSPOSES:
            ai = rng.integers(-3, 4, stored(m, k, trans_a, batch))
            bi = rng.integers(-3, 4, stored(k, n, trans_b, ()))  # broadcast over the batch
            ci = rng.integers(-50, 51, batch + (m, n))
            opa = np.swapaxes(ai, -1, -2) if trans_a else ai
            opb = bi.T if trans_b else bi
            for alpha, beta in ((1, 0), (2, -1), (-3, 2)):
                want = alpha * np.matmul(opa, opb) + beta * ci
                assert np.abs(want).max() < 2 ** 24
                c = ci.astype(dtype)
                kernels.gemm(ai.astype(dtype), bi.astype(dtype), c, alpha=alpha, beta=beta,
                             trans_a=trans_a, trans_b=trans_b)
                assert np.array_equal(c, want.astype(dtype)), (batch, m, n, k, trans_a, trans_b, alpha, beta)
            if not (trans_a or trans_b):
                got = kernels.matmul(ai.astype(dtype), bi.astype(dtype))
                assert np.array_equal(got, np.matmul(ai, bi).astype(dtype))


THREAD_CASES = [  # (batch of a, batch of b, M, N, K)
    ((), (), 301, 173, 517),
    ((), (), 128, 10, 256),
    ((), (), 10, 128, 256),
    ((), (), 256, 10, 512),
    ((), (), 97, 1, 700),
    ((), (), 301, 7, 99),        # skinny, with a K tail and an odd row
    ((), (), 3, 4100, 37),       # a few rows, several column stripes
    ((), (), 64, 4100, 8),       # more columns than one NC block
    ((4,), (4,), 67, 45, 300),   # batch splits evenly over 2 threads
    ((3,), (), 67, 45, 300),     # it does not: each product is threaded
    ((1,), (5,), 130, 31, 257),
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_bits(cpu_path, dtype, set_threads, rng):
    for batch_a, batch_b, m, n, k in THREAD_CASES:
        batch = np.broadcast_shapes(batch_a, batch_b)
        for trans_a, trans_b in TRANSPOSES:
            a = randn(rng, stored(m, k, trans_a, batch_a), dtype)
            b = randn(rng, stored(k, n, trans_b, batch_b), dtype)
            c0 = randn(rng, batch + (m, n), dtype)
            results = []
            for threads in (1, 2, 3):
                set_threads(threads)
                assert fastnn.get_num_threads() == threads
                c = c0.copy()
                kernels.gemm(a, b, c, alpha=1.25, beta=-0.5, trans_a=trans_a, trans_b=trans_b)
                results.append(c)
            assert_close("gemm", results[0], gemm_ref(a, b, c0, 1.25, -0.5, trans_a, trans_b), k,
                         scale=gemm_scale(a, b, c0, 1.25, -0.5, trans_a, trans_b), dtype=dtype)
            for r in results[1:]:
                assert r.tobytes() == results[0].tobytes(), (batch, m, n, k, trans_a, trans_b)


# ---------------------------------------------------------------------------------------
# The reference kernel (gemm_ref, the plain triple loop), reached through _C.gemm
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_kernel_matches_oracle(dtype, rng):
    shapes = list(itertools.product((0, 1, 3, 7), (0, 2, 5), (0, 1, 4))) + [(13, 17, 257), (33, 9, 513)]
    run_parity(shapes, ALPHA_BETA, dtype, rng, reference=True)
    fresh = _C.gemm("gemm", randn(rng, (2, 4, 3), dtype), randn(rng, (3, 5), dtype), None, 1.0, 0.0,
                    False, False, reference=True)
    assert fresh.shape == (2, 4, 5) and fresh.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_kernel_strided_and_batched(dtype, rng):
    picked = {name: LAYOUTS[name] for name in ("contiguous", "step", "reversed", "transposed")}
    check_layouts(picked, (5, 6), (6, 7), (5, 7), TRANSPOSES, dtype, rng, reference=True)
    check_layouts(LAYOUTS3, (2, 3, 4), (2, 4, 5), (2, 3, 5), ((False, True),), dtype, rng, reference=True)
    for batch_a, batch_b in (((1,), (3,)), ((3,), ()), ((), (3,))):
        batch = np.broadcast_shapes(batch_a, batch_b)
        a = randn(rng, batch_a + (4, 6), dtype)
        b = randn(rng, batch_b + (6, 5), dtype)
        check_gemm(a, b, randn(rng, batch + (4, 5), dtype), 2.0, 1.0, False, False, reference=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_kernel_integer_exact(dtype, rng):
    ai = rng.integers(-3, 4, (11, 300))
    bi = rng.integers(-3, 4, (300, 13))
    ci = rng.integers(-50, 51, (11, 13))
    c = ci.astype(dtype)
    _C.gemm("gemm", ai.astype(dtype), bi.astype(dtype), c, -3.0, 2.0, False, False, reference=True)
    assert np.array_equal(c, (-3 * (ai @ bi) + 2 * ci).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_kernel_beta_zero_ignores_nan_in_c(dtype, rng):
    a = randn(rng, (4, 6), dtype)
    b = randn(rng, (6, 5), dtype)
    for poison in (np.nan, np.inf):
        c = np.full((4, 5), poison, dtype)
        check_gemm(a, b, c, 1.0, 0.0, False, False, reference=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_kernel_alpha_zero_ignores_nan_in_a_and_b(dtype, rng):
    # Same contract as gemm (csrc/gemm/gemm.h): alpha == 0 means a and b are not read.
    a = np.full((4, 6), np.nan, dtype)
    b = np.full((6, 5), np.inf, dtype)
    c0 = randn(rng, (4, 5), dtype)
    c = c0.copy()
    _C.gemm("gemm", a, b, c, 0.0, 0.5, False, False, reference=True)
    assert np.array_equal(c, dtype(0.5) * c0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_kernel_output_aliasing_an_input(dtype, rng):
    a = randn(rng, (9, 9), dtype)
    b = randn(rng, (9, 9), dtype)
    x = a.copy()
    assert _C.gemm("gemm", x, b, x, 1.5, -1.0, False, False, reference=True) is x
    assert_close("gemm_ref", x, gemm_ref(a, b, a, 1.5, -1.0), 9, scale=gemm_scale(a, b, a, 1.5, -1.0), dtype=dtype)
    y = b.copy()
    _C.gemm("gemm", a, y, y.T, 1.0, 0.5, False, True, reference=True)
    want = gemm_ref(a, b, b.T, 1.0, 0.5, False, True)
    assert_close("gemm_ref", y.T, want, 9, scale=gemm_scale(a, b, b.T, 1.0, 0.5, False, True), dtype=dtype)


# ---------------------------------------------------------------------------------------
# Output aliasing an input
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_output_aliasing_an_input(cpu_path, dtype, rng):
    n = 37
    a = randn(rng, (n, n), dtype)
    b = randn(rng, (n, n), dtype)

    def fresh():
        return a.copy(), b.copy()

    x, y = fresh()
    assert kernels.matmul(x, y, out=x) is x
    assert_close("matmul", x, gemm_ref(a, b), n, scale=gemm_scale(a, b), dtype=dtype)
    x, y = fresh()
    kernels.matmul(x, y, out=y)
    assert_close("matmul", y, gemm_ref(a, b), n, scale=gemm_scale(a, b), dtype=dtype)
    x, _ = fresh()
    kernels.matmul(x, x, out=x)
    assert_close("matmul", x, gemm_ref(a, a), n, scale=gemm_scale(a, a), dtype=dtype)
    # gemm reading c (beta != 0) where c is a itself, and where c is a transposed view of b
    x, y = fresh()
    assert kernels.gemm(x, y, x, alpha=2.0, beta=-1.0) is x
    assert_close("gemm", x, gemm_ref(a, b, a, 2.0, -1.0), n, scale=gemm_scale(a, b, a, 2.0, -1.0), dtype=dtype)
    x, y = fresh()
    kernels.gemm(x, y, y.T, alpha=0.5, beta=1.5, trans_a=True)
    want = gemm_ref(a, b, b.T, 0.5, 1.5, True, False)
    assert_close("gemm", y.T, want, n, scale=gemm_scale(a, b, b.T, 0.5, 1.5, True, False), dtype=dtype)
    # c overlapping part of a's columns inside one buffer
    big = randn(rng, (n, 3 * n), dtype)
    big0 = big.copy()
    x, c = big[:, :n], big[:, n // 2:n // 2 + n]
    kernels.gemm(x, b, c, alpha=1.0, beta=1.0)
    want = gemm_ref(big0[:, :n], b, big0[:, n // 2:n // 2 + n], 1.0, 1.0)
    assert_close("gemm", c, want, n, scale=gemm_scale(big0[:, :n], b, big0[:, n // 2:n // 2 + n], 1.0, 1.0),
                 dtype=dtype)
    assert np.array_equal(big[:, n // 2 + n:], big0[:, n // 2 + n:])
    assert np.array_equal(big[:, :n // 2], big0[:, :n // 2])
    # batched: out is a
    a3 = randn(rng, (3, 9, 9), dtype)
    b3 = randn(rng, (9, 9), dtype)
    x3 = a3.copy()
    kernels.matmul(x3, b3, out=x3)
    assert_close("matmul", x3, gemm_ref(a3, b3), 9, scale=gemm_scale(a3, b3), dtype=dtype)


# ---------------------------------------------------------------------------------------
# Bad inputs: exception type, a message naming the op and the shapes, nothing changed
# ---------------------------------------------------------------------------------------

def expect_error(exc, patterns, fn, *args, watch=(), **kwargs):
    """fn(*args, **kwargs) raises exc; its message matches every regex in patterns (the first
    via pytest.raises(match=...)); every array in watch is unchanged afterwards."""
    before = [w.copy() for w in watch]
    with pytest.raises(exc, match=patterns[0]) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    for pattern in patterns[1:]:
        assert re.search(pattern, message), f"{pattern!r} not found in {message!r}"
    for w, w0 in zip(watch, before):
        assert np.array_equal(w, w0, equal_nan=True), "a failing call changed the caller's array"


def shape(*dims):
    """The regex for a shape as Python prints it: shape(2, 3) matches '(2, 3)'."""
    return re.escape(str(tuple(dims)))


def f32(*dims):
    return np.ones(dims, np.float32)


def test_errors_non_ndarray():
    out = np.full((2, 2), 7.0)
    expect_error(TypeError, [r"^\[matmul\] a must be a numpy\.ndarray, got list"],
                 kernels.matmul, [[1.0, 2.0], [3.0, 4.0]], np.ones((2, 2)), out=out, watch=[out])
    expect_error(TypeError, [r"^\[matmul\] b must be a numpy\.ndarray, got tuple"],
                 kernels.matmul, np.ones((2, 2)), ((1.0, 2.0), (3.0, 4.0)))
    expect_error(TypeError, [r"^\[matmul\] out must be a numpy\.ndarray, got list"],
                 kernels.matmul, np.ones((2, 2)), np.ones((2, 2)), out=[[0.0, 0.0], [0.0, 0.0]])
    expect_error(TypeError, [r"^\[gemm\] a must be a numpy\.ndarray, got float"], kernels.gemm, 1.0, np.ones((1, 1)))
    expect_error(TypeError, [r"^\[gemm\] c must be a numpy\.ndarray, got list"],
                 kernels.gemm, np.ones((1, 1)), np.ones((1, 1)), [[0.0]])


BAD_DTYPES = [np.int64, np.int32, np.float16, np.complex64, np.complex128, np.bool_, object,
              np.dtype(">f4"), np.dtype(">f8")]


@pytest.mark.parametrize("bad", BAD_DTYPES, ids=lambda d: str(np.dtype(d)))
def test_errors_unsupported_dtype(bad):
    good = np.ones((3, 4), np.float32)
    x = np.ones((2, 3), dtype=bad)
    out = np.full((2, 4), 7.0, np.float32)
    name = re.escape(str(np.dtype(bad)))
    expect_error(TypeError, [r"^\[matmul\] a has unsupported dtype " + name, "float32 or float64"],
                 kernels.matmul, x, good, out=out, watch=[out])
    expect_error(TypeError, [r"^\[matmul\] b has unsupported dtype " + name],
                 kernels.matmul, good.T, np.ones((3, 4), dtype=bad))
    c = np.full((2, 4), 7.0, np.float32)
    expect_error(TypeError, [r"^\[gemm\] a has unsupported dtype " + name],
                 kernels.gemm, x, good, c, beta=1.0, watch=[c])


def test_errors_mixed_and_wrong_output_dtype():
    out = np.full((2, 4), 7.0, np.float32)
    expect_error(TypeError, [r"^\[matmul\]", "float32", "float64"],
                 kernels.matmul, f32(2, 3), np.ones((3, 4)), out=out, watch=[out])
    expect_error(TypeError, [r"^\[gemm\]", "float64", "float32"], kernels.gemm, np.ones((2, 3)), f32(3, 4))
    out64 = np.full((2, 4), 7.0)
    expect_error(TypeError, [r"^\[matmul\] out has dtype float64", "float32"],
                 kernels.matmul, f32(2, 3), f32(3, 4), out=out64, watch=[out64])
    c32 = np.full((2, 4), 7.0, np.float32)
    expect_error(TypeError, [r"^\[gemm\] c has dtype float32", "float64"],
                 kernels.gemm, np.ones((2, 3)), np.ones((3, 4)), c32, beta=1.0, watch=[c32])
    c16 = np.full((2, 4), 7.0, np.float16)
    expect_error(TypeError, [r"^\[gemm\] c has dtype float16"], kernels.gemm, f32(2, 3), f32(3, 4), c16, watch=[c16])


def test_errors_inner_dimensions():
    out = np.full((2, 5), 7.0, np.float32)
    expect_error(ValueError, [r"^\[matmul\] inner dimensions", shape(2, 3), shape(4, 5)],
                 kernels.matmul, f32(2, 3), f32(4, 5), out=out, watch=[out])
    expect_error(ValueError, [r"^\[matmul\] inner dimensions", shape(2, 2, 3), shape(2, 4, 5)],
                 kernels.matmul, f32(2, 2, 3), f32(2, 4, 5))
    c = np.full((3, 5), 7.0, np.float32)
    expect_error(ValueError, [r"^\[gemm\] inner dimensions", shape(2, 3), shape(5, 4), "transposed"],
                 kernels.gemm, f32(2, 3), f32(5, 4), c, trans_a=True, trans_b=True, beta=1.0, watch=[c])
    expect_error(ValueError, [r"^\[gemm\] inner dimensions", shape(4, 3), shape(4, 5)],
                 kernels.gemm, f32(4, 3), f32(4, 5))


def test_errors_inner_dimensions_of_vectors_name_the_callers_shapes():
    out = np.full((), 7.0, np.float32)
    expect_error(ValueError, [r"^\[matmul\]", shape(3), shape(4)],
                 kernels.matmul, f32(3), f32(4), out=out, watch=[out])
    expect_error(ValueError, [r"^\[matmul\]", shape(2, 3), shape(4)], kernels.matmul, f32(2, 3), f32(4))


def test_errors_batch_and_ndim():
    out = np.full((3, 3, 5), 7.0, np.float32)
    expect_error(ValueError, [r"^\[matmul\] batch dimensions", shape(2, 3, 4), shape(3, 4, 5)],
                 kernels.matmul, f32(2, 3, 4), f32(3, 4, 5), out=out, watch=[out])
    expect_error(ValueError, [r"^\[matmul\] batch dimensions", shape(0, 3, 4), shape(2, 4, 5)],
                 kernels.matmul, f32(0, 3, 4), f32(2, 4, 5))
    c = np.full((2, 3, 5), 7.0, np.float32)
    expect_error(ValueError, [r"^\[gemm\] batch dimensions", shape(2, 3, 4), shape(3, 4, 5)],
                 kernels.gemm, f32(2, 3, 4), f32(3, 4, 5), c, beta=1.0, watch=[c])
    for fn, name, x, y, bad in (
            (kernels.matmul, "a", f32(2, 2, 2, 3), f32(3, 4), (2, 2, 2, 3)),
            (kernels.matmul, "b", f32(2, 3), f32(1, 1, 3, 4), (1, 1, 3, 4)),
            (kernels.matmul, "a", np.array(1.0, np.float32), f32(1, 4), ()),
            (kernels.gemm, "a", f32(2, 2, 2, 3), f32(3, 4), (2, 2, 2, 3)),
            (kernels.gemm, "a", f32(3), f32(3, 4), (3,)),
            (kernels.gemm, "b", f32(2, 3), np.array(1.0, np.float32), ())):
        op = fn.__name__
        expect_error(ValueError, [rf"^\[{op}\] {name} ", shape(*bad), r"2-D or 3-D"], fn, x, y)


def test_errors_output_shape():
    for bad in ((3, 3), (2, 4, 1), (1, 2, 4), (4, 2), (8,)):
        out = np.full(bad, 7.0, np.float32)
        expect_error(ValueError, [r"^\[matmul\] out has shape " + shape(*bad)],
                     kernels.matmul, f32(2, 3), f32(3, 4), out=out, watch=[out])
        c = np.full(bad, 7.0, np.float32)
        expect_error(ValueError, [r"^\[gemm\] c has shape " + shape(*bad), shape(2, 4)],
                     kernels.gemm, f32(2, 3), f32(3, 4), c, beta=1.0, watch=[c])
    out = np.full((3,), 7.0, np.float32)
    expect_error(ValueError, [r"^\[matmul\] out has shape " + shape(3)], kernels.matmul, f32(2, 3), f32(3), out=out,
                 watch=[out])
    c = np.full((2, 4), 7.0, np.float32)
    expect_error(ValueError, [r"^\[gemm\] c has shape " + shape(2, 4), shape(3, 2, 4)],
                 kernels.gemm, f32(3, 2, 3), f32(3, 4), c, watch=[c])


def test_errors_output_not_writable():
    ro = np.full((2, 4), 7.0, np.float32)
    ro.flags.writeable = False
    expect_error(ValueError, [r"^\[matmul\] out is read-only"], kernels.matmul, f32(2, 3), f32(3, 4), out=ro, watch=[ro])
    expect_error(ValueError, [r"^\[gemm\] c is read-only"], kernels.gemm, f32(2, 3), f32(3, 4), ro, watch=[ro])
    row = np.full(4, 7.0, np.float32)
    bcast = np.broadcast_to(row, (2, 4))
    expect_error(ValueError, [r"^\[matmul\] out (is read-only|has overlapping)"],
                 kernels.matmul, f32(2, 3), f32(3, 4), out=bcast, watch=[row])
    # writeable, but two rows share memory (stride 0): cannot hold a 2 x 4 result
    overlapping = np.lib.stride_tricks.as_strided(row, (2, 4), (0, 4), writeable=True)
    expect_error(ValueError, [r"^\[matmul\] out has overlapping elements"],
                 kernels.matmul, f32(2, 3), f32(3, 4), out=overlapping, watch=[row])
    expect_error(ValueError, [r"^\[gemm\] c has overlapping elements"],
                 kernels.gemm, f32(2, 3), f32(3, 4), overlapping, beta=1.0, watch=[row])
    buf = np.full(10, 7.0, np.float32)
    self_overlap = np.lib.stride_tricks.as_strided(buf, (3, 4), (8, 4), writeable=True)  # rows overlap
    expect_error(ValueError, [r"^\[gemm\] c has overlapping elements"],
                 kernels.gemm, f32(3, 3), f32(3, 4), self_overlap, watch=[buf])
    raw = np.full(2 * 4 * 4 + 1, 7, np.uint8)
    misaligned = raw[1:].view(np.float32).reshape(2, 4)
    expect_error(ValueError, [r"^\[matmul\] out .*not aligned"],
                 kernels.matmul, f32(2, 3), f32(3, 4), out=misaligned, watch=[raw])


def test_errors_beta_without_c():
    expect_error(ValueError, [r"^\[gemm\] beta"], kernels.gemm, f32(2, 3), f32(3, 4), beta=1.0)
    expect_error(ValueError, [r"^\[gemm\] beta"], kernels.gemm, f32(2, 3), f32(3, 4), alpha=0.0, beta=-0.5)


def test_failed_call_leaves_inputs_unchanged(rng):
    a = randn(rng, (4, 5), np.float32)
    b = randn(rng, (6, 3), np.float32)
    c = randn(rng, (4, 3), np.float32)
    expect_error(ValueError, [r"^\[gemm\]"], kernels.gemm, a, b, c, alpha=2.0, beta=1.0, watch=[a, b, c])
    expect_error(ValueError, [r"^\[gemm\]"], kernels.gemm, a, a, a, beta=1.0, watch=[a])


# ---------------------------------------------------------------------------------------
# Threads, CPU code paths, configuration
# ---------------------------------------------------------------------------------------

def test_set_and_get_num_threads(set_threads):
    for n in (1, 3, 2):
        set_threads(n)
        assert fastnn.get_num_threads() == n
        assert fastnn.config()["num_threads"] == n
    for bad in (0, -1):
        with pytest.raises(ValueError, match=r"n >= 1"):
            fastnn.set_num_threads(bad)
    for bad in ("2", 2.0, True, None):
        with pytest.raises(TypeError, match=r"int"):
            fastnn.set_num_threads(bad)
    assert fastnn.get_num_threads() == 2  # failed calls changed nothing


def test_cpu_capability_api():
    best = _C.best_cpu_capability()
    assert best in CPU_PATHS and _C.cpu_supports(best)
    assert _C.cpu_supports("scalar")
    assert _C.cpu_capability() in CPU_PATHS
    with pytest.raises(ValueError, match=r"unknown CPU code path 'sse9'"):
        _C.cpu_supports("sse9")
    before = _C.cpu_capability()
    with pytest.raises(ValueError, match=r"unknown CPU code path"):
        _C.set_cpu_capability("AVX3")
    assert _C.cpu_capability() == before


@pytest.mark.parametrize("name", CPU_PATHS)
def test_unsupported_cpu_path_is_refused(name):
    if _C.cpu_supports(name):
        pytest.skip(f"this CPU supports {name}: nothing to refuse")
    before = _C.cpu_capability()
    with pytest.raises(ValueError, match=rf"'{name}' is not supported"):
        _C.set_cpu_capability(name)
    assert _C.cpu_capability() == before


def test_config_contents():
    c = fastnn.config()
    assert set(c) == {"version", "compiler", "cpu_capability", "best_cpu_capability", "forced_cpu_capability",
                      "num_threads", "cuda_built", "cuda_usable", "cuda_detail"}
    assert isinstance(fastnn.__version__, str) and fastnn.__version__
    assert c["version"] == fastnn.__version__ == importlib.metadata.version("fastnn")
    assert isinstance(c["compiler"], str) and c["compiler"] and c["compiler"] != "unknown"
    assert c["cpu_capability"] == _C.cpu_capability()
    assert c["best_cpu_capability"] == _C.best_cpu_capability()
    assert c["forced_cpu_capability"] == (os.environ.get("FASTNN_CPU_CAPABILITY") or None)
    assert c["num_threads"] == fastnn.get_num_threads() >= 1
    assert isinstance(c["cuda_built"], bool) and isinstance(c["cuda_usable"], bool)
    assert isinstance(c["cuda_detail"], str) and c["cuda_detail"]
    assert c["cuda_usable"] == fastnn.cuda.is_available()
    assert not c["cuda_usable"] or c["cuda_built"]
    count = fastnn.cuda.device_count()
    assert isinstance(count, int) and (count > 0) == fastnn.cuda.is_available()


def test_show_config(cpu_path, set_threads, capsys):
    set_threads(1)
    fastnn.show_config()
    text = capsys.readouterr().out
    c = fastnn.config()
    assert f"fastnn {fastnn.__version__}" in text
    assert re.search(r"compiler:\s+" + re.escape(c["compiler"]), text)
    assert re.search(r"CPU code path:\s+" + cpu_path + r"\b", text)
    assert re.search(r"threads:\s+1\b", text)
    assert re.search(r"CUDA:\s+(usable|built|off)", text)
    if cpu_path != c["best_cpu_capability"] and not c["forced_cpu_capability"]:
        assert f"best supported: {c['best_cpu_capability']}" in text


def test_cuda_namespace_after_plain_import(tmp_path):
    # fastnn.cuda, like torch.cuda, must be usable after `import fastnn` alone: checked in a
    # fresh interpreter, since this module's own `import fastnn.cuda` sets the attribute here.
    code = "import fastnn; print(fastnn.cuda.is_available(), fastnn.cuda.device_count())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(fastnn.cuda.is_available()), str(fastnn.cuda.device_count())]


def test_cpu_capability_env_var(tmp_path):
    code = "import fastnn; print(fastnn._C.cpu_capability()); fastnn.show_config()"

    def run(value):
        env = dict(os.environ, FASTNN_CPU_CAPABILITY=value)
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    for name in CPU_PATHS:
        proc = run(name)
        if _C.cpu_supports(name):
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.splitlines()[0] == name
            assert "forced by FASTNN_CPU_CAPABILITY" in proc.stdout
        else:
            assert proc.returncode != 0
            assert re.search(rf"RuntimeError: FASTNN_CPU_CAPABILITY='{name}'.*not supported", proc.stderr), proc.stderr
    proc = run("sse9")
    assert proc.returncode != 0
    assert re.search(r"RuntimeError: FASTNN_CPU_CAPABILITY='sse9'.*unknown CPU code path", proc.stderr), proc.stderr


@pytest.mark.parametrize("path", CPU_PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_block_sizes_are_consistent(path, dtype):
    # Reported for every path this build has, runnable here or not.
    mr, nr, mc, kc, nc = blocks(path, dtype)
    assert min(mr, nr, mc, kc, nc) >= 1
    assert mc % mr == 0 and nc % nr == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_b_widths_around_the_4x4_packing(cpu_path, dtype, rng):
    # Packing a transposed B goes 4x4 block by block where it can: widths that are multiples
    # of 4 but not of NR, and K not a multiple of 4, take both the blocked and the plain path.
    kc = blocks(cpu_path, dtype)[3]
    run_parity([(m, n, k) for m in (1, 13) for n in (4, 8, 12, 20) for k in (3, 4, 9, kc + 5)],
               ((1.0, 0.0), (0.5, 2.0)), dtype, rng)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_a_working_thread_pool():
    # The child of a fork has none of the parent's worker threads; the pool must rebuild
    # itself there instead of waiting forever for workers that do not exist.
    script = (
        "import os, numpy as np, fastnn\n"
        "from fastnn import kernels\n"
        "fastnn.set_num_threads(2)\n"
        "a = np.arange(300 * 300, dtype=np.float32).reshape(300, 300) % 7\n"
        "r = kernels.matmul(a, a)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if np.array_equal(kernels.matmul(a, a), r) else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
