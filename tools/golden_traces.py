"""Golden traces of the simulated network: the timeline, JSON and digest of a
set of runs that together use every feature of the network (links with every
impairment, every rule action, holds, releases, injections, the interceptor,
processes and sockets, repro scenarios under each policy, exploration
schedules, a capture).

Written once from a known-good tree, they pin the simulator's behaviour byte
for byte: ``tests/sim/test_golden_traces.py`` re-runs every case and compares,
so a change made for speed cannot change what a run does.  The files record
the Mbed TLS version they were made with; the test compares only on that
version (other versions draw other bytes in places, e.g. 2.28's records).

  python tools/golden_traces.py            rewrite tests/golden/ (after a
                                           change that is MEANT to alter traces)
  python tools/golden_traces.py --check    compare, print the first difference
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"

sys.path.insert(0, str(ROOT))

from mbedtls_py import Config, Context, __mbedtls_version__  # noqa: E402
from mbedtls_py.sim import Network  # noqa: E402

PSK = (b"\x01" * 16, b"golden")
SUITE = ["TLS-PSK-WITH-AES-128-GCM-SHA256"]


def _pair(net: Network, cookies: bool = False) -> tuple[Any, Any]:
    server = Config("server", seed=net.seed_for("server"), cookies=cookies, psk=PSK,
                    ciphersuites=SUITE)
    client = Config("client", seed=net.seed_for("client"), psk=PSK, ciphersuites=SUITE)
    return net.add("client", Context(client)), net.add("server", Context(server))


def _echo(net: Network, c: Any, s: Any) -> None:
    c.write(b"ping " * 20)
    net.run(until=lambda: bool(s.ctx.pending_in), within_ms=5_000)
    r = s.read()
    if isinstance(r, bytes):
        s.write(r)
    net.run(until=lambda: bool(c.ctx.pending_in), within_ms=5_000)
    c.read()
    c.close_notify()
    net.run(within_ms=5_000)
    if s.ctx.pending_in:
        s.read()


def case_lossy_handshake() -> Network:
    """Every random link impairment at once, both ways, then an echo."""
    net = Network(seed="golden-lossy")
    c, s = _pair(net, cookies=True)
    net.link_both("client", "server", delay_ms=20, jitter_ms=7, loss=0.25, duplicate=0.2,
                  reorder=0.2, reorder_delay_ms=15, corrupt=0.1, corrupt_scope="payload")
    net.handshake(c, s)
    _echo(net, c, s)
    return net


def case_bandwidth_mtu() -> Network:
    """A slow link that queues, and an MTU that drops a large datagram."""
    net = Network(seed="golden-bw")
    c, s = _pair(net)
    net.link("client", "server", delay_ms=5, bandwidth_bps=64_000)
    net.link("server", "client", delay_ms=5, mtu=300, mtu_mode="truncate")
    net.handshake(c, s)
    c.write(b"x" * 900)
    net.link("client", "server", mtu=400)
    c.write(b"y" * 900)
    net.run(within_ms=1_000)
    _echo(net, c, s)
    return net


def case_rules() -> Network:
    """Every rule action: delay, duplicate, corrupt, replace, inject, hold,
    truncate, drop; a hold released and another dropped by the script."""
    net = Network(seed="golden-rules")
    c, s = _pair(net, cookies=True)
    net.link_both("client", "server", delay_ms=10)
    net.rule("client->server handshake hs==1 #2: duplicate 2 spacing 3ms")
    net.rule("server->client handshake first: delay 25ms")
    net.rule("client->server ccs first: inject 16fefd0000000000000000000000 before")
    net.rule("client->server appdata first: hold early")
    net.rule("client->server appdata nth=2: corrupt 3")
    net.rule("server->client appdata first: replace 17fefd00010000000000000005000102030405")
    net.rule("client->server alert first: truncate 20")
    net.rule("server->client alert: drop")
    net.rule("client->server appdata nth=3: hold late")
    net.handshake(c, s)
    for i in range(3):
        c.write(b"data %d" % i)
    net.run(within_ms=200)
    net.release("early", after_ms=7)
    net.run(within_ms=200)
    net.drop()
    _echo(net, c, s)
    net.inject("client", "server", b"\x15\xfe\xfd\x00\x01" + bytes(8) + b"\x00\x02\x01\x00", 3)
    net.run(within_ms=100)
    if s.ctx.pending_in:
        s.read()
    return net


def case_interceptor() -> Network:
    """The interceptor drops one datagram and holds another."""
    net = Network(seed="golden-intercept")
    c, s = _pair(net)
    net.link_both("client", "server", delay_ms=3)

    def take(src: str, dst: str, index: int, data: bytes) -> tuple[str, str] | None:
        if (src, index) == ("client", 1):
            return ("drop", "first hello")
        if (src, index) == ("server", 2):
            return ("hold", "second")
        return None

    net.intercept(take)
    net.handshake(c, s, within_ms=3_000)
    net.release("second", after_ms=1)
    net.handshake(c, s)
    _echo(net, c, s)
    return net


def _repro(scenario: str, policy: str, seed: int, auth: str = "psk") -> Callable[[], Network]:
    def run() -> Network:
        from mbedtls_py.repro.scenarios import run_scenario
        nets: list[Network] = []
        run_scenario(scenario, policy, seed, auth=auth, on_network=nets.append)
        return nets[0]
    run.__doc__ = f"repro {scenario}, policy {policy}, seed {seed}, {auth}"
    return run


def case_capture() -> Network:
    """A repro run captured to pcapng with its keys (the bytes are compared too)."""
    from mbedtls_py.repro.scenarios import run_scenario
    nets: list[Network] = []

    def start(net: Network) -> None:
        net.capture()
        nets.append(net)
    run_scenario("late-close-notify", "none", 11, on_network=start)
    return nets[0]


def _explore(spec: str, policy: str, faults: int, pick: int) -> Callable[[], Network]:
    def run() -> Network:
        from mbedtls_py.explore import baseline, menu, run_schedule, schedules
        base = baseline(spec, policy)
        chosen = list(schedules(menu(base), faults))[pick]
        probe = run_schedule(spec, policy, chosen, trace=True)
        assert probe.net is not None
        return probe.net
    run.__doc__ = f"explore {spec}, policy {policy}, {faults} fault(s), schedule #{pick}"
    return run


CASES: dict[str, Callable[[], Network]] = {
    "lossy_handshake": case_lossy_handshake,
    "bandwidth_mtu": case_bandwidth_mtu,
    "rules": case_rules,
    "interceptor": case_interceptor,
    "repro_late_none": _repro("late-close-notify", "none", 1),
    "repro_late_lenient": _repro("late-close-notify", "lenient", 2),
    "repro_late_linger": _repro("late-close-notify", "linger", 3),
    "repro_late_classify": _repro("late-close-notify", "classify", 4),
    "repro_late_ecdsa": _repro("late-close-notify", "none", 5, "ecdsa"),
    "repro_dup_classify": _repro("duplicate-after-reset", "classify", 6),
    "repro_new_client_linger": _repro("late-close-notify-new-client", "linger", 7),
    "repro_forged_alert": _repro("forged-alert", "classify", 8),
    "repro_garbage": _repro("garbage", "none", 9),
    "repro_replay_stranger": _repro("replay-from-stranger", "classify", 10),
    "capture": case_capture,
    "explore_two_clients": _explore("two-clients", "none", 2, 40),
    "explore_cid": _explore("cid", "none", 1, 5),
}


def record(name: str) -> dict[str, Any]:
    """Run one case; its timeline, JSON hash, digest and event count."""
    with CASES[name]() as net:
        trace = net.trace
        out = {"text": str(trace), "json_sha256": hashlib.sha256(trace.to_json().encode())
               .hexdigest(), "digest": trace.digest(), "events": trace.count}
        capture = net.capturing
        if capture is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "run.pcapng"
                capture.save(path)
                out["pcapng_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args(argv)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    index_path = GOLDEN / "index.json"
    if args.check:
        index = json.loads(index_path.read_text())
        bad = 0
        for name, want in index["cases"].items():
            got = record(name)
            text = (GOLDEN / f"{name}.txt").read_text()
            same = got["text"] == text and all(got.get(k) == v for k, v in want.items())
            print(f"{'same' if same else 'DIFFERS'}  {name}")
            bad += not same
        return 1 if bad else 0
    index = {"mbedtls_version": __mbedtls_version__, "cases": {}}
    for name in CASES:
        got = record(name)
        (GOLDEN / f"{name}.txt").write_text(got.pop("text"))
        index["cases"][name] = got
        print(f"{name}: {got['events']} events, digest {got['digest'][:16]}")
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
