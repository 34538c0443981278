"""The simulated network's rows of the Python driver (bench/py_driver.py):
the same DTLS work as a native row, driven through ``mbedtls_py.sim.Network``
(virtual clock, trace, links, rules, processes), so the ratio to the native
row is the simulator's own cost.

  sim_race_psk       the seed's scenario as ``repro close-notify --scenario
                     late-close-notify --mitigation none`` runs it (Network +
                     DTLSServer + two EchoClients, cookies, 100 ms RTT, the
                     delayed alert, the verdict from the trace); against the
                     native ``race_psk``
  sim_handshake_psk  a PSK handshake between two ContextEndpoints over a link
                     of 20 ms each way, a fresh Network each time; against the
                     native ``psk_handshake``
  sim_lossy_psk      the same with 30% loss both ways (a new seed each time);
                     per handshake completed, against ``psk_handshake``
"""

from __future__ import annotations

from typing import Any, Callable

from mbedtls_py import Config, Context, Err
from mbedtls_py.repro.scenarios import run_scenario
from mbedtls_py.sim import Network

PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"
PSK = b"0123456789abcdef"

class Failed(Exception):
    pass


def _race(seed: int) -> bool:
    r = run_scenario("late-close-notify", "none", seed)
    # policy none: a late alert must fail the server with -0x7700
    if r.outcome == "inconclusive" or (r.late and r.server_rc != Err.SSL_UNEXPECTED_MESSAGE):
        raise Failed(f"sim_race_psk: seed {seed}: outcome {r.outcome} ({r.evidence})")
    return True


class _Handshakes:
    """Two PSK contexts reused (session_reset) across fresh networks."""

    def __init__(self, loss: float) -> None:
        self.loss = loss
        server = Config("server", seed="sim-bench-server")
        client = Config("client", seed="sim-bench-client")
        for conf in (server, client):
            conf.do_set_psk(PSK)
            conf.set_ciphersuites([PSK_SUITE])
        self.s, self.c = Context(server), Context(client)

    def __call__(self, seed: int) -> bool:
        for ctx in (self.c, self.s):
            if (rc := ctx.session_reset()) != 0:
                raise Failed(f"session_reset returned {rc!r}")
        with Network(seed=seed) as net:
            c, s = net.add("client", self.c), net.add("server", self.s)
            net.link_both("client", "server", delay_ms=20, loss=self.loss)
            result = net.handshake(c, s)
        if self.loss == 0 and not result.ok:
            raise Failed(f"sim_handshake_psk: {result}")
        return result.ok



def rows(stopwatch: Callable[[], Any]) -> dict[str, Callable[[float], dict]]:
    """The rows, timed with the driver's ``Stopwatch``; each figure counts
    what completed (``tried``: what was attempted)."""
    def measure(once: Callable[[int], bool], secs: float) -> dict:
        once(0)  # warm-up
        done = tried = 0
        sw = stopwatch()
        while True:
            tried += 1
            done += once(tried)
            if not sw.before(secs):
                break
        return dict(sw.rates(done), tried=tried)

    return {
        "sim_race_psk": lambda secs: measure(_race, secs),
        "sim_handshake_psk": lambda secs: measure(_Handshakes(0.0), secs),
        "sim_lossy_psk": lambda secs: measure(_Handshakes(0.3), secs),
    }
