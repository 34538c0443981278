"""``mbedtls-py search CASE``: search one ssl-opt case's schedules until its own
assertions fail.

The case runs once with every udp_proxy choice "no" and instant links, then
with schedules of 1..K moves on its own datagrams (the proxy's drop, delay,
duplicate, bad_cid where its options allow them; link lags), level by level,
each judged by the runner's check of the case's assertions.  The first
failing schedule is shrunk to a minimal one and printed with its replay
command (same seed and schedule, same bytes).

  search 'Connection ID, 3D+MTU: Cli+Srv enabled, Cli+Srv CID nonempty'
  search CASE --faults 3 --max-schedules 20000 --jobs 2        (or --dask local|tcp://h:p)
  search CASE --replay 'drop:server>client:handshake,epoch=0,hs=server_hello#1' --trace
  search CASE --emit-test test_found.py --pcap found.pcapng --json

Exit status: 1 a failing schedule was found (or replayed), 0 none, 3 the
case does not pass without moves (nothing to search: SKIP, NOTRUN, FAIL), 2
bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from .._cliargs import POSITIVE_INT, OneLineParser
from ..search.emit import emit_test, replay_command
from ..search.engine import DEFAULT_LAGS, SearchResult, instrument, run_moves, search
from ..search.moves import DEFAULT_KINDS, KINDS, MoveSchedule, parse_schedule, schedule_words

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    doc = (__doc__ or "").split("\n\n", 1)
    ap = OneLineParser(prog="mbedtls-py search", description=doc[0].split(": ", 1)[1],
                       epilog=doc[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", help="the case's exact name (as in ssl-opt --trace)")
    ap.add_argument("--seed", type=POSITIVE_INT, default=1, help="the run's seed (RNGs)")
    ap.add_argument("--faults", type=POSITIVE_INT, default=2, metavar="K",
                    help="moves per schedule at most (default 2)")
    ap.add_argument("--max-schedules", type=POSITIVE_INT, default=5000, metavar="N",
                    help="stop after N schedules (default 5000)")
    ap.add_argument("--kinds", default=",".join(DEFAULT_KINDS), metavar="LIST",
                    help=f"move kinds to use, of {','.join(KINDS)} (default "
                    f"{','.join(DEFAULT_KINDS)}: reorder is not loopback)")
    ap.add_argument("--lags", default=",".join(map(str, DEFAULT_LAGS)), metavar="MS,...",
                    help="lag values in ms (default %(default)s)")
    ap.add_argument("--replay", metavar="SCHEDULE",
                    help="run this schedule only (the printed replay form) and report it")
    ap.add_argument("--trace", action="store_true",
                    help="with --replay: print the outputs and datagrams, as ssl-opt --trace")
    ap.add_argument("--emit-test", metavar="FILE", help="write a pytest replaying the finding")
    ap.add_argument("--pcap", metavar="FILE", help="write the failing run as pcapng (keys inside)")
    ap.add_argument("--keylog", metavar="FILE", help="write its session keys (SSLKEYLOGFILE)")
    ap.add_argument("--server-policy", default="none", choices=("none", "reconnect-guard"),
                    help="the in-process ssl_server2's policy (as ssl-opt --server-policy)")
    ap.add_argument("--ssl-opt", metavar="PATH", help="another ssl-opt.sh")
    ap.add_argument("--jobs", type=POSITIVE_INT, default=1, metavar="N", help="worker processes")
    ap.add_argument("--dask", metavar="ADDR",
                    help="run on Dask: 'local' (2 workers) or tcp://host:port ([dask] extra)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return ap


def _check(ap: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    kinds = [k for k in a.kinds.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        ap.error(f"--kinds {a.kinds!r}: give some of {','.join(KINDS)}")
    a.kinds = tuple(kinds)
    try:
        lags = tuple(int(x) for x in a.lags.split(","))
        if not lags or min(lags) < 1:
            raise ValueError
    except ValueError:
        ap.error(f"--lags {a.lags!r}: give whole milliseconds >= 1, comma-separated")
    a.lags = lags
    if a.dask and a.jobs > 1:
        ap.error("--dask and --jobs exclude each other")
    if a.trace and not a.replay:
        ap.error("--trace needs --replay SCHEDULE")
    if a.replay:
        try:
            a.replay = parse_schedule(a.replay)
        except ValueError as e:
            ap.error(f"--replay: {e}")


def _capture(a: argparse.Namespace, case: object, schedule: MoveSchedule) -> None:
    from . import sslopt as sslopt_cli
    sslopt_cli._POLICY[0] = a.server_policy
    sslopt_cli._captured(case, a.seed, False, a.pcap, a.keylog, several=False,
                         setup=instrument(case, schedule).setup)  # type: ignore[arg-type]


def _replay(a: argparse.Namespace, case: object) -> int:
    from ..search.engine import run_traced
    schedule: MoveSchedule = a.replay
    if a.trace:
        from .sslopt import print_result
        print_result(run_traced(case, a.seed, schedule, a.server_policy))  # type: ignore[arg-type]
    out = run_moves(case, a.seed, schedule, a.server_policy)  # type: ignore[arg-type]
    if a.pcap or a.keylog:
        _capture(a, case, schedule)
    if a.json:
        print(json.dumps({"case": a.case, "seed": a.seed, **out.to_json()}, indent=1))
    else:
        print(f"{out.verdict} {out.reason}".rstrip())
        print(f"moves applied: {len(out.applied)} of {len(schedule)}: {schedule_words(schedule)}")
        print(f"digest {out.digest}")
    return 1 if out.verdict == "FAIL" else 0


def _progress() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def report(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 1.0:
            last[0] = time.monotonic()
            print(f"\rsearch: {done} schedules (budget {total})", end="", file=sys.stderr,
                  flush=True)
    return report


def _report(r: SearchResult, command: str | None) -> str:
    lines = [f"search {r.case!r}, seed {r.seed}: baseline {r.baseline.verdict}; "
             f"menu {r.menu} moves; up to {r.faults} moves per schedule"]
    lines.append(f"{r.schedules} schedules" + (" (every one up to K)" if r.exhausted else "")
                 + ": " + ", ".join(f"{n} {k}" for k, n in sorted(r.outcomes.items())))
    if r.found is None or r.minimal is None or r.failure is None:
        lines.append("no failing schedule found")
        return "\n".join(lines)
    lines.append(f"found:   {schedule_words(r.found)}")
    lines.append(f"minimal: {schedule_words(r.minimal)} ({r.shrink_runs} shrink runs)")
    lines.append(f"failure: {r.failure.verdict} {r.failure.reason}; digest {r.failure.digest}")
    lines.append(f"replay:  {command}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mbedtls-py search``."""
    ap = _parser()
    a = ap.parse_args(sys.argv[1:] if argv is None else argv)
    _check(ap, a)
    from ..sslopt.parse import load_cases
    try:
        cases = load_cases(a.ssl_opt)
    except FileNotFoundError as e:
        ap.error(str(e))
    case = next((c for c in cases if c.name == a.case), None)
    if case is None:
        ap.error(f"no case named {a.case!r} (ssl-opt --filter lists them)")
    if a.replay:
        return _replay(a, case)
    with ExitStack() as stack:
        executor: Executor | None = None
        if a.dask:
            from .explore import _UsageError, dask_executor
            try:
                executor = dask_executor(a.dask, stack)
            except _UsageError as e:
                ap.error(str(e))
        elif a.jobs > 1:
            executor = stack.enter_context(ProcessPoolExecutor(a.jobs))
        r = search(case, seed=a.seed, faults=a.faults, max_schedules=a.max_schedules,
                   kinds=a.kinds, lags=a.lags, policy=a.server_policy, executor=executor,
                   progress=_progress())
    if sys.stderr.isatty():
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    command = None
    if r.minimal is not None and r.failure is not None:
        command = replay_command(a.case, a.seed, r.minimal, a.server_policy, a.ssl_opt)
        if a.emit_test:
            Path(a.emit_test).write_text(emit_test(a.case, a.seed, r.minimal, r.failure,
                                                   a.server_policy, a.ssl_opt))
        if a.pcap or a.keylog:
            _capture(a, case, r.minimal)
    if a.json:
        print(json.dumps({**r.to_json(), "replay": command}, indent=1))
    else:
        print(_report(r, command))
        print(f"({r.cpu_s:.1f} s CPU in this process)", file=sys.stderr)
    if r.baseline.verdict != "PASS":
        return 3
    return 1 if r.found is not None else 0
