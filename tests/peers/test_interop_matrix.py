"""Interop matrix over real UDP on loopback, each cell a handshake, an echo and a clean close:

* Python client <-> `openssl s_server` (ECDSA, RSA, PSK; s_server always uses cookies);
* `openssl s_client` <-> Python server (ECDSA, RSA, PSK; with and without cookies);
* Python client <-> upstream `dtls_server` (its built-in RSA test certificate; always cookies;
  the sample has no PSK and no ECDSA certificate);
* upstream `dtls_client` <-> Python server (the sample's built-in certificate, which it
  verifies, and trustme ECDSA/RSA certificates, which it cannot verify and, by its
  MBEDTLS_SSL_VERIFY_OPTIONAL, accepts anyway; with and without cookies; no PSK in the sample).

Every test checks that no OpenSSL or sample process, helper thread or socket is left behind and
that the ports it used are free again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mbedtls_py.bindings.config import Config
from mbedtls_py.creds import PKI
from mbedtls_py.creds.pki import make_pki
from mbedtls_py.creds.psk import PSK
from mbedtls_py.bindings.errors import Err
from mbedtls_py.peers import interop, upstream
from mbedtls_py.peers.interop import OpenSSLClient
from mbedtls_py.peers.openssl_server import OpenSSLServer
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.testing import open_socket_inodes
from mbedtls_py.udp.addresses import udp_port_free
from mbedtls_py.udp.client import UDPClient, run_client
from mbedtls_py.udp.loop import ServerThread
from mbedtls_py.udp.transport import UDPTransport

HOST = "127.0.0.1"
KEY = PSK(bytes.fromhex("00112233445566778899aabbccddeeff"), "Client_identity")
PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"
needs_openssl = pytest.mark.skipif(not interop.openssl_available(),
                                   reason="openssl CLI not installed")




@pytest.fixture(autouse=True)
def ports() -> Iterator[list[int]]:
    """Ports a test used (it appends them); afterwards they must be free, and no process,
    helper thread or socket may be left."""
    assert interop.live_children() == [] and upstream.live_children() == []
    before = open_socket_inodes()
    used: list[int] = []
    yield used
    assert interop.live_children() == [] and upstream.live_children() == []
    assert [t.name for t in threading.enumerate() if t.name in ("dtls-serve", "udp-proxy")] == []
    assert open_socket_inodes() <= before
    for port in used:
        assert udp_port_free(port, HOST), port


@pytest.fixture(scope="module")
def pkis() -> dict[str, PKI]:
    return {"ecdsa": make_pki("ecdsa"), "rsa": make_pki("rsa")}


@pytest.fixture(scope="module")
def samples() -> upstream.UpstreamBuild:
    try:
        return upstream.build()
    except (RuntimeError, SystemExit, OSError) as exc:
        pytest.skip(f"upstream samples cannot be built here: {exc}")


def client_config(kind: str, pkis: dict[str, PKI]) -> Config:
    cfg = Config("client")
    if kind == "psk":
        cfg.do_set_psk(KEY.key, KEY.identity)
        cfg.set_ciphersuites([PSK_SUITE])
    else:
        cfg.set_ca_chain(pkis[kind].ca_pem)
        cfg.set_authmode("required")
    return cfg


def server_config(kind: str, pkis: dict[str, PKI], cookies: bool) -> Config:
    cfg = Config("server", cookies=cookies)
    if kind == "psk":
        cfg.do_set_psk(KEY.key, KEY.identity)
        cfg.set_ciphersuites([PSK_SUITE])
    elif kind == "upstream":
        certs = upstream.test_certificates()
        cfg.do_set_certificate([certs.cert_pem], certs.key_pem)
    else:
        cfg.do_set_certificate([pkis[kind].cert_pem], pkis[kind].key_pem)
    return cfg


def wait_events(server: DTLSServer, pred: Any, timeout: float = 30.0) -> bool:
    # A hang guard, not a speed bound: it returns as soon as the event is there.
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(pred(e) for e in list(server.events)):
            return True
        time.sleep(0.01)
    return False


EXPECTED_SUITE = {"ecdsa": "ECDHE-ECDSA", "rsa": "ECDHE-RSA", "psk": "TLS-PSK"}


# ------------------------------------------------------------ Python client <-> s_server


@needs_openssl
@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "psk"])
def test_python_client_openssl_server(kind: str, pkis: dict[str, PKI], ports: list[int]) -> None:
    """Python client and s_server: handshake (cookie round included), data both ways, close_notify
    answered by s_server's close_notify."""
    kw: dict[str, Any] = {"psk": KEY} if kind == "psk" else {"pki": pkis[kind]}
    with OpenSSLServer(HOST, **kw) as s_server:
        ports.append(s_server.port)
        with UDPClient(client_config(kind, pkis), HOST, s_server.port,
                       hostname="localhost") as client:
            assert client.handshake(timeout=10) == 0
            assert EXPECTED_SUITE[kind] in (client.ctx.ciphersuite or "")
            if kind != "psk":
                assert client.ctx.verify_result == 0
            assert client.write(b"ping from mbedtls\n") == 18
            s_server.wait_for_received(b"ping from mbedtls\n", timeout=5)
            s_server.send(b"pong from openssl\n")
            assert client.read(timeout=5) == (18, b"pong from openssl\n")
            assert client.close_notify() == 0
            assert client.read(timeout=5) == (Err.SSL_PEER_CLOSE_NOTIFY, b"")
        result = s_server.stop()
    assert result.handshakes == 1 and result.received == b"ping from mbedtls\n"
    assert s_server.sessions()[0].closed


