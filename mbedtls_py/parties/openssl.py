"""OpenSSL as parties of :class:`~mbedtls_py.sim.Network`: the seed's
``echo "GET / HTTP/1.0" | openssl s_client -dtls1_2`` on the in-process
OpenSSL 3.0 (:mod:`mbedtls_py.foreign.openssl`), its DTLS timer on the
network's virtual clock, its randomness seeded.

:class:`OpenSSLClient` does what that command does when its stdin ends at
once: the handshake, the request, then (stdin end-of-file: "DONE")
``SSL_shutdown``, whose encrypted close_notify (an alert record of epoch 1)
goes out right behind the request.  :class:`OpenSSLServer` is ``openssl
s_server -dtls1_2`` that echoes what it reads, one connection after another
(cookie exchange on, as s_server has it).  Both are processes for
``Network.add_process``, with the parties' ``events``/``done``/``phase``.

Example::

    net = Network(seed=3)
    srv = DTLSServer(server_config, net.socket("server"), policy=as_policy("none"))
    net.add_process(srv)
    cli = OpenSSLClient(net, "client", seed=3)
    net.add_process(cli)
    net.run(until=lambda: cli.done, deadline_ms=60_000)
"""

from __future__ import annotations

from typing import Any

from ..bindings.errors import Err
from ..foreign.openssl.conn import OpenSSLConfig, OpenSSLConn, clock_from
from ..foreign.openssl.conn import seed as openssl_seed
from ..sim import Network
from .client import REQUEST
from .party import _Party

__all__ = ["OpenSSLClient", "OpenSSLServer"]


class OpenSSLClient(_Party):
    """``openssl s_client -dtls1_2`` fed ``request`` then end-of-file.

    ``ca``/``cert``/``key``: PEM file paths (``-CAfile``, ``-cert``,
    ``-key``); without ``ca`` the server's certificate is not verified
    (s_client reports and goes on).  ``seed`` seeds OpenSSL's randomness
    (one stream per process: the last party created sets it).  ``mtu``:
    ``-mtu``.  Events: ``start``, ``handshake``, ``write``,
    ``close_notify``, ``done``, ``error``."""

    def __init__(self, net: Network, name: str, *, server: str = "server",
                 request: bytes = REQUEST, start_ms: int = 0, seed: Any = 0,
                 ca: str | None = None, cert: str | None = None, key: str | None = None,
                 ciphers: str | None = None, mtu: int | None = None,
                 events: bool = True) -> None:
        super().__init__(net, name, events)
        self.server, self.request, self.start_ms = server, request, start_ms
        openssl_seed(("party", seed, name))
        unix = net.unix_time if net.unix_time is not None else 0
        self.conn = OpenSSLConn(OpenSSLConfig("client", ca=ca, cert=cert, key=key,
                                              ciphers=ciphers, version="dtls1_2"),
                                clock_from(net.clock, unix), link_mtu=mtu)
        self.sock = net.socket(name)
        self.sockets = [self.sock]
        self.phase = "waiting"  # waiting | handshake | done | failed
        self.completed = False
        self.error: str | None = None
        self.done_ms: int | None = None

    @property
    def done(self) -> bool:
        """Finished: closed or failed."""
        return self.phase in ("done", "failed")

    def next_deadline(self) -> int | None:
        """Its start, then its DTLS timer while the handshake runs."""
        if self.phase == "waiting":
            return self.start_ms
        if self.phase == "handshake":
            t = self.conn.timeout_ms()
            return None if t is None else self.net.clock.now_ms + t
        return None

    def poll(self) -> None:
        """Take what arrived and run as far as it goes."""
        if self.phase == "waiting":
            if self.net.clock.now_ms < self.start_ms:
                return
            self.phase = "handshake"
            self._emit("start", self.server, None, "s_client")
        while (item := self.sock.recvfrom()) is not None:
            if not self.done:
                self.conn.push(item[0])
        if self.phase == "handshake":
            if self.conn.timeout_ms() == 0:
                self.conn.handle_timeout()
            ret, err = self.conn.handshake()
            if ret == 1:
                self.completed = True
                self._emit("handshake", self.server, 0, self.conn.info()["cipher"])
                n, err = self.conn.write(self.request)
                self._emit("write", self.server, n if n > 0 else int(Err.SSL_INTERNAL_ERROR),
                           err)
                # stdin end-of-file: "DONE", then do_ssl_shutdown (one close_notify)
                self._emit("close_notify", self.server, self.conn.shutdown(), "SSL_shutdown")
                self._end("done")
            elif err not in ("WANT_READ", "WANT_WRITE"):
                self.error = err
                self._end("failed")
        for d in self.conn.drain():
            self.sock.sendto(d, self.server)

    def _end(self, phase: str) -> None:
        self.phase, self.done_ms = phase, self.net.clock.now_ms
        self._emit("done" if phase == "done" else "error", self.server,
                   0 if phase == "done" else int(Err.SSL_INTERNAL_ERROR), self.error or "closed")

    def outcome(self) -> dict[str, Any]:
        """As :meth:`Client.outcome`: ``codes`` (0 closed, SSL_INTERNAL_ERROR
        failed, SSL_WANT_READ still waiting), ``completed``; ``delivered`` is
        ``None`` (s_client closes before any echo could come back)."""
        code = 0 if self.phase == "done" else int(Err.SSL_INTERNAL_ERROR) \
            if self.phase == "failed" else int(Err.SSL_WANT_READ)
        return {"codes": [code], "completed": self.completed, "delivered": None}

    def close(self) -> None:
        """Nothing to free by hand (the SSL objects are garbage-collected)."""


