"""The simulated network against the real Mbed TLS: one test per impairment (loss,
duplicates, reordering, corruption, MTU, delay, jitter, bandwidth)."""

from __future__ import annotations

import math

import pytest

from mbedtls_py import Err
from mbedtls_py.sim.network import Network
from _network import make_net, parsed


def send_times(net: Network, src: str, hs: str | None = None) -> list[int]:
    """Virtual times at which ``src`` sent datagrams (optionally only one handshake type)."""
    out = []
    for e in net.trace.datagrams("send", src=src):
        first = parsed(e).first
        if hs is None or (first is not None and first.handshake is not None
                          and first.handshake.type_name == hs):
            out.append(e.time_ms)
    return out


# ------------------------------------------------------------------ loss


def test_lost_flights_are_retransmitted_after_the_virtual_timeout() -> None:
    """Three lost ClientHellos: retransmitted at 1 s, 3 s, 7 s (doubling); done at 7000 ms."""
    net, c, s = make_net(handshake_timeout=(1000, 8000))
    for i in (1, 2, 3):
        net.rule(f"client->server #{i}: drop")
    result = net.handshake(c, s)
    assert result == (0, 0) and result.reason == "done"
    assert send_times(net, "client", "client_hello") == [0, 1000, 3000, 7000]
    assert result.end_ms == net.clock.now_ms == 7000


def test_backoff_is_capped_at_the_configured_maximum_then_times_out() -> None:
    """handshake_timeout=(1000, 5000): waits 1, 2, 4, then 5 s (capped), then SSL_TIMEOUT at 12 s."""
    net, c, s = make_net(handshake_timeout=(1000, 5000))
    net.rule("client->server: drop")
    result = net.handshake(c, s)
    assert result.client_rc == Err.SSL_TIMEOUT and result.reason == "error"
    assert send_times(net, "client") == [0, 1000, 3000, 7000]
    assert result.end_ms == 1000 + 2000 + 4000 + 5000
    net, c, s = make_net(handshake_timeout=(1000, 8000))
    net.rule("client->server: drop")
    assert net.handshake(c, s).client_rc == Err.SSL_TIMEOUT
    assert net.clock.now_ms == 1000 + 2000 + 4000 + 8000


def test_five_lost_flights_take_seven_virtual_seconds() -> None:
    """Five lost flights (certificates): done at virtual 7000 ms (the real time it costs is a
    figure of bench/speed.py, not an assertion)."""
    net, c, s = make_net(kind="cert", handshake_timeout=(1000, 8000))
    for rule in ("client->server #1: drop", "client->server #2: drop",
                 "server->client #1: drop", "server->client #2: drop",
                 "client->server #4: drop"):
        net.rule(rule)
    result = net.handshake(c, s)
    assert result == (0, 0)
    assert len(net.trace.datagrams("drop")) == 5
    # CH lost at 0 and 1000; CH at 3000 answered; flight 2 lost at 3000 and
    # 4000 (server timer 1 s, 2 s); at 6000 it arrives; flight 3 lost at 6000,
    # resent at 7000 (the client's timer restarted at 1 s).
    assert result.end_ms == 7000


def test_loss_up_to_30_percent_both_directions_completes_or_times_out() -> None:
    """~100 seeds at 10/20/30 % loss: every handshake completes or ends with SSL_TIMEOUT; none hangs."""
    outcomes = []
    for loss in (0.1, 0.2, 0.3):
        for seed in range(34):
            net, c, s = make_net(seed=f"{loss}/{seed}")
            net.trace.enabled = False
            net.link_both("client", "server", loss=loss)
            result = net.handshake(c, s, within_ms=3_600_000)
            assert result.reason in ("done", "error"), str(result)
            if result.reason == "error":
                assert Err.SSL_TIMEOUT in result, str(result)
            outcomes.append((loss, result.ok, result.elapsed_ms))
    at30 = [ok for loss, ok, _ in outcomes if loss == 0.3]
    assert sum(at30) / len(at30) > 0.9
    assert sum(ok for _, ok, _ in outcomes) / len(outcomes) > 0.95


