"""fastnn.kernels.linear / linear_backward against the float64 oracle: leading dimensions,
edge shapes, the GEMM's block boundaries (the bias is added blockwise in its epilogue),
both orientations the GEMM may choose, thread counts, bad input."""

import numpy as np
import pytest

from fastnn import _C, kernels
from reference import (assert_close, assert_grad_matches, linear_backward_ref, linear_ref, numerical_grad)

DTYPES = (np.float32, np.float64)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def check_linear(x, w, b, g):
    """Forward and all three gradients against the oracle, with GEMM-model tolerances."""
    dtype = x.dtype
    out = kernels.linear(x, w, b)
    scale = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
    if b is not None:
        scale = scale + np.abs(b.astype(np.float64))
    assert_close("linear", out, linear_ref(x, w, b), x.shape[-1], scale=scale, dtype=dtype)
    dx, dw, db = kernels.linear_backward(g, x, w)
    edx, edw, edb = linear_backward_ref(g, x, w)
    g64, x64, w64 = (np.abs(a.astype(np.float64)) for a in (g, x, w))
    rows = int(np.prod(x.shape[:-1]))
    g2, x2 = g64.reshape(rows, w.shape[0]), x64.reshape(rows, w.shape[1])
    assert_close("linear", dx, edx, w.shape[0], scale=(g2 @ w64).reshape(x.shape), dtype=dtype)
    assert_close("linear", dw, edw, rows, scale=g2.T @ x2, dtype=dtype)
    assert_close("linear", db, edb, rows, scale=g2.sum(axis=0), dtype=dtype)


def test_oracle_backward_matches_finite_differences(rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    g = rng.standard_normal((3, 5))
    dx, dw, db = linear_backward_ref(g, x, w)
    assert_grad_matches(dx, lambda v: linear_ref(v, w, b), x, g)
    assert_grad_matches(dw, lambda v: linear_ref(x, v, b), w, g)
    assert_grad_matches(db, lambda v: linear_ref(x, w, v), b, g)
    assert numerical_grad(lambda v: linear_ref(x, w, v), b, g).shape == b.shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (2, 3, 5), (7, 13, 11), (128, 784, 256), (128, 256, 10),
                                     (0, 4, 3), (3, 0, 4), (5, 4, 0), (97, 5, 1), (1, 389, 131)])
def test_parity_shapes(dtype, m, k, n, rng):
    x, w, b, g = randn(rng, (m, k), dtype), randn(rng, (n, k), dtype), randn(rng, (n,), dtype), randn(rng, (m, n), dtype)
    check_linear(x, w, b, g)
    check_linear(x, w, None, g)


@pytest.mark.parametrize("path", ["scalar", "avx2", "avx512"])
def test_bias_epilogue_across_gemm_blocks(path, rng):
    """Shapes spanning several MC x NC blocks, and a tall-skinny one the GEMM computes as
    C^T: the bias must land on every element exactly once, in C's own coordinates."""
    if not _C.cpu_supports(path):
        pytest.skip(f"CPU lacks the {path} code path")
    saved = _C.cpu_capability()
    _C.set_cpu_capability(path)
    try:
        mr, nr, mc, kc, nc = _C.gemm_block_sizes(path, False)
        for m, k, n in ((2 * mc + 3, kc + 1, nr + 1), (mr + 1, 3, nc + nr + 1), (1000, 20, 3), (3, 20, 1000)):
            x, w, b = randn(rng, (m, k), np.float32), randn(rng, (n, k), np.float32), randn(rng, (n,), np.float32)
            check_linear(x, w, b, randn(rng, (m, n), np.float32))
    finally:
        _C.set_cpu_capability(saved)


@pytest.mark.parametrize("dtype", DTYPES)
def test_leading_dimensions_and_vectors(dtype, rng):
    w, b = randn(rng, (6, 5), dtype), randn(rng, (6,), dtype)
    for shape in ((5,), (2, 3, 5), (4, 1, 2, 5)):
        x = randn(rng, shape, dtype)
        check_linear(x, w, b, randn(rng, shape[:-1] + (6,), dtype))


