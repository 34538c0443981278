"""Bounded growth under a flood: `serve --events` grows by a
bounded amount per second while every event of a legitimate connection is
written; the proxy keeps a window of its log in memory with exact counts and
streams everything to `--log`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _udp_helpers import nothing_left_behind
from mbedtls_py.server.events import Event
from mbedtls_py.udp.addresses import pick_free_udp_port

import mbedtls_py

ROOT = Path(mbedtls_py.__file__).resolve().parent.parent  # the tree under test
# A plaintext warning alert and a cookie-less ClientHello's first bytes: no state kept.
ALERT = bytes.fromhex("15fefd" "0000" "000000000000" "0002" "015a")


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    with nothing_left_behind():
        yield


def _flood_events(second: int, peers: int, rounds: int) -> list[Event]:
    """Cookie rounds and ignored datagrams from ``peers`` hostile ports in one second."""
    out = []
    for i in range(rounds):
        p = f"10.0.0.1:{1000 + i % peers}"
        t = second * 1000 + i * 1000 // rounds
        out += [Event(t, "accept", p, 0), Event(t, "hello_verify", p, -0x6A80),
                Event(t, "reset", p, 0), Event(t, "ignored", p, -0x6900)]
    return out


def test_flood_filter_keeps_legitimate_connections_whole_and_counts_exact() -> None:
    """Per kind and second, at most N hostile events are written whole, and one
    ``suppressed`` line carries the exact rest; a legitimate client whose cookie
    round drowned in the flood still has every event in the file (the round
    written ``deferred`` when its handshake completes)."""
    from mbedtls_py.server.floodlog import FloodFilter

    written: list[tuple[Event, bool]] = []
    f = FloodFilter(lambda ev, deferred: written.append((ev, deferred)), per_kind=5)
    legit = "127.0.0.1:5555"
    mine = [Event(1500, "accept", legit, 0), Event(1500, "hello_verify", legit, -0x6A80),
            Event(1500, "reset", legit, 0), Event(1501, "accept", legit, 0),
            Event(1510, "handshake", legit, 0), Event(1511, "read", legit, 18),
            Event(1511, "write", legit, 18), Event(1511, "close_notify", legit, 0),
            Event(1511, "reset", legit, 0), Event(1530, "error", legit, -0x7700),
            Event(1530, "reset", legit, 0)]
    flood = _flood_events(1, 8, 1000) + _flood_events(2, 8, 1000)
    stream = [Event(0, "listen")] + flood[:2000] + mine + flood[2000:]
    for ev in stream:
        f(ev)
    f.close()
    out = [ev for ev, _ in written]
    assert [ev for ev in out if ev.peer == legit] == mine  # complete, in order
    # its cookie round and the accept of its ClientHello with the cookie drowned in
    # the flood: written when its handshake completed
    assert [d for ev, d in written if ev.peer == legit] == [True] * 4 + [False] * 7
    hostile = [e for e in stream if e.peer is not None and e.peer != legit]
    for second in (1, 2):
        total = Counter(e.event for e in hostile if e.t_ms // 1000 == second)
        whole = Counter(e.event for e in out if e.peer not in (None, legit)
                        and e.t_ms // 1000 == second)
        # the legitimate client's drowned cookie round is in the summaries too
        total.update(e.event for e, d in written if d and e.t_ms // 1000 == second)
        summary = {e.data["kind"]: e.data for e in out if e.event == "suppressed"
                   and e.data["second"] == second}
        for kind, n in total.items():
            assert whole[kind] <= 5
            assert whole[kind] + summary[kind]["count"] == n  # exact
            assert summary[kind]["written"] == whole[kind]
    # Bounded: the file holds the legitimate events, N per kind and second, one
    # summary per kind and second; not the 8,000 hostile ones.
    assert len(out) <= 1 + len(mine) + 2 * 4 * (5 + 1)


def _flooder(port: int, seconds: float, rate: float) -> int:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    sent, start = 0, time.monotonic()
    try:
        while (now := time.monotonic()) - start < seconds:
            while sent < int((now - start) * rate):
                try:
                    socks[sent % 8].sendto(ALERT, ("127.0.0.1", port))
                except OSError:
                    pass
                sent += 1
            time.sleep(0.002)
    finally:
        for s in socks:
            s.close()
    return sent


def test_serve_events_file_grows_by_a_bounded_amount_under_a_flood() -> None:
    """`serve --events FILE` under 2,000 hostile datagrams/s from 8 ports: the file
    holds at most N whole events per kind and second from them plus one summary
    line each (on main: one line per datagram), the counts in its ``stop`` line are
    exact, and a client served during the flood has all its events."""
    import threading

    from mbedtls_py.creds import DEFAULT_PSK, DEFAULT_PSK_IDENTITY
    from mbedtls_py.testing import psk_configs
    from mbedtls_py.udp.client import run_client

    port = pick_free_udp_port()
    events = Path(os.environ.get("TMPDIR", "/tmp")) / f"flood-events-{os.getpid()}.jsonl"
    identity = DEFAULT_PSK_IDENTITY.decode() if isinstance(DEFAULT_PSK_IDENTITY, bytes) \
        else DEFAULT_PSK_IDENTITY
    proc = subprocess.Popen([sys.executable, "-m", "mbedtls_py", "serve", "--port", str(port),
                             "--events", str(events), "--quiet", "--max-seconds", "30",
                             "--psk", DEFAULT_PSK.hex(), "--psk-identity", identity,
                             "--mitigation", "classify"],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if events.exists() and events.stat().st_size:
                break
            time.sleep(0.05)
        cc, _ = psk_configs(cookies=True)
        sent = _flooder(port, 1.5, 2000.0)
        box: dict[str, Any] = {}
        th = threading.Thread(target=lambda: box.update(n=_flooder(port, 2.0, 2000.0)))
        th.start()
        r = run_client(cc, "127.0.0.1", port, b"legit", timeout=20, wait_close_ms=500)
        th.join()
        sent += box["n"]
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    events.unlink()
    stop = lines[-1]
    assert stop["event"] == "stop"
    seconds = {ln["t_ms"] // 1000 for ln in lines}
    kinds = {k for k in stop["events_by_kind"]}
    assert len(lines) <= 2 + len(seconds) * len(kinds) * (10 + 1) + 40, len(lines)
    # exact: written whole + suppressed = what the server counted, per kind (a
    # "deferred" line was counted in its second's summary already)
    written = Counter(ln["event"] for ln in lines if ln["event"] not in ("listen", "stop",
                                                                         "suppressed")
                      and not ln.get("deferred"))
    for ln in lines:
        if ln["event"] == "suppressed":
            written[ln["kind"]] += ln["count"]
    assert dict(written) == stop["events_by_kind"]
    assert sum(stop["events_by_kind"].get(k, 0) for k in ("ignored", "discard", "error",
                                                           "overflow")) >= 1000
    assert sent >= 5000
    # The client served during the flood has every event of its connection in the file.
    assert r.handshake_rc == 0 and r.received == b"legit"
    served = [ln["peer"] for ln in lines if ln["event"] == "handshake"]
    assert len(served) == 1
    me = [ln["event"] for ln in lines if ln.get("peer") == served[0]]
    for kind in ("accept", "hello_verify", "handshake", "read", "write", "close_notify",
                 "reset"):
        assert kind in me, me


def test_proxy_log_is_a_bounded_window_with_exact_counts(tmp_path: Path) -> None:
    """`UDPProxy.log` keeps the last LOG_WINDOW entries (on main: every entry, so
    RSS grew linearly under a flood); `counts` stay exact and `log_file` gets all."""
    from mbedtls_py.udp import proxy as proxy_mod

    window = getattr(proxy_mod, "LOG_WINDOW", 5000)
    n = window  # in + out per datagram: twice the window
    log = tmp_path / "proxy.jsonl"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        p = proxy_mod.UDPProxy(("127.0.0.1", 0), server.getsockname(), max_seconds=60,
                               log_file=str(log)).start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                for i in range(n // 100):
                    for _ in range(100):
                        c.sendto(ALERT, p.address)
                    p.wait_for(lambda e: e["event"] == "out", timeout=5,
                               count=1) if i == 0 else None
                    deadline = time.monotonic() + 5
                    while p.counts.get("out", 0) < 100 * (i + 1) and time.monotonic() < deadline:
                        time.sleep(0.002)
        finally:
            p.stop()
    assert p.counts["in"] == n == p.counts["out"]
    assert len(p.log) <= window
    assert sum(1 for _ in log.open()) == sum(p.counts.values())
