"""DTLSServer (the dtls_server sample's loop) and the classifier, on the
simulated network against real Mbed TLS clients."""

from __future__ import annotations

import pytest

from mbedtls_py import Config, Err
from mbedtls_py.sim.network import Network
from mbedtls_py.wire.records import parse_datagram
from mbedtls_py.server.policies import POLICIES, Policy
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.server.staleness import FIRST_FLIGHT_REJECTED, classify_datagram
from mbedtls_py.repro.scenarios import BAD_INPUT_SCENARIOS, LATE_SCENARIOS, SERVICE_MS, bad_input, run_scenario
from mbedtls_py.repro.scenarios import FORGED_HEADER_DATAGRAM
from mbedtls_py.parties import Client
from mbedtls_py.testing import PSK, PSK_IDENTITY, PSK_SUITE
from _versions import LENIENT_3X, RACE_RC


def _header(ctype: int, epoch: int, seq: int, body: bytes) -> bytes:
    return (bytes([ctype, 0xFE, 0xFD]) + epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")
            + len(body).to_bytes(2, "big") + body)


ALERT_E1 = _header(21, 1, 2, b"\x11" * 26)


def test_classifier_needs_proof_not_looks() -> None:
    """Looking like a late record proves nothing: no closed connection to check it
    against, or a code other than the race's (UNEXPECTED_MESSAGE; 2.x: BAD_HS_CLIENT_HELLO),
    is a real error."""
    v = classify_datagram(ALERT_E1, "client", FIRST_FLIGHT_REJECTED, {})
    assert not v.stale and "close_notify" in v.kind and v.check_rc is None
    assert "no recently closed connection" in v.reason
    v = classify_datagram(ALERT_E1, "client", Err.SSL_INVALID_RECORD, {})
    assert not v.stale and f"not {FIRST_FLIGHT_REJECTED.name}" in v.reason


