"""The plumbing ``s_client`` (:mod:`mbedtls_py.peers.interop`) and ``s_server``
(:mod:`mbedtls_py.peers.openssl_server`) share: one ``openssl`` process with
its output in temp files, the address and options both command lines take.

Pure Python: nothing here needs the C extension.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO
from collections.abc import Sequence

from . import processes
from .openssl_output import PeerResult, _read

__all__: list[str] = []  # internal to the peers package


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _spawn(argv: Sequence[str], stdout: IO[bytes], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    return processes.spawn(argv, kind="openssl", stdout=stdout, stderr=stderr)


def _common_args(mtu: int | None, cipher: str | None, dtls_timeouts: bool,
                 extra_args: list[str]) -> list[str]:
    """The options s_client and s_server share, then the caller's extra arguments."""
    argv: list[str] = []
    if mtu is not None:
        argv += ["-mtu", str(mtu)]
    if cipher is not None:
        argv += ["-cipher", cipher]
    if dtls_timeouts:
        argv.append("-timeout")
    return argv + list(extra_args)


class _Peer:
    """One ``openssl`` process (``openssl``: the program's path, from
    :func:`~mbedtls_py.peers.interop.openssl_path`): its command line, its
    output files in a temp dir, its start and end times."""

    def __init__(self, openssl: str) -> None:
        self._openssl = openssl
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._out_path: Path | None = None
        self._err_path: Path | None = None
        self._started = 0.0
        self._ended: float | None = None
        self._timed_out = False
        self.argv: list[str] = []

    @property
    def pid(self) -> int | None:
        """PID of the running (or not yet reaped) process, if any."""
        return self._proc.pid if self._proc is not None else None

    @property
    def stdout(self) -> bytes:
        """Everything the process wrote to stdout so far."""
        return _read(self._out_path) if self._out_path else b""

    @property
    def stderr(self) -> bytes:
        """Everything the process wrote to stderr so far."""
        return _read(self._err_path) if self._err_path else b""

    def _workdir(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mbedtls-py-openssl-")
        return Path(self._tmp.name)

    def _launch(self, argv: list[str]) -> None:
        work = self._workdir()
        self._out_path, self._err_path = work / "stdout", work / "stderr"
        with open(self._out_path, "wb") as out, open(self._err_path, "wb") as err:
            self._proc = _spawn(argv, out, err)
        self.argv = argv
        self._started = time.monotonic()
        self._ended = None
        self._timed_out = False

    def _finish(self, grace: float) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None and grace <= 0:
            self._timed_out = True
        try:
            processes.reap(self._proc, grace=grace)
        finally:
            if self._ended is None:
                self._ended = time.monotonic()

    def _result(self) -> PeerResult:
        assert self._proc is not None
        end = self._ended if self._ended is not None else time.monotonic()
        return PeerResult(
            argv=list(self.argv),
            returncode=self._proc.returncode,
            stdout=self.stdout,
            stderr=self.stderr,
            elapsed=end - self._started,
            timed_out=self._timed_out,
        )

    def _cleanup_files(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._out_path = self._err_path = None
