"""Runs benchmark suites library by library, each in fresh worker processes, and reports.

For every thread count, the libraries take turns (fastnn, numpy, torch, fastnn, ...) for
a few rounds, each round a new process per library with OMP/OpenBLAS/MKL/fastnn thread
variables set before it starts, so no two thread pools compete and machine noise falls on
every library alike. A figure is the median of all samples of all rounds. The peak is
fastnn's FMA loop (``fastnn._C.fma_peak_flops``) on each thread count, the median of
samples taken by the fastnn workers of every round.
"""

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

SUITES = {"gemm": "matrix products: squares 64-2048 and training shapes with their backward transposes",
          "kernels": "CNN and MLP layers: conv2d, max_pool2d, relu, cross_entropy, an Adam step",
          "training": "Fashion-MNIST epochs (MLP, CNN) and test accuracy; per-op overhead of a tiny Linear"}
"""Suite name -> one-line description. The suite is the module ``fastnn.bench.<name>``,
which defines ``NOTE`` (how it measures, printed under its tables), ``cases(quick)`` (dicts
with a unique ``label`` and ``flops``, None where GFLOP/s mean nothing), ``prepare(lib,
module, case, dtype)`` (run in the worker: a no-argument callable, or None when the library
has no counterpart) and ``tables(suite, results)``.

A suite whose cases are too long to repeat (a training epoch) measures itself instead: it
defines ``measure(lib, module, case, dtype, settings)`` in place of ``prepare`` (run in the
worker: a JSON-able dict of figures, or None when the library has no counterpart; settings:
``{"quick", "threads", "round", "epochs"}``), ``ROUNDS`` (fresh processes per library and
thread count unless ``rounds`` is given) and may define ``LIBS``, the libraries it applies
to. Its records hold ``figures``, one dict per round, for ``tables`` to summarise."""

LIBS = ("fastnn", "numpy", "torch")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "FASTNN_NUM_THREADS")
WORKER = Path(__file__).with_name("_worker.py")
PEAK_SECONDS, PEAK_SAMPLES = 0.3, 3  # per thread count, spread over the rounds


def _load_average():
    """The 1-minute load average (runnable processes), or None where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _machine():
    info = {"cpu": platform.processor() or platform.machine(), "logical_cpus": os.cpu_count(),
            "load_average": _load_average(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "physical_cores": None, "platform": platform.platform(), "python": platform.python_version()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    cores = set()
    for block in cpuinfo.split("\n\n"):
        fields = {key.strip(): value.strip() for key, _, value in
                  (line.partition(":") for line in block.splitlines())}
        info["cpu"] = fields.get("model name", info["cpu"])
        if "core id" in fields:
            cores.add((fields.get("physical id"), fields["core id"]))
    info["physical_cores"] = len(cores) or None
    return info


def _worker(python, job):
    """Run one worker process on `job` and return its JSON reply."""
    env = dict(os.environ, **{var: str(job["threads"]) for var in THREAD_VARS})
    if job["lib"] == "fastnn":  # time the very fastnn this process imported, wherever it lies
        root = str(Path(sys.modules["fastnn"].__file__).parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
    proc = subprocess.run([python, str(WORKER)], input=json.dumps(job), stdout=subprocess.PIPE,
                          text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"[bench] the {job['lib']} worker ({python}) failed with exit code "
                           f"{proc.returncode}; its error is printed above")
    return json.loads(proc.stdout)


def _call_worker(name, lib, python, job, libraries, log, progress):
    """Run one worker; its reply, or None when its library turned out to be unavailable
    (recorded in `libraries`)."""
    log(f"[bench] {name}: {progress}, {lib} ...", end=" ")
    began = time.perf_counter()
    reply = _worker(python[lib], job)
    if not reply["available"]:
        log(reply["reason"])
        libraries[lib] = {"available": False, "reason": reply["reason"], "python": python[lib]}
        return None
    log(f"{time.perf_counter() - began:.1f} s")
    libraries.setdefault(lib, {"available": True, "python": python[lib], **reply["info"]})
    return reply


def _run_measured_suite(name, module, settings, rounds, epochs, python, libraries, log):
    """Run a suite that measures itself (see :data:`SUITES`): every thread count, round and
    library it applies to; the suite's JSON-able result."""
    cases = module.cases(settings["quick"])
    rounds = rounds or module.ROUNDS
    libs = [lib for lib in settings["libs"] if lib in getattr(module, "LIBS", LIBS)]
    figures = {}
    for t in settings["threads"]:
        for r in range(rounds):
            for lib in libs:
                if not libraries.get(lib, {"available": True})["available"]:
                    continue
                job = {"suite": name, "lib": lib, "threads": t, "cases": cases, "dtype": settings["dtype"],
                       "settings": {"quick": settings["quick"], "threads": t, "round": r, "epochs": epochs},
                       "peak": None}
                reply = _call_worker(name, lib, python, job, libraries, log,
                                     f"{t} thread(s), round {r + 1}/{rounds}")
                for i, case_figures in enumerate(reply["figures"] if reply else ()):
                    if case_figures is not None:
                        figures.setdefault((lib, t, i), []).append(case_figures)
    records = [{**cases[i], "lib": lib, "threads": t, "figures": per_round}
               for (lib, t, i), per_round in figures.items()]
    return {"note": module.NOTE, "cases": cases, "records": records, "rounds": rounds, "libs": libs,
            "epochs": epochs}


