"""Upstream's sample programs ``programs/ssl/dtls_server`` and
``programs/ssl/dtls_client``, built from the pinned source, as peers.

Building them (and the test certificates they embed) is
:mod:`mbedtls_py.peers.upstream_build`; :func:`build`, :func:`available` and
:func:`test_certificates` are re-exported here for the drivers' users.

The drivers (:class:`UpstreamServer`, :class:`UpstreamClient`) run the
binaries as bounded subprocesses in their own process groups, parse their
output, and always kill and reap them; :func:`live_children` lists any left.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..udp.addresses import pick_free_udp_port
from . import processes
from .upstream_build import (
    ENV_HOST,
    ENV_PORT,
    ROOT,
    SAMPLE_PORT,
    SHIM_C,
    UpstreamBuild,
    available,
    build,
    test_certificates,
)

__all__ = [
    "ROOT",
    "SAMPLE_PORT",
    "SHIM_C",
    "UpstreamBuild",
    "UpstreamServer",
    "UpstreamClient",
    "UpstreamClientResult",
    "ServerConnection",
    "build",
    "available",
    "test_certificates",
    "live_children",
    "parse_server_output",
]


# --------------------------------------------------------------------------- build


# --------------------------------------------------------------------------- processes

_NAMES = ("dtls_server", "dtls_client")


def live_children() -> list[int]:
    """PIDs of sample processes started by this process that run or are unreaped."""
    return processes.live_children("upstream", *_NAMES)


class _Proc:
    """A sample binary in its own process group, output in temp files."""

    def __init__(self, argv: list[str], host: str, port: int) -> None:
        from ..udp.addresses import check_host

        check_host(host)
        self._tmp = tempfile.TemporaryDirectory(prefix="mbedtls-py-upstream-")
        self._out = Path(self._tmp.name) / "stdout"
        self._err = Path(self._tmp.name) / "stderr"
        env = dict(os.environ)
        env[ENV_HOST] = host
        env[ENV_PORT] = str(port)
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.proc = processes.spawn(argv, kind="upstream", stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=err, env=env)
        self.started = time.monotonic()
        self.ended: float | None = None
        self.killed = False
        self.stdout_final: bytes | None = None
        self.stderr_final: bytes | None = None

    @property
    def stdout(self) -> bytes:
        if self.stdout_final is not None:
            return self.stdout_final
        try:
            return self._out.read_bytes()
        except OSError:
            return b""

    @property
    def stderr(self) -> bytes:
        if self.stderr_final is not None:
            return self.stderr_final
        try:
            return self._err.read_bytes()
        except OSError:
            return b""

    def finish(self, grace: float) -> None:
        if self.stdout_final is not None:
            return
        if self.proc.poll() is None and grace <= 0:
            self.killed = True
        try:
            processes.reap(self.proc, grace)
        finally:
            if self.proc.returncode is not None and self.proc.returncode < 0:
                self.killed = True
            self.ended = time.monotonic()
            self.stdout_final, self.stderr_final = self.stdout, self.stderr
            self._tmp.cleanup()


def _pick_port(host: str) -> int:
    return pick_free_udp_port(host)


# --------------------------------------------------------------------------- server


@dataclass
class ServerConnection:
    """One pass of the sample's loop (one ``Waiting for a remote connection``)."""

    accepted: bool = False
    hello_verify: bool = False
    handshake_rc: int | None = None  # 0 ok, negative: what mbedtls_ssl_handshake returned
    read: int | None = None  # bytes read, or the negative code
    request: bytes = b""
    written: int | None = None
    closed_gracefully: bool = False  # the client's close_notify came before the request
    close_notify: bool = False  # the server sent its close_notify

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        d = dict(self.__dict__)
        d["request"] = self.request.decode("latin-1")
        return d


_WAIT = b"  . Waiting for a remote connection ..."


def parse_server_output(stdout: bytes) -> list[ServerConnection]:
    """Split ``dtls_server`` output into passes of its loop."""
    conns = []
    for seg in stdout.split(_WAIT)[1:]:
        c = ServerConnection()
        c.accepted = seg.startswith(b" ok")
        c.hello_verify = b"hello verification requested" in seg
        m = re.search(rb"mbedtls_ssl_handshake returned -0x([0-9a-fA-F]+)", seg)
        if m:
            c.handshake_rc = -int(m.group(1), 16)
        elif b"Performing the DTLS handshake... ok" in seg:
            c.handshake_rc = 0
        m = re.search(rb"< Read from client: (\d+) bytes read\n\n(.*?)\n\n", seg, re.S)
        if m:
            c.read, c.request = int(m.group(1)), m.group(2)
        else:
            m = re.search(rb"mbedtls_ssl_read returned -0x([0-9a-fA-F]+)", seg)
            if m:
                c.read = -int(m.group(1), 16)
        c.closed_gracefully = b"connection was closed gracefully" in seg
        m = re.search(rb"> Write to client: (\d+) bytes written", seg)
        if m:
            c.written = int(m.group(1))
        c.close_notify = b"Closing the connection... done" in seg
        conns.append(c)
    return conns


