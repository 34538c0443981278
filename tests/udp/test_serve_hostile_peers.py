"""The real-UDP server survives hostile datagrams and stalled peers, keeps bounded
memory, and its command line refuses nonsense."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from mbedtls_py.bindings.config import Config
from mbedtls_py.creds.pki import PKI
import pytest

from _udp_helpers import client_hello, nothing_left_behind
from mbedtls_py.server.eventlog import BoundedLog
from mbedtls_py.udp.sample_sockets import SampleSockets
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.creds.pki import make_pki
from mbedtls_py.testing import cert_configs
from mbedtls_py.udp.loop import ServerThread
from mbedtls_py.udp.client import UDPClient, run_client
from mbedtls_py.udp.transport import UDPTransport

ROOT = Path(__file__).resolve().parents[2]

# A plaintext warning alert (user_canceled), epoch 0: 13-byte header + 2 bytes.
WARNING_ALERT = bytes.fromhex("15fefd" "0000" "000000000000" "0002" "015a")


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    with nothing_left_behind():
        yield


@pytest.fixture(scope="module")
def pki() -> PKI:
    return make_pki("ecdsa")


def client_hello_first_fragment(cc: Config) -> bytes:
    """The first 20 body bytes of a real ClientHello, as a DTLS handshake fragment."""
    hello = client_hello(cc)
    assert hello[0] == 22 and hello[13] == 1
    hs_header, body = hello[13:25], hello[25:]
    frag = body[:20]
    # msg_type, length (3), message_seq (2), fragment_offset (3) = 0, fragment_length (3)
    header = hs_header[:9] + len(frag).to_bytes(3, "big")
    record = hello[:11] + struct.pack(">H", 12 + len(frag)) + header + frag
    assert len(record) == 45 and record[:3] == hello[:3]
    return record


def send_raw(port: int, data: bytes) -> tuple[str, int]:
    """Send ``data`` from a fresh socket; its address, as events carry it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.sendto(data, ("127.0.0.1", port))
        return ("127.0.0.1", s.getsockname()[1])


@pytest.mark.parametrize("sockets", ["per-client", "single"])
@pytest.mark.parametrize("bad", ["warning-alert", "client-hello-fragment", "empty"])
def test_one_bad_datagram_does_not_stop_the_server(bad: str, sockets: str, pki: PKI) -> None:
    """A 15-byte plaintext alert, or the first fragment of a ClientHello,
    from a peer that never passed the cookie exchange keeps no state: it is reported
    ("ignored") and the next client is served (on main: the server waited for that peer;
    an empty datagram raised ValueError out of the loop)."""
    cc, sc = cert_configs(pki, cookies=True)
    makers: dict[str, Callable[[], bytes]] = {
        "warning-alert": lambda: WARNING_ALERT, "empty": lambda: b"",
            "client-hello-fragment": lambda: client_hello_first_fragment(cc)}
    data = makers[bad]()
    senders = []
    with (SampleSockets() if sockets == "per-client" else UDPTransport()) as t:
        # A deadline far beyond the clients' patience: only the stateless drop
        # of the bad datagram lets them be served.
        srv = DTLSServer(sc, t, policy="classify", handshake_timeout_ms=120_000)
        with ServerThread(srv, max_seconds=60, max_clients=2,
                          per_client_socket=sockets == "per-client"):
            for i in range(2):
                senders.append(send_raw(t.port, data))
                r = run_client(cc, "127.0.0.1", t.port, b"hello %d" % i, hostname="localhost",
                               timeout=15, wait_close_ms=2000)
                assert r.handshake_rc == 0 and r.received == b"hello %d" % i
        srv.close()
    # Each bad datagram is accounted for exactly once, by its sender: handled and
    # "ignored", or (per-client sockets only) queued on a socket the kernel had
    # connected to another peer and freed with it ("discard"), as in the sample.
    fates = {sender: [e.event for e in srv.events if e.peer == sender and (
        e.event == "ignored" and e.data["size"] == len(data)
        or e.event == "discard" and e.data["datagram"] == data.hex())] for sender in senders}
    assert all(len(f) == 1 for f in fates.values()), (fates, [str(e) for e in srv.events])
    # The first reaches an idle server on its only socket: it is always handled, as
    # is every one on a single socket.
    assert fates[senders[0]] == ["ignored"]
    if sockets == "single":
        assert all(f == ["ignored"] for f in fates.values()), fates
    assert srv.served == 2 and srv.events.counts["handshake"] == 2