def _run_suite(name, settings, python, libraries, peak_flops, log, rounds=None, epochs=None):
    """Time one suite: every thread count, round and library; the suite's JSON-able result.

    Fills `libraries` (what each worker reported about its library) and `peak_flops`
    (peak samples by thread count) on the way. `rounds` (as given to :func:`run`) and
    `epochs` only matter to suites that measure themselves.
    """
    module = importlib.import_module(f"{__package__}.{name}")
    if hasattr(module, "measure"):
        return _run_measured_suite(name, module, settings, rounds, epochs, python, libraries, log)
    cases = module.cases(settings["quick"])
    rounds = len(settings["samples_per_round"])
    # The peak is sampled in every fastnn worker, so that it sees the same load as the rest.
    peak = {"fp64": settings["dtype"] == "float64", "seconds": PEAK_SECONDS,
            "repeats": -(-PEAK_SAMPLES // rounds)}
    times, calls, records = {}, {}, []
    for t in settings["threads"]:
        for r, samples in enumerate(settings["samples_per_round"]):
            for lib in settings["libs"]:
                if not libraries.get(lib, {"available": True})["available"]:
                    continue
                job = {"suite": name, "lib": lib, "threads": t, "cases": cases, "dtype": settings["dtype"],
                       "samples": samples, "min_sample_s": settings["min_sample_s"],
                       "peak": peak if lib == "fastnn" else None}
                reply = _call_worker(name, lib, python, job, libraries, log,
                                     f"{t} thread(s), round {r + 1}/{rounds}")
                if reply is None:
                    continue
                peak_flops[t] += reply["peak_flops"]
                for i, (case_times, case_calls) in enumerate(zip(reply["times"], reply["calls"])):
                    if case_times is None:
                        continue
                    times.setdefault((lib, t, i), []).extend(case_times)
                    calls.setdefault((lib, t, i), []).append(case_calls)
    for (lib, t, i), samples in times.items():
        median = statistics.median(samples)
        records.append({**cases[i], "lib": lib, "threads": t, "times_s": samples,
                        "calls_per_sample": calls[lib, t, i], "median_s": median,
                        "gflops": cases[i]["flops"] / median / 1e9 if cases[i].get("flops") else None})
    return {"note": module.NOTE, "cases": cases, "records": records}


def run(suites=("gemm",), threads=(1, 2), repeats=None, rounds=None, quick=False, libs=LIBS,
        dtype="float32", torch_python=None, progress=True, epochs=None):
    """Run benchmark suites and return every figure as a JSON-able dict.

    Args:
        suites: names from :data:`SUITES`.
        threads: thread counts; every library runs with each.
        repeats: timed samples per library, case and thread count (default 7; 3 quick).
        rounds: processes per library and thread count the samples are spread over
            (default: one per sample; 2 quick; at most `repeats`); for a suite that measures
            itself, its rounds (default: the suite's ``ROUNDS``).
        quick: fewer cases and samples, shorter samples: a smoke test.
        libs: libraries to time, from :data:`LIBS`; one that cannot be imported is
            reported as not installed.
        dtype: "float32" or "float64".
        torch_python: interpreter for the torch workers (default: this one).
        progress: print progress lines to stderr.
        epochs: training epochs per model for the training suite (default: its own).
    """
    unknown = [s for s in suites if s not in SUITES] + [lib for lib in libs if lib not in LIBS]
    if unknown:
        raise ValueError(f"[bench] unknown suite or library: {', '.join(unknown)}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"[bench] dtype must be float32 or float64, got {dtype!r}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"[bench] epochs must be >= 1, got {epochs!r}")
    requested_rounds = rounds
    repeats = repeats or (3 if quick else 7)
    rounds = min(rounds or (2 if quick else repeats), repeats)
    settings = {"suites": list(suites), "threads": [int(t) for t in threads], "libs": list(libs),
                "dtype": dtype, "quick": quick, "repeats": repeats, "rounds": rounds,
                "samples_per_round": [repeats // rounds + (r < repeats % rounds) for r in range(rounds)],
                "min_sample_s": 0.02 if quick else 0.05}
    python = {lib: sys.executable for lib in libs}
    if torch_python:
        python["torch"] = torch_python

    def log(*parts, end="\n"):
        if progress:
            print(*parts, end=end, file=sys.stderr, flush=True)

    start = time.perf_counter()
    machine = _machine()
    if max(settings["threads"]) > machine["usable_cpus"]:
        log(f"[bench] warning: {max(settings['threads'])} threads on {machine['usable_cpus']} usable CPUs")
    libraries, peak_flops = {}, {t: [] for t in settings["threads"]}
    results = {"machine": machine, "settings": settings, "libraries": libraries,
               "suites": {name: _run_suite(name, settings, python, libraries, peak_flops, log,
                                           requested_rounds, epochs)
                          for name in suites}}
    results["peak"] = {str(t): {"threads": t, "flops": samples, "gflops": statistics.median(samples) / 1e9}
                       for t, samples in peak_flops.items() if samples}
    results["elapsed_s"] = time.perf_counter() - start
    results["load_average_end"] = _load_average()
    return results


def _describe(lib, entry):
    if not entry["available"]:
        return f"{lib}: {entry['reason']} (python: {entry['python']})"
    if lib == "fastnn":
        return f"fastnn {entry['version']}: {entry['compiler']}, CPU path {entry['cpu_capability']}"
    if lib == "numpy":
        return f"numpy {entry['version']}: BLAS {entry['blas'] or 'unknown'}"
    return (f"torch {entry['version']}: BLAS {entry['blas'] or 'unknown'}, CPU capability "
            f"{entry['cpu_capability'] or 'unknown'}, python {entry['python']}")


def _table(headers, align, rows):
    widths = [max(map(len, column)) for column in zip(headers, *rows)]

    def line(cells):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(cells, widths, align)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *map(line, rows)]


def report(results):
    """The results of :func:`run` as readable text: machine, versions, one table per
    suite and thread count with its summary lines."""
    s, m = results["settings"], results["machine"]
    cores = f", {m['physical_cores']} physical cores" if m["physical_cores"] else ""
    peaks = ", ".join(f"{p['threads']} thread{'s' if p['threads'] > 1 else ''} {p['gflops']:.1f} "
                      f"(samples {min(p['flops']) / 1e9:.0f}–{max(p['flops']) / 1e9:.0f})"
                      for p in results["peak"].values())
    busy = [str(p["threads"]) for p in results["peak"].values() if max(p["flops"]) > 1.2 * min(p["flops"])]
    load = (f", load average {m['load_average']:.1f} at start, {results['load_average_end']:.1f} at end"
            if m["load_average"] is not None else "")
    fastnn_path = results["libraries"].get("fastnn", {}).get("cpu_capability", "")
    if all("rounds" in suite for suite in results["suites"].values()):  # suites that measure themselves
        rounds = "/".join(sorted({str(suite["rounds"]) for suite in results["suites"].values()}))
        how = f"{rounds} round(s) of fresh processes per library"
    else:
        how = f"median of {s['repeats']} samples over {s['rounds']} round(s) of fresh processes"
    lines = [f"fastnn.bench {' '.join(s['suites'])}: {s['dtype']}, threads {', '.join(map(str, s['threads']))}, "
             f"{how}, {results['elapsed_s']:.0f} s",
             f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable{cores}), "
             f"{m['platform']}, Python {m['python']}{load}",
             *(_describe(lib, entry) for lib, entry in results["libraries"].items())]
    if peaks:
        lines.append(f"peak GFLOP/s (fastnn FMA loop, {fastnn_path}): {peaks}")
    if busy:
        lines.append(f"warning: the peak varied by over 20% at {', '.join(busy)} thread(s): the machine "
                     "was busy with other work, so those figures are noisy")
    for name, suite in results["suites"].items():
        module = importlib.import_module(f"{__package__}.{name}")
        for title, headers, align, rows, summary in module.tables(suite, results):
            lines += ["", title, *_table(headers, align, rows), *(f"  {x}" for x in summary)]
        lines += ["", f"note: {suite['note']}"]
    return "\n".join(lines)
