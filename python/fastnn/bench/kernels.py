"""Kernels suite: the layers of a small CNN and an MLP step, fastnn against PyTorch (and NumPy
where a plain NumPy version is the natural alternative).

Cases: conv2d 3×3, padding 1, stride 1 (forward, and forward + all three gradients) on three
layer shapes N×C×H×W → OC; 2×2 max pooling forward + backward on those convolutions'
outputs; relu forward + backward on the first one; cross_entropy forward + backward on
128×10 logits; one Adam step over the parameters of a 784-256-128-10 MLP (235,146 values in
6 arrays). Backward passes get a random upstream gradient. PyTorch runs its own ops
(``torch.nn.functional``, ``torch.autograd.grad``, ``torch.optim.Adam(fused=True)``);
NumPy runs vectorised transcriptions (no conv2d: NumPy has none).

This module is imported by the parent (``cases``, ``tables``) and, as a top-level module,
by the worker (``prepare``), so it imports nothing from fastnn.
"""

import numpy as np

# N, C, H (= W), OC of the 3×3, padding-1 convolutions.
CONVS = ((128, 1, 28, 32), (128, 32, 14, 64), (32, 64, 56, 64))
QUICK_CONVS = CONVS[:1]
MLP = (784, 256, 128, 10)
LOGITS = (128, 10)
NOTE = ("times are medians per call; a ratio is the other library's time over fastnn's (above 1: "
        "fastnn faster); backward passes compute every gradient (input, weight, bias)")


def _conv_name(n, c, h, oc):
    return f"N{n} C{c} {h}×{h} → {oc}"


def cases(quick):
    """The cases to time, as JSON-able dicts with a unique "label" and their "flops"
    (None where GFLOP/s mean nothing)."""
    out = []
    for n, c, h, oc in (QUICK_CONVS if quick else CONVS):
        name = _conv_name(n, c, h, oc)
        fwd = 2 * n * oc * h * h * c * 9
        geometry = {"n": n, "c": c, "h": h, "oc": oc}
        out.append({"label": f"conv2d {name} fwd", "op": "conv2d", "pass": "fwd", "shape": name,
                    "flops": fwd, **geometry})
        out.append({"label": f"conv2d {name} fwd+bwd", "op": "conv2d", "pass": "fwd+bwd", "shape": name,
                    "flops": 3 * fwd, **geometry})
    for n, _, h, oc in (QUICK_CONVS if quick else CONVS):
        name = f"N{n} C{oc} {h}×{h}"
        out.append({"label": f"max_pool2d 2×2 {name} fwd+bwd", "op": "max_pool2d", "pass": "fwd+bwd",
                    "shape": name, "flops": None, "n": n, "c": oc, "h": h})
    n, _, h, oc = CONVS[0]
    out.append({"label": f"relu N{n} C{oc} {h}×{h} fwd+bwd", "op": "relu", "pass": "fwd+bwd",
                "shape": f"N{n} C{oc} {h}×{h}", "flops": None, "n": n, "c": oc, "h": h})
    out.append({"label": f"cross_entropy {LOGITS[0]}×{LOGITS[1]} fwd+bwd", "op": "cross_entropy",
                "pass": "fwd+bwd", "shape": f"{LOGITS[0]}×{LOGITS[1]}", "flops": None})
    sizes = [m * k + k for m, k in zip(MLP, MLP[1:])]
    out.append({"label": f"adam step MLP {'-'.join(map(str, MLP))}", "op": "adam", "pass": "step",
                "shape": f"{sum(sizes)} params", "flops": None})
    return out


