"""Progbar: the text progress bar of fit/evaluate/predict (Keras 3's keras.utils.Progbar).

verbose=1 redraws one line in place (at most every `interval` seconds) on a terminal; when
stdout is not a terminal (CI logs, files) it writes plain lines without colour codes instead,
the last line of each bar only. verbose=2 writes one summary line when the bar completes.
"""

import math
import sys
import time

import numpy as np

# Without a terminal, intermediate lines are written at most this often (seconds), so a long
# epoch still shows progress in a log without flooding it.
_PLAIN_LINE_INTERVAL = 10.0


def _is_dynamic(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty()) or "ipykernel" in sys.modules
    except ValueError:  # a closed stream
        return False


def _format_value(value):
    if not isinstance(value, float):
        value = float(np.mean(value))
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


class Progbar:
    """Displays a progress bar.

    Metrics are averaged over the steps since they were first given (weighted by the number
    of steps each value covers), except those named in ``stateful_metrics``, which are
    shown as given.

    Args:
        target: Total number of steps expected, ``None`` if unknown.
        width: Progress bar width on screen, in characters.
        verbose: Verbosity mode, 0 (silent), 1 (verbose), 2 (semi-verbose).
        interval: Minimum visual progress update interval (in seconds).
        stateful_metrics: Iterable of string names of metrics that should *not* be averaged
            over time. Metrics in this list are displayed as-is.
        unit_name: Display name for step counts (usually ``"step"`` or ``"sample"``).

    Example:

    >>> bar = Progbar(target=100)
    >>> for step in range(100):
    ...     loss = train_step()
    ...     bar.update(step + 1, values=[("loss", loss)])
    100/100 ━━━━━━━━━━━━━━━━━━━━ 2s 20ms/step - loss: 0.3120
    """

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        unit_name="step",
    ):
        if target is not None and (isinstance(target, bool) or not isinstance(target, int) or target < 0):
            raise ValueError(f"[Progbar] target must be a non-negative int or None, got {target!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"[Progbar] verbose must be 0, 1 or 2, got {verbose!r}")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()

        self._dynamic_display = _is_dynamic(sys.stdout)
        self._seen_so_far = 0
        # name -> [sum of value * steps, steps]; a dict and a list keep the display order.
        self._values = {}
        self._values_order = []
        self._start = time.monotonic()
        # On a terminal the first update draws at once; in a log the first plain line waits.
        self._last_update = 0.0 if self._dynamic_display else self._start
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        """Updates the progress bar.

        Args:
            current: Index of the current step (the number of steps done).
            values: List of tuples ``(name, value_for_last_step)``. Names in
                ``stateful_metrics`` are displayed as given; others are averaged over time.
            finalize: Whether this is the last update for the progress bar. If ``None``,
                defaults to ``current >= self.target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        if values:
            stored = self._values
            for name, value in values:
                if name not in stored:
                    self._values_order.append(name)
                if finalize or name in self.stateful_metrics:
                    stored[name] = [value, 1]
                else:
                    steps = max(current - self._seen_so_far, 1)
                    entry = stored.get(name)
                    if entry is None:
                        stored[name] = [value * steps, steps]
                    else:
                        entry[0] += value * steps
                        entry[1] += steps
        self._seen_so_far = current

        if self.verbose == 0:
            return
        now = time.monotonic()
        if current == 1 and self._time_after_first_step is None:
            self._time_after_first_step = now
        if self.verbose == 1:
            if not finalize:
                interval = self.interval if self._dynamic_display else max(
                    self.interval, _PLAIN_LINE_INTERVAL
                )
                if now - self._last_update < interval:
                    return
            self._draw(current, now, finalize)
        elif finalize and self.target is not None and self.target > 0:
            self._write_summary(current, now)
        self._last_update = now

    def add(self, n, values=None):
        """Advances the bar by ``n`` steps (``update(seen + n, values)``)."""
        self.update(self._seen_so_far + n, values)

    def _metrics_text(self):
        parts = []
        for name in self._values_order:
            total, count = self._values[name]
            parts.append(f" - {name}: {_format_value(total / max(1, count))}")
        return "".join(parts)

    def _time_per_unit(self, current, now):
        if not current:
            return 0.0
        # The first step (warm-up, allocation) is left out of the estimate once there are more.
        if self._time_after_first_step is not None and current > 1:
            return (now - self._time_after_first_step) / (current - 1)
        return (now - self._start) / current

    def _format_time(self, time_per_unit):
        if time_per_unit >= 1 or time_per_unit == 0:
            return f" {time_per_unit:.0f}s/{self.unit_name}"
        if time_per_unit >= 1e-3:
            return f" {time_per_unit * 1e3:.0f}ms/{self.unit_name}"
        return f" {time_per_unit * 1e6:.0f}us/{self.unit_name}"

    def _draw(self, current, now, finalize):
        # Terminal lines carry Keras's styling: bold count and time, green done part.
        bold, green, grey, reset = (
            ("\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m") if self._dynamic_display else ("",) * 4
        )
        known = self.target is not None and self.target > 0
        if known:
            digits = int(math.log10(self.target)) + 1
            count = f"{current:{digits}d}/{self.target}"
            done = min(int(self.width * current / self.target), self.width)
            plain_bar = f"{count} {'━' * self.width}"
            if self._dynamic_display:
                bar = f"{bold}{count}{reset} "
                if done > 0:
                    bar += f"{green}{'━' * done}{reset}"
                bar += f"{grey}{'━' * (self.width - done)}{reset}"
            else:
                # Without colours the part still to do is drawn with a thinner line.
                bar = f"{count} {'━' * done}{'─' * (self.width - done)}"
        else:
            plain_bar = bar = f"{current:7d}/Unknown"

        time_per_unit = self._time_per_unit(current, now)
        if known and not finalize:
            eta = int(time_per_unit * (self.target - current))
            if eta > 3600:
                clock = f"{eta // 3600}:{(eta % 3600) // 60:02d}:{eta % 60:02d}"
            elif eta > 60:
                clock = f"{eta // 60}:{eta % 60:02d}"
            else:
                clock = f"{eta}s"
        else:
            clock = f"{now - self._start:.0f}s"
        info = f"{self._format_time(time_per_unit)}{self._metrics_text()}"

        width = len(plain_bar) + 1 + len(clock) + len(info)
        if self._dynamic_display:
            # Back to the line start; trailing spaces wipe what is left of a longer line.
            message = f"\r{bar} {bold}{clock}{reset}{info}"
            message += " " * max(self._prev_total_width - width, 0)
            if finalize:
                message += "\n"
        else:
            message = f"{bar} {clock}{info}\n"
        self._prev_total_width = width
        sys.stdout.write(message)
        sys.stdout.flush()

    def _write_summary(self, current, now):
        digits = int(math.log10(self.target)) + 1
        line = (
            f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
            f"{self._format_time(self._time_per_unit(current, now))}{self._metrics_text()}\n"
        )
        sys.stdout.write(line)
        sys.stdout.flush()
