"""The UDP impairment proxy (rule actions over real loopback sockets, the
`proxy` command) and the seed's exact test made deterministic with it:
`echo "GET / HTTP/1.0" | openssl s_client -dtls1_2` against the Python
dtls_server loop, the client's encrypted close_notify delayed past the reset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any
from collections.abc import Iterator
from pathlib import Path

import pytest

from _udp_helpers import nothing_left_behind
from mbedtls_py.udp.addresses import pick_free_udp_port
from mbedtls_py.peers import interop, upstream
from mbedtls_py.bindings.errors import Err
from mbedtls_py.udp.proxy import UDPProxy
from mbedtls_py.repro.udp import run_real
from mbedtls_py.udp.transport import UDPTransport

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("MBEDTLS_PY_SEED_RUNS", "20"))




@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Fail a test that leaves a socket, a helper thread or a child process behind."""
    with nothing_left_behind(threads=True):
        yield
        assert upstream.live_children() == []


def record(content_type: int, epoch: int, seq: int, payload: bytes = b"\x01\x00") -> bytes:
    """A DTLS 1.2 record with the given header fields."""
    return (bytes([content_type]) + b"\xfe\xfd" + epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")
            + len(payload).to_bytes(2, "big") + payload)


ALERT_E1 = record(21, 1, 7, b"\x00" * 18)
ALERT_E0 = record(21, 0, 3)
APPDATA = record(23, 1, 5, b"\xaa" * 20)


def collect(t: UDPTransport, n: int, timeout: float = 2.0) -> list[tuple[float, bytes]]:
    """Up to ``n`` datagrams received within ``timeout``, with their arrival times (ms)."""
    got: list[tuple[float, bytes]] = []
    end = t.clock.now_ms + timeout * 1000
    while len(got) < n and t.clock.now_ms < end:
        if t.wait(end, max_wait_ms=50):
            while (item := t.recvfrom()) is not None:
                got.append((t.clock.now_ms, item[0]))
    return got


@pytest.fixture
def link() -> Iterator[tuple[UDPTransport, UDPTransport]]:
    """A (client, server) pair of sockets on loopback."""
    with UDPTransport() as client, UDPTransport() as server:
        yield client, server


def test_delay_matches_record_fields(link: tuple[UDPTransport, UDPTransport]) -> None:
    """Only the epoch>=1 alert is held back; it arrives >= the delay later (a reorder)."""
    client, server = link
    with UDPProxy(("127.0.0.1", 0), server.address,
                  ["client->server alert epoch>=1: delay 150ms"]) as proxy:
        t0 = client.clock.now_ms
        for d in (ALERT_E1, APPDATA, ALERT_E0):
            client.sendto(d, proxy.address)
        got = collect(server, 3)
    # The order shows the reorder; the proxy's log shows what was delayed (how fast the
    # others went through is the machine's speed, not the rule's).
    assert [d for _, d in got] == [APPDATA, ALERT_E0, ALERT_E1]
    assert got[2][0] - t0 >= 145
    delays = [e for e in proxy.log if e["event"] == "delay"]
    assert len(delays) == 1 and delays[0]["index"] == 1 and delays[0]["dir"] == "client->server"
    out = [e for e in proxy.log if e["event"] == "out" and e.get("why") == "delay"]
    assert out[0]["late_ms"] >= 145 and out[0]["records"] == ["<Alert epoch=1 seq=7 len=18 encrypted>"]


def test_drop_duplicate_truncate_replace_inject(link: tuple[UDPTransport, UDPTransport]) -> None:
    """Each action does what the rule language says, on the datagram the rule picks."""
    client, server = link
    rules = ["client->server #1: drop", "client->server #2: duplicate 2 spacing 10ms",
             "client->server #3: truncate 5", "client->server #4: replace 0102",
             "client->server #5: inject 0a0b before"]
    expect = {1: [], 2: [record(23, 1, 2)] * 3, 3: [record(23, 1, 3)[:5]], 4: [b"\x01\x02"],
              5: [b"\x0a\x0b", record(23, 1, 5)]}
    got = []
    with UDPProxy(("127.0.0.1", 0), server.address, rules) as proxy:
        # One at a time, each once the previous one's output arrived: the order
        # asserted is the rules', not the scheduler's (a late proxy thread would
        # read #3 before the copies of #2 fall due).
        for i in range(1, 6):
            client.sendto(record(23, 1, i), proxy.address)
            if i == 1:
                assert proxy.wait_for(lambda e: e["event"] == "drop", timeout=30)
            got += [d for _, d in collect(server, len(expect[i]), timeout=30)]
        got += [d for _, d in collect(server, 1, timeout=0.2)]  # nothing more
    assert got == [d for i in range(1, 6) for d in expect[i]]
    assert proxy.counts["drop"] == 1 and proxy.counts["duplicate"] == 1


