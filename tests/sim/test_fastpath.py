"""What the simulator's fast paths must not change: the digest
covers every event however the trace is kept, a context's datagrams are
collected whoever called it, random streams made on first use draw what
eagerly made ones drew, parsed rules keep their own counters."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from mbedtls_py import Config, Context
from mbedtls_py.sim import Network
from mbedtls_py.sim.links import Link
from mbedtls_py.sim.netclock import derive_seed
from mbedtls_py.wire.rules import parse_rule

PSK = (bytes(range(16)), b"fastpath")
SUITES = ["TLS-PSK-WITH-AES-128-GCM-SHA256"]


def _lossy_run(seed: str, toggle: str) -> tuple[str, int, int]:
    """A lossy handshake; ``toggle`` says how the trace is kept along the way."""
    with Network(seed=seed, trace=toggle != "off") as net:
        c = net.add("client", Context(Config("client", seed=net.seed_for("client"), psk=PSK,
                                             ciphersuites=SUITES)))
        s = net.add("server", Context(Config("server", seed=net.seed_for("server"), psk=PSK,
                                             ciphersuites=SUITES)))
        net.link_both("client", "server", delay_ms=5, loss=0.3, duplicate=0.2)
        assert net.handshake(c, s).ok
        if toggle == "switch":
            net.trace.enabled = False
        elif toggle == "clear":
            net.trace.clear()
        c.write(b"after the handshake")
        net.run(within_ms=1_000)
        if toggle == "switch":
            net.trace.enabled = True
        s.read()
        c.close_notify()
        net.run(within_ms=1_000)
        return net.trace.digest(), net.trace.count, len(net.trace)


@pytest.mark.parametrize("toggle", ["off", "switch", "clear"])
def test_digest_and_count_cover_every_event_however_the_trace_is_kept(toggle: str) -> None:
    kept_digest, kept_count, kept_len = _lossy_run("fast-1", "on")
    digest, count, length = _lossy_run("fast-1", toggle)
    assert (digest, count) == (kept_digest, kept_count)
    assert length < kept_len  # some events really were not kept (or were cleared)
    assert _lossy_run("fast-2", toggle)[0] != kept_digest  # and the digest does see the seed


def _pair(net: Network) -> tuple[Context, Context]:
    c = Context(Config("client", seed=net.seed_for("client"), psk=PSK, ciphersuites=SUITES))
    s = Context(Config("server", seed=net.seed_for("server"), psk=PSK, ciphersuites=SUITES))
    return c, s


def test_a_context_that_sent_before_it_joined_is_collected() -> None:
    with Network(seed=3) as net:
        c, s = _pair(net)
        net.add("server", s)
        c.set_clock(net.clock)
        assert c.handshake() < 0 and c.pending_out == 1  # the ClientHello, before joining
        assert net.collect() == 0  # looked after that send: nothing of its own to take
        net.add("client", c)
        assert net.collect() == 1
        assert [e.kind for e in net.trace.datagrams()] == ["send"]


def test_a_context_called_directly_is_collected_at_the_next_step() -> None:
    with Network(seed=4) as net:
        c, s = _pair(net)
        cep, sep = net.add("client", c), net.add("server", s)
        assert net.handshake(cep, sep).ok
        before = len(net.trace.datagrams("send", src="client"))
        assert c.write(b"not through the endpoint") > 0  # the Context, not the endpoint
        assert net.step()
        sends = net.trace.datagrams("send", src="client")
        assert len(sends) == before + 1 and sends[-1].data[0] == 23  # application data


def test_a_link_draws_from_its_derived_seed_on_first_use() -> None:
    seed = derive_seed(b"network seed", "link", "a", "b")
    link = Link("a", "b", loss=0.5, _seed=seed)
    assert link.rng is None  # nothing made until something is drawn
    eager = random.Random(seed)
    assert [link.random_stream().random() for _ in range(5)] == [eager.random() for _ in range(5)]
    assert Link("a", "b").random_stream() is not None  # no seed: an unseeded stream


def test_each_parsed_rule_has_its_own_counters() -> None:
    text = "client->server alert epoch>=1 first: delay 10ms"
    first, second = parse_rule(text), parse_rule(text)
    assert first == second and first is not second
    assert first.check("client", "server", 1, bytes.fromhex("15fefd0001000000000000000201"
                                                            "00"))
    assert (first.matched, first.fired) == (1, 1)
    assert (second.matched, second.fired) == (0, 0)


def test_a_network_link_derives_its_seed_when_it_first_draws() -> None:
    net = Network(seed=b"network seed")
    link = net.link("a", "b", loss=0.5)
    eager = random.Random(derive_seed(b"network seed", "link", "a", "b"))
    assert link.rng is None
    assert [link.random_stream().random() for _ in range(5)] == [eager.random() for _ in range(5)]


def test_the_ceiling_experiment_still_runs_the_race() -> None:
    """bench/sim_ceiling.py's free datagram path (network send and delivery
    replaced): the race still checks out under it, so its figures bound a real race."""
    script = Path(__file__).resolve().parents[2] / "bench" / "sim_ceiling.py"
    p = subprocess.run([sys.executable, str(script), "--child", "free-datagram-path",
                        "--runs", "3"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]  # the race raises unless it checked out
    assert float(p.stdout) > 0
