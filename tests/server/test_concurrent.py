"""`serve --concurrent`: per-peer contexts behind a stateless cookie gate keep serving
legitimate clients through a flood and 50 silent clients."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from _udp_helpers import client_hello, nothing_left_behind
from mbedtls_py.server.concurrent import ConcurrentServer
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.testing import psk_configs
from mbedtls_py.udp.loop import ServerThread
from mbedtls_py.udp.client import UDPClient, run_client
from mbedtls_py.udp.transport import UDPTransport


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    with nothing_left_behind():
        yield


def stall_after_cookie(client: UDPClient) -> None:
    """Drive a client past the cookie exchange (the server keeps state for it), then stop."""
    for _ in range(200):
        client.handshake_step()
        if client.ctx.state not in ("HELLO_REQUEST", "CLIENT_HELLO", "SERVER_HELLO"):
            return
        client.transport.wait(client.clock.now_ms + 50)
    raise AssertionError(f"client stuck at {client.ctx.state}")


def flood(port: int, datagrams: list[bytes], stop: threading.Event, sent: list[int]) -> None:
    """Hostile datagrams from two sockets (bounded by count) until ``stop``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        for i in range(20_000):
            if stop.is_set():
                break
            (a if i % 2 else b).sendto(datagrams[i % len(datagrams)], ("127.0.0.1", port))
            sent[0] += 1
            if i % 20 == 0:
                stop.wait(0.002)


def test_concurrent_server_serves_through_50_silent_clients_and_a_flood() -> None:
    cc, sc = psk_configs(cookies=True)
    hostile = [client_hello(cc), bytes.fromhex("15fefd0000000000000000000002015a"),
               os.urandom(40), b"\x16\xfe\xfd" + b"\x00" * 60]
    with UDPTransport() as t:
        srv = ConcurrentServer(sc, t, handshake_timeout_ms=60_000)
        with ServerThread(srv, max_seconds=60):
            silent = [UDPClient(cc, "127.0.0.1", t.port) for _ in range(50)]
            try:
                for c in silent:
                    stall_after_cookie(c)
                stop, sent = threading.Event(), [0]
                flooder = threading.Thread(target=flood, args=(t.port, hostile, stop, sent))
                flooder.start()
                try:
                    # The legit clients go in once the flood is on: on a loaded machine
                    # the new thread may not run before they are done (a hang guard).
                    end = time.monotonic() + 30
                    while sent[0] < 100 and flooder.is_alive() and time.monotonic() < end:
                        time.sleep(0.005)
                    assert sent[0] >= 100
                    results = [run_client(cc, "127.0.0.1", t.port, b"legit %d" % i, timeout=10,
                                          wait_close_ms=2000) for i in range(3)]
                finally:
                    stop.set()
                    flooder.join()
                held = {c.transport.address for c in silent} <= set(srv.peers)
            finally:
                for c in silent:
                    c.close()
        srv.close()
    assert [r.received for r in results] == [b"legit %d" % i for i in range(3)]
    assert all(r.handshake_rc == 0 for r in results)
    assert held  # the silent ones all hold state, still within their deadline
    counts = srv.events.counts
    # 53, or more when a finished client's retransmitted ClientHello (valid cookie)
    # arrived after its connection ended.
    assert counts["accept"] >= 53 and counts["handshake"] >= 3 and srv.served == 3
    assert sent[0] > 0 and counts["hello_verify"] + counts["ignored"] + counts["error"] > 53


def test_the_sequential_server_is_held_by_one_silent_client() -> None:
    """The faithful default, for contrast: a peer that passed the cookie and went silent
    holds DTLSServer until its handshake deadline (then it is dropped)."""
    cc, sc = psk_configs(cookies=True)
    with UDPTransport() as t:
        srv = DTLSServer(sc, t, handshake_timeout_ms=3_000)
        with ServerThread(srv, max_seconds=30, max_clients=1):
            with UDPClient(cc, "127.0.0.1", t.port) as silent:
                stall_after_cookie(silent)
                blocked = run_client(cc, "127.0.0.1", t.port, b"x", timeout=1)
                served = run_client(cc, "127.0.0.1", t.port, b"y", timeout=10,
                                    wait_close_ms=2000)
        srv.close()
    assert blocked.handshake_rc != 0
    assert served.handshake_rc == 0 and served.received == b"y"
    assert srv.events.counts["timeout"] == 1


def test_no_state_without_a_cookie_and_a_bound_on_peers() -> None:
    """ClientHellos without a cookie, from many addresses, get stateless
    HelloVerifyRequests; past max_peers a cookie-verified peer is refused ("busy")."""
    cc, sc = psk_configs(cookies=True)
    hello = client_hello(cc)
    with UDPTransport() as t:
        srv = ConcurrentServer(sc, t, max_peers=3, handshake_timeout_ms=60_000)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(20)]
        try:
            for s in socks:
                s.sendto(hello, t.address)
            for _ in range(100):
                srv.poll()
                if srv.events.counts["hello_verify"] == 20:
                    break
                t.wait(t.clock.now_ms + 20)
            assert srv.events.counts["hello_verify"] == 20 and srv.peers == {}
            for s in socks:
                s.settimeout(2)
                assert s.recv(2048)[13] == 3  # a HelloVerifyRequest came back
        finally:
            for s in socks:
                s.close()
        with ServerThread(srv, max_seconds=30):
            clients = [UDPClient(cc, "127.0.0.1", t.port) for _ in range(4)]
            try:
                for c in clients[:3]:
                    stall_after_cookie(c)
                assert clients[3].handshake(timeout=1) != 0
                # The refusal is the server's evidence: wait for it (not for our speed).
                end = time.monotonic() + 30
                while srv.events.counts["busy"] == 0 and time.monotonic() < end:
                    time.sleep(0.01)
            finally:
                for c in clients:
                    c.close()
        srv.close()
    assert srv.events.counts["accept"] == 3 and srv.events.counts["busy"] >= 1


def test_concurrent_needs_cookies() -> None:
    _, sc = psk_configs(cookies=False)
    with UDPTransport() as t:
        with pytest.raises(ValueError, match="cookies"):
            ConcurrentServer(sc, t)


def test_concurrent_server_lingers_with_closed_connections() -> None:
    """--concurrent with the linger policy: after a client is served, the closed
    connection lingers (a ClosedConnection: its window in next_deadline, its keys for
    the late datagram) and the server keeps polling (it used to unpack it as a tuple)."""
    cc, sc = psk_configs(cookies=True)
    with UDPTransport() as t:
        srv = ConcurrentServer(sc, t, policy="linger", handshake_timeout_ms=60_000)
        with ServerThread(srv, max_seconds=30, max_clients=1):
            r = run_client(cc, "127.0.0.1", t.port, b"hello", timeout=10, wait_close_ms=2000)
        assert r.handshake_rc == 0 and r.received == b"hello"
        assert srv.served == 1 and srv.policy_handler.lingering
        deadline = srv.next_deadline()
        assert deadline is not None and deadline > srv.clock.now_ms
        srv.poll()
