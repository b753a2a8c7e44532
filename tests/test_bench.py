"""The benchmark suite runs end to end and reports every figure it promises.

Nothing here judges speed (that is the suite's job, never a test's): these tests only check
that a minimal run completes, in worker processes, and that its results are complete.
"""

import json
import subprocess
import sys

import pytest

import fastnn
import fastnn.bench as bench


@pytest.fixture(scope="module")
def quick_results():
    return bench.run(["gemm"], threads=[1], quick=True, libs=["fastnn", "numpy"], repeats=1,
                     rounds=1, progress=False)


def test_quick_run_records_every_case_for_every_library(quick_results):
    suite = quick_results["suites"]["gemm"]
    labels = {case["label"] for case in suite["cases"]}
    assert any("128×256×10" in label for label in labels)
    assert {"A·B", "G·Bᵀ", "Aᵀ·G"} <= {case["variant"] for case in suite["cases"]}
    for lib in ("fastnn", "numpy"):
        recorded = {r["label"] for r in suite["records"] if r["lib"] == lib and r["threads"] == 1}
        assert recorded == labels, lib
    for r in suite["records"]:
        assert len(r["times_s"]) == 1 and r["median_s"] > 0
        assert r["gflops"] == pytest.approx(r["flops"] / r["median_s"] / 1e9)


def test_quick_run_measures_the_peak_and_reports(quick_results):
    peak = quick_results["peak"]["1"]
    assert peak["gflops"] > 0 and len(peak["flops"]) >= 1
    assert quick_results["libraries"]["fastnn"]["version"] == fastnn.__version__
    text = bench.report(quick_results)
    assert "fastnn/numpy" in text and "% of 1-thread peak" in text
    json.dumps(quick_results)  # everything --json writes is serialisable


def test_command_line_rejects_unknown_suites():
    proc = subprocess.run([sys.executable, "-m", "fastnn.bench", "no-such-suite"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown suite" in proc.stderr


def test_quick_kernels_suite_times_every_case_numpy_has():
    results = bench.run(["kernels"], threads=[1], quick=True, libs=["fastnn", "numpy"], repeats=1,
                        rounds=1, progress=False)
    suite = results["suites"]["kernels"]
    labels = {case["label"] for case in suite["cases"]}
    assert {case["op"] for case in suite["cases"]} == {"conv2d", "max_pool2d", "relu", "cross_entropy", "adam"}
    recorded = {lib: {r["label"] for r in suite["records"] if r["lib"] == lib} for lib in ("fastnn", "numpy")}
    assert recorded["fastnn"] == labels
    # NumPy has no convolution: those cases are left out for it, everything else is timed.
    assert recorded["numpy"] == {c["label"] for c in suite["cases"] if c["op"] != "conv2d"}
    for r in suite["records"]:
        assert r["median_s"] > 0
        assert (r["gflops"] is None) == (r["flops"] is None)
    text = bench.report(results)
    assert "numpy/fastnn" in text and "conv2d" in text
    json.dumps(results)