def test_server_to_client_and_sessions(link: tuple[UDPTransport, UDPTransport]) -> None:
    """Replies come back through the client's session; each client gets its own upstream address."""
    client, server = link
    with UDPTransport() as other, UDPProxy(("127.0.0.1", 0), server.address,
                                           ["server->client alert: drop"]) as proxy:
        client.sendto(APPDATA, proxy.address)
        other.sendto(APPDATA, proxy.address)
        got: list[tuple[bytes, Any]] = []
        end = time.monotonic() + 30  # a hang guard: the loop ends when both arrived
        while len(got) < 2 and time.monotonic() < end:
            server.wait(server.clock.now_ms + 50)
            while (item := server.recvfrom()) is not None:
                got.append(item)
        assert len({addr for _, addr in got}) == 2
        for _, addr in got:
            server.sendto(ALERT_E0, addr)
            server.sendto(b"reply", addr)
        assert [d for _, d in collect(client, 1)] == [b"reply"]
        assert [d for _, d in collect(other, 1)] == [b"reply"]
    assert proxy.counts["session"] == 2 and proxy.counts["drop"] == 2


def test_corrupt_is_seeded(link: tuple[UDPTransport, UDPTransport]) -> None:
    """corrupt flips exactly the requested bits, the same ones for the same seed."""
    client, server = link
    results = []
    for _ in range(2):
        with UDPProxy(("127.0.0.1", 0), server.address, ["client->server: corrupt 3"],
                      seed=42) as proxy:
            client.sendto(APPDATA, proxy.address)
            results.append(collect(server, 1)[0][1])
    assert results[0] == results[1] != APPDATA
    flipped = sum(bin(a ^ b).count("1") for a, b in zip(results[0], APPDATA))
    assert flipped == 3


def test_hold_release_and_discard(link: tuple[UDPTransport, UDPTransport]) -> None:
    """hold keeps datagrams until release(tag) or release_after; what is left is discarded."""
    client, server = link
    with UDPProxy(("127.0.0.1", 0), server.address,
                  ["client->server alert: hold late", "client->server appdata: hold other"]) as p:
        client.sendto(ALERT_E1, p.address)
        client.sendto(APPDATA, p.address)
        assert p.wait_for(lambda e: e["event"] == "hold", count=2)
        assert collect(server, 1, timeout=0.2) == []
        assert p.release("late") == 1
        assert [d for _, d in collect(server, 1)] == [ALERT_E1]
    assert [e["why"] for e in p.log if e["event"] == "discard"] == ["held, not released"]
    with UDPProxy(("127.0.0.1", 0), server.address, ["client->server: hold"],
                  release_after_ms=100) as p:
        t0 = client.clock.now_ms
        client.sendto(APPDATA, p.address)
        got = collect(server, 1)
    assert got and got[0][0] - t0 >= 95


def test_proxy_is_bounded_in_time(link: tuple[UDPTransport, UDPTransport]) -> None:
    """The proxy thread ends by itself after max_seconds."""
    _, server = link
    p = UDPProxy(("127.0.0.1", 0), server.address, max_seconds=0.2).start()
    assert p.wait_for(lambda e: e["event"] == "stop", timeout=30)  # not stop()'s doing
    p.stop()
    assert p.log[-2]["event"] == "timeout" and p.log[-1]["event"] == "stop"


