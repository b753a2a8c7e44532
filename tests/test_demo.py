"""The demo, end to end, on the Fashion-MNIST sample shipped inside the package: it trains,
reports per-epoch times and a test accuracy well above chance, and writes the PNG."""

import re
import subprocess
import sys

import pytest


def test_demo_trains_on_the_shipped_sample(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) draws the learning curves")
    png = tmp_path / "curves.png"
    run = subprocess.run([sys.executable, "-m", "fastnn.demo", "--sample", "--epochs", "2", "--plot", str(png)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "the sample shipped with fastnn: 3000 training and 1000 test images" in out
    assert "Epoch 2/2" in out and "Total params: 421,642" in out
    epochs = re.findall(r"^\s+(\d)\s+(\d+\.\d)\s+\d\.\d{4}", out, re.M)
    assert [e[0] for e in epochs] == ["1", "2"] and all(float(e[1]) > 0 for e in epochs)
    accuracy = float(re.search(r"test accuracy (\d\.\d+)", out).group(1))
    assert accuracy > 0.7  # chance is 0.1; two epochs on 2700 images reach about 0.8
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert f"learning curves written to {png}" in out


def test_demo_rejects_bad_arguments():
    from fastnn import demo

    with pytest.raises(SystemExit):
        demo.main(["--epochs", "0"])
