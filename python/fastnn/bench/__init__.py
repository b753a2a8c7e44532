"""Benchmarks: fastnn against NumPy and, where installed, PyTorch, side by side in one run.

From the shell: ``python -m fastnn.bench gemm`` (``--help`` lists the options). As a
library::

    import fastnn.bench
    results = fastnn.bench.run(["gemm"], threads=[1, 2])  # every figure, JSON-able
    print(fastnn.bench.report(results))

A suite is a module of this package registered in :data:`SUITES`; each library is timed in
its own worker processes (see ``_runner`` and ``_worker``).
"""

from ._runner import LIBS, SUITES, report, run

__all__ = ["LIBS", "SUITES", "report", "run"]