# ------------------------------------------------------------ s_client <-> Python server


@needs_openssl
@pytest.mark.parametrize("cookies", [True, False], ids=["cookies", "no-cookies"])
@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "psk"])
def test_openssl_client_python_server(kind: str, cookies: bool, pkis: dict[str, PKI], ports: list[int]) -> None:
    """s_client (verifying the certificate, or with the PSK) and the Python dtls_server loop:
    echo, the server's close_notify, then s_client's close_notify consumed cleanly."""
    kw: dict[str, Any] = {"psk": KEY} if kind == "psk" else {"pki": pkis[kind]}
    with UDPTransport(HOST) as t:
        ports.append(t.port)
        server = DTLSServer(server_config(kind, pkis, cookies), t, policy="linger",
                            linger_ms=2000)
        try:
            with ServerThread(server, max_seconds=20):
                # eof_delay: the echo and the server's close_notify arrive before stdin EOF.
                res = OpenSSLClient(HOST, t.port, brief=True, eof_delay=0.3, **kw).run(10)
                closed = wait_events(server, lambda e: e.event == "linger_consumed")
        finally:
            server.close()
    assert res.returncode == 0 and res.handshake_completed and not res.timed_out
    assert res.received == interop.SEED_INPUT
    if kind != "psk":
        assert res.verify_ok is True
    kinds = [e.event for e in server.events]
    assert ("hello_verify" in kinds) == cookies
    hs = [e for e in server.events if e.event == "handshake"]
    assert [e.rc for e in hs] == [0]
    assert [e.rc for e in server.events if e.event in ("read", "write")] == [15, 15]
    assert [e.rc for e in server.events if e.event == "close_notify"] == [0]
    assert closed, kinds
    consumed = [e for e in server.events if e.event == "linger_consumed"]
    assert consumed[0].rc == Err.SSL_PEER_CLOSE_NOTIFY
    assert server.errors == []


@needs_openssl
def test_seed_command_against_python_server_ipv6(pkis: dict[str, PKI], ports: list[int]) -> None:
    """The seed's exact s_client command works over IPv6 loopback too."""
    with UDPTransport("::1") as t:
        ports_v6 = t.port
        server = DTLSServer(server_config("ecdsa", pkis, True), t, policy="classify")
        try:
            with ServerThread(server, max_seconds=20):
                client = OpenSSLClient("::1", t.port, seed=True)
                assert client.command()[1:4] == ["s_client", "-dtls1_2", "-connect"]
                res = client.run(10)
        finally:
            server.close()
    assert res.returncode == 0
    assert [e.rc for e in server.events if e.event == "read"][0] == 15
    assert server.errors == []
    assert udp_port_free(ports_v6, "::1")


# ------------------------------------------------------------ Python client <-> dtls_server


@pytest.mark.parametrize("suite", [None, "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
                                   "TLS-DHE-RSA-WITH-AES-256-GCM-SHA384"])
