"""How much a faster datagram path could still give ``sim_race_psk``: the
race as it is, against the same race with the network's datagram path made
free.  "Free" is wrong on purpose and only bounds the gain: a send is one
heap push (no trace event, no route or link lookup: every link of the race
is a plain 50 ms delay), a delivery one heap pop, the clock moved and the
owners polled (no trace event, no checks).  The rule of the race still
applies: a datagram the rule could match takes the real path, so the race
still checks out (the first echo, the -0x7700, the second handshake).  Any
datagram path written in C would still cost more than this.

Each mode runs in its own process (pinned to one CPU where the OS allows),
the modes alternating; µs of CPU per race, best and median of the
repetitions.

  python bench/sim_ceiling.py [--runs 300] [--reps 7]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
MODES = ("as-is", "free-datagram-path")


def _free_datagram_path() -> None:
    """Replace the network's send and delivery with the bare minimum."""
    from mbedtls_py.sim import driving, schedule
    from mbedtls_py.wire.rules import could_match

    # replacing a method that is gone would silently measure nothing
    for cls, name in ((schedule.Schedule, "send"), (driving.Driver, "deliver_next"),
                      (driving.Driver, "_owners")):
        if not callable(getattr(cls, name, None)):
            raise RuntimeError(f"{cls.__name__} has no {name}(): "
                               "bench/sim_ceiling.py is out of date")
    real_send = schedule.Schedule.send

    def send(self: Any, src: str, dst: str, data: bytes) -> None:
        if self.rules and could_match(self.rules, src, dst, 1, data, cid_len=self.cid_len):
            return real_send(self, src, dst, data)
        now = self.clock.now
        heapq.heappush(self.heap, (now + 50, next(self._seq), src, dst, data, ""))

    def deliver_next(self: Any) -> None:
        when, _, src, dst, data, _note = heapq.heappop(self._heap)
        if when > self.clock.now:
            self.clock.forward(when)
        self.endpoints[dst].deliver(data, src)
        procs = self._polled.get(dst)
        if procs is None:
            procs = self._polled[dst] = self._owners(dst)
        for proc in procs:
            proc.poll()

    # set before any network is made (a network binds its schedule's send once)
    schedule.Schedule.send = send  # type: ignore[method-assign]
    driving.Driver.deliver_next = deliver_next  # type: ignore[method-assign,assignment]
    if schedule.Schedule.send is not send or driving.Driver.deliver_next is not deliver_next:
        raise RuntimeError("the free datagram path did not replace the network's own")


def _child(mode: str, runs: int) -> float:
    """µs of CPU per race in this process."""
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
        except OSError:
            pass
    if mode == "free-datagram-path":
        _free_datagram_path()
    sys.path.insert(0, str(BENCH))
    from sim_rows import _Race

    race = _Race()
    for seed in range(1, 51):  # warm up
        race(seed)
    t0 = time.process_time()
    for seed in range(1, runs + 1):
        race(seed)  # raises unless the race checked out
    return (time.process_time() - t0) / runs * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=300, help="races per repetition (300)")
    ap.add_argument("--reps", type=int, default=7, help="repetitions of each mode (7)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.runs < 1 or args.reps < 1:
        ap.error("--runs and --reps must be at least 1")
    if args.child:
        print(_child(args.child, args.runs))
        return 0
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for rep in range(args.reps):
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--runs",
                                  str(args.runs)], capture_output=True, text=True, check=True)
            times[mode].append(float(out.stdout))
        print(f"sim_ceiling: {rep + 1}/{args.reps}", file=sys.stderr)
    result = {m: {"best_us": min(t), "median_us": sorted(t)[len(t) // 2]} for m, t in times.items()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    base, free = result["as-is"], result["free-datagram-path"]
    for mode, r in result.items():
        print(f"{mode:<20} best {r['best_us']:6.0f} us   median {r['median_us']:6.0f} us")
    print(f"the datagram path's share at most: {1 - free['best_us'] / base['best_us']:.1%} (best), "
          f"{1 - free['median_us'] / base['median_us']:.1%} (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
