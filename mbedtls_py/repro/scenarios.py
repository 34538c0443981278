"""The close_notify race and its relatives, as scenarios on the simulated network.

Every scenario runs the ``DTLSServer`` (the ``dtls_server`` sample's loop,
with a policy) on a ``Network`` with virtual time, against real Mbed TLS
clients, and returns a ``RunResult`` following the command-line contract
(``seed``, ``peer``, ``mitigation``, ``scenario``, ``server_rc``,
``outcome``).  Tests and ``python -m mbedtls_py repro close-notify`` share
them.

Late datagrams of the previous connection (the server must go on):

``late-close-notify``
    the seed: the client's encrypted close_notify arrives ``offset_ms``
    after the server's ``session_reset`` (negative: before it).
``duplicate-after-reset``
    a duplicate of the client's request (encrypted application data) arrives
    after the reset.
``late-close-notify-new-client``
    the late close_notify, and at the same moment a new client's ClientHello:
    the new client must be served.

Genuinely bad input after a reset (must be reported):

``garbage``, ``non-dtls``, ``plaintext-not-clienthello``,
``malformed-clienthello``, ``stale-from-unknown``, and forgeries from the
address of the peer that just closed, which only a cryptographic check can
tell from a late record: ``forged-header`` (``FORGED_HEADER_DATAGRAM``: content type
0x47, version 0x0000, epoch 0x2020, 12-byte body), ``forged-alert`` (epoch 1,
the next sequence number, the length of a real encrypted close_notify, a
random body: a bad MAC), ``forged-appdata`` (the same as application data),
``replay-from-stranger`` (the client's real, authenticated request record,
replayed from another address: authentic bytes, but no connection of that
address to prove them against).  A byte-identical replay from the address
that just closed is ``duplicate-after-reset``: proven stale, dropped.

Every field of a result comes from what happened: the network trace (when
the late or bad datagram was delivered relative to the server's reset), the
server's events (which one accounts for that datagram) and the second
client.  A run whose evidence is missing (the datagram never reached the
server, the server never reset, no server event accounts for it) is
``inconclusive``, never a pass.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from collections.abc import Callable
from typing import Any

from ..bindings.config import Config
from ..creds.psk import (
    DEFAULT_PSK as PSK,
    DEFAULT_PSK_IDENTITY as PSK_IDENTITY,
    DEFAULT_PSK_SUITE as PSK_SUITE,
)
from ..bindings.errors import rc_text
from ..server.policies import POLICIES, as_policy
from ..server.server import DTLSServer
from ..sim.network import Network
from ..parties import REQUEST, Client
from .verdict import (LATE_SCENARIOS, collect_evidence, connection_ending_reset,
                      expected_outcome, next_client_overtaken, outcome_from_evidence)

__all__ = ["SCENARIOS", "LATE_SCENARIOS", "BAD_INPUT_SCENARIOS", "RunResult", "run_scenario",
           "REQUEST", "OUTCOMES", "FORGED_HEADER_DATAGRAM", "bad_input"]

# A forged header: parses by length, non-zero epoch, authenticates under nothing.
FORGED_HEADER_DATAGRAM = bytes([0x47, 0x00, 0x00, 0x20, 0x20]) + bytes(6) + (12).to_bytes(2, "big") \
    + bytes(range(1, 13))


BAD_INPUT_SCENARIOS = ("garbage", "non-dtls", "plaintext-not-clienthello",
                       "malformed-clienthello", "stale-from-unknown", "forged-header",
                       "forged-alert", "forged-appdata", "replay-from-stranger")
OUTCOMES = ("ok", "failed", "error-reported", "error-hidden", "inconclusive")
SCENARIOS = LATE_SCENARIOS + BAD_INPUT_SCENARIOS

DEFAULT_RTT_MS = 100
SERVICE_MS = 20  # the server's time between echoing and resetting


@dataclass
class RunResult:
    """One run, as printed by ``repro --json`` (``runs`` items)."""

    seed: int
    peer: str
    mitigation: str
    scenario: str
    server_rc: int
    outcome: str  # ok | failed | error-reported | error-hidden | inconclusive
    late: bool  # the trace shows the datagram delivered after the server's reset
    offset_ms: int | None  # its delivery relative to the reset, from the trace
    second_client_served: bool
    expected: str
    note: str = ""
    linger_ms: float | None = None  # the linger window the server used (from its event)
    planned_offset_ms: int | None = None  # what the scenario aimed at (not evidence)
    evidence: str = ""  # what the outcome rests on, or what is missing
    events: list[dict[str, Any]] = field(default_factory=list)
    trace: str | None = None

    @property
    def as_promised(self) -> bool:
        """Whether the outcome is what the policy promises for this case."""
        return self.outcome == self.expected

    def to_dict(self, events: bool = False) -> dict[str, Any]:
        """JSON-able form (``server_rc`` with its hex and name)."""
        d = asdict(self)
        d.pop("trace")
        if not events:
            d.pop("events")
        d["server_rc_hex"] = rc_text(self.server_rc)
        d["as_promised"] = self.as_promised
        d["inconclusive"] = self.outcome == "inconclusive"
        return d


def bad_input(scenario: str, rng: random.Random) -> tuple[str, bytes]:
    """(source address, datagram) a bad-input scenario (one of
    ``BAD_INPUT_SCENARIOS``) sends the server, its random bytes drawn from
    ``rng``; ``ValueError`` for any other scenario."""
    def header(ctype: int, epoch: int, seq: int, body: bytes) -> bytes:
        return (bytes([ctype, 0xFE, 0xFD]) + epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")
                + len(body).to_bytes(2, "big") + body)

    if scenario == "garbage":
        return "client", bytes(rng.randrange(256) for _ in range(rng.randrange(20, 120)))
    if scenario == "non-dtls":
        return "client", b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"
    if scenario == "plaintext-not-clienthello":
        # An epoch-0 Finished: plaintext handshake that is not a ClientHello.
        body = bytes([20, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 12]) + bytes(rng.randrange(256) for _ in range(12))
        return "client", header(22, 0, 7, body)
    if scenario == "malformed-clienthello":
        fragment = bytes([0xFE, 0xFD]) + bytes(rng.randrange(256) for _ in range(10))
        body = bytes([1, 0, 0, len(fragment), 0, 0, 0, 0, 0, 0, 0, len(fragment)]) + fragment
        return "client", header(22, 0, 0, body)
    if scenario == "stale-from-unknown":
        # Looks exactly like a late encrypted close_notify, but from an address
        # that never had a connection.
        return "stranger", header(21, 1, 1, bytes(rng.randrange(256) for _ in range(26)))
    if scenario == "forged-header":
        return "client", FORGED_HEADER_DATAGRAM
    if scenario in ("forged-alert", "forged-appdata"):
        # From the peer that just closed, on its epoch, with a plausible next
        # sequence number and a real record's length: only the MAC is wrong.
        ctype, size = (21, 26) if scenario == "forged-alert" else (23, 24 + len(REQUEST))
        return "client", header(ctype, 1, 3, bytes(rng.randrange(256) for _ in range(size)))
    raise ValueError(f"not a bad-input scenario: {scenario}")


def _make_configs(net: Network, auth: str, pki: Any) -> tuple[Config, Config, str | None]:
    if auth == "psk":
        server = Config("server", seed=net.seed_for("server"), cookies=True,
                        psk=(PSK, PSK_IDENTITY), ciphersuites=[PSK_SUITE])
        client = Config("client", seed=net.seed_for("client"), psk=(PSK, PSK_IDENTITY),
                        ciphersuites=[PSK_SUITE])
        return client, server, None
    server = Config("server", seed=net.seed_for("server"), cookies=True)
    server.do_set_certificate(pki.chain_pems, pki.key_pem)
    client = Config("client", seed=net.seed_for("client"), ca_chain=pki.ca_pem,
                    authmode="required")
    return client, server, pki.hostname


def run_scenario(scenario: str, policy: str, seed: int, *, auth: str = "psk",
                 pki: Any = None, rtt_ms: int = DEFAULT_RTT_MS, offset_ms: int | None = None,
                 linger_ms: float | None = None, trace: bool = False,
                 events: bool = False, extra_rules: tuple[str, ...] = (),
                 on_network: Callable[[Network], object] | None = None,
                 peer: str = "mbedtls", timing: str | None = None) -> RunResult:
    """Run one scenario under one policy with one seed on a fresh ``Network``.
    ``timing`` names a timing model (``mbedtls_py.timing``; its per-leg
    latency and jitter, seeded with ``seed``); default: none.

    ``offset_ms`` places the late datagram relative to the server's reset
    (default: drawn from the seed, between -SERVICE_MS and 2 RTT); the
    result's ``offset_ms`` is where the trace shows it delivered.
    ``extra_rules`` are more network rules (applied after the scenario's).
    ``on_network`` is called with the fresh network before anything runs
    (e.g. to start a capture).  ``peer`` is the first client: ``mbedtls``
    (an Mbed TLS context), ``openssl-sim`` (``s_client`` on the in-process
    OpenSSL, :class:`~mbedtls_py.parties.openssl.OpenSSLClient`; certificates,
    as it has no PSK: ``auth`` is taken as ``ecdsa``) or ``gnutls-sim`` (GnuTLS
    in process, :class:`~mbedtls_py.parties.gnutls_client.GnuTLSClient`).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    if peer not in ("mbedtls", "openssl-sim", "gnutls-sim"):
        raise ValueError(f"peer must be 'mbedtls', 'openssl-sim' or 'gnutls-sim', not {peer!r}")
    if peer == "openssl-sim":
        auth = "ecdsa"
    if auth != "psk" and pki is None:
        from ..creds.det import make_det_pki
        pki = make_det_pki(seed)
    rng = random.Random(f"scenario/{seed}")
    # The trace is the evidence of every verdict: always recorded.
    from ..timing import get_model
    net = Network(seed=seed, trace=True, timing=get_model(timing).bind(seed) if timing else None)
    if on_network is not None:
        on_network(net)
    one_way = rtt_ms // 2
    net.link("*", "server", delay_ms=one_way)  # client, client2, stranger
    net.link("server", "*", delay_ms=one_way)
    client_conf, server_conf, hostname = _make_configs(net, auth, pki)
    # The server's steps (accept, reset, error...) go into the timeline, and
    # each event's place in it orders it against deliveries of the same ms.
    where: dict[int, int] = {}
    # The reset that ended the first connection, as the verdict finds it: not
    # the one after the HelloVerifyRequest, or a client that is done once it
    # has sent (OpenSSL's s_client) would end the first run before the server read.
    first_reset: list[Any] = []

    def on_event(e: Any) -> None:
        rc = "" if e.rc is None else f" rc={rc_text(e.rc)}"
        net.note("server", f"** {e.event}{rc} {e.note}")
        where[id(e)] = len(net.trace) - 1  # the note's index
        if not first_reset and e.event == "reset" and e.peer == "client":
            reset = connection_ending_reset(server.events)
            if reset is not None:
                first_reset.append(reset)
    server = DTLSServer(server_conf, net.socket("server"), policy=as_policy(policy), rtt_ms=rtt_ms,
                        linger_ms=linger_ms, service_ms=SERVICE_MS, on_event=on_event)
    net.add_process(server)
    client: Any
    if peer == "openssl-sim":
        from ..parties.openssl import OpenSSLClient
        client = OpenSSLClient(net, "client", seed=seed, events=False)
    elif peer == "gnutls-sim":
        from ..parties.gnutls_client import GnuTLSClient
        client = GnuTLSClient(net, "client", psk=(PSK, PSK_IDENTITY) if auth == "psk" else None,
                              ca_pem=None if auth == "psk" else pki.ca_pem, hostname=hostname)
    else:
        client = Client(net, "client", client_conf, hostname=hostname, events=False)
    net.add_process(client)

    late_kind = scenario in LATE_SCENARIOS
    if late_kind:
        if offset_ms is None:
            offset_ms = rng.randint(-SERVICE_MS + 1, 2 * rtt_ms)
            if offset_ms == 0:
                offset_ms = 1
        # The close_notify (or the duplicate) is sent with the request; extra
        # delay puts its arrival ``offset_ms`` after the reset, which comes
        # SERVICE_MS after the request's arrival.
        extra = SERVICE_MS + offset_ms
        if extra < 1:
            raise ValueError(f"offset_ms must be > {-SERVICE_MS}")
        if scenario == "duplicate-after-reset":
            net.rule(f"client->server application_data first: duplicate 1 spacing {extra}ms")
        else:
            net.rule(f"client->server alert epoch>=1 first: delay {extra}ms")
    for rule in extra_rules:  # more impairments (e.g. to lose the evidence)
        net.rule(rule)
    # Run the first connection until the server has reset it.
    net.run(until=lambda: bool(first_reset) and client.done, deadline_ms=60_000)
    # The next client is timed from that reset.
    reset_ms = first_reset[0].t_ms if first_reset else None
    planned = offset_ms

    # What reaches the server next, and the next legitimate client.
    client2_start = net.clock.now_ms + (0 if scenario == "late-close-notify-new-client"
                                        else rtt_ms)
    if late_kind and reset_ms is not None and offset_ms is not None:
        late_at = reset_ms + offset_ms
        client2_start = max(client2_start, late_at + (0 if scenario.endswith("new-client")
                                                      else 10))
        client2_start -= one_way  # its ClientHello arrives then
    bad: tuple[str, bytes] | None = None
    if scenario == "replay-from-stranger":
        request = [ev.data for ev in net.trace if ev.kind == "deliver" and ev.dst == "server"
                   and ev.src == "client" and (dg := ev.records) is not None and dg.records
                   and dg.records[0].content_type == 23]
        bad = "stranger", request[-1]
        net.inject(bad[0], "server", bad[1])
        client2_start = net.clock.now_ms + rtt_ms
    elif not late_kind:
        bad = src, data = bad_input(scenario, rng)
        net.inject(src, "server", data)
        client2_start = net.clock.now_ms + rtt_ms
    client2 = Client(net, "client2", client_conf, start_ms=max(client2_start, net.clock.now_ms),
                     hostname=hostname, events=False)
    net.add_process(client2)
    net.run(until=lambda: client2.done and net.clock.now_ms >= client2_start + 10 * rtt_ms,
            deadline_ms=net.clock.now_ms + 120_000)

    verdict = collect_evidence(scenario, net, server, where, bad)
    expected = expected_outcome(policy, scenario, verdict["late"], verdict["server_rc"],
                                verdict["offset_ms"], verdict["linger_ms"])
    result = RunResult(
        seed=seed, peer=peer, mitigation=policy, scenario=scenario,
        server_rc=verdict["server_rc"], outcome=outcome_from_evidence(
            verdict, late_kind, client2.delivered, next_client_overtaken(net)),
        late=verdict["late"], offset_ms=verdict["offset_ms"],
        second_client_served=client2.delivered, expected=expected, note=verdict["note"],
        linger_ms=verdict["linger_ms"], planned_offset_ms=planned if late_kind else None,
        evidence=verdict["evidence"],
        events=[e.to_dict() for e in server.events] if events else [],
        trace=str(net.trace) if trace else None)
    server.close()
    for c in (client, client2):
        c.close()
    return result


