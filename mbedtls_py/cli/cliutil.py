"""Command-line helpers shared by the commands: a progress bar, docstrings as
help text, and (from ``mbedtls_py._cliargs``, which the commands outside
``cli`` use too) one-line argument errors and number argument types."""

from __future__ import annotations

import re
import sys
import time

from .._cliargs import (NON_NEGATIVE_INT, NON_NEGATIVE_MS, POSITIVE_INT, POSITIVE_MS,
                        OneLineParser, number_type)

__all__ = ["OneLineParser", "plain", "Progress", "POSITIVE_INT", "NON_NEGATIVE_INT", "POSITIVE_MS",
           "NON_NEGATIVE_MS", "number_type"]


class Progress:
    """A one-line progress bar on stderr (only on a terminal, or when forced)."""

    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total, self.label = total, label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
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


def plain(text: str) -> str:
    """A docstring paragraph as terminal text: RST roles (``:func:`x```) and
    double backticks removed, lines joined (argparse wraps them again)."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return " ".join(text.replace("``", "").split())
