"""One benchmark process: read a JSON job on stdin, time one library, write JSON on stdout.

The runner starts this file as a script, by path, in a fresh interpreter whose thread
environment variables are already set, so each library gets its own thread pool and
numpy's BLAS reads its thread count at import. It imports only the standard library,
numpy, the one library under test and the suite module beside it; fastnn itself is not
needed for the numpy or torch jobs, so torch can run under another interpreter
(``--torch-python``). A library that cannot be imported is reported, not raised.

Job: ``{"suite", "lib", "threads", "dtype", "cases", "samples", "min_sample_s", "peak"}``
(``peak``: ``null``, or for fastnn ``{"fp64", "seconds", "repeats"}`` to also sample the
FMA peak). Result: ``{"available", "reason", "info", "times", "calls", "peak_flops"}``,
``times[i]`` being the per-call seconds of each sample of ``cases[i]``, each sample
``calls[i]`` calls long, or None when the suite's ``prepare`` returned None (the library
has no counterpart of that case).

A suite that times itself (one defining ``measure``, for cases too long to repeat, like a
training epoch) gets the job ``{"suite", "lib", "threads", "dtype", "cases", "settings",
"peak"}`` instead, and the result holds ``figures[i]``: what
``measure(lib, module, cases[i], dtype, settings)`` returned, a JSON-able dict, or None
(no counterpart), in place of ``times`` and ``calls``.
"""

import importlib
import json
import math
import re
import sys
import time


def _load(lib, threads):
    """(module, info) for the library under test, using `threads` threads."""
    import numpy as np

    if lib == "numpy":  # OPENBLAS_NUM_THREADS & co. were set before this interpreter started
        info = {"version": np.__version__, "blas": None}
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            info["blas"] = f"{blas['name']} {blas.get('version', '')}".strip()
        except Exception:  # older numpy: no mode="dicts"; the BLAS name is optional
            pass
        return np, info
    if lib == "fastnn":
        import fastnn

        fastnn.set_num_threads(threads)
        info = fastnn.config()
        del info["num_threads"]  # the job's thread count; the runner records that
        return fastnn, info
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        info = {"version": torch.__version__, "numpy": np.__version__}
        built = torch.__config__.show()
        for key, pattern in (("blas", r"BLAS_INFO=(\w+)"), ("cpu_capability", r"CPU capability usage: (\w+)")):
            found = re.search(pattern, built)
            info[key] = found.group(1) if found else None
        return torch, info
    raise ValueError(f"[bench] unknown library {lib!r}")


def _time(fn, samples, min_sample_s):
    """(per-call seconds of each sample, calls per sample).

    The first call pays for first-touch page faults and thread start-up and is not timed;
    the second, also untimed, sizes the samples so each lasts at least `min_sample_s`.
    """
    fn()
    start = time.perf_counter()
    fn()
    calls = max(1, math.ceil(min_sample_s / max(time.perf_counter() - start, 1e-9)))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return times, calls


def main():
    job = json.load(sys.stdin)
    out, sys.stdout = sys.stdout, sys.stderr  # a stray print must not corrupt the JSON reply
    lib = job["lib"]
    try:
        module, info = _load(lib, job["threads"])
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == lib
        reason = "not installed" if missing else f"import failed: {exc}"
        json.dump({"available": False, "reason": reason}, out)
        return
    result = {"available": True, "info": info, "times": [], "calls": [], "peak_flops": []}
    peak = job["peak"]
    if peak:
        result["peak_flops"] = [module._C.fma_peak_flops(peak["fp64"], peak["seconds"])
                                for _ in range(peak["repeats"])]
    suite = importlib.import_module(job["suite"])  # this file's folder is sys.path[0]
    if hasattr(suite, "measure"):
        del result["times"], result["calls"]
        result["figures"] = [suite.measure(lib, module, case, job["dtype"], job["settings"])
                             for case in job["cases"]]
        json.dump(result, out)
        return
    for case in job["cases"]:
        fn = suite.prepare(lib, module, case, job["dtype"])
        times, calls = _time(fn, job["samples"], job["min_sample_s"]) if fn else (None, None)
        result["times"].append(times)  # None: the library has no counterpart of this case
        result["calls"].append(calls)
    json.dump(result, out)


if __name__ == "__main__":
    main()
