"""Shared by the tests that open captures with the real tshark (capture/,
sslopt/, foreign/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TSHARK = shutil.which("tshark")

needs_tshark = pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed (apt-get install tshark; .ci/run installs it)")


def tshark(path: str | Path, *args: str, timeout: float = 60) -> str:
    """Run ``tshark -n -r path ARGS`` and return its stdout (fails on an error)."""
    assert TSHARK is not None
    proc = subprocess.run([TSHARK, "-n", "-r", str(path), *args], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fields(path: str | Path, *names: str, display_filter: str | None = None) -> list[list[str]]:
    """One row per frame: the values of the tshark fields ``names``."""
    args = ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for n in names:
        args += ["-e", n]
    if display_filter:
        args += ["-Y", display_filter]
    return [line.split("\t") for line in tshark(path, *args).splitlines()]
