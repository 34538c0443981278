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
``malformed-clienthello``, ``stale-from-unknown``
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import Config
from .context import Context
from .errors import Err
from .net import Network
from .samples import POLICIES, DTLSServer
from .testing import PSK, PSK_IDENTITY, PSK_SUITE

__all__ = ["SCENARIOS", "LATE_SCENARIOS", "BAD_INPUT_SCENARIOS", "RunResult", "run_scenario",
           "EchoClient", "expected_outcome", "REQUEST"]

REQUEST = b"GET / HTTP/1.0\r\n\r\n"

LATE_SCENARIOS = ("late-close-notify", "duplicate-after-reset", "late-close-notify-new-client")
BAD_INPUT_SCENARIOS = ("garbage", "non-dtls", "plaintext-not-clienthello",
                       "malformed-clienthello", "stale-from-unknown")
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
    outcome: str  # ok | failed | error-reported | error-hidden
    late: bool  # the datagram reached the server after its reset
    offset_ms: int | None  # arrival of the late datagram relative to the reset
    second_client_served: bool
    expected: str
    note: str = ""
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
        d["server_rc_hex"] = f"-0x{-self.server_rc:04X}" if self.server_rc < 0 else "0"
        d["as_promised"] = self.as_promised
        return d


class EchoClient:
    """A client like ``echo "GET / HTTP/1.0" | openssl s_client -dtls1_2``:
    handshake, send the request, close at once (stdin EOF), read the echo."""

    def __init__(self, net: Network, name: str, config: Config, *, server: str = "server",
                 request: bytes = REQUEST, start_ms: int = 0, hostname: str | None = None,
                 close_at_eof: bool = True) -> None:
        self.net, self.name, self.server = net, name, server
        self.sock = net.socket(name)
        self.sockets = [self.sock]
        self.ctx = Context(config, clock=net.clock, name=name)
        if hostname:
            self.ctx.set_hostname(hostname)
        self.request, self.start_ms, self.close_at_eof = request, start_ms, close_at_eof
        self.phase = "waiting"
        self.echo = b""
        self.rc: int | None = None

    @property
    def done(self) -> bool:
        """Whether the client has finished (served or failed)."""
        return self.phase in ("done", "failed")

    @property
    def served(self) -> bool:
        """Whether the handshake completed and the echo came back."""
        return self.echo == self.request

    def next_deadline(self) -> int | None:
        """When the client must be polled again."""
        if self.phase == "waiting":
            return self.start_ms
        if self.phase == "handshake":
            return self.ctx.timer_deadline()
        return None

    def poll(self) -> None:
        """Feed received datagrams and run the client as far as it goes."""
        now = self.net.clock.now_ms
        if self.phase == "waiting":
            if now < self.start_ms:
                return
            self.phase = "handshake"
        while (item := self.sock.recvfrom()) is not None:
            if not self.done:
                self.ctx.push(item[0])
        if self.phase == "handshake":
            rc = self.ctx.handshake()
            if rc == 0:
                self.ctx.write(self.request)
                if self.close_at_eof:
                    self.ctx.close_notify()
                self.phase = "reading"
            elif rc not in (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE):
                self.rc, self.phase = rc, "failed"
        if self.phase == "reading":
            buf = bytearray(4096)
            while True:
                rc = self.ctx.read_into(buf)
                if rc > 0:
                    self.echo += bytes(buf[:rc])
                    continue
                if rc == Err.SSL_PEER_CLOSE_NOTIFY or rc == 0:
                    if not self.close_at_eof:
                        self.ctx.close_notify()
                    self.phase = "done"
                elif rc not in (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE):
                    self.rc, self.phase = rc, "failed"
                break
        while (d := self.ctx.pop()) is not None:
            self.sock.sendto(d, self.server)


def _bad_input(scenario: str, rng: random.Random) -> tuple[str, bytes]:
    """(source address, datagram) for a bad-input scenario."""
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
    raise ValueError(f"not a bad-input scenario: {scenario}")


def expected_outcome(policy: str, scenario: str, late: bool, server_rc: int,
                     offset_ms: int | None = None, linger_ms: float | None = None) -> str:
    """What each policy promises for a run."""
    if scenario in LATE_SCENARIOS:
        if policy == "none":
            return "failed" if late else "ok"
        if policy == "linger" and late and offset_ms is not None and linger_ms is not None \
                and offset_ms >= linger_ms:
            return "failed"  # past the window, the old connection is gone
        return "ok"
    if policy == "lenient" and server_rc == Err.SSL_UNEXPECTED_MESSAGE:
        return "error-hidden"  # the weakness of upstream's workaround (#9656)
    return "error-reported"


def _make_configs(net: Network, auth: str, pki: Any) -> tuple[Config, Config, str | None]:
    if auth == "psk":
        server = Config("server", seed=net.seed_for("server"), cookies=True,
                        psk=(PSK, PSK_IDENTITY), ciphersuites=[PSK_SUITE])
        client = Config("client", seed=net.seed_for("client"), psk=(PSK, PSK_IDENTITY),
                        ciphersuites=[PSK_SUITE])
        return client, server, None
    server = Config("server", seed=net.seed_for("server"), cookies=True)
    server.set_certificate(pki.chain_pems, pki.key_pem)
    client = Config("client", seed=net.seed_for("client"), ca_chain=pki.ca_pem,
                    authmode="required")
    return client, server, pki.hostname


