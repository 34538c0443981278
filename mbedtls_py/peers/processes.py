"""The one registry of peer subprocesses (OpenSSL, the upstream samples): start
each in a session of its own, reap it (grace, then SIGTERM to its group, then
SIGKILL), list what is left, and kill everything still registered at exit.

Each process is registered under a ``kind`` (``"openssl"``, ``"upstream"``) so
each driver's ``live_children()`` sees only its own.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import IO

__all__ = ["spawn", "reap", "signal_group", "close_stdin", "children_named", "live_children"]

_LOCK = threading.Lock()
_CHILDREN: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}


def spawn(argv: Sequence[str], *, kind: str, stdout: IO[bytes] | int | None,
          stderr: IO[bytes] | int | None, stdin: int | None = subprocess.PIPE,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (its own process group, so the whole
    group can be signalled and a Ctrl-C in the terminal does not reach it behind
    our back) and register it under ``kind``."""
    proc = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=stderr,
                            start_new_session=True, close_fds=True,
                            env=dict(env) if env is not None else None)
    with _LOCK:
        _CHILDREN[proc.pid] = (kind, proc)
    return proc


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to ``proc``'s process group, only while it is unreaped
    (after ``wait()`` its pid, the group id, may be reused)."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def close_stdin(proc: subprocess.Popen[bytes]) -> None:
    """Close ``proc``'s stdin pipe if it has one (errors ignored: it may be gone)."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except (OSError, ValueError):
            pass


def reap(proc: subprocess.Popen[bytes], grace: float = 0.0, term_wait: float = 1.0) -> None:
    """Wait ``grace`` s for a voluntary exit, then SIGTERM the group (wait
    ``term_wait`` s), then SIGKILL; always reap, and unregister once reaped."""
    try:
        try:
            proc.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=term_wait)
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10.0)
    finally:
        close_stdin(proc)
        if proc.returncode is not None:
            with _LOCK:
                _CHILDREN.pop(proc.pid, None)


def children_named(*names: str) -> list[int]:
    """PIDs of this process's children (running or zombie) whose command is one of ``names``."""
    wanted = {n.encode() for n in names}
    me = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces or parentheses.
        comm = stat[stat.find(b"(") + 1 : stat.rfind(b")")]
        rest = stat[stat.rfind(b")") + 2 :].split()
        if len(rest) > 1 and int(rest[1]) == me and comm in wanted:
            found.append(int(entry))
    return found


def live_children(kind: str, *names: str) -> list[int]:
    """PIDs of ``kind`` processes started here that run or are not yet reaped:
    the registry's, plus a ``/proc`` scan for children named ``names`` (zombies
    included), so a test can assert that nothing was left behind."""
    with _LOCK:
        procs = [p for k, p in _CHILDREN.values() if k == kind]
    pids = {p.pid for p in procs if p.poll() is None}
    pids.update(children_named(*names))
    return sorted(pids)


@atexit.register
def _kill_all() -> None:
    with _LOCK:
        procs = [p for _, p in _CHILDREN.values()]
    for proc in procs:
        try:
            reap(proc, grace=0.0, term_wait=0.5)
        except Exception:  # noqa: BLE001 - at exit, keep going for the others
            pass


