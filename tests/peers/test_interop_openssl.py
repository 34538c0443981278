"""OpenSSL s_client <-> s_server over real UDP on loopback, through mbedtls_py.peers.interop.

These pin the drivers and the OpenSSL 3.0 CLI behaviour that later tests (against the Mbed TLS
binding and the seed's race) rely on.  Every test checks that no OpenSSL process is left and
that the server's UDP port is free again.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mbedtls_py.creds import PKI
from mbedtls_py.creds.pki import KeyKind, make_pki
from mbedtls_py.creds.psk import PSK
from mbedtls_py.peers import interop, openssl_server
from mbedtls_py.peers.interop import SEED_INPUT, OpenSSLClient, live_children
from mbedtls_py.peers.openssl_server import OpenSSLServer
from mbedtls_py.udp.addresses import pick_free_udp_port, udp_port_free

pytestmark = pytest.mark.skipif(
    not interop.openssl_available(), reason="openssl CLI not installed"
)

HOST = "127.0.0.1"
KEY = PSK(bytes.fromhex("00112233445566778899aabbccddeeff"), "Client_identity")
CIPHER_PREFIX = {"ecdsa": "ECDHE-ECDSA-", "rsa": "ECDHE-RSA-", "psk": "DHE-PSK-"}


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Fail any test that leaves an OpenSSL child process (running or zombie) behind."""
    assert live_children() == []
    yield
    assert live_children() == []


@pytest.fixture(scope="module")
def pkis() -> dict[str, PKI]:
    return {"ecdsa": make_pki("ecdsa"), "rsa": make_pki("rsa")}


def creds(kind: str, pkis: dict[str, PKI]) -> dict[str, Any]:
    return {"psk": KEY} if kind == "psk" else {"pki": pkis[kind]}


def assert_port_released(server: OpenSSLServer) -> None:
    assert not server.running()
    assert udp_port_free(server.port, server.host)


def test_version_and_availability() -> None:
    """openssl_available() is true here and openssl_version() reports an OpenSSL 3 CLI."""
    assert interop.openssl_available()
    assert interop.openssl_version().startswith("OpenSSL 3.")