@pytest.mark.parametrize("data,kind", [
    (b"GET / HTTP/1.0\r\n\r\n", "not DTLS"),
    (b"\x16\xfe", "not DTLS"),
    (_header(22, 0, 0, bytes([20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), "plaintext handshake"),
    (_header(21, 0, 0, b"\x01\x00"), "plaintext alert"),
    (_header(22, 0, 0, bytes([1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0xFE, 0xFD])), "ClientHello"),
    (_header(21, 1, 2, b"\x11" * 26) + b"\x99", "malformed DTLS"),
])
def test_classifier_keeps_real_errors(data: bytes, kind: str) -> None:
    """Garbage, plaintext non-ClientHellos and malformed datagrams are never stale."""
    verdict = classify_datagram(data, "client", FIRST_FLIGHT_REJECTED, {})
    assert not verdict.stale
    assert verdict.kind.startswith(kind)


def _net_with_server(policy: Policy, seed: int = 1, *,
                     service_ms: int = 0) -> tuple[Network, DTLSServer, Config]:
    net = Network(seed=seed)
    for name in ("client", "client2", "stranger"):
        net.link_both(name, "server", delay_ms=50)
    conf = Config("server", seed=net.seed_for("server"), cookies=True, psk=(PSK, PSK_IDENTITY),
                  ciphersuites=[PSK_SUITE])
    server = DTLSServer(conf, net.socket("server"), policy=policy, rtt_ms=100,
                        service_ms=service_ms)
    net.add_process(server)
    cconf = Config("client", seed=net.seed_for("client"), psk=(PSK, PSK_IDENTITY),
                   ciphersuites=[PSK_SUITE])
    return net, server, cconf


def test_server_serves_clients_one_after_another() -> None:
    """The sample's loop: cookie exchange, handshake, read, echo, close_notify, reset, next client."""
    net, server, cconf = _net_with_server("none", service_ms=SERVICE_MS)
    clients = [Client(net, name, cconf, start_ms=i * 1000)
               for i, name in enumerate(["client", "client2"])]
    for c in clients:
        net.add_process(c)
    net.run(until=lambda: all(c.done for c in clients), deadline_ms=10_000)
    assert all(c.delivered for c in clients)
    assert server.served == 2 and not server.errors
    kinds = [e.event for e in server.events]
    assert kinds[:3] == ["accept", "hello_verify", "reset"]
    assert kinds.count("handshake") == 2 and kinds.count("close_notify") == 2


def test_zero_service_time_races_by_itself() -> None:
    """With no time between echo and reset, the close_notify sent with the request is
    already late: the race needs no delay at all (policy none reports -0x7700)."""
    net, server, cconf = _net_with_server("none", service_ms=0)
    client = Client(net, "client", cconf)
    net.add_process(client)
    net.run(until=lambda: client.done and bool(server.errors), deadline_ms=5000)
    assert client.delivered
    assert [e.rc for e in server.errors] == [RACE_RC]
    assert server.errors[0].data["records"] == ["<Alert epoch=1 seq=2 len=26 encrypted>"]


def test_server_events_are_json_lines() -> None:
    """Every server step is a JSON-able event with the exact return code."""
    import json

    net, server, cconf = _net_with_server("none")
    net.add_process(Client(net, "client", cconf))
    net.run(deadline_ms=5000)
    lines = server.events_json().splitlines()
    parsed = [json.loads(line) for line in lines]
    hv = next(p for p in parsed if p["event"] == "hello_verify")
    assert hv["rc"] == Err.SSL_HELLO_VERIFY_REQUIRED and hv["rc_hex"] == "-0x6A80"
    assert hv["rc_name"] == "MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED"


def _policies() -> list[object]:
    """POLICIES, lenient marked: upstream's workaround keys on 3.x's -0x7700."""
    return [pytest.param(p, marks=LENIENT_3X) if p == "lenient" else p for p in POLICIES]


@pytest.mark.parametrize("policy", _policies())
def test_late_close_notify_outcome_per_policy(policy: str) -> None:
    """The seed: -0x7700 (2.x: -0x7900) reported under none only; lenient, linger and
    classify go on."""
    r = run_scenario("late-close-notify", policy, seed=11, offset_ms=30)
    assert r.late and r.second_client_served
    if policy == "none":
        assert r.outcome == "failed" and r.server_rc == RACE_RC
    else:
        assert r.outcome == "ok"
    if policy == "linger":
        assert r.server_rc == 0  # consumed by the old connection, never seen by the handshake
    if policy in ("lenient", "classify"):
        assert r.server_rc == RACE_RC  # seen, then dropped


@pytest.mark.parametrize("offset", [-SERVICE_MS + 1, -5, -1])
def test_close_notify_before_reset_is_harmless(offset: int) -> None:
    """Arriving before the reset, the close_notify never fails the server, under any policy."""
    for policy in POLICIES:
        r = run_scenario("late-close-notify", policy, seed=5, offset_ms=offset)
        assert not r.late and r.outcome == "ok" and r.server_rc == 0, (policy, r)


@pytest.mark.parametrize("policy", _policies())
@pytest.mark.parametrize("scenario", LATE_SCENARIOS)
def test_late_datagram_scenarios_as_promised(scenario: str, policy: str) -> None:
    """Every late-datagram scenario does what each policy promises, over several seeds."""
    for seed in range(1, 6):
        r = run_scenario(scenario, policy, seed)
        assert r.as_promised, r.to_dict()
        assert r.second_client_served


@pytest.mark.parametrize("scenario", BAD_INPUT_SCENARIOS)
def test_bad_input_reported_except_lenient(scenario: str) -> None:
    """Bad input after a reset is reported under none, linger and classify; only lenient may hide it."""
    for policy in POLICIES:
        r = run_scenario(scenario, policy, seed=2)
        assert r.second_client_served
        if policy == "lenient" and r.server_rc == Err.SSL_UNEXPECTED_MESSAGE:
            assert r.outcome == "error-hidden"
        else:
            assert r.outcome == "error-reported", (policy, r.to_dict())


@LENIENT_3X
def test_lenient_hides_real_errors_that_classify_reports() -> None:
    """The difference #9656 asks for: lenient hides -0x7700 from a stranger; classify does not."""
    lenient = run_scenario("stale-from-unknown", "lenient", seed=4)
    classify = run_scenario("stale-from-unknown", "classify", seed=4)
    assert lenient.outcome == "error-hidden"
    assert classify.outcome == "error-reported"
    assert lenient.server_rc == classify.server_rc == Err.SSL_UNEXPECTED_MESSAGE


def test_linger_window_expires() -> None:
    """Past the linger window the old connection is gone and the late alert fails the handshake."""
    r = run_scenario("late-close-notify", "linger", seed=3, offset_ms=250, linger_ms=100)
    assert r.outcome == "failed" and r.expected == "failed"


def test_bad_inputs_are_what_they_claim() -> None:
    """The crafted bad inputs parse as described (so the scenarios test what they name)."""
    import random

    rng = random.Random(0)
    src, data = bad_input("stale-from-unknown", rng)
    assert src == "stranger" and parse_datagram(data).records[0].epoch == 1
    _, data = bad_input("plaintext-not-clienthello", rng)
    rec = parse_datagram(data).records[0]
    assert rec.epoch == 0 and rec.handshake is not None and rec.handshake.type_name == "finished"
    _, data = bad_input("non-dtls", rng)
    assert not parse_datagram(data).records or parse_datagram(data).error


def test_certificate_scenario() -> None:
    """The seed's race with ECDSA certificates (deterministic PKI) behaves the same."""
    none = run_scenario("late-close-notify", "none", seed=8, auth="ecdsa", offset_ms=40)
    classify = run_scenario("late-close-notify", "classify", seed=8, auth="ecdsa", offset_ms=40)
    assert none.server_rc == RACE_RC and none.outcome == "failed"
    assert classify.outcome == "ok" and classify.second_client_served


def test_server_misuse() -> None:
    """DTLSServer refuses a client config, an unknown policy and bad timings."""
    net = Network(seed=0)
    sock = net.socket("server")
    with pytest.raises(ValueError):
        DTLSServer(Config("client"), sock)
    with pytest.raises(ValueError):
        DTLSServer(Config("server"), sock, policy="optimistic")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DTLSServer(Config("server"), sock, rtt_ms=0)
    with pytest.raises(ValueError):
        DTLSServer(Config("server"), sock, service_ms=-1)
    for bad in ({"linger_ms": -1}, {"recent_ms": -5}, {"peer_timeout_ms": float("nan")}):
        with pytest.raises(ValueError, match="must be >= 0"):
            DTLSServer(Config("server"), sock, **bad)


def _after_one_connection(policy: Policy) -> tuple[Network, DTLSServer]:
    """A classify/linger server that has served and closed one client."""
    net, server, cconf = _net_with_server(policy, service_ms=SERVICE_MS)
    client = Client(net, "client", cconf)
    net.add_process(client)
    net.run(until=lambda: client.done and any(e.event == "reset" and e.peer == "client"
                                              and e.t_ms > 0 for e in server.events[3:]),
            deadline_ms=5000)
    net.run(deadline_ms=net.clock.now_ms + 50)
    return net, server


@pytest.mark.parametrize("forged", [
    FORGED_HEADER_DATAGRAM,  # type 0x47, version 0, epoch 0x2020, 12-byte body
    _header(21, 1, 3, bytes(range(26))),  # right epoch, next seq, close_notify's length: bad MAC
    _header(23, 1, 3, bytes(range(24 + 18))),  # the same as application data
], ids=["forged-header", "forged-alert", "forged-appdata"])
def test_classify_reports_what_does_not_authenticate(forged: bytes) -> None:
    """From the peer that just closed, a datagram that does not authenticate under the
    closed connection's keys is reported, whatever it looks like."""
    net, server = _after_one_connection("classify")
    assert not server.errors and not server.dropped
    net.inject("client", "server", forged)
    net.run(deadline_ms=net.clock.now_ms + 100)
    assert not server.dropped, server.dropped[0].note
    assert [e.data["datagram"] for e in server.errors] == [forged.hex()]


def test_classify_drops_only_with_check_record_proof() -> None:
    """The real late close_notify is dropped, and the drop event carries the proof."""
    r = run_scenario("late-close-notify", "classify", seed=11, offset_ms=30, events=True)
    drop = next(e for e in r.events if e["event"] == "drop")
    assert drop["check_rc"] == 0 and "check_record 0" in drop["proof"]


def test_linger_window_edge_is_inclusive() -> None:
    """Virtual time: an alert delivered exactly at the window's edge is still consumed by
    the old connection; one ms past it, it fails the new handshake."""
    edge = run_scenario("late-close-notify", "linger", seed=3, offset_ms=200, linger_ms=200)
    assert edge.offset_ms == 200 and edge.linger_ms == 200
    assert edge.outcome == "ok" and edge.server_rc == 0
    past = run_scenario("late-close-notify", "linger", seed=3, offset_ms=201, linger_ms=200)
    assert past.offset_ms == 201
    assert past.outcome == "failed" and past.expected == "failed"
    assert past.server_rc == RACE_RC


def test_linger_default_window_is_measured_rtt_plus_peer_timeout() -> None:
    """The default window: the round trip measured in the handshake + 1000 ms (the peer's
    initial retransmission timeout), reported in the event and the result."""
    r = run_scenario("late-close-notify", "linger", seed=3, offset_ms=30, rtt_ms=100,
                     events=True)
    ev = next(e for e in r.events if e["event"] == "linger")
    assert ev["window_ms"] == 100 + 1000 and "measured RTT 100 ms" in ev["window_rule"]
    assert r.linger_ms == 1100
    slow = run_scenario("late-close-notify", "linger", seed=3, offset_ms=30, rtt_ms=300)
    assert slow.linger_ms == 300 + 1000


def test_missing_evidence_is_inconclusive() -> None:
    """A late datagram that never reached the server proves nothing: inconclusive, not ok."""
    r = run_scenario("late-close-notify", "classify", seed=3, offset_ms=30,
                     extra_rules=("client->server alert epoch>=1: drop",))
    assert r.outcome == "inconclusive" and not r.as_promised
    assert "never reached the server" in r.evidence


def test_late_comes_from_the_trace() -> None:
    """``late`` and ``offset_ms`` are where the trace shows the delivery, not the plan:
    an extra 50 ms of delay moves the observed offset."""
    r = run_scenario("late-close-notify", "none", seed=3, offset_ms=-5,
                     extra_rules=("client->server alert epoch>=1: delay 50ms",))
    assert r.planned_offset_ms == -5 and r.offset_ms == 45
    assert r.late and r.outcome == "failed" and r.expected == "failed"


def test_udp_outcome_needs_the_proxy_and_the_server_events() -> None:
    """Over real UDP, a run where the proxy never held the alert, or the server never
    reset, or no event accounts for the datagram, is inconclusive."""
    from mbedtls_py.repro.udp import udp_outcome

    base = {"late_datagram_delayed": True, "reset_t_ms": 10, "handled_as": "drop",
            "offset_ms": 5, "second_client_served": True}
    assert udp_outcome(base)[0] == "ok"
    assert udp_outcome({**base, "late_datagram_delayed": False})[0] == "inconclusive"
    assert udp_outcome({**base, "reset_t_ms": None})[0] == "inconclusive"
    assert udp_outcome({**base, "handled_as": None})[0] == "inconclusive"
    assert udp_outcome({**base, "handled_as": "error"})[0] == "failed"
    assert udp_outcome({**base, "second_client_served": False})[0] == "failed"


def test_retained_connections_are_bounded() -> None:
    """However many peers close within the window, at most RETAINED_MAX old contexts
    are kept (oldest first out)."""
    from mbedtls_py.server import staleness

    net, server = _after_one_connection("classify")
    handler = server.policy_handler
    assert len(handler.closed) == 1
    ctx = handler.closed["client"].ctx
    for i in range(staleness.RETAINED_MAX + 5):  # peers closing one after another
        handler.recycle(handler.keep(f"peer{i}", handler.fresh_context(), None, [],
                                     linger=False))
    assert len(handler.closed) == staleness.RETAINED_MAX
    assert "client" not in handler.closed and not ctx.closed  # recycled, not leaked
    server.close()


def test_replays_proven_from_the_closed_peer_reported_from_elsewhere() -> None:
    """A byte-identical copy of a datagram the closed connection authenticated is
    dropped with that proof; the same authentic bytes from another address are reported."""
    dup = run_scenario("duplicate-after-reset", "classify", seed=2, events=True)
    drop = next(e for e in dup.events if e["event"] == "drop")
    assert dup.outcome == "ok" and drop["check_rc"] == 0
    assert "check_record -0x6700 (replay) but byte-identical" in drop["proof"]
    elsewhere = run_scenario("replay-from-stranger", "classify", seed=2)
    assert elsewhere.outcome == "error-reported"
    assert elsewhere.server_rc == RACE_RC
