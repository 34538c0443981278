"""The simulated network's rows of the Python driver (bench/py_driver.py):
the same DTLS work as a native row, driven through ``mbedtls_py.sim.Network``
(virtual clock, trace, links, rules, processes), so the ratio to the native
row is the simulator's own cost.

  sim_race_psk       the native ``race_psk``'s work on the simulated network:
                     Network + DTLSServer (cookies, policy none) + two echo
                     clients, 100 ms RTT, the first client's alert delayed past
                     the reset by a rule, until the second handshake is over
                     (where the native race ends); the first echo, the -0x7700
                     and the second handshake checked from the events
  repro_race_psk     one run of ``repro close-notify --scenario
                     late-close-notify --mitigation none``: the whole scenario
                     (the second client's echo and close too), plus what
                     ``repro`` adds (configs seeded per run, the server's steps
                     noted in the trace, the verdict from the evidence)
  sim_handshake_psk  a PSK handshake between two ContextEndpoints over a link
                     of 20 ms each way, on one Network, the contexts reset in
                     between; against the native ``psk_handshake``
  sim_handshake_fresh_psk  the same with a fresh Network each time
  sim_lossy_psk      sim_handshake_psk with 30% loss both ways; per handshake
                     completed, against ``psk_handshake``
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from mbedtls_py import Config, Context, Err
from mbedtls_py.parties import Client
from mbedtls_py.repro.scenarios import SERVICE_MS, run_scenario
from mbedtls_py.server import DTLSServer
from mbedtls_py.sim import Network

PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"
PSK = b"0123456789abcdef"

class Failed(Exception):
    pass


class _Race:
    """The native race's work on the simulated network, through ``Network``
    and ``DTLSServer``: the sample's server loop (cookies, policy none) on a
    SimSocket, two echo clients, 50 ms each way, the first client's
    close_notify delayed to arrive 30 ms after the server's reset; it ends,
    as the native race does, when the second handshake is over (both
    sides).  Configs are made once (as in the native driver); the network,
    server, clients and their contexts are new each time (the native driver
    resets three contexts instead)."""

    def __init__(self) -> None:
        self.server_conf = Config("server", seed="sim-race-server", cookies=True,
                                  psk=(PSK, b"bench"), ciphersuites=[PSK_SUITE])
        self.client_conf = Config("client", seed="sim-race-client", psk=(PSK, b"bench"),
                                  ciphersuites=[PSK_SUITE])

    def __call__(self, seed: int) -> bool:
        with Network(seed=seed) as net:
            net.link("*", "server", delay_ms=50)
            net.link("server", "*", delay_ms=50)
            # sent with the request; the reset comes SERVICE_MS after the request arrives
            net.rule(f"client->server alert epoch>=1 first: delay {SERVICE_MS + 30}ms")
            server = DTLSServer(self.server_conf, net.socket("server"), policy="none",
                                service_ms=SERVICE_MS)
            net.add_process(server)
            first = Client(net, "client", self.client_conf, events=False)
            net.add_process(first)
            net.run(until=lambda: first.done and server.events.counts["reset"] >= 3,
                    within_ms=60_000)
            second = Client(net, "client2", self.client_conf, start_ms=net.now_ms + 100,
                            events=False)
            net.add_process(second)
            # the native race ends with the second handshake: so does this one
            net.run(until=lambda: second.completed and server.events.counts["handshake"] >= 2,
                    within_ms=60_000)
            errors = [e.rc for e in server.errors]
            ok = (first.delivered and second.completed and server.events.counts["handshake"] == 2
                  and errors == [Err.SSL_UNEXPECTED_MESSAGE])
            server.close()
            for c in (first, second):
                c.ctx.close()
        if not ok:
            raise Failed(f"sim_race_psk: seed {seed}: echoed {first.delivered}, second handshake "
                         f"{second.completed}, server errors {errors}")
        return True


def _repro(seed: int) -> bool:
    r = run_scenario("late-close-notify", "none", seed)
    # policy none: a late alert must fail the server with -0x7700
    if r.outcome == "inconclusive" or (r.late and r.server_rc != Err.SSL_UNEXPECTED_MESSAGE):
        raise Failed(f"repro_race_psk: seed {seed}: outcome {r.outcome} ({r.evidence})")
    return True


class _Handshakes:
    """PSK handshakes between two ContextEndpoints over a link of 20 ms each
    way.  ``fresh``: a new Network each time (what a test pays: its set-up
    included); otherwise one Network for them all, the contexts reset in
    between (the steady state, as the native driver reuses its network and
    contexts).  A lossy link draws on: a different loss pattern each time."""

    def __init__(self, loss: float, fresh: bool = False) -> None:
        self.loss, self.fresh = loss, fresh
        server = Config("server", seed="sim-bench-server")
        client = Config("client", seed="sim-bench-client")
        for conf in (server, client):
            conf.do_set_psk(PSK)
            conf.set_ciphersuites([PSK_SUITE])
        self.s, self.c = Context(server), Context(client)
        self.steady: tuple[Network, Any, Any] | None = None  # (network, client, server)

    def _network(self, seed: int) -> tuple[Network, Any, Any]:
        net = Network(seed=seed)
        c, s = net.add("client", self.c), net.add("server", self.s)
        net.link_both("client", "server", delay_ms=20, loss=self.loss)
        return net, c, s

    def __call__(self, seed: int) -> bool:
        for ctx in (self.c, self.s):
            if (rc := ctx.session_reset()) != 0:
                raise Failed(f"session_reset returned {rc!r}")
        if self.fresh:
            net, c, s = self._network(seed)
            with net:
                result = net.handshake(c, s)
        else:
            if self.steady is None:
                self.steady = self._network(seed)
            net, c, s = self.steady
            result = net.handshake(c, s)
        if self.loss == 0 and not result.ok:
            raise Failed(f"sim_handshake_psk: {result}")
        return result.ok


def rows(timed: Callable[[Callable[[int], object], float], tuple[Any, int, int]]
         ) -> dict[str, Callable[[float], dict[str, Any]]]:
    """The rows, timed with the driver's ``timed`` loop; each figure counts
    what completed (``tried``: what was attempted)."""
    def measure(once: Callable[[int], bool], secs: float) -> dict[str, Any]:
        sw, done, tried = timed(once, secs)
        return dict(sw.rates(done), tried=tried)

    return {
        "sim_race_psk": lambda secs: measure(_Race(), secs),
        "repro_race_psk": lambda secs: measure(_repro, secs),
        "sim_handshake_psk": lambda secs: measure(_Handshakes(0.0), secs),
        "sim_handshake_fresh_psk": lambda secs: measure(_Handshakes(0.0, fresh=True), secs),
        "sim_lossy_psk": lambda secs: measure(_Handshakes(0.3), secs),
    }