def test_missing_cli_gives_install_hint() -> None:
    """A missing CLI raises RuntimeError naming `apt-get install openssl`, at every entry point."""
    missing = "/nonexistent/openssl"
    assert not interop.openssl_available(missing)
    with pytest.raises(RuntimeError, match="apt-get install openssl"):
        interop.openssl_version(missing)
    with pytest.raises(RuntimeError, match="apt-get install openssl"):
        OpenSSLClient(HOST, 4433, psk=KEY, openssl=missing)
    with pytest.raises(RuntimeError, match="apt-get install openssl"):
        OpenSSLServer(psk=KEY, openssl=missing)


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_pki_key_types_and_files(kind: KeyKind, tmp_path: os.PathLike[str]) -> None:
    """make_pki gives P-256 or RSA keys throughout, a leaf-first chain, and writes every PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pki = make_pki(kind, intermediate=True)
    chain = x509.load_pem_x509_certificates(pki.cert_chain_pem)
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject
    ca = x509.load_pem_x509_certificate(pki.ca_pem)
    assert chain[1].issuer == ca.subject
    pairs = ((pki.cert_pem, pki.key_pem), (pki.client_cert_pem, pki.client_key_pem))
    for cert_pem, key_pem in pairs:
        cert_key = x509.load_pem_x509_certificates(cert_pem)[0].public_key()
        key = load_pem_private_key(key_pem, None)
        if kind == "ecdsa":
            assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
            assert isinstance(cert_key, ec.EllipticCurvePublicKey)
        else:
            assert isinstance(key, rsa.RSAPrivateKey)
            assert isinstance(cert_key, rsa.RSAPublicKey)
        assert cert_key.public_numbers() == key.public_key().public_numbers()
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    paths = pki.write(tmp_path)
    assert paths.cert_chain.read_bytes() == pki.cert_chain_pem
    assert paths.chain is not None and paths.key.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("listen", [False, True], ids=["stateful-cookie", "listen"])
@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "psk"])
def test_client_input_reaches_server(
    kind: str, listen: bool, pkis: dict[str, PKI]
) -> None:
    """Each credential kind, with and without -listen, completes DTLS 1.2 and delivers input."""
    ping = b"ping " + kind.encode() + b"\n"
    with OpenSSLServer(HOST, listen=listen, **creds(kind, pkis)) as server:
        result = OpenSSLClient(HOST, server.port, ping, **creds(kind, pkis)).run()
        server.wait_for_received(ping)
    assert result.returncode == 0 and not result.timed_out
    assert result.handshake_completed and result.protocol == "DTLSv1.2"
    assert result.cipher is not None and result.cipher.startswith(CIPHER_PREFIX[kind])
    if kind != "psk":
        assert result.verify_ok is True
    assert result.received == b"" and result.peer_closed is False
    srv = server.stop()
    assert srv.handshakes == 1 and srv.cipher == result.cipher
    assert srv.received == ping
    assert [s.closed for s in server.sessions()] == [True]
    assert_port_released(server)


class Relay:
    """A loopback UDP relay that records every datagram as (direction, bytes)."""

    def __init__(self, server_port: int) -> None:
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((HOST, 0))
        self.port = self.front.getsockname()[1]
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.connect((HOST, server_port))
        self.log: list[tuple[str, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = None
        while not self._stop.is_set():
            ready, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for sock in ready:
                try:
                    data, addr = sock.recvfrom(65536)
                    if sock is self.front:
                        client = addr
                        self.log.append(("c2s", data))
                        self.back.send(data)
                    elif client is not None:
                        self.log.append(("s2c", data))
                        self.front.sendto(data, client)
                except OSError:
                    continue  # ICMP errors surface here once a peer has gone

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.front.close()
        self.back.close()


@pytest.mark.parametrize("listen", [False, True], ids=["stateful-cookie", "listen"])
def test_server_always_sends_hello_verify_request(listen: bool) -> None:
    """s_server answers the first ClientHello with a HelloVerifyRequest with or without -listen."""
    with OpenSSLServer(HOST, psk=KEY, listen=listen) as server, Relay(server.port) as relay:
        result = OpenSSLClient(HOST, relay.port, b"via relay\n", psk=KEY).run()
        server.wait_for_received(b"via relay\n")
    assert result.handshake_completed
    # DTLS record header is 13 bytes; byte 13 is the handshake message type (3 = HVR).
    first_reply = next(d for direction, d in relay.log if direction == "s2c")
    assert first_reply[0] == 22 and first_reply[13] == 3
    hellos = [d for direction, d in relay.log if direction == "c2s" and d[0] == 22 and d[13] == 1]
    assert len(hellos) == 2  # the ClientHello is sent again, now with the cookie
    assert_port_released(server)


def test_seed_command_and_run(pkis: dict[str, PKI]) -> None:
    """Seed mode is exactly `s_client -dtls1_2 -connect H:P` fed "GET / HTTP/1.0\\n"; it closes
    at stdin EOF and then lingers ~0.5 s."""
    argv = OpenSSLClient.seed_command(HOST, 4433)
    assert argv[1:] == ["s_client", "-dtls1_2", "-connect", "127.0.0.1:4433"]
    assert OpenSSLClient.seed_command("::1", 4433)[-1] == "[::1]:4433"
    with pytest.raises(ValueError):
        OpenSSLClient(HOST, 4433, seed=True, brief=True)
    with OpenSSLServer(HOST, pki=pkis["ecdsa"]) as server:
        client = OpenSSLClient(HOST, server.port, seed=True)
        assert client.input == SEED_INPUT
        result = client.run()
        server.wait_for_received(SEED_INPUT)
        srv = server.stop()
    assert result.argv[1:] == ["s_client", "-dtls1_2", "-connect", f"{HOST}:{server.port}"]
    assert result.returncode == 0 and result.handshake_completed
    assert b"DONE" in result.stderr
    assert result.verify_ok is False  # the seed gives no -CAfile
    assert result.elapsed >= 0.4
    assert srv.received == SEED_INPUT
    assert_port_released(server)


@pytest.mark.parametrize("brief", [False, True], ids=["full", "brief"])
def test_server_data_reaches_client_before_eof(brief: bool) -> None:
    """Data written to s_server's stdin arrives at a client whose stdin is still open; in brief
    mode stdout is exactly that data."""
    with OpenSSLServer(HOST, psk=KEY) as server:
        client = OpenSSLClient(HOST, server.port, b"ping\n", psk=KEY, brief=brief, eof_delay=1.0)
        client.start()
        try:
            server.wait_for_received(b"ping\n")
            server.send(b"pong from s_server\n")
            result = client.wait(timeout=10)
        finally:
            client.close()
        with pytest.raises(ValueError):
            server.send(b"q\n")
    assert result.handshake_completed and result.cipher is not None
    assert result.received == b"pong from s_server\n"
    if brief:
        assert result.stdout == b"pong from s_server\n"
        assert result.peer_closed is None
    else:
        assert result.peer_closed is False
    assert_port_released(server)


def test_plain_psk_cipher_at_default_security_level() -> None:
    """-cipher PSK-AES128-GCM-SHA256 negotiates plain PSK without @SECLEVEL=0."""
    cipher = "PSK-AES128-GCM-SHA256"
    with OpenSSLServer(HOST, psk=KEY, cipher=cipher) as server:
        result = OpenSSLClient(HOST, server.port, b"x\n" * 2, psk=KEY, cipher=cipher).run()
    assert result.handshake_completed and result.cipher == cipher
    assert_port_released(server)


def test_wrong_ca_fails_verification(pkis: dict[str, PKI]) -> None:
    """With pki the client really verifies: a server from another CA fails the handshake."""
    with OpenSSLServer(HOST, pki=pkis["ecdsa"]) as server:
        result = OpenSSLClient(HOST, server.port, pki=make_pki("ecdsa")).run()
    assert not result.handshake_completed and result.cipher is None
    assert result.returncode != 0
    assert_port_released(server)


def test_client_certificate_required(pkis: dict[str, PKI]) -> None:
    """verify_client makes s_server demand a client certificate: with one it works, else not."""
    pki = pkis["rsa"]
    with OpenSSLServer(HOST, pki=pki, verify_client=True) as server:
        good = OpenSSLClient(HOST, server.port, b"with cert\n", pki=pki, client_cert=True).run()
        server.wait_for_received(b"with cert\n")
        bad = OpenSSLClient(HOST, server.port, b"no cert\n", pki=pki).run()
    assert good.handshake_completed
    assert not bad.handshake_completed
    assert server.result is not None
    assert b"no cert" not in server.result.received
    assert_port_released(server)


def test_without_listen_serves_clients_in_turn() -> None:
    """Without -listen one s_server handles successive clients, each a separate session."""
    with OpenSSLServer(HOST, psk=KEY) as server:
        first = OpenSSLClient(HOST, server.port, b"first\n", psk=KEY).run()
        second = OpenSSLClient(HOST, server.port, b"second\n", psk=KEY).run()
        server.wait_for_received(b"second\n")
        sessions = server.sessions()
    assert first.handshake_completed and second.handshake_completed
    assert [s.data for s in sessions] == [b"first\n", b"second\n"]
    assert server.result is not None and server.result.handshakes == 2
    assert_port_released(server)


def test_listen_serves_only_the_first_client() -> None:
    """After -listen the server's socket is connected to client 1: client 2 gets ECONNREFUSED."""
    with OpenSSLServer(HOST, psk=KEY, listen=True) as server:
        first = OpenSSLClient(HOST, server.port, b"first\n", psk=KEY).run()
        second = OpenSSLClient(HOST, server.port, b"second\n", psk=KEY).run(timeout=5)
    assert first.handshake_completed
    assert not second.handshake_completed and b"errno=111" in second.stderr
    assert server.result is not None and server.result.received == b"first\n"
    assert_port_released(server)


