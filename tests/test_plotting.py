"""fastnn.plotting.plot_history: learning-curve figures from a History or a dict of lists."""

import struct
import sys

import pytest

from fastnn.plotting import plot_history

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

HISTORY = {
    "loss": [0.9, 0.6, 0.45, 0.4],
    "accuracy": [0.6, 0.75, 0.82, 0.85],
    "val_loss": [0.95, 0.7, 0.6, 0.62],
    "val_accuracy": [0.55, 0.7, 0.78, 0.77],
}


class FakeHistory:
    def __init__(self, history):
        self.history = history
        self.epoch = list(range(len(next(iter(history.values())))))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_plot_history_writes_png_from_dict(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    path = tmp_path / "curves.png"
    assert plot_history(HISTORY, path) == str(path)
    # two panels (loss, accuracy) side by side, 4.8 x 3.6 inches each at 100 dpi
    assert png_size(path) == (960, 360)
    assert path.stat().st_size > 5000


def test_plot_history_writes_png_from_history_object(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    path = str(tmp_path / "obj.png")
    logs = dict(HISTORY, mae=[3.0, 2.0, 1.5, 1.2], learning_rate=[0.1, 0.1, 0.01, 0.01])
    assert plot_history(FakeHistory(logs), path, title="run 1") == path
    # four quantities: three columns, two rows
    assert png_size(path) == (1440, 720)


def test_plot_history_figure_panels_and_epochs():
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    import matplotlib

    backend = matplotlib.get_backend()
    fig = plot_history(FakeHistory({"accuracy": [0.5, 0.6, 0.7], "loss": [1.0, 0.8, 0.7],
                                    "val_loss": [1.1, 0.9, 0.8]}), title="curves")
    assert matplotlib.get_backend() == backend
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    assert fig.get_suptitle() == "curves"
    loss_lines = axes[0].get_lines()
    assert [line.get_label() for line in loss_lines] == ["train", "validation"]
    assert list(loss_lines[0].get_xdata()) == [1, 2, 3]
    assert list(loss_lines[1].get_ydata()) == [1.1, 0.9, 0.8]
    assert [line.get_label() for line in axes[1].get_lines()] == ["train"]


def test_plot_history_metrics_selection():
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    fig = plot_history(HISTORY, metrics=["val_accuracy"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["accuracy"]
    assert len(axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match=r"no such quantity in history: \['auc'\]"):
        plot_history(HISTORY, metrics=["auc"])


def test_plot_history_bad_input():
    with pytest.raises(TypeError, match=r"\[plot_history\] history must be"):
        plot_history([0.1, 0.2])
    with pytest.raises(ValueError, match="history is empty"):
        plot_history({})


def test_plot_history_bad_series_and_path():
    pytest.importorskip("matplotlib", reason="matplotlib (optional extra) is not installed")
    with pytest.raises(ValueError, match="'loss' must be a list of numbers"):
        plot_history({"loss": ["a", "b"]}, metrics=["loss"])
    with pytest.raises(TypeError, match="path must be"):
        plot_history(HISTORY, path=3)


def test_plot_history_without_matplotlib_names_the_pip_command(monkeypatch, tmp_path):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.ticker", "matplotlib.backends",
                 "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install matplotlib \(or: pip install 'fastnn\[plot\]'\)"):
        plot_history(HISTORY, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