_COOKIE_EXCHANGE = 0x00002000


class OpenSSLServer(_Party):
    """``openssl s_server -dtls1_2`` with ``cert``/``key`` (PEM paths):
    serves one connection at a time on socket ``name``, echoes every read,
    and after the client's close_notify (or an error) answers with its own
    and starts a new ``SSL`` on the same socket (its buffer kept, as
    s_server's ``do_server`` loop does).  Answers go to the address of the
    latest datagram (an unconnected datagram BIO).  Events: ``accept``,
    ``handshake``, ``read``, ``write``, ``close_notify``, ``error``."""

    def __init__(self, net: Network, cert: str, key: str, *, name: str = "server",
                 seed: Any = 0, ciphers: str | None = None, mtu: int | None = None,
                 events: bool = True) -> None:
        super().__init__(net, name, events)
        openssl_seed(("party", seed, name))
        self._clock = clock_from(net.clock, net.unix_time if net.unix_time is not None else 0)
        self.config = OpenSSLConfig("server", cert=cert, key=key, ciphers=ciphers,
                                    version="dtls1_2")
        self.mtu = mtu
        self.sock = net.socket(name)
        self.sockets = [self.sock]
        self.peer: str | None = None
        self.conn = self._new(None)
        self.served = 0

    def _new(self, old: OpenSSLConn | None) -> OpenSSLConn:
        return OpenSSLConn(self.config, self._clock, link_mtu=self.mtu, same_socket=old,
                           options=_COOKIE_EXCHANGE)

    def next_deadline(self) -> int | None:
        """Its DTLS timer."""
        t = self.conn.timeout_ms()
        return None if t is None else self.net.clock.now_ms + t

    def poll(self) -> None:
        """Handle what arrived and an expired timer."""
        while (item := self.sock.recvfrom()) is not None:
            self.conn.push(item[0])
            if item[1] != self.peer:
                self.peer = item[1]
                self._emit("accept", self.peer, 0, "datagram from a new address")
        if self.conn.timeout_ms() == 0:
            self.conn.handle_timeout()
        for _ in range(64):  # bounded: each round consumes a datagram or stops
            if not self._step():
                break
        self._flush()

    def _flush(self) -> None:
        for d in self.conn.drain():
            if self.peer is not None:
                self.sock.sendto(d, self.peer)

    def _step(self) -> bool:
        conn = self.conn
        if not conn.init_finished:
            ret, err = conn.handshake()
            if ret == 1:
                self._emit("handshake", self.peer, 0, conn.info()["cipher"])
                return True
            if err in ("WANT_READ", "WANT_WRITE"):
                return False
            self._emit("error", self.peer, int(Err.SSL_INTERNAL_ERROR), f"handshake: {err}")
            self._restart()
            return conn.pending_in > 0
        data, err = conn.read(16384)
        if err == "NONE":
            self._emit("read", self.peer, len(data), "")
            n, _ = conn.write(data)
            self._emit("write", self.peer, n, "echo")
            return True
        if err in ("WANT_READ", "WANT_WRITE"):
            return False
        if err == "ZERO_RETURN":
            self.served += 1
            self._emit("close_notify", self.peer, 0, "peer closed")
        else:
            self._emit("error", self.peer, int(Err.SSL_INTERNAL_ERROR), f"read: {err}")
        self._restart()
        return True

    def _restart(self) -> None:
        self.conn.shutdown()
        self._flush()
        self.conn = self._new(self.conn)

    def close(self) -> None:
        """Nothing to free by hand (the SSL objects are garbage-collected)."""
