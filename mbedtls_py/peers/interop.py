"""Real OpenSSL command-line DTLS peers (``openssl s_client`` / ``s_server``) and test PKI.

Pure Python: subprocess, tempfile, socket, and trustme (for :func:`make_pki` only); nothing
here needs the C extension.

Facts about the OpenSSL 3.0 DTLS command line that this module relies on (checked against
OpenSSL 3.0.19; see the tests in ``tests/test_interop_openssl.py``):

* ``s_client``, without ``-quiet``/``-ign_eof``, sends what it reads from stdin once the
  handshake is done and, at stdin EOF, prints ``DONE`` (stderr), sends an encrypted
  close_notify (alert record, epoch 1), calls ``shutdown(SHUT_WR)`` and then keeps reading
  and discarding datagrams for 500 ms before it exits.  Every run therefore lasts at least
  ~0.5 s.  ``-quiet`` implies ``-ign_eof`` (the client then never closes on its own), which is
  why the seed mode must not use it.  ``-brief`` does not imply ``-ign_eof``: it moves a short
  summary to stderr and leaves only the peer's application data on stdout.
* ``s_client`` prints ``closed`` on stdout when the server's close_notify arrives *before* its
  own stdin EOF (the case that, against Mbed TLS's ``dtls_server``, loses the race).  Without
  ``-brief`` it prints its session block, ``Cipher is ...`` included, even when the handshake
  failed half-way (exit status 1), so the cipher line alone does not prove a handshake.
* ``s_server`` reports a failed handshake only on stderr (``ERROR`` and the error stack).
* ``s_server`` turns on DTLS cookie exchange (HelloVerifyRequest) for every connection; it
  cannot be turned off.  ``-listen`` only changes *how*: the stateless ``DTLSv1_listen()``
  before any connection state exists, after which the server calls ``connect()`` on its UDP
  socket with that client's address and turns ``-listen`` off for the rest of the process, so
  one ``-listen`` server serves one client address (others get ICMP port unreachable: s_client
  says ``write:errno=111``).  Without ``-listen`` it serves clients one after another.
* ``s_server`` has no echo for DTLS (``-rev`` says "Can't use -rev with DTLS"); it prints the
  application data it receives on stdout, between its connection summary and ``DONE``, and
  sends whatever it reads on its own stdin to the client.  A read of at most 2 bytes starting
  with a command letter (``q``, ``Q``, ``r``, ``R``, ...) is a command, not data.
* ``s_server`` exits at stdin EOF (so its stdin is kept open as a pipe), and on stdin EOF or
  ``q``/``Q`` it closes its UDP socket *before* sending close_notify (the ``sendto`` fails with
  EBADF): s_server never sends a close_notify of its own in DTLS 1.2; it only answers one.
* A failed bind (``Address already in use`` on stderr) still exits with status 0.  s_server
  sets ``SO_REUSEADDR``, so a second socket that also sets it can bind the same UDP port;
  :func:`udp_port_free` probes without it.
* ``-psk`` with ``-nocert`` works at the default security level: the default cipher list
  negotiates ``DHE-PSK-AES256-GCM-SHA384``, and ``-cipher PSK-AES128-GCM-SHA256`` (plain PSK)
  needs no ``@SECLEVEL=0``.
* ``-timeout`` sets 250 ms ``SO_RCVTIMEO``/``SO_SNDTIMEO`` on the datagram socket; it is not
  an overall time limit.  ``-mtu N`` fixes the link MTU (no path MTU discovery).
* ``-msg`` does not decode DTLS 1.2 records in 3.0 ("Not TLS data or unknown version").
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Sequence

from ..creds.pki import PKI
from ..creds.psk import PSK
from ..udp.addresses import pick_free_udp_port
from . import processes

__all__ = [
    "SEED_INPUT",
    "PeerResult",
    "ServerSession",
    "OpenSSLClient",
    "OpenSSLServer",
    "openssl_available",
    "openssl_path",
    "openssl_version",
    "live_children",
    "parse_server_sessions",
]

SEED_INPUT = b"GET / HTTP/1.0\n"
"""What ``echo "GET / HTTP/1.0"`` writes into the seed's s_client."""

_INSTALL_HINT = "install it with `apt-get install openssl` (or put `openssl` on PATH)"

# --------------------------------------------------------------------------- locating openssl


