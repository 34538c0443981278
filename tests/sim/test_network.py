"""The simulated network against the real Mbed TLS: one test per impairment,
the driving loop, the trace and the reports."""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import pytest

from mbedtls_py import Config, Context, Err
from mbedtls_py.sim.endpoints import ContextEndpoint, SimSocket
from mbedtls_py.sim.trace import HandshakeResult, RunResult, TraceEvent
from mbedtls_py.sim.network import Network
from mbedtls_py.creds.det import make_det_pki
from mbedtls_py.creds.pki import PKI
from mbedtls_py.wire.records import Datagram
from _versions import GARBAGE_FIRST_DATAGRAM_RC, RACE_RC

PSK = bytes(range(16))
PSK_ID = b"mbedtls-py"
PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"


@functools.cache
def det_pki(seed: int | str | bytes = 1) -> PKI:
    return make_det_pki(seed)


def make_net(seed: int | str | bytes = 1, kind: str = "psk", *, cookies: bool = False,
             **options: Any) -> tuple[Network, ContextEndpoint, ContextEndpoint]:
    """A network with a seeded client and server on it."""
    net = Network(seed=seed)
    client_cfg = Config("client", seed=net.seed_for("client"), **options)
    server_cfg = Config("server", seed=net.seed_for("server"), cookies=cookies, **options)
    if kind == "psk":
        for cfg in (client_cfg, server_cfg):
            cfg.do_set_psk(PSK, PSK_ID)
            cfg.set_ciphersuites([PSK_SUITE])
    else:
        det_pki(seed).configure(client_cfg, server_cfg)
    client = Context(client_cfg, name="client")
    client.set_hostname("localhost")
    c = net.add("client", client)
    s = net.add("server", Context(server_cfg, name="server"))
    return net, c, s


def parsed(e: TraceEvent) -> Datagram:
    """The records of a datagram event (always parsed for datagram kinds)."""
    assert e.records is not None, e
    return e.records


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


# ----------------------------------------------------------- hold / release


def _established_with_hold(seed: int | str | bytes = 1
                           ) -> tuple[Network, ContextEndpoint, ContextEndpoint]:
    net, c, s = make_net(seed)
    assert net.handshake(c, s) == (0, 0)
    c.write(b"GET / HTTP/1.0\r\n\r\n")
    net.run()
    assert s.read() == b"GET / HTTP/1.0\r\n\r\n"
    net.rule("client->server alert epoch>=1: hold late")
    assert c.close_notify() == 0
    assert len(net.held) == 1 and net.held[0].tag == "late"
    return net, c, s


def test_held_close_notify_released_after_reset_is_the_seed_race() -> None:
    """The client's close_notify held until the server reset: its handshake returns SSL_UNEXPECTED_MESSAGE."""
    net, c, s = _established_with_hold()
    assert s.close_notify() == 0
    assert s.session_reset() == 0
    assert s.handshake() == Err.SSL_WANT_READ
    released = net.release("late", after_ms=100)
    assert len(released) == 1 and not net.held
    net.run()
    assert net.clock.now_ms == 100
    assert s.handshake() == RACE_RC  # -0x7700 (2.x: -0x7900)
    late = s.last_datagram()
    assert late == released[0].data
    first = parsed(net.trace.datagrams("deliver", src="client")[-1]).first
    assert first is not None and first.encrypted


def test_held_close_notify_released_before_reset_is_read_as_close_notify() -> None:
    """Released before the server resets, the same close_notify is read as SSL_PEER_CLOSE_NOTIFY."""
    net, c, s = _established_with_hold()
    net.release(net.held[0])
    net.run()
    assert s.read() == Err.SSL_PEER_CLOSE_NOTIFY


def test_dropping_a_held_datagram() -> None:
    """A held datagram dropped by the script is never delivered."""
    net, c, s = _established_with_hold()
    dropped = net.drop("late")
    assert len(dropped) == 1 and not net.held
    assert net.run().reason == "idle"
    assert s.read() == Err.SSL_WANT_READ
    assert net.trace.datagrams("drop")[-1].note.startswith("held datagram dropped")


# ----------------------------------------------------------- rules' effects


