"""``openssl s_server`` as a DTLS peer (see :mod:`mbedtls_py.peers.interop` for
the facts about the OpenSSL command line this relies on)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..creds.pki import PKI
from ..creds.psk import PSK
from ..udp.addresses import pick_free_udp_port
from . import processes
from .interop import openssl_path
from .openssl_peer import _common_args, _hostport, _Peer
from .openssl_output import PeerResult, ServerSession, parse_server_sessions

__all__ = ["OpenSSLServer"]


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
        self._peer = _Peer(openssl_path(openssl))
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