def test_proxy_refuses_remote_and_bad_rules(link: tuple[UDPTransport, UDPTransport]) -> None:
    """Non-loopback addresses and invalid rules are refused with ValueError."""
    _, server = link
    with pytest.raises(ValueError, match="loopback"):
        UDPProxy(("0.0.0.0", 0), server.address)
    with pytest.raises(ValueError, match="invalid rule"):
        UDPProxy(("127.0.0.1", 0), server.address, ["client->server: explode"])


def test_proxy_command(tmp_path: Path, link: tuple[UDPTransport, UDPTransport]) -> None:
    """`proxy` forwards with its rules for --max-seconds and writes a JSON-lines log."""
    client, server = link
    log = tmp_path / "proxy.jsonl"
    port = pick_free_udp_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbedtls_py", "proxy", "--listen", f"127.0.0.1:{port}",
         "--server", f"127.0.0.1:{server.port}", "--rule", "client->server #1: drop",
         "--max-seconds", "3", "--log", str(log)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 60  # a hang guard for the proxy's start-up
        while not (log.exists() and log.read_text()):
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        client.sendto(b"first", ("127.0.0.1", port))
        client.sendto(b"second", ("127.0.0.1", port))
        assert [d for _, d in collect(server, 1)] == [b"second"]
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["event"] for e in entries if e["event"] in ("drop", "timeout", "stop")] == \
        ["drop", "timeout", "stop"]
    assert "1 drop" in stderr


# ---------------------------------------------------------------- the seed's test


def _check_late_alert(run: dict[str, Any]) -> None:
    assert run["late_datagram_delayed"], run
    assert run["late_datagram"] and run["late_datagram"][0].startswith("<Alert epoch=1"), run
    assert run["second_client_served"], run


@pytest.mark.skipif(not interop.openssl_available(), reason="openssl CLI not installed")
def test_seed_openssl_none_fails_every_run() -> None:
    """The seed's s_client, its close_notify delayed past the reset: -0x7700 in 20 of 20 runs."""
    runs = run_real("openssl", "none", RUNS, seed=1, jobs=4)
    assert [r["server_rc"] for r in runs] == [Err.SSL_UNEXPECTED_MESSAGE] * RUNS
    assert [r["outcome"] for r in runs] == ["failed"] * RUNS
    for r in runs:
        _check_late_alert(r)
        assert r["client_command"].startswith("s_client -dtls1_2 -connect 127.0.0.1:")
        assert r["client_exit"] == 0 and r["handled_as"] == "error"


@pytest.mark.skipif(not interop.openssl_available(), reason="openssl CLI not installed")
@pytest.mark.parametrize("policy", ["linger", "classify"])
def test_seed_openssl_mitigated(policy: str) -> None:
    """Under linger and classify the same 20 runs have no failure and the next client is served."""
    runs = run_real("openssl", policy, RUNS, seed=1, jobs=4)
    assert [r["outcome"] for r in runs] == ["ok"] * RUNS
    for r in runs:
        _check_late_alert(r)
    if policy == "linger":
        assert {r["handled_as"] for r in runs} == {"linger_consumed"}
        assert {r["server_rc"] for r in runs} == {0}
    else:
        assert {r["handled_as"] for r in runs} == {"drop"}
        assert {r["server_rc"] for r in runs} == {Err.SSL_UNEXPECTED_MESSAGE}


def _upstream_missing() -> str | None:
    try:
        return upstream.available()
    except Exception as exc:  # noqa: BLE001
        return str(exc)


@pytest.mark.parametrize("policy", ["none", "lenient", "linger", "classify"])
def test_seed_upstream_client(policy: str) -> None:
    """Upstream's dtls_client as the first client: the same race, the same verdicts."""
    reason = _upstream_missing()
    if reason:
        pytest.skip(f"upstream samples cannot be built: {reason}")
    runs = run_real("upstream-client", policy, RUNS, seed=7, jobs=4)
    for r in runs:
        _check_late_alert(r)
        assert r["client_exit"] == 0 and r["client_received_echo"]
    expected = "failed" if policy == "none" else "ok"
    assert [r["outcome"] for r in runs] == [expected] * RUNS
    rc = 0 if policy == "linger" else Err.SSL_UNEXPECTED_MESSAGE
    assert [r["server_rc"] for r in runs] == [rc] * RUNS
