"""Real UDP on loopback: UDPTransport, the DTLSServer loop (serve/ServerThread),
UDPClient/run_client, and the `serve` command.  Every test checks that no
socket, thread or child process is left behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mbedtls_py.creds.pki import PKI
import pytest

from _udp_helpers import nothing_left_behind
from mbedtls_py.bindings.config import Config
from mbedtls_py.bindings.errors import Err
from mbedtls_py.udp.proxy import UDPProxy
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.creds.pki import make_pki
from mbedtls_py.testing import cert_configs, psk_configs
from mbedtls_py.udp.loop import ServerThread, serve
from mbedtls_py.udp.client import UDPClient, run_client
from mbedtls_py.udp.transport import UDPTransport
from mbedtls_py.udp.addresses import check_host, is_loopback, parse_hostport, pick_free_udp_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Fail a test that leaves a socket, a helper thread or a child process behind."""
    with nothing_left_behind(threads=True):
        yield


@pytest.fixture(scope="module")
def pki() -> PKI:
    return make_pki("ecdsa")


def test_loopback_checks() -> None:
    """Loopback names pass; anything else is refused unless allowed."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("8.8.8.8")
    check_host("127.0.0.2")
    with pytest.raises(ValueError, match="loopback"):
        check_host("0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        UDPTransport("0.0.0.0", 0)
    check_host("0.0.0.0", allow_remote=True)


def test_parse_hostport() -> None:
    """H:P, [v6]:P and a bare port parse; bad text raises ValueError."""
    assert parse_hostport("127.0.0.1:4433") == ("127.0.0.1", 4433)
    assert parse_hostport("[::1]:5") == ("::1", 5)
    assert parse_hostport("4433") == ("127.0.0.1", 4433)
    for bad in ("::1:4433", "host:port", "1.2.3.4:70000", "[::1]"):
        with pytest.raises(ValueError):
            parse_hostport(bad)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_transport_roundtrip_and_wait(host: str) -> None:
    """Datagrams go both ways; recvfrom never blocks; wait() honours its deadline."""
    with UDPTransport(host) as a, UDPTransport(host) as b:
        assert a.recvfrom() is None
        t0 = a.clock.now_ms
        assert a.wait(t0 + 30) is False
        assert a.clock.now_ms - t0 >= 25  # it waited (how promptly it woke is not asserted)
        a.sendto(b"one", b.address)
        a.sendto(b"two", b.address)
        assert b.wait(b.clock.now_ms + 1000)
        assert b.recvfrom() == (b"one", a.address)
        assert b.recvfrom() == (b"two", a.address)
        assert b.recvfrom() is None


def test_discard_from_keeps_other_peers() -> None:
    """discard_from() takes only the given peer's queued datagrams, others stay in order."""
    with UDPTransport() as srv, UDPTransport() as old, UDPTransport() as new:
        old.sendto(b"late-1", srv.address)
        new.sendto(b"hello", srv.address)
        old.sendto(b"late-2", srv.address)
        time.sleep(0.05)
        assert srv.discard_from(old.address) == [b"late-1", b"late-2"]
        assert srv.recvfrom() == (b"hello", new.address)
        assert srv.recvfrom() is None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("creds", ["ecdsa", "psk"])
def test_serve_one_client_after_another(host: str, creds: str, pki: PKI) -> None:
    """One socket serves three clients in turn (cookies on), each with an echo and a close."""
    cc, sc = cert_configs(pki, cookies=True) if creds == "ecdsa" else psk_configs(cookies=True)
    with UDPTransport(host) as t:
        srv = DTLSServer(sc, t, policy="linger")
        thread = ServerThread(srv, max_seconds=20, max_clients=3).start()
        try:
            for i in range(3):
                r = run_client(cc, host, t.port, b"request %d" % i, hostname="localhost",
                               wait_close_ms=2000)
                assert r.handshake_rc == 0 and r.write_rc == 9
                assert r.received == b"request %d" % i
                assert r.peer_closed and r.close_rc == 0
            result = thread.join(10)
        finally:
            thread.stop()
            srv.close()
    assert result is not None and result.reason == "max_clients" and result.served == 3
    kinds = [e.event for e in srv.events]
    assert kinds.count("hello_verify") == 3 and kinds.count("handshake") == 3
    assert srv.errors == []


def test_serve_is_bounded_in_time() -> None:
    """serve() returns after max_seconds with no client at all."""
    _, sc = psk_configs()
    with UDPTransport() as t:
        srv = DTLSServer(sc, t)
        t0 = time.monotonic()
        result = serve(srv, max_seconds=0.3)
        srv.close()
    assert result.reason == "max_seconds" and result.served == 0
    assert time.monotonic() - t0 >= 0.25  # it did wait (max_seconds, on a millisecond clock)
    with pytest.raises(ValueError):
        serve(srv, t, max_seconds=float("inf"))


def test_client_retransmits_after_a_lost_flight(pki: PKI) -> None:
    """The client's real-time timer resends a dropped ClientHello; the handshake completes."""
    cc, sc = cert_configs(pki, cookies=True)
    cc.set_handshake_timeout(200, 2000)
    with UDPTransport() as t:
        srv = DTLSServer(sc, t, policy="classify")
        with ServerThread(srv, max_seconds=20), \
                UDPProxy(("127.0.0.1", 0), t.address, ["client->server #1: drop"]) as proxy:
            t0 = time.monotonic()
            r = run_client(cc, "127.0.0.1", proxy.port, b"x" * 10, hostname="localhost",
                           wait_close_ms=1000)
            elapsed = time.monotonic() - t0
        srv.close()
    assert r.handshake_rc == 0 and r.received == b"x" * 10
    assert elapsed >= 0.18
    assert proxy.counts.get("drop") == 1


