"""Run a snippet in a fresh interpreter, so a hang or a crash fails one test
(with a timeout) instead of the whole suite."""

from __future__ import annotations

import os
from typing import Any
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


WORKER = r'''
import json, sys, traceback
ns = {}
exec(json.loads(sys.argv[1]), ns)  # the prelude
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    case = json.loads(line)
    local = dict(ns)
    try:
        exec(case["code"], local)
        value = local.get("result")
        out = {"result": "returned", "value": repr(value)[:200],
               "types": [t.__name__ for t in type(value).__mro__]}
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        out = {"result": "raised", "types": [t.__name__ for t in type(e).__mro__],
               "message": str(e)[:300]}
    print(json.dumps(out), flush=True)
'''


class Worker:
    """A child interpreter that runs snippets one by one; a crash or a hang
    (no answer within ``timeout`` s) is reported and the child replaced."""

    def __init__(self, prelude: str, timeout: float = 30.0) -> None:
        import json

        self.prelude, self.timeout, self._json = prelude, timeout, json
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", WORKER, self._json.dumps(textwrap.dedent(self.prelude))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready = self._read()
        if ready is None or not ready.get("ready"):
            raise RuntimeError(f"misuse worker did not start: {ready}")

    def _read(self) -> dict[str, Any] | None:
        import select

        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return self._json.loads(line) if line else {"result": "crashed"}

    def run(self, code: str) -> dict[str, Any]:
        """``{"result": "returned"|"raised"|"crashed"|"hung", ...}``."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(self._json.dumps({"code": textwrap.dedent(code)}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            out: dict[str, Any] | None = {"result": "crashed"}
        else:
            out = self._read()
        if out is None or out.get("result") == "crashed":
            result = "hung" if out is None else "crashed"
            self.proc.kill()
            self.proc.wait()
            out = {"result": result, "returncode": self.proc.returncode}
            self.proc = None
        return out

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