def test_a_stalled_peer_is_dropped_at_the_handshake_deadline(pki: PKI) -> None:
    """A peer that passes the cookie exchange, gets the server's flight and
    goes silent is dropped at the handshake deadline with a "timeout" event; the next
    client is served (on main: Mbed TLS's own schedule held the server for a minute)."""
    cc, sc = cert_configs(pki, cookies=True)
    # The deadline also bounds the next client's handshake and request: it must be
    # generous for them (a loaded machine), and far below Mbed TLS's own schedule.
    deadline_ms = 5000
    with UDPTransport() as t:
        srv = DTLSServer(sc, t, policy="none", handshake_timeout_ms=deadline_ms)
        with ServerThread(srv, max_seconds=60, max_clients=1):
            with UDPClient(cc, "127.0.0.1", t.port, hostname="localhost") as stalled:
                # Drive the handshake until the server's flight arrived (cookie exchange
                # passed), then stop answering.
                for _ in range(200):
                    stalled.handshake_step()
                    if stalled.ctx.state not in ("HELLO_REQUEST", "CLIENT_HELLO",
                                                 "SERVER_HELLO"):
                        break
                    stalled.transport.wait(stalled.clock.now_ms + 50)
                assert stalled.ctx.state not in ("CLIENT_HELLO", "SERVER_HELLO")
                # Its ClientHellos wait (backlog) until the deadline; 30 s is still
                # well within Mbed TLS's retransmission schedule of the stalled one.
                r = run_client(cc, "127.0.0.1", t.port, b"next", hostname="localhost",
                               timeout=30, wait_close_ms=2000)
        srv.close()
    assert r.handshake_rc == 0 and r.received == b"next"
    timeouts = [e for e in srv.events if e.event == "timeout"]
    # The client's second flight may complete the handshake before it stops (phase
    # "read": no request comes) or not (phase "handshake"): both must end at the deadline.
    assert len(timeouts) == 1 and timeouts[0].data["phase"] in ("handshake", "read")
    # The deadline counts from the accept of the cookie-bearing ClientHello.
    accepts = [e for e in srv.events if e.event == "accept" and e.peer == timeouts[0].peer]
    assert timeouts[0].t_ms - accepts[-1].t_ms >= deadline_ms


def test_events_are_a_bounded_window_with_exact_counts(pki: PKI) -> None:
    """A flood of hostile datagrams leaves at most `event_window` events in
    memory; the counts by kind stay exact and the sink (on_event) sees every one."""
    cc, sc = cert_configs(pki, cookies=True)
    seen = []
    n = 600
    with UDPTransport() as t:
        srv = DTLSServer(sc, t, policy="classify", event_window=100,
                         on_event=lambda e: seen.append(e.event))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for batch in range(n // 50):  # in batches: stay under the kernel's buffer
                for _ in range(50):
                    s.sendto(WARNING_ALERT, t.address)
                for _ in range(100):
                    srv.poll()
                    if srv.events.counts["ignored"] == 50 * (batch + 1):
                        break
                    t.wait(t.clock.now_ms + 20)
        srv.close()
    assert srv.events.counts["ignored"] == n == seen.count("ignored")
    assert len(srv.events) == 100 and srv.events.total == len(seen) >= n


def test_bounded_log() -> None:
    log: BoundedLog[str] = BoundedLog(3, str)
    for x in "abcde":
        log.append(x)
    assert list(log) == ["c", "d", "e"] and log.total == 5 and log.counts["a"] == 1
    with pytest.raises(ValueError):
        BoundedLog(0)


# --------------------------------------------------------------------------- command line


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mbedtls_py", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def assert_one_line_error(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "error" in lines[0] and all(w in lines[0] for w in words), lines[0]


def test_serve_events_into_missing_folder() -> None:
    assert_one_line_error(cli("serve", "--port", "0", "--events", "/no/such/dir/x.jsonl"),
                          "--events", "does not exist")


def test_serve_ca_out_into_missing_folder(tmp_path: Path) -> None:
    assert_one_line_error(cli("serve", "--port", "0", "--ca-out",
                              str(tmp_path / "missing" / "ca.pem")), "--ca-out", "does not exist")


def test_serve_bad_certificate(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    assert_one_line_error(cli("serve", "--port", "0", "--cert", str(bad), "--key", str(bad)),
                          "--cert", "not a usable PEM")
    assert_one_line_error(cli("serve", "--port", "0", "--cert", str(tmp_path / "none.pem"),
                              "--key", str(bad)), "no such file")


@pytest.mark.parametrize("args,words", [
    (["--rtt-ms", "0"], ["--rtt-ms"]),
    (["--linger-ms", "-1"], ["--linger-ms"]),
    (["--max-seconds", "nan"], ["--max-seconds"]),
    (["--handshake-timeout", "0"], ["--handshake-timeout"]),
    (["--debug", "9"], ["--debug"]),
    (["--port", "70000"], ["70000"]),
])
def test_serve_bad_numbers(args: list[str], words: list[str]) -> None:
    assert_one_line_error(cli("serve", "--port", "0", *args), *words)


@pytest.mark.parametrize("args,words", [
    (["--listen", "nonsense:x", "--server", "127.0.0.1:4433"], ["nonsense"]),
    (["--listen", "127.0.0.1:0", "--server", "8.8.8.8:4433"], ["loopback"]),
    (["--listen", "127.0.0.1:0", "--server", "127.0.0.1:4433", "--max-seconds", "-1"],
     ["max_seconds"]),
    (["--listen", "127.0.0.1:0", "--server", "127.0.0.1:4433", "--max-seconds", "inf"],
     ["max_seconds"]),
    (["--listen", "127.0.0.1:0", "--server", "127.0.0.1:4433", "--log", "/no/such/dir/l"],
     ["/no/such/dir"]),
    (["--listen", "127.0.0.1:0", "--server", "127.0.0.1:4433", "--release-after=-5ms"],
     ["duration"]),
    (["--listen", "127.0.0.1:0", "--server", "127.0.0.1:4433", "--rule",
      "client->server: duplicate 1000000"], ["at most 100"]),
    (["--listen", "127.0.0.1:0", "--server", "127.0.0.1:4433", "--rule", "nonsense"], []),
    (["--server", "127.0.0.1:4433"], ["--listen"]),
])
def test_proxy_bad_arguments(args: list[str], words: list[str]) -> None:
    assert_one_line_error(cli("proxy", *args, "--max-seconds", "1")
                          if "--max-seconds" not in args else cli("proxy", *args), *words)