# ------------------------------------------------------------ duplicates


def test_duplicates_are_discarded_by_anti_replay() -> None:
    """A record delivered three times is read once; the copies are dropped by the replay window."""
    net, c, s = make_net()
    assert net.handshake(c, s) == (0, 0)
    net.rule("client->server appdata: duplicate 2")
    assert c.write(b"hello") == 5
    net.run()
    assert len(net.trace.datagrams("deliver", src="client")) >= 3
    assert s.pending_in == 3
    assert s.read() == b"hello"
    assert s.read() == Err.SSL_WANT_READ
    assert s.pending_in == 0


def test_duplicated_handshake_datagrams_do_not_break_the_handshake() -> None:
    """Every datagram duplicated (link duplicate=1.0, certificates): the handshake completes."""
    net, c, s = make_net(kind="cert")
    net.link_both("client", "server", duplicate=1.0)
    assert net.handshake(c, s) == (0, 0)
    assert len(net.trace.datagrams("dup")) >= 4


# ------------------------------------------------------------- reordering


def test_reordered_handshake_fragments_are_reassembled() -> None:
    """Flights fragmented by set_mtu(200) and reordered: reassembled without any retransmission."""
    net, c, s = make_net(kind="cert", handshake_timeout=(1000, 8000))
    c.set_mtu(200)
    s.set_mtu(200)
    net.link("server", "client", reorder=0.5, reorder_delay_ms=5)
    result = net.handshake(c, s)
    assert result == (0, 0)
    sent = [e.data for e in net.trace.datagrams("send", src="server")]
    delivered = [e.data for e in net.trace.datagrams("deliver", src="server")]
    assert sorted(sent) == sorted(delivered) and sent != delivered
    assert len(sent) >= 5 and all(len(d) <= 200 for d in sent)
    fragments = [r.handshake for e in net.trace.datagrams("deliver", src="server")
                 for r in parsed(e).records if r.handshake is not None]
    assert any(h.is_fragment for h in fragments)
    assert not [e for e in net.trace if e.kind == "timer"]  # nothing had to be resent
    assert result.end_ms == 5


# -------------------------------------------------------------- corruption


def test_corrupted_records_count_toward_the_badmac_limit() -> None:
    """badmac_limit=3: two corrupted records are dropped silently, the third ends with SSL_INVALID_MAC."""
    net, c, s = make_net(badmac_limit=3)
    assert net.handshake(c, s) == (0, 0)
    net.link("client", "server", corrupt=1.0, corrupt_scope="payload")
    codes = []
    for i in range(3):
        c.write(b"record %d" % i)
        net.run()
        codes.append(s.read())
    assert codes == [Err.SSL_WANT_READ, Err.SSL_WANT_READ, Err.SSL_INVALID_MAC]
    assert len(net.trace.datagrams("corrupt")) == 3


def test_corrupted_records_below_the_limit_do_not_close_the_connection() -> None:
    """badmac_limit=3 with two corrupted records: the next good record is read normally."""
    net, c, s = make_net(badmac_limit=3)
    assert net.handshake(c, s) == (0, 0)
    link = net.link("client", "server", corrupt=1.0, corrupt_scope="payload", corrupt_bits=4)
    for i in range(2):
        c.write(b"bad %d" % i)
    net.run()
    assert s.read() == Err.SSL_WANT_READ
    link.corrupt = 0.0
    c.write(b"good")
    net.run()
    assert s.read() == b"good"


# --------------------------------------------------------------------- MTU