def _conv(lib, module, case, dtype, rng):
    n, c, h, oc = case["n"], case["c"], case["h"], case["oc"]
    x = rng.standard_normal((n, c, h, h), dtype=dtype)
    w = rng.standard_normal((oc, c, 3, 3), dtype=dtype) * dtype(1 / np.sqrt(9 * c))
    b = rng.standard_normal(oc, dtype=dtype)
    g = rng.standard_normal((n, oc, h, h), dtype=dtype)
    backward = case["pass"] == "fwd+bwd"
    if lib == "fastnn":
        k = module.kernels
        if not backward:
            return lambda: k.conv2d(x, w, b, padding=1)

        def step():
            k.conv2d(x, w, b, padding=1)
            return k.conv2d_backward(g, x, w, padding=1)
        return step
    if lib == "torch":
        torch, F = module, module.nn.functional
        tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, g))
        if not backward:
            def forward():
                with torch.no_grad():
                    return F.conv2d(tx, tw, tb, padding=1)
            return forward
        for t in (tx, tw, tb):
            t.requires_grad_(True)
        return lambda: torch.autograd.grad(F.conv2d(tx, tw, tb, padding=1), (tx, tw, tb), tg)
    return None


def _max_pool(lib, module, case, dtype, rng):
    n, c, h = case["n"], case["c"], case["h"]
    x = rng.standard_normal((n, c, h, h), dtype=dtype)
    g = rng.standard_normal((n, c, h // 2, h // 2), dtype=dtype)
    if lib == "fastnn":
        k = module.kernels

        def step():
            _, indices = k.max_pool2d(x, 2, return_indices=True)
            return k.max_pool2d_backward(g, indices, x.shape)
        return step
    if lib == "numpy":
        blocks = x.reshape(n, c, h // 2, 2, h // 2, 2)

        def step():
            y = blocks.max(axis=(3, 5))
            mask = blocks == y[:, :, :, None, :, None]  # ties share the gradient; fine for timing
            return y, (mask * g[:, :, :, None, :, None]).reshape(x.shape)
        return step
    torch, F = module, module.nn.functional
    tx, tg = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(g)
    return lambda: torch.autograd.grad(F.max_pool2d(tx, 2), tx, tg)


def _relu(lib, module, case, dtype, rng):
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["h"]), dtype=dtype)
    g = rng.standard_normal(x.shape, dtype=dtype)
    if lib == "fastnn":
        k = module.kernels
        return lambda: (k.relu(x), k.relu_backward(g, x))
    if lib == "numpy":
        return lambda: (np.maximum(x, 0), np.where(x > 0, g, 0))
    torch, F = module, module.nn.functional
    tx, tg = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(g)
    return lambda: torch.autograd.grad(F.relu(tx), tx, tg)


def _cross_entropy(lib, module, case, dtype, rng):
    n, classes = LOGITS
    x = rng.standard_normal((n, classes), dtype=dtype) * dtype(3)
    t = rng.integers(0, classes, n)
    if lib == "fastnn":
        k = module.kernels
        one = np.ones((), dtype)
        return lambda: (k.cross_entropy(x, t), k.cross_entropy_backward(one, x, t))
    if lib == "numpy":
        rows = np.arange(n)

        def step():
            z = x - x.max(axis=1, keepdims=True)
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            loss = np.mean(np.log(s[:, 0]) - z[rows, t])
            grad = e / s
            grad[rows, t] -= 1
            return loss, grad / n
        return step
    torch, F = module, module.nn.functional
    tx, tt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(t)
    return lambda: torch.autograd.grad(F.cross_entropy(tx, tt), tx)


def _adam(lib, module, case, dtype, rng):
    shapes = [s for m, k in zip(MLP, MLP[1:]) for s in ((k, m), (k,))]
    params = [rng.standard_normal(s, dtype=dtype) * dtype(0.05) for s in shapes]
    grads = [rng.standard_normal(s, dtype=dtype) * dtype(0.01) for s in shapes]
    lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
    if lib == "fastnn":
        k = module.kernels
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        step = [0]

        def run():
            step[0] += 1
            k.adam_step_(params, grads, m, v, None, step[0], lr=lr)
        return run
    if lib == "numpy":
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        tmp = [np.empty_like(p) for p in params]
        step = [0]

        def run():  # torch.optim.Adam's update, in place, one pass per operation
            step[0] += 1
            bc1, bc2 = 1 - beta1 ** step[0], 1 - beta2 ** step[0]
            for p, g, mi, vi, d in zip(params, grads, m, v, tmp):
                mi *= beta1
                mi += (1 - beta1) * g
                vi *= beta2
                np.multiply(g, g, out=d)
                d *= 1 - beta2
                vi += d
                np.sqrt(vi, out=d)
                d *= 1 / np.sqrt(bc2)
                d += eps
                np.divide(mi, d, out=d)
                d *= lr / bc1
                p -= d
        return run
    torch = module
    tparams = [torch.from_numpy(p).requires_grad_(True) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.from_numpy(g)
    opt = torch.optim.Adam(tparams, lr=lr, betas=(beta1, beta2), eps=eps, fused=True)
    return opt.step


_PREPARE = {"conv2d": _conv, "max_pool2d": _max_pool, "relu": _relu, "cross_entropy": _cross_entropy,
            "adam": _adam}


def prepare(lib, module, case, dtype):
    """A no-argument callable computing `case` with `lib` (`module`: the imported library),
    or None when the library has no counterpart."""
    dtype = np.dtype(dtype).type
    rng = np.random.default_rng(0)
    return _PREPARE[case["op"]](lib, module, case, dtype, rng)


def _fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def tables(suite, results):
    """One table per thread count: (title, headers, align, rows, summary lines)."""
    return [_table(t, suite, results) for t in results["settings"]["threads"]]


def _table(t, suite, results):
    libs = results["settings"]["libs"]
    available = {lib: results["libraries"][lib]["available"] for lib in libs}
    others = [lib for lib in libs if lib != "fastnn"] if "fastnn" in libs else []
    median = {(r["label"], r["lib"]): r["median_s"] for r in suite["records"] if r["threads"] == t}
    gflops = {r["label"]: r["gflops"] for r in suite["records"] if r["threads"] == t and r["lib"] == "fastnn"}

    def ratio(label, lib):  # other / fastnn: above 1, fastnn is faster
        mine, theirs = median.get((label, "fastnn")), median.get((label, lib))
        return None if mine is None or theirs is None else theirs / mine

    headers = (["kernel", "shape", "pass"] + [f"{lib} time" for lib in libs]
               + [f"{lib}/fastnn" for lib in others] + ["fastnn GF/s"])
    rows = []
    for case in suite["cases"]:
        label = case["label"]
        rows.append([case["op"], case["shape"], case["pass"]]
                    + [_fmt_time(median.get((label, lib))) if available[lib] else "not installed"
                       for lib in libs]
                    + [("-" if ratio(label, lib) is None else f"{ratio(label, lib):.2f}")
                       if available[lib] else "not installed" for lib in others]
                    + ["-" if gflops.get(label) is None else f"{gflops[label]:.1f}"])
    summary = []
    if "torch" in others and available["torch"]:
        groups = [("conv2d fwd+bwd", lambda c: c["op"] == "conv2d" and c["pass"] == "fwd+bwd"),
                  ("max_pool2d fwd+bwd", lambda c: c["op"] == "max_pool2d"),
                  ("cross_entropy fwd+bwd", lambda c: c["op"] == "cross_entropy"),
                  ("adam step vs fused Adam", lambda c: c["op"] == "adam")]
        for title, pick in groups:
            parts = [f"{c['shape']} {ratio(c['label'], 'torch'):.2f}" for c in suite["cases"]
                     if pick(c) and ratio(c["label"], "torch") is not None]
            if parts:
                summary.append(f"torch/fastnn, {title}: " + "; ".join(parts))
    title = f"kernels {results['settings']['dtype']}, {t} thread{'s' if t > 1 else ''}"
    return title, headers, "lll" + "r" * (len(headers) - 3), rows, summary