def openssl_path(openssl: str | None = None) -> str:
    """Return the absolute path of the ``openssl`` CLI (``openssl`` if given, else ``PATH``).

    Raises ``RuntimeError`` with an installation hint when it cannot be found.
    """
    found = shutil.which(openssl or "openssl")
    if found is None:
        name = openssl or "openssl"
        raise RuntimeError(f"OpenSSL command-line tool {name!r} not found; {_INSTALL_HINT}")
    return found


def openssl_available(openssl: str | None = None) -> bool:
    """True if the ``openssl`` CLI can be found and runs ``openssl version``."""
    try:
        openssl_version(openssl)
    except RuntimeError:
        return False
    return True


@functools.lru_cache(maxsize=8)
def _version_of(path: str) -> str:
    try:
        out = subprocess.run([path, "version"], capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{path} version failed: {exc}; {_INSTALL_HINT}") from exc
    return out.stdout.decode(errors="replace").strip()


def openssl_version(openssl: str | None = None) -> str:
    """Return the output of ``openssl version``, e.g. ``"OpenSSL 3.0.19 27 Jan 2026 (...)"``."""
    return _version_of(openssl_path(openssl))


# --------------------------------------------------------------------------- ports


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --------------------------------------------------------------------------- processes

_NAMES = ("openssl",)


def _spawn(argv: Sequence[str], stdout: IO[bytes], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    return processes.spawn(argv, kind="openssl", stdout=stdout, stderr=stderr)


def _feed(proc: subprocess.Popen[bytes], data: bytes, delay: float, cut: threading.Event) -> None:
    # s_client reads stdin only after the handshake: a write larger than the pipe buffer
    # blocks until then, or until the process dies, so it happens off the caller's thread.
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
    except (OSError, ValueError):
        pass  # it already exited; wait() reports how
    cut.wait(delay)
    processes.close_stdin(proc)


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


def live_children() -> list[int]:
    """PIDs of OpenSSL processes started by this process that are running or not yet reaped
    (the registry of :mod:`mbedtls_py.peers.processes` plus a ``/proc`` scan for ``openssl``
    children, zombies included), so a test can assert that nothing was left behind."""
    return processes.live_children("openssl", *_NAMES)


# --------------------------------------------------------------------------- results


@dataclass
class PeerResult:
    """What an OpenSSL peer did: raw output plus the facts parsed from it.

    ``received`` is the application data the peer got from the other side (best effort: it
    is cut out of the CLI's output, so data that looks like the CLI's own lines can confuse
    it).  A client's ``handshake_completed`` comes from ``CONNECTION ESTABLISHED`` in brief
    mode; in full mode s_client prints its session block even after a failed handshake, so
    there it also needs a normal end (exit 0, ``DONE``, ``closed``) or a kill by the timeout.
    ``peer_closed`` (client only, not in brief mode) says whether the server's close_notify
    arrived before the client's own stdin EOF; ``None`` when unknown.
    """

    argv: list[str]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    elapsed: float
    timed_out: bool = False
    handshake_completed: bool = False
    protocol: str | None = None
    cipher: str | None = None
    verify_ok: bool | None = None
    received: bytes = b""
    peer_closed: bool | None = None
    handshakes: int = 0


@dataclass(frozen=True)
class ServerSession:
    """One connection as seen in ``s_server``'s output."""

    cipher: str | None
    data: bytes
    closed: bool


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _search(pattern: bytes, data: bytes) -> str | None:
    m = re.search(pattern, data, re.MULTILINE)
    return m.group(1).decode(errors="replace").strip() if m else None


def _cipher_ok(cipher: str | None) -> bool:
    return cipher is not None and cipher not in ("(NONE)", "0000", "")


def _parse_client(result: PeerResult, brief: bool) -> None:
    out, err = result.stdout, result.stderr
    if brief:
        result.handshake_completed = b"CONNECTION ESTABLISHED" in err
        result.protocol = _search(rb"^Protocol version: (.+)$", err)
        result.cipher = _search(rb"^Ciphersuite: (.+)$", err)
        verification = err
        result.received = out
    else:
        result.cipher = _search(rb"^(?:New|Reused), .*, Cipher is (\S+)$", out)
        result.protocol = _search(rb"^\s+Protocol\s*: (\S+)$", out)
        verification = out
        start = out.find(b"SSL-Session:\n")
        end = out.find(b"\n---\n", start) if start >= 0 else -1
        if end >= 0:
            data = out[end + len(b"\n---\n") :]
            result.peer_closed = data.endswith(b"closed\n")
            result.received = data[: -len(b"closed\n")] if result.peer_closed else data
        # s_client also prints the session block, cipher included, when the handshake failed
        # half-way (exit status 1); a finished one shows in a normal end or in being killed.
        ended_normally = result.returncode == 0 or b"DONE\n" in err or bool(result.peer_closed)
        finished = ended_normally or result.timed_out
        result.handshake_completed = _cipher_ok(result.cipher) and finished
    if re.search(rb"^Verification: OK$", verification, re.MULTILINE):
        result.verify_ok = True
    elif re.search(rb"^Verification error", verification, re.MULTILINE):
        result.verify_ok = False
    if not result.handshake_completed:
        result.cipher = None
    result.handshakes = int(result.handshake_completed)


_SESSION_START = b"-----BEGIN SSL SESSION PARAMETERS-----\n"
_INFO_END = re.compile(rb"^Secure Renegotiation IS(?: NOT)? supported\n", re.MULTILINE)
_INFO_EXTRA = re.compile(
    rb"\A(?:Renegotiation is DISABLED\n|Keying material exporter:\n"
    rb"|    (?:Label|Length|Keying material|Error)[^\n]*\n)*"
)


# s_server prints DONE (peer's close_notify or our stdin EOF) or ERROR right after the data,
# but "shutting down SSL"/"CONNECTION CLOSED" sit in its stdio buffer until a later flush.
_TRAILER = re.compile(
    rb"(?:DONE|ERROR)\n"
    rb"(?:shutting down SSL\n|CONNECTION CLOSED\n|DONE\n|ERROR\n| +\d+ [^\n]*\n)*\Z"
)


def parse_server_sessions(stdout: bytes) -> list[ServerSession]:
    """Split ``s_server`` stdout into connections and cut out the data each one received.

    Best effort: a connection's data ends where s_server's ``DONE``/``ERROR`` trailer
    begins, so data whose last line is ``DONE`` itself is indistinguishable from it.
    """
    sessions = []
    for segment in stdout.split(_SESSION_START)[1:]:
        cipher = _search(rb"^CIPHER is (\S+)$", segment)
        m = _INFO_END.search(segment)
        if m is None:
            sessions.append(ServerSession(cipher, b"", False))
            continue
        body = segment[m.end() :]
        body = body[_INFO_EXTRA.match(body).end() :]  # type: ignore[union-attr]
        trailer = _TRAILER.search(body)
        closed = trailer is not None
        if trailer is not None:
            body = body[: trailer.start()]
        sessions.append(ServerSession(cipher if _cipher_ok(cipher) else None, body, closed))
    return sessions


# --------------------------------------------------------------------------- peers


class _Peer:
    def __init__(self, openssl: str | None) -> None:
        self._openssl = openssl_path(openssl)
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


class OpenSSLClient:
    """``openssl s_client -dtls1_2`` run once against ``host:port`` on loopback.

    Modes:

    * default: ``s_client`` with its full output (session block on stdout, then the data it
      received, then ``closed`` if the server's close_notify came before stdin EOF).
    * ``brief=True``: ``-brief``; summary on stderr, stdout is only the received data.
    * ``seed=True``: exactly the seed's command (:meth:`seed_command`), nothing else added.

    ``input`` is written to its stdin; stdin is closed ``eof_delay`` seconds later, and at EOF
    s_client sends an encrypted close_notify and exits ~0.5 s later.  ``wait_for_close``
    adds ``-ign_eof``: the client then ignores stdin EOF and runs until the server closes the
    connection (or the timeout kills it; note that s_server itself never sends a close_notify).

    With ``pki``, the server is verified against ``pki.ca_pem`` (``-CAfile -verify 10
    -verify_return_error -verify_hostname``) unless ``verify=False``; ``client_cert`` presents
    ``pki``'s client certificate.  With ``psk``: ``-psk HEX -psk_identity ID``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        input: bytes = SEED_INPUT,  # noqa: A002 - the name the callers use
        *,
        pki: PKI | None = None,
        psk: PSK | None = None,
        verify: bool = True,
        client_cert: bool = False,
        brief: bool = False,
        seed: bool = False,
        wait_for_close: bool = False,
        eof_delay: float = 0.0,
        mtu: int | None = None,
        cipher: str | None = None,
        dtls_timeouts: bool = False,
        extra_args: Sequence[str] = (),
        openssl: str | None = None,
    ) -> None:
        extras = (pki, brief, wait_for_close, mtu, cipher, dtls_timeouts, client_cert)
        if seed and any(x not in (None, False) for x in extras):
            raise ValueError(
                "seed=True reproduces the seed command exactly; "
                "only psk and extra_args may be added"
            )
        if client_cert and pki is None:
            raise ValueError("client_cert=True needs pki")
        if eof_delay < 0:
            raise ValueError("eof_delay must be >= 0")
        self.host, self.port, self.input = host, port, bytes(input)
        self.pki, self.psk, self.verify, self.client_cert = pki, psk, verify, client_cert
        self.brief, self.seed = brief, seed
        self.wait_for_close, self.eof_delay = wait_for_close, eof_delay
        self.mtu, self.cipher, self.dtls_timeouts = mtu, cipher, dtls_timeouts
        self.extra_args = list(extra_args)
        self._peer = _Peer(openssl)
        self._feeder: threading.Thread | None = None
        self._cut = threading.Event()
        self.result: PeerResult | None = None

    @staticmethod
    def seed_command(
        host: str, port: int, *, psk: PSK | None = None, openssl: str | None = None
    ) -> list[str]:
        """The seed's client: ``openssl s_client -dtls1_2 -connect HOST:PORT``.

        Fed :data:`SEED_INPUT` on stdin, as ``echo "GET / HTTP/1.0" | ...`` does.  (Mbed TLS's
        ssl-opt.sh runs the same thing as ``s_client -connect 127.0.0.1:PORT -dtls1_2``, with no
        ``-CAfile``: the certificate is not verified.)  With ``psk``, ``-psk HEX -psk_identity
        ID`` are appended, needed only against a PSK-only server.
        """
        argv = [openssl_path(openssl), "s_client", "-dtls1_2", "-connect", _hostport(host, port)]
        if psk is not None:
            argv += ["-psk", psk.hex, "-psk_identity", psk.identity]
        return argv

    def command(self) -> list[str]:
        """The argv this client runs (certificate paths point into its temp dir)."""
        if self.seed:
            openssl = self._peer._openssl
            seed = self.seed_command(self.host, self.port, psk=self.psk, openssl=openssl)
            return seed + self.extra_args
        target = _hostport(self.host, self.port)
        argv = [self._peer._openssl, "s_client", "-dtls1_2", "-connect", target]
        if self.brief:
            argv.append("-brief")
        if self.wait_for_close:
            argv.append("-ign_eof")
        if self.pki is not None:
            paths = self.pki.write(self._peer._workdir() / "pki")
            if self.verify:
                argv += ["-CAfile", str(paths.ca), "-verify", "10", "-verify_return_error"]
                argv += ["-verify_hostname", self.pki.hostname]
            if self.client_cert:
                argv += ["-cert", str(paths.client_cert), "-key", str(paths.client_key)]
        if self.psk is not None:
            argv += ["-psk", self.psk.hex, "-psk_identity", self.psk.identity]
        return argv + _common_args(self.mtu, self.cipher, self.dtls_timeouts, self.extra_args)

    def start(self) -> OpenSSLClient:
        """Start s_client in the background and feed it ``input``; see :meth:`wait`."""
        if self._peer._proc is not None:
            raise RuntimeError("this client was already started; make a new one")
        self._peer._launch(self.command())
        proc = self._peer._proc
        assert proc is not None
        self._feeder = threading.Thread(
            target=_feed, args=(proc, self.input, self.eof_delay, self._cut), daemon=True
        )
        self._feeder.start()
        return self

    def _stop_feeder(self) -> None:
        self._cut.set()
        if self._feeder is not None:
            self._feeder.join(timeout=2.0)

    def wait(self, timeout: float = 10.0) -> PeerResult:
        """Wait up to ``timeout`` s for s_client to exit (then kill it) and return the result."""
        proc = self._peer._proc
        if proc is None:
            raise RuntimeError("start() the client first")
        try:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            self._peer._finish(grace=0.0)
        finally:
            self._stop_feeder()
        result = self._peer._result()
        _parse_client(result, brief=self.brief)
        self.result = result
        self._peer._cleanup_files()
        return result

    def run(self, timeout: float = 10.0) -> PeerResult:
        """Start, wait up to ``timeout`` s, always reap; return the :class:`PeerResult`."""
        self.start()
        try:
            return self.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        """Kill and reap the process if it still runs, and remove temp files."""
        try:
            self._peer._finish(grace=0.0)
        finally:
            self._stop_feeder()
            self._peer._cleanup_files()

    @property
    def pid(self) -> int | None:
        """PID of the s_client process once started."""
        return self._peer.pid

    def __enter__(self) -> OpenSSLClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class OpenSSLServer:
    """``openssl s_server -dtls1_2`` in the background on loopback.

    Command: ``openssl s_server -dtls1_2 -accept HOST:PORT`` then, with ``pki``,
    ``-cert server_cert.pem -key server_key.pem [-cert_chain server_chain.pem]`` or, with
    ``psk``, ``-nocert -psk HEX -psk_identity ID``; then ``-listen`` if ``listen``,
    ``-Verify 10 -CAfile ca.pem -verify_return_error`` if ``verify_client``, ``-naccept N``,
    ``-mtu N``, ``-cipher C``, ``-timeout`` (``dtls_timeouts``) and ``extra_args``.

    Cookies: s_server always answers a first ClientHello with a HelloVerifyRequest.
    ``listen=False`` does that inside the connection's state machine and serves clients one
    after the other; ``listen=True`` uses the stateless ``DTLSv1_listen()`` and then serves
    only the first client's address.

    ``port=0`` picks a free port (retrying if someone takes it first).  Received data is in
    its stdout (:meth:`received`, :meth:`sessions`); :meth:`send` makes it send data.  Use as
    a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        pki: PKI | None = None,
        psk: PSK | None = None,
        listen: bool = False,
        verify_client: bool = False,
        naccept: int | None = None,
        mtu: int | None = None,
        cipher: str | None = None,
        dtls_timeouts: bool = False,
        extra_args: Sequence[str] = (),
        openssl: str | None = None,
    ) -> None:
        if pki is None and psk is None:
            raise ValueError("give pki or psk (or both)")
        if verify_client and pki is None:
            raise ValueError("verify_client=True needs pki")
        self.host, self.requested_port = host, port
        self.port = port
        self.pki, self.psk, self.listen, self.verify_client = pki, psk, listen, verify_client
        self.naccept, self.mtu, self.cipher = naccept, mtu, cipher
        self.dtls_timeouts = dtls_timeouts
        self.extra_args = list(extra_args)
        self._peer = _Peer(openssl)
        self.result: PeerResult | None = None

    def command(self) -> list[str]:
        """The argv for the current ``port`` (certificate paths point into its temp dir)."""
        target = _hostport(self.host, self.port)
        argv = [self._peer._openssl, "s_server", "-dtls1_2", "-accept", target]
        paths = self.pki.write(self._peer._workdir() / "pki") if self.pki is not None else None
        if paths is not None:
            argv += ["-cert", str(paths.cert), "-key", str(paths.key)]
            if paths.chain is not None:
                argv += ["-cert_chain", str(paths.chain)]
        else:
            argv.append("-nocert")
        if self.psk is not None:
            argv += ["-psk", self.psk.hex, "-psk_identity", self.psk.identity]
        if self.listen:
            argv.append("-listen")
        if self.verify_client and paths is not None:
            argv += ["-Verify", "10", "-CAfile", str(paths.ca), "-verify_return_error"]
        if self.naccept is not None:
            argv += ["-naccept", str(self.naccept)]
        return argv + _common_args(self.mtu, self.cipher, self.dtls_timeouts, self.extra_args)

    def start(self, ready_timeout: float = 5.0, attempts: int = 5) -> OpenSSLServer:
        """Start s_server and wait until it listens; retry with a new port if one was picked."""
        if self._peer._proc is not None:
            raise RuntimeError("this server was already started; make a new one")
        for attempt in range(attempts if self.requested_port == 0 else 1):
            if self.requested_port == 0:
                self.port = pick_free_udp_port(self.host)
            self._peer._launch(self.command())
            try:
                self.wait_ready(ready_timeout)
                return self
            except Exception:
                in_use = b"Address already in use" in self._peer.stderr
                self._peer._finish(grace=0.0)
                if not (in_use and self.requested_port == 0 and attempt + 1 < attempts):
                    self._peer._cleanup_files()
                    self._peer._proc = None
                    raise
        raise AssertionError("unreachable")

    def wait_ready(self, timeout: float = 5.0) -> None:
        """Wait until s_server printed ``ACCEPT``; raise if it exits or ``timeout`` passes."""
        self._wait(lambda out: b"ACCEPT\n" in out, timeout, "ACCEPT")

    def wait_for(self, pattern: bytes, timeout: float = 5.0, count: int = 1) -> None:
        """Wait until ``pattern`` occurs ``count`` times in stdout; ``TimeoutError`` otherwise."""
        self._wait(lambda out: out.count(pattern) >= count, timeout, repr(pattern))

    def wait_for_received(self, data: bytes, timeout: float = 5.0) -> None:
        """Wait until ``data`` is part of what the server received from its clients."""
        def arrived(out: bytes) -> bool:
            return data in b"".join(s.data for s in parse_server_sessions(out))

        self._wait(arrived, timeout, repr(data))

    def _wait(self, done: Callable[[bytes], bool], timeout: float, what: str) -> None:
        proc = self._peer._proc
        if proc is None:
            raise RuntimeError("start() the server first")
        deadline = time.monotonic() + timeout
        while True:
            if done(self._peer.stdout):
                return
            if proc.poll() is not None:
                raise RuntimeError(
                    f"s_server exited (status {proc.returncode}) before {what}: "
                    f"{self._peer.stderr.decode(errors='replace').strip()}"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(f"s_server: no {what} within {timeout} s")
            time.sleep(0.01)

    def send(self, data: bytes) -> None:
        """Have s_server send ``data`` to the connected client (written to its stdin).

        Send only once a client is connected (e.g. after ``wait_for(b"CIPHER is")``): before
        that, s_server blocks in a handshake of its own.  Payloads of 1–2 bytes are refused
        because s_server would take them as commands (``q``, ``Q``, ``r``...).
        """
        if len(data) <= 2:
            raise ValueError("s_server treats stdin reads of <= 2 bytes as commands; send more")
        proc = self._peer._proc
        if proc is None or proc.stdin is None or proc.stdin.closed:
            raise RuntimeError("server is not running")
        proc.stdin.write(data)
        proc.stdin.flush()

    def sessions(self) -> list[ServerSession]:
        """Completed handshakes so far (all of them once stopped), with cipher and received data.

        A connection whose handshake failed prints nothing on stdout (s_server reports it as
        ``ERROR`` on stderr) and does not appear here.
        """
        out = self.result.stdout if self.result is not None else self._peer.stdout
        return parse_server_sessions(out)

    def received(self) -> bytes:
        """All application data received from clients so far, concatenated."""
        return b"".join(s.data for s in self.sessions())

    @property
    def stdout(self) -> bytes:
        """s_server's stdout so far."""
        return self._peer.stdout

    @property
    def stderr(self) -> bytes:
        """s_server's stderr so far."""
        return self._peer.stderr

    @property
    def pid(self) -> int | None:
        """PID of the s_server process once started."""
        return self._peer.pid

    def running(self) -> bool:
        """True while the s_server process is alive."""
        proc = self._peer._proc
        return proc is not None and proc.poll() is None

    def stop(self, grace: float = 1.0) -> PeerResult:
        """Close s_server's stdin (it then exits), SIGTERM/SIGKILL after ``grace`` s, reap.

        Returns the :class:`PeerResult`; ``received``/``handshakes``/``cipher`` summarise
        :meth:`sessions`.  Safe to call more than once.
        """
        proc = self._peer._proc
        if proc is None:
            raise RuntimeError("start() the server first")
        if self.result is not None:
            return self.result
        try:
            processes.close_stdin(proc)
            self._peer._finish(grace=grace)
            result = self._peer._result()
            # Exiting on our stdin EOF is the normal way to stop, not a timeout.
            result.timed_out = False
            sessions = parse_server_sessions(result.stdout)
            done = [s for s in sessions if s.cipher is not None]
            result.handshakes = len(done)
            result.handshake_completed = bool(done)
            result.cipher = done[-1].cipher if done else None
            result.protocol = "DTLSv1.2" if done else None
            result.received = b"".join(s.data for s in sessions)
            self.result = result
            return result
        finally:
            self._peer._cleanup_files()

    def __enter__(self) -> OpenSSLServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._peer._proc is not None:
            self.stop()