def test_non_contiguous_inputs(rng):
    x = randn(rng, (9, 14), np.float32)[::2, ::2]
    w = randn(rng, (7, 8), np.float32)[:, 1:].T.copy().T  # Fortran-ordered
    b = randn(rng, (14,), np.float32)[::2]
    g = randn(rng, (10, 7), np.float32)[::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous and not b.flags.c_contiguous
    check_linear(x, w, b, g)


def test_output_mask_skips_gradients(rng):
    x, w, g = randn(rng, (4, 3), np.float32), randn(rng, (2, 3), np.float32), randn(rng, (4, 2), np.float32)
    dx, dw, db = kernels.linear_backward(g, x, w, output_mask=(False, True, False))
    assert dx is None and db is None and dw.shape == w.shape


def test_same_bits_on_one_and_two_threads(same_bits_on_1_and_2_threads, rng):
    x, w, b = randn(rng, (300, 200), np.float32), randn(rng, (150, 200), np.float32), randn(rng, (150,), np.float32)
    g = randn(rng, (300, 150), np.float32)
    same_bits_on_1_and_2_threads(lambda: (kernels.linear(x, w, b, activation="gelu"),
                                          *kernels.linear_backward(g, x, w)))


@pytest.mark.parametrize("args, exc, pattern", [
    ((np.ones((2, 3), np.float32), np.ones((4, 5), np.float32)), ValueError, r"\[linear\] input has shape \(2, 3\)"),
    ((np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.ones(3, np.float32)), ValueError,
     r"\[linear\] bias has shape \(3,\), expected \(4,\)"),
    ((np.ones((2, 3), np.float32), np.ones((4, 3), np.float64)), TypeError, r"\[linear\] input has dtype float32"),
    ((np.ones((2, 3), np.int64), np.ones((4, 3), np.int64)), TypeError, r"\[linear\] input has unsupported dtype"),
    ((np.ones((2, 3), np.float32), np.ones(3, np.float32)), ValueError, r"\[linear\] expected"),
    (([[1.0]], np.ones((1, 1), np.float32)), TypeError, r"\[linear\] input must be a numpy.ndarray"),
])
def test_bad_input(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        kernels.linear(*args)


def test_bad_backward_input(rng):
    x, w = randn(rng, (4, 3), np.float32), randn(rng, (2, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[linear_backward\] shapes do not match"):
        kernels.linear_backward(randn(rng, (4, 3), np.float32), x, w)
    with pytest.raises(TypeError, match=r"\[linear_backward\]"):
        kernels.linear_backward(randn(rng, (4, 2), np.float64), x, w)


ACTIVATIONS = [("relu", lambda y: kernels.relu(y)),
               ("leaky_relu", lambda y: kernels.leaky_relu(y)),
               (("leaky_relu", 0.2), lambda y: kernels.leaky_relu(y, 0.2)),
               ("elu", lambda y: kernels.elu(y)),
               (("elu", 0.5), lambda y: kernels.elu(y, 0.5)),
               ("gelu", lambda y: kernels.gelu(y)),
               ("gelu_tanh", lambda y: kernels.gelu(y, approximate="tanh")),
               ("sigmoid", kernels.sigmoid),
               ("tanh", kernels.tanh)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation, unfused", ACTIVATIONS, ids=[str(a) for a, _ in ACTIVATIONS])
def test_fused_activation_equals_unfused(activation, unfused, dtype, rng):
    """The epilogue runs the same activation kernel on each finished block, so the fused
    result matches linear followed by the activation bit for bit, across GEMM blocks and
    in the transposed orientation."""
    for m, k, n in ((5, 7, 3), (300, 40, 4100), (1000, 20, 3), (128, 784, 256)):
        x, w, b = randn(rng, (m, k), dtype), randn(rng, (n, k), dtype), randn(rng, (n,), dtype)
        fused = kernels.linear(x, w, b, activation=activation)
        assert fused.tobytes() == unfused(kernels.linear(x, w, b)).tobytes()
        assert kernels.linear(x, w, None, activation=activation).tobytes() == unfused(kernels.linear(x, w)).tobytes()


def test_fused_relu_against_oracle(rng):
    x, w, b = randn(rng, (33, 17), np.float32), randn(rng, (9, 17), np.float32), randn(rng, (9,), np.float32)
    out = kernels.linear(x, w, b, activation="relu")
    scale = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T + np.abs(b.astype(np.float64))
    assert_close("linear", out, np.maximum(linear_ref(x, w, b), 0), 17, scale=scale, dtype=np.float32)


@pytest.mark.parametrize("activation", ["softmax", "", ("relu", 1.0), 3])
def test_unknown_activation(activation):
    x, w = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[linear\] (unknown activation|activation must be)"):
        kernels.linear(x, w, activation=activation)