def test_truncated_and_replaced_datagrams_are_ignored_then_retransmitted() -> None:
    """A truncated ServerHello flight and a replaced one are discarded by the client; retransmissions get through."""
    net, c, s = make_net(handshake_timeout=(1000, 8000))
    net.rule("server->client #1: truncate 20")
    net.rule("server->client #2: replace 17fefd0001000000000000000401020304")
    result = net.handshake(c, s)
    assert result == (0, 0)
    # At 1000 ms the server resends twice: its own timer expired, and the
    # client's retransmitted ClientHello arrived.  #2 is replaced, #3 counts.
    assert result.end_ms == 1000
    kinds = [(e.time_ms, e.kind) for e in net.trace.datagrams(src="server")]
    assert kinds[:3] == [(0, "send"), (0, "truncate"), (0, "deliver")]
    assert (1000, "replace") in kinds
    assert [e.rc for e in net.trace.calls("client", "handshake")][:3] == [Err.SSL_WANT_READ] * 3


def test_injected_datagram_reaches_the_server() -> None:
    """net.inject delivers a crafted datagram: garbage as a new connection's first datagram is SSL_INVALID_RECORD."""
    net, c, s = make_net()
    net.inject("client", "server", b"\x00" * 30, after_ms=5)
    net.run()
    assert s.pending_in == 1 and net.clock.now_ms == 5
    result = net.handshake(c, s)
    # 3.6: SSL_INVALID_RECORD; 2.x and 4.0 (their ClientHello parsers): see _versions
    # reason first: after == with a tuple of Err, mypy narrows result to a plain tuple
    assert result.reason == "error" and result == (Err.SSL_WANT_READ, GARBAGE_FIRST_DATAGRAM_RC)
    assert s.last_datagram() == b"\x00" * 30
    assert s.session_reset() == 0  # what the dtls_server sample does on an error
    assert net.handshake(c, s) == (0, 0)


def test_cookie_exchange_resets_the_server_as_the_sample_does() -> None:
    """With cookies on, handshake() resets the server after HELLO_VERIFY_REQUIRED and completes."""
    net, c, s = make_net(cookies=True)
    assert net.handshake(c, s) == (0, 0)
    assert [e.rc for e in net.trace.calls("server", "handshake")][1] == \
        Err.SSL_HELLO_VERIFY_REQUIRED
    assert net.trace.calls("server", "session_reset")


# ------------------------------------------------------------ driving loop


def test_stalled_run_reports_who_waits_for_what() -> None:
    """A run that cannot progress ends with a report naming the held datagram and the expired timer."""
    net, c, s = make_net(handshake_timeout=(1000, 8000))
    net.rule("client->server: hold")
    assert c.handshake() == Err.SSL_WANT_READ
    result = net.run()
    assert isinstance(result, RunResult) and result.reason == "idle"
    assert result.end_ms == 1000  # the clock moved to the client's timer, nobody called it
    text = str(result)
    assert "held since 0 ms: client->server" in text
    assert "timer expired at 1000 ms" in text
    assert "client (SERVER_HELLO): waits for a datagram from server" in text


def test_handshake_against_a_silent_peer_ends_at_the_deadline() -> None:
    """Everything held: handshake() stops at the virtual deadline with a report, never hangs."""
    net, c, s = make_net(handshake_timeout=(1000, 60000))
    net.rule("client->server: hold")
    result = net.handshake(c, s, within_ms=10_000)
    assert isinstance(result, HandshakeResult) and result.reason == "deadline"
    assert result == (Err.SSL_WANT_READ, Err.SSL_WANT_READ)
    assert net.clock.now_ms == 10_000
    assert "held since" in str(result)
    assert len(net.held) == 4  # 0, 1000, 3000, 7000


def test_run_deadline_is_a_time_on_the_clock() -> None:
    """run(deadline_ms=) stops at that virtual time; within_ms= counts from now."""
    net = Network()
    a, b = net.socket("a"), net.socket("b")
    net.link("a", "b", delay_ms=500)
    a.sendto(b"1", "b")
    r = net.run(deadline_ms=200)
    assert r.reason == "deadline" and net.clock.now_ms == 200 and b.pending() == 0
    r = net.run(within_ms=200)
    assert r.reason == "deadline" and net.clock.now_ms == 400
    r = net.run(deadline_ms=10_000)
    assert r.reason == "idle" and net.clock.now_ms == 500 and b.pending() == 1