def test_small_mtu_with_rsa(pkis: dict[str, PKI]) -> None:
    """-mtu 576 on both sides still completes an RSA handshake (fragmented flights)."""
    with OpenSSLServer(HOST, pki=pkis["rsa"], mtu=576) as server:
        result = OpenSSLClient(HOST, server.port, b"small\n", pki=pkis["rsa"], mtu=576).run()
        server.wait_for_received(b"small\n")
    assert result.handshake_completed and result.cipher and result.cipher.startswith("ECDHE-RSA-")
    assert_port_released(server)


def test_ipv6_loopback(pkis: dict[str, PKI]) -> None:
    """The drivers work on ::1 (bracketed host:port for -accept and -connect)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with OpenSSLServer("::1", pki=pkis["ecdsa"]) as server:
        result = OpenSSLClient("::1", server.port, b"v6\n", pki=pkis["ecdsa"]).run()
        server.wait_for_received(b"v6\n")
    assert result.handshake_completed and result.verify_ok
    assert_port_released(server)


def test_client_timeout_kills_and_reaps() -> None:
    """A client whose server never answers is killed at the timeout and reaped, even with more
    input than the stdin pipe holds (s_client reads none of it before the handshake)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((HOST, 0))
        port = silent.getsockname()[1]
        # Long enough for s_client to start and send its ClientHello on a loaded
        # machine (the check below), far below its own give-up time.
        result = OpenSSLClient(HOST, port, b"x" * 1_000_000, psk=KEY).run(timeout=3)
        silent.settimeout(1.0)
        hello, _ = silent.recvfrom(2048)
    assert hello[0] == 22  # a handshake record did arrive: the client was really running
    assert result.timed_out and result.returncode is not None and result.returncode < 0
    assert result.elapsed >= 3  # it waited for the timeout; killing it is the behaviour
    assert not result.handshake_completed


def test_stop_escalates_to_sigkill() -> None:
    """stop() on a server that ignores stdin EOF and SIGTERM (stopped) ends it with SIGKILL."""
    server = OpenSSLServer(HOST, psk=KEY).start()
    try:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        result = server.stop(grace=0.2)
    finally:
        server.stop()
    assert result.returncode == -signal.SIGKILL
    assert result.elapsed >= 0.2  # the grace period was given first
    assert_port_released(server)


def test_busy_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit busy port is a clear error; a picked port taken by someone else is retried."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((HOST, 0))
        busy = squatter.getsockname()[1]
        with pytest.raises(RuntimeError, match="Address already in use"):
            OpenSSLServer(HOST, busy, psk=KEY).start()
        real_pick = pick_free_udp_port  # the function openssl_server imports
        picks = iter([busy])
        monkeypatch.setattr(
            openssl_server, "pick_free_udp_port", lambda host: next(picks, None) or real_pick(host)
        )
        with OpenSSLServer(HOST, psk=KEY) as server:
            assert server.port != busy
        assert_port_released(server)
