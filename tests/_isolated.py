"""Run a snippet in a fresh interpreter, so a hang or a crash fails one test
(with a timeout) instead of the whole suite."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass


@dataclass
class Outcome:
    """How the child ended: ``returncode`` (negative: killed by that signal),
    ``None`` when it was stopped at the timeout."""

    returncode: int | None
    stdout: str
    stderr: str

    @property
    def hung(self) -> bool:
        return self.returncode is None

    @property
    def crashed(self) -> bool:
        return self.returncode is not None and self.returncode < 0


def run_isolated(code: str, *, timeout: float = 60.0, env: dict[str, str] | None = None,
                 prefix: list[str] | None = None) -> Outcome:
    """Run ``code`` with this interpreter (optionally under ``prefix``, e.g.
    valgrind); kill it after ``timeout`` real seconds."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    cmd = [*(prefix or []), sys.executable, "-c", textwrap.dedent(code)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Outcome(None, out, err)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)
