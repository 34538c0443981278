"""Handshakes under random loss in both directions, over many seeds.

Every run is a real Mbed TLS client and server on a simulated network
(``mbedtls_py.sim.network``) with ``--loss`` loss on both directions.  Each handshake
either completes or ends with Mbed TLS's own code (``SSL_TIMEOUT`` once the
handshake timeout, ``--timeout MIN MAX``, is exhausted); the network's virtual
deadline is set far beyond that, so no run is cut short by the harness.

    PYTHONPATH=. python bench/loss_sweep.py                 # 1000 seeds, 30 % loss, PSK
    PYTHONPATH=. python bench/loss_sweep.py --seeds 200 --kind cert --json

Prints the completion rate, the outcome codes and the median (and other
percentiles of) virtual handshake time of the completed runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from dataclasses import dataclass

from mbedtls_py import Config, Context, Err
from mbedtls_py.sim.network import Network

PSK = bytes(range(16))
PSK_IDENTITY = b"mbedtls-py"
PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"


@dataclass
class Outcome:
    """One seed's result."""

    seed: int
    client_rc: int
    server_rc: int
    reason: str
    virtual_ms: int
    real_seconds: float
    datagrams: int

    @property
    def completed(self) -> bool:
        return self.client_rc == 0 and self.server_rc == 0


def _pki(seed: int):
    from mbedtls_py.creds.det import make_det_pki

    return make_det_pki(f"loss-sweep/{seed}")


def handshake_under_loss(seed: int, loss: float = 0.3, *, kind: str = "psk",
                         timeout: tuple[int, int] = (1000, 60000),
                         deadline_ms: int = 3_600_000, cookies: bool = False) -> Outcome:
    """One handshake with ``loss`` on both directions; the network and both
    RNGs seeded from ``seed``."""
    net = Network(seed=f"loss-sweep/{seed}", trace=False)
    client_cfg = Config("client", seed=net.seed_for("client"), handshake_timeout=timeout)
    server_cfg = Config("server", seed=net.seed_for("server"), handshake_timeout=timeout,
                        cookies=cookies)
    if kind == "psk":
        for cfg in (client_cfg, server_cfg):
            cfg.do_set_psk(PSK, PSK_IDENTITY)
            cfg.set_ciphersuites([PSK_SUITE])
    else:
        _pki(seed).configure(client_cfg, server_cfg)
    client = Context(client_cfg, name="client")
    client.set_hostname("localhost")
    server = Context(server_cfg, name="server")
    c = net.add("client", client)
    s = net.add("server", server)
    net.link_both("client", "server", loss=loss)
    result = net.handshake(c, s, within_ms=deadline_ms)
    return Outcome(seed, int(result.client_rc), int(result.server_rc), result.reason,
                   result.elapsed_ms, result.real_seconds, net.trace.count)


def sweep(seeds: range, loss: float = 0.3, **kwargs: object) -> list[Outcome]:
    """``handshake_under_loss`` for every seed."""
    return [handshake_under_loss(seed, loss, **kwargs) for seed in seeds]  # type: ignore[arg-type]


def _name(rc: int) -> str:
    return "0" if rc == 0 else str(Err(rc)) if rc in Err._value2member_map_ else hex(rc)


def summarize(outcomes: list[Outcome]) -> dict[str, object]:
    """Completion rate, outcome counts and virtual-time percentiles."""
    done = [o for o in outcomes if o.completed]
    times = sorted(o.virtual_ms for o in done)
    codes = collections.Counter(f"client {_name(o.client_rc)} / server {_name(o.server_rc)}"
                                f" ({o.reason})" for o in outcomes)

    def pct(p: float) -> int | None:
        if not times:
            return None
        return times[min(len(times) - 1, int(p * len(times)))]

    return {
        "runs": len(outcomes),
        "completed": len(done),
        "completion_rate": len(done) / len(outcomes) if outcomes else 0.0,
        "median_virtual_ms": statistics.median(times) if times else None,
        "p90_virtual_ms": pct(0.9),
        "p99_virtual_ms": pct(0.99),
        "max_virtual_ms": times[-1] if times else None,
        "outcomes": dict(codes.most_common()),
        "hung": sum(o.reason in ("deadline", "idle", "max_steps") for o in outcomes),
        "real_seconds_total": sum(o.real_seconds for o in outcomes),
        "max_real_ms_per_run": max((o.real_seconds for o in outcomes), default=0) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1000, help="number of seeds (default 1000)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--loss", type=float, default=0.3,
                        help="loss probability on each direction (default 0.3)")
    parser.add_argument("--kind", choices=("psk", "cert"), default="psk")
    parser.add_argument("--cookies", action="store_true", help="server sends HelloVerifyRequest")
    parser.add_argument("--timeout", type=int, nargs=2, default=(1000, 60000),
                        metavar=("MIN_MS", "MAX_MS"), help="handshake timeout (default 1000 60000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    outcomes = []
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for i, seed in enumerate(seeds):
        outcomes.append(handshake_under_loss(seed, args.loss, kind=args.kind,
                                             timeout=tuple(args.timeout), cookies=args.cookies))
        if not args.json and (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(seeds)} seeds", file=sys.stderr)
    summary = summarize(outcomes)
    summary.update(loss=args.loss, kind=args.kind, timeout_ms=list(args.timeout),
                   cookies=args.cookies, wall_seconds=time.perf_counter() - t0)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['runs']} handshakes, loss {args.loss:.0%} both directions, {args.kind}, "
          f"handshake timeout {args.timeout[0]}..{args.timeout[1]} ms")
    print(f"completed: {summary['completed']} ({summary['completion_rate']:.1%})")
    print(f"virtual handshake time of completed runs: median {summary['median_virtual_ms']} ms, "
          f"p90 {summary['p90_virtual_ms']} ms, p99 {summary['p99_virtual_ms']} ms, "
          f"max {summary['max_virtual_ms']} ms")
    print("outcomes:")
    for text, n in summary["outcomes"].items():  # type: ignore[union-attr]
        print(f"  {n:5}  {text}")
    print(f"runs cut short by the harness (hung): {summary['hung']}")
    print(f"wall time {summary['wall_seconds']:.2f} s "
          f"(max {summary['max_real_ms_per_run']:.1f} ms real per handshake)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