class UpstreamServer:
    """``dtls_server`` in the background on ``host:port`` (loopback).

    ``port=0`` picks a free port; ``port=4433`` is the sample's own.  The sample
    loops forever; :meth:`stop` ends it (SIGTERM, then SIGKILL) and reaps it.
    Use as a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or _pick_port(host)
        self._p: _Proc | None = None

    def start(self, ready_timeout: float = 10.0) -> UpstreamServer:
        """Start and wait until the sample waits for its first client."""
        binary = build().dtls_server
        self._p = _Proc([str(binary)], self.host, self.port)
        try:
            self.wait_for(_WAIT, timeout=ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def stdout(self) -> bytes:
        """Output so far."""
        return self._p.stdout if self._p is not None else b""

    @property
    def pid(self) -> int | None:
        """The process id."""
        return self._p.proc.pid if self._p is not None else None

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._p is not None and self._p.proc.poll() is None

    def connections(self) -> list[ServerConnection]:
        """The passes of the loop so far."""
        return parse_server_output(self.stdout)

    def handshake_failures(self) -> list[int]:
        """Codes of every failed ``mbedtls_ssl_handshake`` so far."""
        return [c.handshake_rc for c in self.connections()
                if c.handshake_rc is not None and c.handshake_rc != 0]

    def wait_for(self, pattern: bytes, timeout: float = 5.0, count: int = 1) -> None:
        """Wait until ``pattern`` occurs ``count`` times in the output."""
        if self._p is None:
            raise RuntimeError("start() first")
        end = time.monotonic() + timeout
        while self.stdout.count(pattern) < count:
            if self._p.proc.poll() is not None:
                raise RuntimeError(f"dtls_server exited ({self._p.proc.returncode}): "
                                   f"{self.stdout[-2000:].decode(errors='replace')}")
            if time.monotonic() >= end:
                raise TimeoutError(f"dtls_server: no {pattern!r} x{count} within {timeout} s")
            time.sleep(0.005)

    def wait_idle(self, passes: int, timeout: float = 5.0) -> None:
        """Wait until the loop has started its ``passes``-th wait for a client."""
        self.wait_for(_WAIT, timeout=timeout, count=passes)

    def stop(self) -> list[ServerConnection]:
        """Kill and reap it; return the parsed passes (safe to call twice)."""
        if self._p is not None:
            self._p.finish(grace=0.0)
        return self.connections()

    def __enter__(self) -> UpstreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- client


@dataclass
class UpstreamClientResult:
    """What ``dtls_client`` did, parsed from its output."""

    returncode: int | None
    stdout: bytes
    elapsed: float
    timed_out: bool
    handshake_rc: int | None = None
    verify_ok: bool | None = None
    written: int | None = None
    received: bytes = b""
    read_rc: int | None = None
    closed: bool = False  # reached "Closing the connection... done"
    last_error: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Exit 0 after an echo and a close."""
        return self.returncode == 0 and self.handshake_rc == 0 and self.closed


def _parse_client(res: UpstreamClientResult) -> None:
    out = res.stdout
    m = re.search(rb"mbedtls_ssl_handshake returned -0x([0-9a-fA-F]+)", out)
    if m:
        res.handshake_rc = -int(m.group(1), 16)
    elif b"Performing the DTLS handshake... ok" in out:
        res.handshake_rc = 0
    if b"Verifying peer X.509 certificate... ok" in out:
        res.verify_ok = True
    elif b"Verifying peer X.509 certificate... failed" in out:
        res.verify_ok = False
    m = re.search(rb"> Write to server: (\d+) bytes written", out)
    if m:
        res.written = int(m.group(1))
    m = re.search(rb"< Read from server: (\d+) bytes read\n\n(.*?)\n\n", out, re.S)
    if m:
        res.read_rc, res.received = int(m.group(1)), m.group(2)
    else:
        m = re.search(rb"mbedtls_ssl_read returned -0x([0-9a-fA-F]+)", out)
        if m:
            res.read_rc = -int(m.group(1), 16)
        elif b"connection was closed gracefully" in out:
            res.read_rc = -0x7880
    res.closed = b"Closing the connection... done" in out
    m = re.search(rb"Last error was: (-?\d+)", out)
    if m:
        res.last_error = int(m.group(1))


class UpstreamClient:
    """``dtls_client`` once against ``host:port`` (it sends ``Echo this``, reads
    the echo, sends close_notify and exits)."""

    def __init__(self, host: str = "127.0.0.1", port: int = SAMPLE_PORT) -> None:
        self.host, self.port = host, port
        self._p: _Proc | None = None
        self.result: UpstreamClientResult | None = None

    def start(self) -> UpstreamClient:
        """Start it in the background."""
        if self._p is not None:
            raise RuntimeError("already started; make a new one")
        self._p = _Proc([str(build().dtls_client)], self.host, self.port)
        return self

    def wait(self, timeout: float = 15.0) -> UpstreamClientResult:
        """Wait up to ``timeout`` s (then kill), reap, parse."""
        if self._p is None:
            raise RuntimeError("start() first")
        self._p.finish(grace=timeout)
        p = self._p
        res = UpstreamClientResult(p.proc.returncode, p.stdout,
                                   (p.ended or time.monotonic()) - p.started, p.killed)
        _parse_client(res)
        self.result = res
        return res

    def run(self, timeout: float = 15.0) -> UpstreamClientResult:
        """Start, wait, return the result."""
        self.start()
        return self.wait(timeout)

    def close(self) -> None:
        """Kill and reap if still running."""
        if self._p is not None:
            self._p.finish(grace=0.0)

    def __enter__(self) -> UpstreamClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
