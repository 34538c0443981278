"""The simulated network against the real Mbed TLS: held datagrams and the other rule
actions' effects, the driving loop (stalls, deadlines, polling, endpoints), the trace
and its reports."""

from __future__ import annotations

import json

import pytest

from mbedtls_py import Config, Context, Err
from mbedtls_py.sim.endpoints import ContextEndpoint, SimSocket
from mbedtls_py.sim.trace import HandshakeResult, RunResult
from mbedtls_py.sim.network import Network
from _versions import GARBAGE_FIRST_DATAGRAM_RC, RACE_RC
from _network import PSK, PSK_ID, PSK_SUITE, make_net, parsed


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