def test_python_client_upstream_server(suite: str | None, samples: upstream.UpstreamBuild, ports: list[int]) -> None:
    """Python client and upstream dtls_server (built-in RSA certificate, verified; cookies):
    echo, the sample's close_notify, then the client's close_notify."""
    certs = upstream.test_certificates()
    cfg = Config("client")
    cfg.set_ca_chain(certs.ca_pem)
    cfg.set_authmode("required")
    if suite:
        try:
            cfg.set_ciphersuites([suite])
        except ValueError:
            pytest.skip(f"{suite} not in this build")
    with upstream.UpstreamServer(HOST) as sample:
        ports.append(sample.port)
        r = run_client(cfg, HOST, sample.port, b"hello dtls_server", hostname="localhost",
                       wait_close_ms=3000)
        # The client's close_notify reaches the sample either before its reset (freed with
        # the connected socket) or after it (the seed's race: 3.6.6 logs a "harmless"
        # -0x7700 and goes on).  Either way the sample waits for the next client.
        sample.wait_idle(passes=3, timeout=30)
        time.sleep(0.2)
        conns = sample.stop()
    assert r.handshake_rc == 0 and r.verify_result == 0
    if suite:
        assert r.ciphersuite == suite
    assert r.received == b"hello dtls_server" and r.peer_closed and r.close_rc == 0
    assert conns[0].hello_verify
    done = conns[1]
    assert done.handshake_rc == 0 and done.read == 17 and done.request == b"hello dtls_server"
    assert done.written == 17 and done.close_notify
    assert [c.handshake_rc for c in conns[2:]] in ([None], [Err.SSL_UNEXPECTED_MESSAGE, None])


def test_upstream_sample_on_its_own_port(samples: upstream.UpstreamBuild, ports: list[int]) -> None:
    """The samples on their hard-coded port 4433 (skipped if it is taken): dtls_client's echo."""
    if not udp_port_free(upstream.SAMPLE_PORT, HOST):
        pytest.skip("port 4433 is in use")
    with upstream.UpstreamServer(HOST, upstream.SAMPLE_PORT) as sample:
        res = upstream.UpstreamClient(HOST, upstream.SAMPLE_PORT).run(timeout=15)
        sample.wait_idle(passes=3, timeout=30)
        conns = sample.stop()
    ports.append(upstream.SAMPLE_PORT)
    assert res.ok and res.verify_ok and res.received == b"Echo this"
    assert conns[1].handshake_rc == 0 and conns[1].request == b"Echo this"


# ------------------------------------------------------------ dtls_client <-> Python server


@pytest.mark.parametrize("cookies", [True, False], ids=["cookies", "no-cookies"])
@pytest.mark.parametrize("kind", ["upstream", "ecdsa", "rsa"])
def test_upstream_client_python_server(kind: str, cookies: bool, samples: upstream.UpstreamBuild, pkis: dict[str, PKI], ports: list[int]) -> None:
    """Upstream dtls_client and the Python dtls_server loop: echo of "Echo this" and
    dtls_client's close_notify, with no error at the server (classify policy)."""
    with UDPTransport(HOST) as t:
        ports.append(t.port)
        server = DTLSServer(server_config(kind, pkis, cookies), t, policy="classify")
        try:
            with ServerThread(server, max_seconds=20):
                res = upstream.UpstreamClient(HOST, t.port).run(timeout=15)
                # dtls_client's close_notify is handled whichever way (a hang guard,
                # not a speed bound): the assertions below judge how.
                wait_events(server, lambda e: e.event in (
                    "discard", "drop", "error", "ignored", "linger_consumed"))
        finally:
            server.close()
    assert res.returncode == 0 and res.ok, res.stdout.decode()
    assert res.handshake_rc == 0 and res.written == 9 and res.received == b"Echo this"
    # The sample verifies against its own test CAs only (VERIFY_OPTIONAL): a trustme
    # certificate fails verification and the sample goes on, as upstream intends.
    assert res.verify_ok is (kind == "upstream")
    kinds = [e.event for e in server.events]
    assert ("hello_verify" in kinds) == cookies
    assert [e.rc for e in server.events if e.event == "handshake"] == [0]
    assert [e.rc for e in server.events if e.event in ("read", "write")] == [9, 9]
    assert server.errors == []
    # dtls_client's close_notify: freed with the connection, or dropped as stale by classify.
    assert {"discard", "drop"} & set(kinds), kinds