def test_processes_are_polled_after_deliveries_and_at_their_deadline() -> None:
    """A socket process (an echo server) is polled on delivery and at its own deadline."""

    class Echo:
        def __init__(self, sock: SimSocket) -> None:
            self.sock, self.sockets = sock, [sock]
            self.polls: list[int] = []
            self.wake: int | None = 250

        def poll(self) -> None:
            self.polls.append(self.sock.clock.now_ms)
            while (item := self.sock.recvfrom()) is not None:
                self.sock.sendto(item[0].upper(), item[1])
            if self.wake is not None and self.sock.clock.now_ms >= self.wake:
                self.wake = None

        def next_deadline(self) -> int | None:
            return self.wake

    net = Network()
    echo = Echo(net.socket("echo"))
    user = net.socket("user")
    net.add_process(echo)
    net.link_both("user", "echo", delay_ms=10)
    user.sendto(b"hi", "echo")
    result = net.run(until=lambda: user.pending() > 0)
    assert result.ok and user.recvfrom() == (b"HI", "echo") and net.clock.now_ms == 20
    assert net.run().reason == "idle"
    assert echo.polls == [10, 250]


def test_context_endpoint_proxies_and_peer_selection() -> None:
    """Calls through an endpoint are traced; a third endpoint needs an explicit peer."""
    net, c, s = make_net()
    assert net.handshake(c, s) == (0, 0)
    assert c.state == "HANDSHAKE_OVER" and c.ctx.handshake_over
    c.write(b"ping")
    net.run()
    assert s.read(2) == b"pi" and s.read() == b"ng"
    calls = [(e.src, e.call) for e in net.trace.calls()]
    assert ("client", "write") in calls and ("server", "read") in calls
    other = Context(Config("client", psk=(PSK, PSK_ID), ciphersuites=[PSK_SUITE]))
    third = net.add("third", other)
    with pytest.raises(ValueError, match="give its peer"):
        third.handshake()
    assert other.pending_out == 1  # nothing was lost
    third.peer = "server"
    assert net.collect() == 1
    with pytest.raises(ValueError, match="already on the network"):
        net.add("client", other)


def test_set_time_follows_the_virtual_clock() -> None:
    """Mbed TLS's wall clock is unix_time + virtual seconds."""
    from mbedtls_py import get_time

    net = Network(unix_time=1_700_000_000)
    assert get_time() == 1_700_000_000
    net.clock.advance(2500)
    assert get_time() == 1_700_000_002


# ------------------------------------------------------------------- trace


def test_trace_prints_as_a_timeline_and_converts_to_json() -> None:
    """str(trace) lists sends, deliveries and calls; to_json() round-trips through json with parsed records."""
    net, c, s = make_net()
    net.rule("client->server #1: drop")
    net.handshake(c, s)
    text = str(net.trace)
    assert "client->server    drop" in text and "client_hello" in text
    assert "handshake() -> SSL_WANT_READ" in text
    data = json.loads(net.trace.to_json())
    assert data[0]["kind"] == "call"
    sends = [d for d in data if d["kind"] == "send"]
    assert sends[0]["records"]["records"][0]["handshake"]["type_name"] == "client_hello"
    assert bytes.fromhex(sends[0]["data"]) == net.trace.datagrams("send")[0].data


def test_duplicate_rule_is_bounded_in_the_network() -> None:
    """`duplicate N` beyond MAX_DUPLICATES is refused when the rule is added (10^9 hung
    and 10^6 cost 251 MB on main); the bound itself works."""
    from mbedtls_py.wire.rules import MAX_DUPLICATES, Duplicate, Match, Rule

    net = Network(seed=1)
    for text in ("client->server: duplicate 1000000000", "client->server: duplicate 1000000"):
        with pytest.raises(ValueError, match="at most 100"):
            net.rule(text)
    with pytest.raises(ValueError, match="at most 100"):
        net.rule(Rule(Match("client", "server"), Duplicate(MAX_DUPLICATES + 1)))
    assert net.rules == []
    net.rule(f"client->server: duplicate {MAX_DUPLICATES}")
    assert len(net.rules) == 1
