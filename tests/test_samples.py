"""DTLSServer (the dtls_server sample's loop) and the classifier, on the
simulated network against real Mbed TLS clients."""

import pytest

from mbedtls_py import Config, Err
from mbedtls_py.net import Network
from mbedtls_py.records import parse_datagram
from mbedtls_py.samples import POLICIES, DTLSServer, classify_datagram
from mbedtls_py.scenarios import (
    BAD_INPUT_SCENARIOS,
    LATE_SCENARIOS,
    SERVICE_MS,
    EchoClient,
    _bad_input,
    run_scenario,
)
from mbedtls_py.testing import PSK, PSK_IDENTITY, PSK_SUITE


def _header(ctype, epoch, seq, body):
    return (bytes([ctype, 0xFE, 0xFD]) + epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")
            + len(body).to_bytes(2, "big") + body)


ALERT_E1 = _header(21, 1, 2, b"\x11" * 26)


def test_classifier_drops_only_encrypted_from_recent_peer():
    """An encrypted record from a recently closed peer is stale; from a stranger it is real."""
    stale = classify_datagram(ALERT_E1, "client", {"client"})
    assert stale.stale and "close_notify" in stale.kind
    assert not classify_datagram(ALERT_E1, "stranger", {"client"}).stale
    appdata = classify_datagram(_header(23, 1, 5, b"x" * 40), "client", {"client"})
    assert appdata.stale and "application data" in appdata.kind
    finished = classify_datagram(_header(22, 1, 0, b"x" * 40), "client", {"client"})
    assert finished.stale and "Finished" in finished.kind


