"""`serve` does at the per-client socket what upstream's `dtls_server` does
(programs/ssl/dtls_server.c): the socket is freed the moment a connection is over
(`goto reset` -> `mbedtls_net_free`), before any event is emitted; every
datagram freed with it is accounted (`discard`, with an exact `count`), none
vanishes between the drain and the close; cookies are bound to the client's
IP address; `--upstream-cert` sends the sample's chain (its certificate and
every test CA).  Behaviour only: timing is measured in bench/serve_fidelity.py."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from _udp_helpers import client_hello, nothing_left_behind
from mbedtls_py.bindings.config import Config
from mbedtls_py.bindings.context import Context
from mbedtls_py.creds.pki import PKI, make_pki
from mbedtls_py.bindings.errors import Err
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.testing import cert_configs, handshake_pair
from mbedtls_py.udp.client import run_client
from mbedtls_py.udp.loop import ServerThread
from mbedtls_py.udp.sample_sockets import SampleSockets

# A plaintext warning alert (user_canceled), epoch 0: Mbed TLS keeps no state for it.
ALERT = bytes.fromhex("15fefd" "0000" "000000000000" "0002" "015a")


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    with nothing_left_behind():
        yield


@pytest.fixture(scope="module")
def pki() -> PKI:
    return make_pki("ecdsa")


class _Closing:
    """A socket whose ``close()`` first runs ``before_close`` (a datagram that
    arrives in the instant before the kernel destroys the socket's queue)."""

    def __init__(self, sock: socket.socket, before_close: Any) -> None:
        self._sock, self._before = sock, before_close

    def close(self) -> None:
        before, self._before = self._before, None
        if before is not None:
            before()
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Probed(SampleSockets):
    """SampleSockets that lets a test act at the points that matter: right after
    the server's send to its client (``after_send``), just before the client's
    socket is closed (``before_close``); and that records what the server read."""

    def __init__(self) -> None:
        super().__init__()
        self.after_send: Any = None
        self.before_close: Any = None
        self.read: list[tuple[bytes, Any]] = []

    def accept(self, peer: Any) -> None:
        super().accept(peer)
        if self.before_close is not None and self._client is not None:
            self._client = _Closing(self._client, self.before_close)  # type: ignore[assignment]

    def sendto(self, data: bytes, addr: Any) -> None:
        super().sendto(data, addr)
        if self.after_send is not None:
            self.after_send(data)

    def recvfrom(self) -> tuple[bytes, Any] | None:
        item = super().recvfrom()
        if item is not None:
            self.read.append(item)
        return item


def pem_to_der_list(pem: bytes) -> list[bytes]:
    return [ssl.PEM_cert_to_DER_cert(m.decode()) for m in re.findall(
        rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)]


def _fates(server: DTLSServer, t: Probed, data: bytes, sender: tuple[str, int]) -> int:
    """How many copies of ``data`` from ``sender`` the server accounted for:
    read (then handled), or freed with a socket and counted in a ``discard``."""
    read = sum(1 for d, a in t.read if d == data and a == sender)
    freed = sum(int(e.data["datagrams"].count(data.hex())) for e in server.events
                if e.event == "discard" and e.peer == sender and "datagrams" in e.data)
    return read + freed


def _cookie_round(sc: Config, cc: Config,
                  t: Probed) -> tuple[DTLSServer, socket.socket, tuple[str, int]]:
    """A client socket sends a cookie-less ClientHello; the server answers with
    a HelloVerifyRequest and frees the socket it had connected to that client."""
    server = DTLSServer(sc, t, policy="none")
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(5)
    me = ("127.0.0.1", c.getsockname()[1])  # the address object events carry
    return server, c, me


def test_a_datagram_arriving_just_before_the_close_is_not_lost(pki: PKI) -> None:
    """The client's datagram that reaches its socket after the drain but before
    the close (on main: read until empty, then close: it vanished unreported)
    is kept, or accounted in a ``discard``: never lost silently."""
    cc, sc = cert_configs(pki, cookies=True)
    with Probed() as t:
        server, c, me = _cookie_round(sc, cc, t)
        with c:

            def once() -> None:
                t.before_close = None
                c.sendto(ALERT, t.address)
            t.before_close = once
            with ServerThread(server, max_seconds=20):
                c.sendto(client_hello(cc), t.address)
                c.recvfrom(4096)  # the HelloVerifyRequest
                for _ in range(200):
                    if _fates(server, t, ALERT, me):
                        break
                    c.settimeout(0.01)
                    try:
                        c.recvfrom(4096)
                    except OSError:
                        pass
        server.close()
    assert _fates(server, t, ALERT, me) == 1, [str(e) for e in server.events]


def test_every_datagram_freed_with_the_socket_is_counted(pki: PKI) -> None:
    """Three datagrams the client sent right after the server's HelloVerifyRequest
    sit on the client's socket when it is freed: one ``discard`` event says so,
    with ``count`` 3 and the datagrams (on main: one event each, no count)."""
    cc, sc = cert_configs(pki, cookies=True)
    with Probed() as t:
        server, c, me = _cookie_round(sc, cc, t)
        with c:
            sent: list[bytes] = []

            def burst(data: bytes) -> None:
                if data[13:14] == b"\x03" and not sent:  # the HelloVerifyRequest
                    for i in range(3):
                        sent.append(ALERT[:-1] + bytes([i]))
                        c.sendto(sent[-1], t.address)
            t.after_send = burst
            with ServerThread(server, max_seconds=20):
                c.sendto(client_hello(cc), t.address)
                c.recvfrom(4096)
                for _ in range(200):
                    if any(e.event == "discard" for e in server.events):
                        break
                    c.settimeout(0.01)
                    try:
                        c.recvfrom(4096)
                    except OSError:
                        pass
        server.close()
    discards = [e for e in server.events if e.event == "discard"]
    assert len(discards) == 1 and discards[0].peer == me, [str(e) for e in server.events]
    assert discards[0].data["count"] == 3
    assert discards[0].data["datagrams"] == [d.hex() for d in sent]
    assert server.discarded == 3


def test_the_socket_is_freed_before_any_event(pki: PKI) -> None:
    """When the server's event for the end of a connection (``hello_verify``,
    ``close_notify``, ``reset``) is emitted, the client's socket is already freed,
    as the sample frees it before it prints (on main: the events, with their I/O,
    came first; the socket was freed after the ``reset`` event)."""
    cc, sc = cert_configs(pki, cookies=True)
    seen: dict[str, list[Any]] = {}
    with SampleSockets() as t:
        server = DTLSServer(sc, t, policy="classify")
        server.on_event = lambda ev: seen.setdefault(ev.event, []).append(t.peer)
        with ServerThread(server, max_seconds=30, max_clients=1):
            r = run_client(cc, "127.0.0.1", t.port, b"hello", hostname="localhost",
                           timeout=15, wait_close_ms=500)
            assert r.handshake_rc == 0 and r.received == b"hello"
        server.close()
    assert seen["accept"] and all(p is not None for p in seen["accept"])  # connected first
    for kind in ("hello_verify", "close_notify", "reset"):
        assert seen[kind] and all(p is None for p in seen[kind]), (kind, seen)


def test_the_sink_gets_every_event_after_the_poll(pki: PKI) -> None:
    """``serve(sink=...)`` (event I/O) sees every event, in order.  (That the
    socket is freed before an event is emitted is the test above, at emission:
    by the time the sink runs, after the poll, the same poll may already have
    connected the socket to the next datagram's sender, e.g. the cookie
    ClientHello that follows a HelloVerifyRequest within microseconds.)"""
    cc, sc = cert_configs(pki, cookies=True)
    got: list[tuple[str, Any]] = []
    with SampleSockets() as t:
        server = DTLSServer(sc, t, policy="none")
        with ServerThread(server, max_seconds=30, max_clients=1,
                          sink=lambda ev: got.append((ev.event, t.peer))):
            r = run_client(cc, "127.0.0.1", t.port, b"hi", hostname="localhost", timeout=15,
                           wait_close_ms=500)
            assert r.handshake_rc == 0
        server.close()
    assert [k for k, _ in got] == [e.event for e in server.events]
    assert {"hello_verify", "close_notify", "reset"} <= {k for k, _ in got}


def test_cookie_is_bound_to_the_client_ip_as_in_the_sample(pki: PKI) -> None:
    """The sample binds the cookie to ``mbedtls_net_accept``'s ``client_ip``: the
    IP address alone (4 or 16 bytes), not the port.  A ClientHello carrying the
    cookie sent to port A, sent again from port B of the same host, gets the
    ServerHello (on main: the cookie was bound to "ip:port"; another
    HelloVerifyRequest came back)."""
    from mbedtls_py.server.events import transport_id

    assert transport_id(("127.0.0.1", 4433)) == bytes([127, 0, 0, 1])
    assert transport_id(("::1", 4433, 0, 0)) == bytes(15) + b"\x01"
    assert transport_id("client") == b"client"  # the simulator's names
    cc, sc = cert_configs(pki, cookies=True)
    client = Context(cc)
    client.set_hostname("localhost")
    with SampleSockets() as t:
        server = DTLSServer(sc, t, policy="none")
        with ServerThread(server, max_seconds=20), \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
            for s in (a, b):
                s.bind(("127.0.0.1", 0))
                s.settimeout(5)
            assert client.handshake() == Err.SSL_WANT_READ
            a.sendto(client.pop() or b"", t.address)
            hvr, _ = a.recvfrom(4096)
            assert hvr[13] == 3  # HelloVerifyRequest
            client.push(hvr)
            assert client.handshake() == Err.SSL_WANT_READ
            b.sendto(client.pop() or b"", t.address)  # the cookie, from another port
            answer, _ = b.recvfrom(4096)
        server.close()
    client.close()
    assert answer[0] == 22 and answer[13] == 2, answer[:16].hex()  # ServerHello


def test_upstream_cert_sends_the_samples_chain() -> None:
    """``serve --upstream-cert`` sends what the sample sends: its certificate
    followed by every test CA (the sample parses both into ``srvcert`` and gives
    it to ``mbedtls_ssl_conf_own_cert``; on main only the leaf was sent)."""
    from mbedtls_py.cli import serve as cli
    from mbedtls_py.peers import upstream

    if upstream.available() is not None:
        pytest.skip("the upstream samples cannot be built here")
    certs = upstream.test_certificates()
    sc, _ = cli.make_server_config(cli.build_parser().parse_args(["--upstream-cert", "--no-cookies"]))
    cc, _ = cert_configs(certs, cookies=False)
    client, server = Context(cc), Context(sc)
    client.set_hostname("localhost")
    sent: list[bytes] = []
    rcs = handshake_pair(client, server, max_rounds=16,
                         tap=lambda who, d: sent.append(d) if who == "server" else None)
    flight = b"".join(sent)
    client.close()
    server.close()
    assert rcs == (0, 0)
    cas = pem_to_der_list(certs.ca_pem)
    assert len(cas) >= 2
    for der in [*pem_to_der_list(certs.cert_pem), *cas]:
        assert der in flight
