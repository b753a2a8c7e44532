"""Learning curves: plot_history draws the per-epoch losses and metrics that fit recorded.

matplotlib is an optional dependency (the `plot` extra), imported only when a plot is made.
Figures are built with matplotlib's object API on the Agg canvas, so pyplot and the user's
chosen backend are never touched.
"""

import math
import os
from collections.abc import Mapping

import numpy as np

_INSTALL_HINT = "pip install matplotlib (or: pip install 'fastnn[plot]')"


def _history_dict(history):
    if isinstance(history, Mapping):
        return history
    logs = getattr(history, "history", None)
    if isinstance(logs, Mapping):
        return logs
    raise TypeError(
        "[plot_history] history must be a History object (with a .history dict) or a dict "
        f"of per-epoch lists, got {type(history).__name__}"
    )


def _series(values):
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 else None


def _quantities(logs):
    """Base names ("loss", "accuracy", ...) in display order: loss first, then the others in
    the order they were logged; "val_x" shares the panel of "x"."""
    names = []
    for key in logs:
        base = key[4:] if key.startswith("val_") else key
        if base not in names:
            names.append(base)
    if "loss" in names:
        names.remove("loss")
        names.insert(0, "loss")
    return names


def plot_history(history, path=None, metrics=None, title=None):
    """Plots learning curves: one panel per quantity, training and validation together.

    Args:
        history: A ``History`` object returned by ``model.fit`` (anything with a
            ``.history`` dict) or a dict mapping names to per-epoch lists, e.g.
            ``{"loss": [...], "val_loss": [...], "accuracy": [...]}``.
        path: File to write the figure to, as PNG. If ``None``, the matplotlib ``Figure`` is
            returned instead (Jupyter displays it).
        metrics: Names of the quantities to plot (``"loss"``, ``"accuracy"``, ...; a
            ``"val_"`` prefix is ignored). Defaults to every logged quantity, loss first.
        title: Title of the whole figure.

    Returns:
        ``path`` when given, else the ``matplotlib.figure.Figure``.

    Shape:
        Each quantity's panel has epochs on the x axis, counted from 1; ``name`` and
        ``val_name`` are drawn as two labelled lines.

    Example:

    >>> history = model.fit(x, y, validation_split=0.1, epochs=10, verbose=0)
    >>> plot_history(history, "curves.png")
    'curves.png'
    >>> fig = plot_history({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.6]})
    """
    logs = _history_dict(history)
    if not logs:
        raise ValueError("[plot_history] history is empty: nothing to plot")
    available = _quantities(logs)
    if metrics is None:
        chosen = [
            name for name in available
            if any(_series(logs[k]) is not None for k in (name, "val_" + name) if k in logs)
        ]
    else:
        if isinstance(metrics, str):
            metrics = [metrics]
        chosen = [m[4:] if m.startswith("val_") else m for m in metrics]
        unknown = [m for m in chosen if m not in available]
        if unknown:
            raise ValueError(
                f"[plot_history] no such quantity in history: {unknown}; available: {available}"
            )
    panels = []
    for name in chosen:
        lines = []
        for key, label in ((name, "train"), ("val_" + name, "validation")):
            if key in logs:
                values = _series(logs[key])
                if values is None:
                    raise ValueError(
                        f"[plot_history] {key!r} must be a list of numbers (one per epoch)"
                    )
                lines.append((label, values))
        panels.append((name, lines))
    if not panels:
        raise ValueError(f"[plot_history] no per-epoch numeric series in history: {list(logs)}")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"[plot_history] path must be a str or os.PathLike, got {type(path).__name__}")

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError(f"[plot_history] needs matplotlib, which is not installed: {_INSTALL_HINT}") from e

    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.8 * ncols, 3.6 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, lines) in zip(axes, panels):
        for label, values in lines:
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if title is not None:
        fig.suptitle(title)
    if path is None:
        return fig
    fig.savefig(path, format="png", dpi=100)
    return os.fspath(path)