def test_client_handshake_times_out_without_server(pki: PKI) -> None:
    """A client with nobody to talk to gives up with SSL_TIMEOUT within its bound."""
    cc, _ = cert_configs(pki)
    cc.set_handshake_timeout(50, 200)
    with UDPTransport() as silent:  # a port nobody answers on
        with UDPClient(cc, "127.0.0.1", silent.port, hostname="localhost") as c:
            t0 = time.monotonic()
            rc = c.handshake(timeout=5.0)
    assert rc == Err.SSL_TIMEOUT
    assert time.monotonic() - t0 >= 0.3  # it waited out the schedule (50 + 100 + 200 ms)


def test_per_client_socket_frees_early_datagrams(pki: PKI) -> None:
    """A close_notify that reaches the server before its reset is discarded, as the sample's
    connected socket does; with a single socket it hits the next handshake (-0x7700)."""
    from mbedtls_py.udp.sample_sockets import SampleSockets

    cc, sc = cert_configs(pki, cookies=True)
    outcomes = {}
    for model in ("real", "emulated", "single"):
        per_client = model != "single"
        with (SampleSockets() if model == "real" else UDPTransport()) as t:
            srv = DTLSServer(sc, t, policy="none")
            with UDPClient(cc, "127.0.0.1", t.port, hostname="localhost") as c:
                with ServerThread(srv, max_seconds=10, per_client_socket=per_client):
                    assert c.handshake(5) == 0
                # The server is paused: the request and the close_notify are both queued
                # in its socket before it reads the request, echoes, closes and resets.
                assert c.write(b"ping") == 4
                assert c.close_notify() == 0
                time.sleep(0.05)
                # It runs until it served the request (and reset), not for a set time.
                with ServerThread(srv, max_seconds=30, max_clients=1,
                                  per_client_socket=per_client) as th:
                    done = th.join(30)
                    assert done is not None and done.reason == "max_clients", done
            srv.close()
        outcomes[model] = list(srv.events)
    kinds = {k: [e.event for e in v] for k, v in outcomes.items()}
    for model in ("real", "emulated"):
        assert "discard" in kinds[model] and "error" not in kinds[model], kinds[model]
    assert "discard" not in kinds["single"]
    errors = [e for e in outcomes["single"] if e.event == "error"]
    assert [e.rc for e in errors] == [Err.SSL_UNEXPECTED_MESSAGE]


@pytest.mark.parametrize("mode", [[], ["--concurrent"]])
def test_serve_command(tmp_path: Path, mode: list[str]) -> None:
    """`serve` (sequential with real per-client sockets, or --concurrent) writes one JSON
    line per step and stops after --max-clients, counting its events by kind."""
    events = tmp_path / "events.jsonl"
    ca = tmp_path / "ca.pem"
    port = pick_free_udp_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbedtls_py", "serve", "--port", str(port), "--max-clients", "1",
         "--max-seconds", "30", "--events", str(events), "--ca-out", str(ca),
         "--mitigation", "classify", "--quiet", *mode],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60  # a hang guard for serve's start-up
        while not (events.exists() and events.read_text().strip()):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cc = Config("client")
        cc.set_ca_chain(ca.read_bytes())
        cc.set_authmode("required")
        r = run_client(cc, "127.0.0.1", port, b"GET / HTTP/1.0\r\n\r\n", hostname="localhost",
                       wait_close_ms=2000, send_close_notify=False)
        assert r.received == b"GET / HTTP/1.0\r\n\r\n" and r.peer_closed
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    kinds = [x["event"] for x in lines]
    assert kinds[0] == "listen" and kinds[-1] == "stop"
    # event times count from the run's start (listen at 0), not from machine boot
    assert all(0 <= x["t_ms"] <= 60_000 for x in lines), [x["t_ms"] for x in lines]
    assert {"accept", "hello_verify", "handshake", "read", "write", "close_notify",
            "reset"} <= set(kinds)
    hs = next(x for x in lines if x["event"] == "handshake")
    assert hs["rc"] == 0
    hv = next(x for x in lines if x["event"] == "hello_verify")
    assert hv["rc_hex"] == "-0x6A80" and hv["rc_name"] == "MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED"
    assert next(x for x in lines if x["event"] == "read")["rc"] == 18
    assert lines[-1]["served"] == 1 and lines[-1]["reason"] == "max_clients"
    assert lines[0]["concurrent"] == bool(mode)
    assert lines[-1]["events_by_kind"]["handshake"] == 1
    assert lines[-1]["events_total"] == len(lines) - 2  # all but listen and stop


@pytest.mark.parametrize("argv", [["serve", "--help"], ["proxy", "--help"]])
def test_commands_have_help(argv: list[str]) -> None:
    """serve and proxy answer --help."""
    out = subprocess.run([sys.executable, "-m", "mbedtls_py", *argv], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "usage:" in out.stdout


def test_serve_refuses_remote_address() -> None:
    """serve will not bind a non-loopback address without --allow-remote."""
    out = subprocess.run([sys.executable, "-m", "mbedtls_py", "serve", "--host", "0.0.0.0",
                          "--max-seconds", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2 and "loopback" in out.stderr


def test_sockets_are_closed_by_context_managers() -> None:
    """UDPTransport and UDPClient close their sockets on exit."""
    cc, _ = psk_configs()
    with UDPTransport() as t:
        with UDPClient(cc, "127.0.0.1", t.port) as c:
            assert not c.transport.closed
    assert t.closed and c.transport.closed


def test_socket_family_follows_host() -> None:
    """An IPv6 host gives an AF_INET6 socket."""
    with UDPTransport("::1") as t6, UDPTransport("127.0.0.1") as t4:
        assert t6.family == socket.AF_INET6 and t4.family == socket.AF_INET