def run_scenario(scenario: str, policy: str, seed: int, *, auth: str = "psk",
                 pki: Any = None, rtt_ms: int = DEFAULT_RTT_MS, offset_ms: int | None = None,
                 linger_ms: float | None = None, trace: bool = False,
                 events: bool = False,
                 on_network: Callable[[Network], object] | None = None) -> RunResult:
    """Run one scenario under one policy with one seed on a fresh ``Network``.

    ``offset_ms`` places the late datagram relative to the server's reset
    (default: drawn from the seed, between -SERVICE_MS and 2 RTT).
    ``on_network`` is called with the fresh network before anything runs
    (e.g. to start a capture).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    if auth != "psk" and pki is None:
        from .pki_det import make_det_pki
        pki = make_det_pki(seed)
    rng = random.Random(f"scenario/{seed}")
    net = Network(seed=seed, trace=trace)
    if on_network is not None:
        on_network(net)
    one_way = rtt_ms // 2
    for name in ("client", "client2", "stranger"):
        net.link(name, "server", delay_ms=one_way)
        net.link("server", name, delay_ms=one_way)
    client_conf, server_conf, hostname = _make_configs(net, auth, pki)
    on_event = None
    if trace:  # the server's steps (accept, reset, error...) in the timeline
        def on_event(e: Any) -> None:
            net.note("server", f"** {e.event}" + (f" rc={e.to_dict().get('rc_hex', e.rc)}"
                                                 if e.rc is not None else "") + f" {e.note}")
    server = DTLSServer(server_conf, net.socket("server"), policy=policy, rtt_ms=rtt_ms,
                        linger_ms=linger_ms, service_ms=SERVICE_MS, on_event=on_event)
    net.add_process(server)
    client = EchoClient(net, "client", client_conf, hostname=hostname)
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
    # Run the first connection until the server has reset it.
    net.run(until=lambda: any(e.event == "reset" and e.peer == "client" for e in server.events)
            and client.done, deadline_ms=60_000)
    reset_ms = next((e.t_ms for e in server.events if e.event == "reset"), None)

    # What reaches the server next, and the next legitimate client.
    client2_start = net.clock.now_ms + (0 if scenario == "late-close-notify-new-client"
                                        else rtt_ms)
    if late_kind and reset_ms is not None and offset_ms is not None:
        late_at = reset_ms + offset_ms
        client2_start = max(client2_start, late_at + (0 if scenario.endswith("new-client")
                                                      else 10))
        client2_start -= one_way  # its ClientHello arrives then
    elif not late_kind:
        src, data = _bad_input(scenario, rng)
        net.inject(src, "server", data)
        client2_start = net.clock.now_ms + rtt_ms
    client2 = EchoClient(net, "client2", client_conf, start_ms=max(client2_start, net.clock.now_ms),
                         hostname=hostname)
    net.add_process(client2)
    net.run(until=lambda: client2.done and net.clock.now_ms >= client2_start + 10 * rtt_ms,
            deadline_ms=net.clock.now_ms + 120_000)

    # Read the outcome off the server's event log.
    after_reset = [e for e in server.events if reset_ms is not None and e.t_ms >= reset_ms
                   and e.peer in ("client", "stranger")]
    errors = [e for e in after_reset if e.event == "error"]
    drops = [e for e in after_reset if e.event == "drop"]
    hit = (errors + drops)[:1]
    server_rc = int(hit[0].rc) if hit else 0
    late = bool(late_kind and offset_ms is not None and offset_ms > 0)
    if late_kind:
        outcome = "failed" if errors or not client2.served else "ok"
    else:
        outcome = "error-reported" if errors else "error-hidden"
    expected = expected_outcome(policy, scenario, late, server_rc, offset_ms, server.linger_ms)
    note = "; ".join(f"{e.event}: {e.note}" for e in (errors + drops +
                     [e for e in after_reset if e.event in ("linger_consumed", "discard")])[:2])
    result = RunResult(
        seed=seed, peer="mbedtls", mitigation=policy, scenario=scenario, server_rc=server_rc,
        outcome=outcome, late=late, offset_ms=offset_ms if late_kind else None,
        second_client_served=client2.served, expected=expected, note=note,
        events=[e.to_dict() for e in server.events] if events else [],
        trace=str(net.trace) if trace else None)
    server.close()
    for c in (client, client2):
        c.ctx.close()
    return result


def run_many(scenarios: list[str], policies: list[str], runs: int, seed: int, *,
             auth: str = "psk", rtt_ms: int = DEFAULT_RTT_MS,
             progress: Callable[[int, int], None] | None = None) -> list[RunResult]:
    """Run every scenario under every policy ``runs`` times (seeds seed, seed+1, ...)."""
    pki = None
    if auth != "psk":
        from .pki_det import make_det_pki
        pki = make_det_pki(seed)
    total, done, out = len(scenarios) * len(policies) * runs, 0, []
    for scenario in scenarios:
        for policy in policies:
            for i in range(runs):
                out.append(run_scenario(scenario, policy, seed + i, auth=auth, pki=pki,
                                        rtt_ms=rtt_ms))
                done += 1
                if progress is not None:
                    progress(done, total)
    return out
