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


def test_quick_training_suite_records_every_figure():
    from fastnn.bench import training

    missing = training._missing()
    if missing:
        pytest.skip(missing)
    results = bench.run(["training"], threads=[1], quick=True, libs=["fastnn"], progress=False)
    suite = results["suites"]["training"]
    assert suite["rounds"] == 1 and suite["libs"] == ["fastnn"]
    assert {r["label"] for r in suite["records"]} == {c["label"] for c in suite["cases"]}
    assert {c["model"] for c in suite["cases"]} == {"mlp", "cnn", "overhead"}
    for r in suite["records"]:
        assert r["lib"] == "fastnn" and r["threads"] == 1 and len(r["figures"]) == 1
        f = r["figures"][0]
        if r["model"] == "overhead":
            assert f["calls"] == r["calls"] and 0 < f["q1_s"] <= f["median_s"] <= f["q3_s"]
            continue
        assert f["epochs"] == r["epochs"] == len(f["epoch_s"]) == len(f["train_loss"])
        assert f["train_samples"] == r["train_samples"] and f["test_samples"] == r["test_samples"]
        assert min(f["epoch_s"]) > 0 and f["eval_s"] > 0
        assert all(0 < loss < 10 for loss in f["train_loss"])
        assert 0 <= f["accuracy"] <= 1
    text = bench.report(results)
    assert "training float32, 1 thread" in text and "fastnn acc" in text
    assert all(c["label"] in text for c in suite["cases"])
    assert "numpy: not applicable" in text
    json.dumps(results)


def test_training_suite_reports_missing_data(tmp_path, monkeypatch):
    from fastnn.bench import training

    monkeypatch.setattr(training, "DATA", tmp_path)
    results = bench.run(["training"], threads=[1], quick=True, libs=["fastnn"], progress=False)
    suite = results["suites"]["training"]
    # The per-op overhead needs no data and is still measured; the training cases are not.
    assert [r["model"] for r in suite["records"]] == ["overhead"]
    text = bench.report(results)
    assert "dataset missing" in text
    assert "Fashion-MNIST not found: train-images-idx3-ubyte.gz" in text and str(tmp_path) in text