@pytest.mark.parametrize("data,kind", [
    (b"GET / HTTP/1.0\r\n\r\n", "not DTLS"),
    (b"\x16\xfe", "not DTLS"),
    (_header(22, 0, 0, bytes([20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), "plaintext handshake"),
    (_header(21, 0, 0, b"\x01\x00"), "plaintext alert"),
    (_header(22, 0, 0, bytes([1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0xFE, 0xFD])), "ClientHello"),
    (_header(21, 1, 2, b"\x11" * 26) + b"\x99", "malformed DTLS"),
])
def test_classifier_keeps_real_errors(data, kind):
    """Garbage, plaintext non-ClientHellos and malformed datagrams are never stale."""
    verdict = classify_datagram(data, "client", {"client"})
    assert not verdict.stale
    assert verdict.kind.startswith(kind)


def _net_with_server(policy, seed=1, **server_kw):
    net = Network(seed=seed)
    for name in ("client", "client2", "stranger"):
        net.link_both(name, "server", delay_ms=50)
    conf = Config("server", seed=net.seed_for("server"), cookies=True, psk=(PSK, PSK_IDENTITY),
                  ciphersuites=[PSK_SUITE])
    server = DTLSServer(conf, net.socket("server"), policy=policy, rtt_ms=100, **server_kw)
    net.add_process(server)
    cconf = Config("client", seed=net.seed_for("client"), psk=(PSK, PSK_IDENTITY),
                   ciphersuites=[PSK_SUITE])
    return net, server, cconf


def test_server_serves_clients_one_after_another():
    """The sample's loop: cookie exchange, handshake, read, echo, close_notify, reset, next client."""
    net, server, cconf = _net_with_server("none", service_ms=SERVICE_MS)
    clients = [EchoClient(net, name, cconf, start_ms=i * 1000)
               for i, name in enumerate(["client", "client2"])]
    for c in clients:
        net.add_process(c)
    net.run(until=lambda: all(c.done for c in clients), deadline_ms=10_000)
    assert all(c.served for c in clients)
    assert server.served == 2 and not server.errors
    kinds = [e.event for e in server.events]
    assert kinds[:3] == ["accept", "hello_verify", "reset"]
    assert kinds.count("handshake") == 2 and kinds.count("close_notify") == 2


def test_zero_service_time_races_by_itself():
    """With no time between echo and reset, the close_notify sent with the request is
    already late: the race needs no delay at all (policy none reports -0x7700)."""
    net, server, cconf = _net_with_server("none", service_ms=0)
    client = EchoClient(net, "client", cconf)
    net.add_process(client)
    net.run(until=lambda: client.done and server.errors, deadline_ms=5000)
    assert client.served
    assert [e.rc for e in server.errors] == [Err.SSL_UNEXPECTED_MESSAGE]
    assert server.errors[0].data["records"] == ["<Alert epoch=1 seq=2 len=26 encrypted>"]


def test_server_events_are_json_lines():
    """Every server step is a JSON-able event with the exact return code."""
    import json

    net, server, cconf = _net_with_server("none")
    net.add_process(EchoClient(net, "client", cconf))
    net.run(deadline_ms=5000)
    lines = server.events_json().splitlines()
    parsed = [json.loads(line) for line in lines]
    hv = next(p for p in parsed if p["event"] == "hello_verify")
    assert hv["rc"] == Err.SSL_HELLO_VERIFY_REQUIRED and hv["rc_hex"] == "-0x6A80"
    assert hv["rc_name"] == "MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED"


@pytest.mark.parametrize("policy", POLICIES)
def test_late_close_notify_outcome_per_policy(policy):
    """The seed: -0x7700 reported under none only; lenient, linger and classify go on."""
    r = run_scenario("late-close-notify", policy, seed=11, offset_ms=30)
    assert r.late and r.second_client_served
    if policy == "none":
        assert r.outcome == "failed" and r.server_rc == Err.SSL_UNEXPECTED_MESSAGE
    else:
        assert r.outcome == "ok"
    if policy == "linger":
        assert r.server_rc == 0  # consumed by the old connection, never seen by the handshake
    if policy in ("lenient", "classify"):
        assert r.server_rc == Err.SSL_UNEXPECTED_MESSAGE  # seen, then dropped


@pytest.mark.parametrize("offset", [-SERVICE_MS + 1, -5, -1])
def test_close_notify_before_reset_is_harmless(offset):
    """Arriving before the reset, the close_notify never fails the server, under any policy."""
    for policy in POLICIES:
        r = run_scenario("late-close-notify", policy, seed=5, offset_ms=offset)
        assert not r.late and r.outcome == "ok" and r.server_rc == 0, (policy, r)


@pytest.mark.parametrize("scenario", LATE_SCENARIOS)
def test_late_datagram_scenarios_as_promised(scenario):
    """Every late-datagram scenario does what each policy promises, over several seeds."""
    for policy in POLICIES:
        for seed in range(1, 6):
            r = run_scenario(scenario, policy, seed)
            assert r.as_promised, r.to_dict()
            assert r.second_client_served


@pytest.mark.parametrize("scenario", BAD_INPUT_SCENARIOS)
def test_bad_input_reported_except_lenient(scenario):
    """Bad input after a reset is reported under none, linger and classify; only lenient may hide it."""
    for policy in POLICIES:
        r = run_scenario(scenario, policy, seed=2)
        assert r.second_client_served
        if policy == "lenient" and r.server_rc == Err.SSL_UNEXPECTED_MESSAGE:
            assert r.outcome == "error-hidden"
        else:
            assert r.outcome == "error-reported", (policy, r.to_dict())


def test_lenient_hides_real_errors_that_classify_reports():
    """The difference #9656 asks for: lenient hides -0x7700 from a stranger; classify does not."""
    lenient = run_scenario("stale-from-unknown", "lenient", seed=4)
    classify = run_scenario("stale-from-unknown", "classify", seed=4)
    assert lenient.outcome == "error-hidden"
    assert classify.outcome == "error-reported"
    assert lenient.server_rc == classify.server_rc == Err.SSL_UNEXPECTED_MESSAGE


def test_linger_window_expires():
    """Past the linger window the old connection is gone and the late alert fails the handshake."""
    r = run_scenario("late-close-notify", "linger", seed=3, offset_ms=250, linger_ms=100)
    assert r.outcome == "failed" and r.expected == "failed"


def test_bad_inputs_are_what_they_claim():
    """The crafted bad inputs parse as described (so the scenarios test what they name)."""
    import random

    rng = random.Random(0)
    src, data = _bad_input("stale-from-unknown", rng)
    assert src == "stranger" and parse_datagram(data).records[0].epoch == 1
    _, data = _bad_input("plaintext-not-clienthello", rng)
    rec = parse_datagram(data).records[0]
    assert rec.epoch == 0 and rec.handshake.type_name == "finished"
    _, data = _bad_input("non-dtls", rng)
    assert not parse_datagram(data).records or parse_datagram(data).error


def test_certificate_scenario():
    """The seed's race with ECDSA certificates (deterministic PKI) behaves the same."""
    none = run_scenario("late-close-notify", "none", seed=8, auth="ecdsa", offset_ms=40)
    classify = run_scenario("late-close-notify", "classify", seed=8, auth="ecdsa", offset_ms=40)
    assert none.server_rc == Err.SSL_UNEXPECTED_MESSAGE and none.outcome == "failed"
    assert classify.outcome == "ok" and classify.second_client_served


def test_server_misuse():
    """DTLSServer refuses a client config, an unknown policy and bad timings."""
    net = Network(seed=0)
    sock = net.socket("server")
    with pytest.raises(ValueError):
        DTLSServer(Config("client"), sock)
    with pytest.raises(ValueError):
        DTLSServer(Config("server"), sock, policy="optimistic")
    with pytest.raises(ValueError):
        DTLSServer(Config("server"), sock, rtt_ms=0)
    with pytest.raises(ValueError):
        DTLSServer(Config("server"), sock, service_ms=-1)
