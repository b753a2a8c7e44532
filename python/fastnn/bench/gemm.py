"""GEMM suite: C[M,N] = A[M,K] @ B[K,N] at square sizes and at training shapes.

Each training shape M×K×N (a layer C = A·B, upstream gradient G = dC[M,N]) is timed three
ways: "A·B" (forward), "G·Bᵀ" (dA = G @ Bᵀ: M×K, inner N) and "Aᵀ·G" (dB = Aᵀ @ G: K×N,
inner M). A, B and G stay stored row-major as M×K, K×N and M×N, the layout a training
framework holds; each library gets transposed views (fastnn trans_a/trans_b, numpy .T,
torch .t()), never copies, and writes into a preallocated output. Every product costs
2·M·K·N flops.

This module is imported by the parent (``cases``, ``tables``) and, as a top-level module,
by the worker (``prepare``), so it imports nothing from fastnn.
"""

import numpy as np

SQUARES = (64, 128, 256, 512, 1024, 2048)
TRAINING = ((128, 784, 256), (128, 256, 128), (128, 256, 10), (128, 3136, 128), (256, 4096, 1024))
QUICK_SQUARES = (64, 256, 1024)
QUICK_TRAINING = ((128, 784, 256), (128, 256, 10))
SKINNY = "128×256×10"

# variant: (left operand, right operand, transpose left, transpose right), operands as stored
VARIANTS = {"A·B": ("a", "b", False, False),
            "G·Bᵀ": ("g", "b", False, True),
            "Aᵀ·G": ("a", "g", True, False)}

NOTE = ("every library writes into a preallocated output "
        "(fastnn gemm(c=...), np.matmul(out=...), torch.mm(out=...)); transposes are views")


def _case(m, k, n, variant):
    shape = f"{m}×{k}×{n}"
    return {"label": f"{shape} {variant}", "shape": shape, "variant": variant,
            "m": m, "k": k, "n": n, "flops": 2 * m * k * n}


def cases(quick):
    """The cases to time, as JSON-able dicts with a unique "label" and their "flops"."""
    squares, training = (QUICK_SQUARES, QUICK_TRAINING) if quick else (SQUARES, TRAINING)
    return ([_case(s, s, s, "A·B") for s in squares]
            + [_case(m, k, n, v) for m, k, n in training for v in VARIANTS])


def prepare(lib, module, case, dtype):
    """A no-argument callable computing `case` with `lib` (`module`: the imported library)."""
    m, k, n = case["m"], case["k"], case["n"]
    rng = np.random.default_rng(0)
    stored = {name: rng.standard_normal(shape, dtype=dtype)
              for name, shape in (("a", (m, k)), ("b", (k, n)), ("g", (m, n)))}
    left, right, trans_l, trans_r = VARIANTS[case["variant"]]
    x, y = stored[left], stored[right]
    out = np.empty((x.shape[1] if trans_l else x.shape[0], y.shape[0] if trans_r else y.shape[1]), dtype)
    if lib == "fastnn":
        gemm = module.kernels.gemm
        return lambda: gemm(x, y, out, trans_a=trans_l, trans_b=trans_r)
    if lib == "numpy":
        xv, yv = (x.T if trans_l else x), (y.T if trans_r else y)
        return lambda: np.matmul(xv, yv, out=out)
    if lib == "torch":
        torch = module
        tx, ty, tout = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(out)
        tx, ty = (tx.t() if trans_l else tx), (ty.t() if trans_r else ty)
        return lambda: torch.mm(tx, ty, out=tout)
    raise ValueError(f"[bench gemm] no implementation for library {lib!r}")


def _ratio(x, y):
    return None if x is None or y is None else x / y


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def tables(suite, results):
    """One table per thread count: (title, headers, align, rows, summary lines)."""
    return [_table(t, suite, results) for t in results["settings"]["threads"]]


def _table(t, suite, results):
    libs = results["settings"]["libs"]
    available = {lib: results["libraries"][lib]["available"] for lib in libs}
    others = [lib for lib in libs if lib != "fastnn"] if "fastnn" in libs else []
    gflops = {(r["label"], r["lib"]): r["gflops"] for r in suite["records"] if r["threads"] == t}
    peak = results["peak"].get(str(t), {}).get("gflops")

    def pct(label, lib):
        return None if peak is None else _ratio(gflops.get((label, lib)), peak / 100)

    def ratio(label, lib):
        return _ratio(gflops.get((label, "fastnn")), gflops.get((label, lib)))

    headers = (["shape M×K×N", "product"] + [f"{lib} GF/s" for lib in libs]
               + [f"fastnn/{lib}" for lib in others] + ["fastnn %peak"] * ("fastnn" in libs))
    rows = []
    for case in suite["cases"]:
        label = case["label"]
        rows.append([case["shape"], case["variant"]]
                    + [_fmt(gflops.get((label, lib)), ".1f") if available[lib] else "not installed"
                       for lib in libs]
                    + [_fmt(ratio(label, lib), ".2f") if available[lib] else "not installed"
                       for lib in others]
                    + [_fmt(pct(label, "fastnn"), ".0f")] * ("fastnn" in libs))

    summary = []
    squares = [c for c in suite["cases"] if c["m"] == c["k"] == c["n"] and 256 <= c["m"] <= 2048]
    skinny = [c for c in suite["cases"] if c["shape"] == SKINNY]
    for lib in others:
        if not available[lib]:
            summary.append(f"fastnn/{lib}: not installed")
            continue
        ratios = [r for r in (ratio(c["label"], lib) for c in squares) if r is not None]
        if ratios:
            sizes = f"{squares[0]['m']}–{squares[-1]['m']}"
            summary.append(f"fastnn/{lib}, median over squares {sizes}: {np.median(ratios):.2f}")
        if skinny:
            parts = "  ".join(f"{c['variant']} {_fmt(ratio(c['label'], lib), '.2f')}" for c in skinny)
            summary.append(f"fastnn/{lib} on {SKINNY}: {parts}")
    big = [c for c in suite["cases"] if c["m"] == c["k"] == c["n"] and c["m"] >= 1024]
    if t == 1 and big and peak is not None:
        sizes = ", ".join(f"{c['m']}³" for c in big)
        parts = "; ".join(f"{lib} " + ", ".join(_fmt(pct(c["label"], lib), ".0f") + "%" for c in big)
                          for lib in libs if available[lib])
        summary.append(f"% of 1-thread peak at {sizes}: {parts}")

    title = (f"GEMM {results['settings']['dtype']}, {t} thread{'s' if t > 1 else ''}"
             f" (GF/s = GFLOP/s; peak {_fmt(peak, '.1f')} GFLOP/s)")
    return title, headers, "ll" + "r" * (len(headers) - 2), rows, summary
