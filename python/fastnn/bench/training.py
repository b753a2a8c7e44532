"""Training suite: whole epochs of a PyTorch-style training loop on Fashion-MNIST, fastnn
against PyTorch, and the fixed cost of one small layer call.

Both libraries run the same loop (one function, written once against the API they share):
a 784-256-128-10 MLP and a two-convolution CNN, cross-entropy, Adam(lr=1e-3) with each
library's defaults, batch 128, the batches drawn in the order of a seeded NumPy generator,
each library's own initialisation after ``manual_seed(0)``. An epoch is timed from its first
batch to its last ``optimizer.step()``; the test accuracy is measured after the last epoch.
The per-op overhead is forward + backward of ``Linear(8, 8)`` on one sample, each call timed
alone, the median of many. NumPy has no layers or autograd: not applicable here.

Data: the IDX files of Debian's ``dataset-fashion-mnist`` package; pixels scaled to [0, 1],
then standardised with the training set's mean and standard deviation.

This module is imported by the parent (``cases``, ``tables``) and, as a top-level module,
by the worker (``measure``), so it imports nothing from fastnn.
"""

import functools
import importlib.util
import statistics
import time
from pathlib import Path

import numpy as np

DATA = Path("/usr/share/datasets/fashion-mnist")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")
MEAN, STD = 0.2860, 0.3530  # the training set's pixel mean and standard deviation, in [0, 1] units
BATCH, LR, EVAL_BATCH = 128, 1e-3, 1000
QUICK_TRAIN, QUICK_TEST = 6400, 2000  # quick mode: the first samples of each set
OVERHEAD_CALLS, QUICK_OVERHEAD_CALLS, OVERHEAD_WARMUP = 5000, 500, 200
# fastnn time / torch time to aim for, per case; accuracies should agree within ACCURACY_POINTS.
TARGETS = {"mlp": 0.6, "cnn": 0.5, "overhead": 0.3}
ACCURACY_POINTS = 0.5

LIBS = ("fastnn", "torch")
ROUNDS = 1  # an epoch is long enough to be its own sample; --rounds adds fresh processes
NOTE = ("seconds per epoch: the median over every epoch of every round (the first epoch included: "
        "it pays for first-touch memory and thread start-up, as a real run does); accuracy: on the test "
        "set after the last epoch, the median over rounds; per-op overhead: Linear(8, 8) forward + "
        "backward(gradient) on a 1×8 input, the median of single calls after a warm-up. Both libraries "
        "run one loop; torch uses its default Adam (no foreach/fused flags) and DataLoader-free "
        "batching, as fastnn does; numpy: not applicable (no layers or autograd)")

_CACHE = {}


def _missing():
    """Why the data cannot be used, or None."""
    absent = [name for name in FILES if not (DATA / name).is_file()]
    if absent:
        return (f"Fashion-MNIST not found: {', '.join(absent)} missing in {DATA} "
                "(Debian package dataset-fashion-mnist)")
    return None


def cases(quick):
    """The cases, as JSON-able dicts with a unique "label" ("flops" None: GFLOP/s mean
    nothing here). Training cases carry "missing" (a reason) when the data is absent."""
    missing = _missing()
    subset = {"train_samples": QUICK_TRAIN if quick else None, "test_samples": QUICK_TEST if quick else None}
    return [{"label": "MLP 784-256-128-10", "model": "mlp", "epochs": 1 if quick else 3, "flops": None,
             "missing": missing, **subset},
            {"label": "CNN conv32-conv64-128-10", "model": "cnn", "epochs": 1, "flops": None,
             "missing": missing, **subset},
            {"label": "Linear(8, 8) fwd+bwd, batch 1", "model": "overhead", "flops": None,
             "calls": QUICK_OVERHEAD_CALLS if quick else OVERHEAD_CALLS}]


