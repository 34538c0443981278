"""Progress of a long run on stderr: a bar on a terminal, else a plain line
every few seconds (CI logs and pipes see that the run is alive and how far
it is).  Standard library only, so every command's layer may use it."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "LINE_INTERVAL_S"]

LINE_INTERVAL_S = 5.0  # a line this often when stderr is not a terminal


class Progress:
    """``Progress(total, label)(done)``: a one-line bar on stderr when it is a
    terminal (or ``enabled=True``); otherwise one line every
    ``LINE_INTERVAL_S`` seconds and one at the end, if the run lasted that
    long; nothing with ``enabled=False``."""

    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total, self.label = total, label
        self.enabled = enabled is not False
        self.bar = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()
        self.last = 0.0 if self.bar else self.t0

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.bar:
            self._bar(done, now)
            return
        if (done < self.total and now - self.last >= LINE_INTERVAL_S) or \
                (done >= self.total and now - self.t0 >= LINE_INTERVAL_S and self.last >= 0):
            self.last = now if done < self.total else -1.0  # -1: the final line is out
            rate = done / max(now - self.t0, 1e-9)
            sys.stderr.write(f"{self.label}: {done}/{self.total} ({rate:.0f}/s, "
                             f"{now - self.t0:.0f} s)\n")
            sys.stderr.flush()

    def _bar(self, done: int, now: float) -> None:
        if done < self.total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / max(self.total, 1))
        rate = done / max(now - self.t0, 1e-9)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done}/{self.total} ({rate:.0f}/s)")
        if done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()
