"""Progress of long loops: a tqdm bar on a terminal, a few plain lines in a log file.

A tqdm bar redraws itself with carriage returns several times a second; written to a log file
(stderr redirected, a batch job, CI) that makes about a thousand ``\\r`` updates in a ten-minute
run, one unreadable line. When standard error is not a terminal, `Progress` prints a plain line
instead, at most once every ``interval`` seconds and once at the end::

    training: 1200/5000 steps (24%), 41.3 step/s, eta 1m32s, loss=0.1234

Jupyter's stderr is not a terminal either, but it draws tqdm's widget, so a notebook gets the bar.
Every loop in genlab that shows progress goes through `Progress`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

#: Seconds between two plain lines when standard error is not a terminal.
LINE_INTERVAL = 30.0


class Progress:
    """Count a loop's work: ``with Progress(total=n, desc="sampling", unit="img") as bar: ...``.

    Parameters
    ----------
    total : int, optional
        The count at the end, if known (adds the percentage and the time left).
    desc : str
        What is counted, the line's label (``"training"``).
    unit : str
        The unit of the count (``"step"``, ``"img"``, ``"B"``).
    enabled : bool
        False shows nothing at all (``--no-progress``, or a process other than rank 0).
    initial : int
        The count already done (a resumed run); the rate counts only work done since.
    unit_scale : bool
        Show counts with SI prefixes (``12.3 MB``), for bytes.
    leave : bool
        Keep the finished bar on a terminal (False: it disappears when done).
    stream : text stream, optional
        Where to write; standard error (looked up when the object is made) by default.
    clock : callable, optional
        Seconds as a float, ``time.monotonic`` by default (tests pass a fake clock).
    interval : float
        Least seconds between two plain lines.
    """

    def __init__(
        self,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        enabled: bool = True,
        initial: int = 0,
        unit_scale: bool = False,
        leave: bool = True,
        stream: IO[str] | None = None,
        clock: Callable[[], float] | None = None,
        interval: float = LINE_INTERVAL,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = initial
        self.initial = initial
        self.unit_scale = unit_scale
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock or time.monotonic
        self.interval = interval
        self.postfix: dict[str, str] = {}
        self.closed = not enabled
        self._bar = None
        self._started = self._last_line = self.clock()
        if enabled and _draws_bars(self.stream):
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc or None,
                unit=unit,
                initial=initial,
                unit_scale=unit_scale,
                leave=leave,
                file=self.stream,
                dynamic_ncols=True,
            )

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        if self.closed:
            return
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self.clock()
        if now - self._last_line >= self.interval:
            self._write_line(now)

    def set_postfix(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Values shown after the count (``loss=0.1234``), replacing the previous ones."""
        if self.closed:
            return
        self.postfix = {key: str(value) for key, value in {**(values or {}), **more}.items()}
        if self._bar is not None:
            self._bar.set_postfix(self.postfix, refresh=False)

    def close(self) -> None:
        """Finish: close the bar, or write the last plain line. Calling it again does nothing."""
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        else:
            self._write_line(self.clock())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def line(self, now: float | None = None) -> str:
        """The plain line for the count so far (``now`` from ``clock``)."""
        now = self.clock() if now is None else now
        elapsed = now - self._started
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        count = self._amount(self.n)
        if self.total:
            count = f"{count}/{self._amount(self.total)}"
        parts = [f"{count} {_plural(self.unit)}" if not self.unit_scale else count]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        if rate > 0:
            speed = self._amount(rate, rate=True)
            parts.append(f"{speed}/s" if self.unit_scale else f"{speed} {self.unit}/s")
            if self.total and self.n < self.total:
                parts.append(f"eta {format_duration((self.total - self.n) / rate)}")
        else:
            parts.append(f"{format_duration(elapsed)} elapsed")
        parts += [f"{key}={value}" for key, value in self.postfix.items()]
        label = f"{self.desc}: " if self.desc else ""
        return label + ", ".join(parts)

    def _amount(self, value: float, *, rate: bool = False) -> str:
        if self.unit_scale:
            return _si(value) + self.unit
        if rate:
            return f"{value:.3g}" if value < 100 else f"{value:.0f}"
        return f"{value:g}" if isinstance(value, float) else str(value)

    def _write_line(self, now: float) -> None:
        self._last_line = now
        print(self.line(now), file=self.stream, flush=True)


def format_duration(seconds: float) -> str:
    """``45s``, ``1m32s``, ``2h05m``: short enough for a progress line."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _draws_bars(stream: IO[str]) -> bool:
    """A terminal, or a Jupyter kernel (whose stderr is no terminal but shows tqdm's widget)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return stream in (sys.stderr, sys.stdout) and _in_notebook()


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _plural(unit: str) -> str:
    # "1200/5000 steps", but "B" and units that are already plural stay as they are.
    return unit + "s" if unit.isalpha() and len(unit) > 2 and not unit.endswith("s") else unit


def _si(value: float) -> str:
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < 999.5:
            return f"{value:.3g} {prefix}" if prefix else f"{value:.3g} "
        value /= 1000
    return f"{value:.3g} P"
