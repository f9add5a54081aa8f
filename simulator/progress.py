"""A small progress bar on stderr for long runs (no dependency beyond the standard library).

The bar is silent unless it is enabled *and* its stream is a terminal, so logs, pipes, CI and
tests never see control characters. It redraws at most every ``min_interval`` seconds.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class ProgressBar:
    """``with ProgressBar(total, "simulating") as bar: bar.update(k)`` — a one-line bar on stderr.

    ``update(done)`` sets the absolute count of finished units (steps, chunks...); ``advance(n)``
    adds ``n``; ``note`` (e.g. a throughput) is shown after the bar, with the ETA. The bar draws
    only when ``enabled`` and ``stream.isatty()``; ``force=True`` draws on any stream (tests).
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        width: int = 30,
        min_interval: float = 0.1,
        force: bool = False,
    ) -> None:
        if total < 0:
            raise ValueError(f"progress total = {total!r} must be >= 0")
        self.total = int(total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = int(width)
        self.min_interval = float(min_interval)
        isatty = getattr(self.stream, "isatty", None)
        self.active = bool(enabled) and (force or (callable(isatty) and isatty()))
        self.done = 0
        self.note = ""
        self._start = time.monotonic()
        self._last_draw = -float("inf")
        self._drawn = False

    def update(self, done: int) -> None:
        """Set the number of finished units to ``done`` (clipped to ``[0, total]``)."""
        self.done = max(0, min(int(done), self.total))
        if not self.active:
            return
        now = time.monotonic()
        if self.done < self.total and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._draw(now)

    def advance(self, n: int = 1) -> None:
        """Add ``n`` finished units."""
        self.update(self.done + n)

    def close(self) -> None:
        """Finish the line (only if something was drawn)."""
        if self.active and self._drawn:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _draw(self, now: float) -> None:
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = now - self._start
        bar = "#" * filled + "-" * (self.width - filled)
        label = f"{self.label} " if self.label else ""
        eta = ""
        if 0 < self.done < self.total:
            eta = f" ETA {elapsed * (self.total - self.done) / self.done:6.1f}s"
        note = f" {self.note}" if self.note else ""
        self.stream.write(
            f"\r{label}[{bar}] {self.done}/{self.total} {100 * frac:3.0f}% {elapsed:6.1f}s"
            f"{eta}{note}"
        )
        self.stream.flush()
        self._drawn = True