@functools.lru_cache(maxsize=None)
def _idx_module():
    """fastnn.datasets' IDX reader module, loaded from its file: this module must stay
    importable without fastnn (the torch worker may run under another interpreter)."""
    spec = importlib.util.spec_from_file_location(
        "_fastnn_datasets_idx", Path(__file__).resolve().parent.parent / "datasets" / "_idx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_idx(path):
    return _idx_module().read_idx(path)


def _data(dtype):
    """(train images N×784, train labels int64, test images, test labels), standardised."""
    if dtype not in _CACHE:
        xtr, ytr, xte, yte = (_read_idx(DATA / name) for name in FILES)
        scale = (lambda x: ((x.reshape(len(x), -1).astype(dtype) / dtype(255) - dtype(MEAN))  # noqa: E731
                            / dtype(STD)))
        _CACHE[dtype] = scale(xtr), ytr.astype(np.int64), scale(xte), yte.astype(np.int64)
    return _CACHE[dtype]


class _API:
    """The few names the loop needs, from fastnn or torch (whose Python APIs agree)."""

    def __init__(self, module):
        self.nn, self.optim, self.no_grad = module.nn, module.optim, module.no_grad
        self.tensor, self.manual_seed = module.from_numpy, module.manual_seed


def _model(nn, name):
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def _train(api, case, dtype, epochs):
    xtr, ytr, xte, yte = _data(dtype)
    xtr, ytr = xtr[:case["train_samples"]], ytr[:case["train_samples"]]
    xte, yte = xte[:case["test_samples"]], yte[:case["test_samples"]]
    if case["model"] == "cnn":
        xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
    nn = api.nn
    api.manual_seed(0)
    model = _model(nn, case["model"])
    if dtype == np.float64:
        model.double()
    optimizer = api.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    epoch_s, train_loss = [], []
    for _ in range(epochs):
        order = rng.permutation(len(xtr))
        model.train()
        total = 0.0
        start = time.perf_counter()
        for first in range(0, len(xtr), BATCH):
            batch = order[first:first + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(api.tensor(xtr[batch])), api.tensor(ytr[batch]))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        epoch_s.append(time.perf_counter() - start)
        train_loss.append(total / len(xtr))
    model.eval()
    start = time.perf_counter()
    with api.no_grad():
        predicted = np.concatenate([model(api.tensor(xte[i:i + EVAL_BATCH])).argmax(dim=1).numpy()
                                    for i in range(0, len(xte), EVAL_BATCH)])
    eval_s = time.perf_counter() - start
    return {"epochs": epochs, "epoch_s": epoch_s, "train_loss": train_loss, "eval_s": eval_s,
            "accuracy": float(np.mean(predicted == yte)), "train_samples": len(xtr), "test_samples": len(xte)}


def _overhead(api, dtype, calls):
    api.manual_seed(0)
    layer = api.nn.Linear(8, 8)
    if dtype == np.float64:
        layer.double()
    rng = np.random.default_rng(0)
    x = api.tensor(rng.standard_normal((1, 8)).astype(dtype))
    g = api.tensor(rng.standard_normal((1, 8)).astype(dtype))
    for _ in range(OVERHEAD_WARMUP):
        layer(x).backward(g)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        layer(x).backward(g)
        times.append(time.perf_counter() - start)
    quartiles = statistics.quantiles(times, n=4)
    return {"calls": calls, "median_s": statistics.median(times), "q1_s": quartiles[0], "q3_s": quartiles[2]}


def measure(lib, module, case, dtype, settings):
    """The figures of `case` for `lib` (`module`: the imported library), a JSON-able dict;
    None where the library has no counterpart or the data is missing."""
    if lib not in LIBS or case.get("missing"):
        return None
    api, dtype = _API(module), np.dtype(dtype).type
    if case["model"] == "overhead":
        return _overhead(api, dtype, case["calls"])
    return _train(api, case, dtype, settings["epochs"] or case["epochs"])


# ---- report ----

def _median(values):
    return statistics.median(values) if values else None


def _summary(figures):
    """(seconds: the case's time figure, accuracy or None, epochs or None) over rounds."""
    if not figures:
        return None, None, None
    if "epoch_s" in figures[0]:
        return (_median([s for f in figures for s in f["epoch_s"]]), _median([f["accuracy"] for f in figures]),
                figures[0]["epochs"])
    return _median([f["median_s"] for f in figures]), None, None


def _fmt_time(seconds, per_epoch):
    if seconds is None:
        return "-"
    return f"{seconds:.2f} s" if per_epoch else f"{seconds * 1e6:.1f} µs"


def tables(suite, results):
    """One table per thread count: (title, headers, align, rows, summary lines)."""
    return [_table(t, suite, results) for t in results["settings"]["threads"]]


def _table(t, suite, results):
    libs = [lib for lib in results["settings"]["libs"] if lib in LIBS]
    state = {}
    for lib in libs:
        entry = results["libraries"].get(lib)
        state[lib] = None if entry is None or entry["available"] else entry["reason"]
    figures = {(r["label"], r["lib"]): r["figures"] for r in suite["records"] if r["threads"] == t}
    headers = (["case", "epochs"] + [f"{lib} time" for lib in libs] + ["fastnn/torch", "target"]
               + [f"{lib} acc" for lib in libs] + (["Δ acc (points)"] if len(libs) == 2 else []))
    rows, summary = [], []
    for case in suite["cases"]:
        label, per_epoch = case["label"], case["model"] != "overhead"
        stats = {lib: _summary(figures.get((label, lib))) for lib in libs}
        if case.get("missing"):
            rows.append([label, "-"] + ["dataset missing"] * len(libs) + ["-", "-"] + ["-"] * len(libs)
                        + ["-"] * (len(libs) == 2))
            continue
        epochs = next((s[2] for s in stats.values() if s[2] is not None), None)
        time_cells = [state[lib] or _fmt_time(stats[lib][0], per_epoch) for lib in libs]
        mine, theirs = stats.get("fastnn", (None,))[0], stats.get("torch", (None,))[0]
        ratio = None if mine is None or theirs is None else mine / theirs
        acc = {lib: stats[lib][1] for lib in libs}
        acc_cells = [state[lib] or ("-" if acc[lib] is None else f"{acc[lib] * 100:.2f}%") for lib in libs]
        delta = None if None in acc.values() or len(libs) < 2 else (acc["fastnn"] - acc["torch"]) * 100
        rows.append([label + (" (s/epoch)" if per_epoch else ""), "-" if epochs is None else str(epochs)]
                    + time_cells + ["-" if ratio is None else f"{ratio:.2f}", f"≤ {TARGETS[case['model']]:.1f}"]
                    + acc_cells + (["-" if delta is None else f"{delta:+.2f}"] if len(libs) == 2 else []))
        if ratio is not None:
            met = "met" if ratio <= TARGETS[case["model"]] else "missed"
            line = f"{case['model']}: fastnn/torch time {ratio:.2f} (target ≤ {TARGETS[case['model']]:.1f}: {met})"
            if delta is not None:
                agree = "within" if abs(delta) <= ACCURACY_POINTS else "NOT within"
                line += f"; accuracy {delta:+.2f} points ({agree} {ACCURACY_POINTS} points)"
            summary.append(line)
    missing = next((c["missing"] for c in suite["cases"] if c.get("missing")), None)
    if missing:
        summary.append(f"training cases skipped: {missing}")
    summary.append("numpy: not applicable (no layers or autograd)")
    subset = next((c for c in suite["cases"] if c.get("train_samples")), None)
    data = (f"first {subset['train_samples']} training / {subset['test_samples']} test samples" if subset
            else "60000 training / 10000 test samples")
    title = (f"training {results['settings']['dtype']}, {t} thread{'s' if t > 1 else ''}: Fashion-MNIST, {data}, "
             f"batch {BATCH}, Adam lr {LR:g}; {suite['rounds']} round(s)")
    return title, headers, "ll" + "r" * (len(headers) - 2), rows, summary