@pytest.mark.parametrize("mode", ["drop", "truncate"])
def test_mtu_below_the_flight_size_makes_the_handshake_fail(mode: str) -> None:
    """A 500-byte MTU (drop or truncate) and no set_mtu: the certificate flight never arrives; SSL_TIMEOUT."""
    net, c, s = make_net(kind="cert", handshake_timeout=(1000, 8000))
    net.link_both("client", "server", mtu=500, mtu_mode=mode)
    result = net.handshake(c, s)
    assert result.client_rc == Err.SSL_TIMEOUT
    assert result.end_ms == 15000
    kind = "drop" if mode == "drop" else "truncate"
    assert [e for e in net.trace.datagrams(kind, src="server") if "mtu" in e.note]


def test_set_mtu_fragments_the_flight_and_the_handshake_succeeds() -> None:
    """The same 500-byte link MTU with set_mtu(500) on both sides: fragmented flights, success at 0 ms."""
    net, c, s = make_net(kind="cert", handshake_timeout=(1000, 8000))
    net.link_both("client", "server", mtu=500)
    c.set_mtu(500)
    s.set_mtu(500)
    result = net.handshake(c, s)
    assert result == (0, 0) and result.end_ms == 0
    assert not net.trace.datagrams("drop")
    assert max(len(e.data) for e in net.trace.datagrams("send")) <= 500
    server_flight = [e for e in net.trace.datagrams("send", src="server")
                     if any(r.handshake is not None and r.handshake.type_name == "certificate"
                            for r in parsed(e).records)]
    assert len(server_flight) >= 2


def test_mtu_above_508_succeeds_after_mbedtls_backs_off_to_508() -> None:
    """A 600-byte MTU without set_mtu: after the first retransmission Mbed TLS sends 508-byte datagrams (RFC 6347 4.1.1.1)."""
    net, c, s = make_net(kind="cert", handshake_timeout=(1000, 8000))
    net.link_both("client", "server", mtu=600)
    result = net.handshake(c, s)
    assert result == (0, 0) and result.end_ms == 3000
    assert max(len(e.data) for e in net.trace.datagrams("deliver", src="server")) == 508


# ------------------------------------------------------- delay, jitter, bandwidth


def test_delay_and_jitter_shape_the_virtual_handshake_time() -> None:
    """delay 50 ms +- 20 ms each way: every datagram takes 30..70 ms; four flights take 120..280 ms."""
    net, c, s = make_net(seed=3)
    net.link_both("client", "server", delay_ms=50, jitter_ms=20)
    result = net.handshake(c, s)
    assert result == (0, 0)
    sent_at = {e.data: e.time_ms for e in net.trace.datagrams("send")}
    delays = [e.time_ms - sent_at[e.data] for e in net.trace.datagrams("deliver")]
    assert len(delays) == 4 and all(30 <= d <= 70 for d in delays) and len(set(delays)) > 1
    assert 120 <= result.end_ms <= 280


def test_bandwidth_adds_serialization_time() -> None:
    """At 80 kbit/s each datagram arrives len*0.1 ms (rounded up) after it was sent."""
    net, c, s = make_net()
    net.link_both("client", "server", bandwidth_bps=80_000)
    result = net.handshake(c, s)
    assert result == (0, 0)
    sent_at = {e.data: e.time_ms for e in net.trace.datagrams("send")}
    expected = 0
    for e in net.trace.datagrams("deliver"):
        assert e.time_ms - sent_at[e.data] == math.ceil(len(e.data) * 8 * 1000 / 80_000)
        expected += e.time_ms - sent_at[e.data]
    assert result.end_ms == expected  # the four flights are sequential


def test_bandwidth_queues_back_to_back_datagrams() -> None:
    """Two datagrams sent together on a 8 kbit/s link: the second waits for the first."""
    net = Network(seed=1)
    a, b = net.socket("a"), net.socket("b")
    net.link("a", "b", bandwidth_bps=8_000)
    a.sendto(b"x" * 100, "b")
    a.sendto(b"y" * 100, "b")
    net.run()
    assert [e.time_ms for e in net.trace.datagrams("deliver")] == [100, 200]
    assert b.recvfrom() == (b"x" * 100, "a")
