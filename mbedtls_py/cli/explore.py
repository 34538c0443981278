"""``mbedtls-py explore``: every fault schedule of a scenario, grouped into
outcome classes; a class's timeline; a regression test for it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack
from typing import NoReturn

from ..server import POLICIES
from ..explore.emit import emit_test
from ..explore.engine import Exploration, explore, run_schedule, stderr_progress
from ..explore.model import schedule_words
from ..explore.scenarios import SCENARIOS, UNSUPPORTED, get_scenario

__all__ = ["main", "dask_executor", "format_table"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """One-line errors (status 2), no usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def dask_executor(address: str, stack: ExitStack) -> Executor:
    """A ``concurrent.futures.Executor`` on a Dask cluster: ``local`` starts
    a ``LocalCluster`` of 2 single-threaded worker processes; anything else
    is the address of the user's scheduler (``tcp://host:port``)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise _UsageError("--dask needs the optional extra: pip install 'mbedtls-py[dask]' "
                          "(or pip install 'dask[distributed]')") from None
    if address == "local":
        cluster = stack.enter_context(LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None))
        client = stack.enter_context(Client(cluster))
    else:
        try:
            client = stack.enter_context(
                Client(address, timeout=10))
        except (OSError, ValueError, TimeoutError) as e:
            raise _UsageError(f"cannot reach the Dask scheduler {address!r}: {e}") from None
    executor: Executor = client.get_executor()
    return executor


def format_table(result: Exploration) -> str:
    """The classes as a table: id, count, failure, codes, representative."""
    lines = [f"scenario {result.scenario}, policy {result.policy}, up to {result.faults} "
             f"fault(s): {result.menu_size} single faults, {result.schedules} schedules, "
             f"{len(result.classes)} classes, {len(result.failures)} failure classes", "",
             f"{'class':>5} {'count':>6}  {'':4}  codes / representative"]
    for c in result.classes:
        flag = "FAIL" if c.failure else ""
        lines.append(f"{c.id:>5} {c.count:>6}  {flag:4}  {c.outcome.codes_words()}")
        lines.append(f"{'':>5} {'':>6}  {'':4}    {schedule_words(c.representative)}")
    return "\n".join(lines)


def _timeline(result: Exploration, class_id: int) -> str:
    classes = {c.id: c for c in result.classes}
    if class_id not in classes:
        raise _UsageError(f"no class {class_id}; classes are 0..{len(result.classes) - 1}")
    cls = classes[class_id]
    probe = run_schedule(result.scenario, result.policy, cls.representative, trace=True,
                         timing=result.timing)
    assert probe.net is not None
    head = (f"class {class_id}{' (failure)' if cls.failure else ''}: "
            f"{schedule_words(cls.representative)}\noutcome: {cls.outcome.codes_words()}\n")
    return head + str(probe.net.trace)


def _timing_models() -> list[str]:
    from ..timing import MODELS
    return list(MODELS)


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(SCENARIOS)
    ap = _Parser(
        prog="mbedtls-py explore",
        description="Run a scenario once without faults, then every schedule of up to K "
                    "faults (drop a datagram; hold it until after a later event; duplicate it "
                    "after a later event; swap it with the next one on its direction), on the "
                    "real Mbed TLS contexts, and group the outcomes into classes.",
        epilog=f"Scenarios: {names}, or module:function (fn(probe, policy)). Not available: "
               + "; ".join(f"{k} ({v})" for k, v in UNSUPPORTED.items()) + ".")
    ap.add_argument("scenario", nargs="?", default="two-clients",
                    help="scenario name or module:function (default: two-clients)")
    ap.add_argument("--policy", default="none", choices=POLICIES,
                    help="the DTLSServer's first-flight policy (default: none)")
    ap.add_argument("--faults", type=int, default=1, metavar="K",
                    help="up to K faults per schedule (default: 1)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--trace", type=int, metavar="CLASS",
                    help="print the timeline of CLASS's representative")
    ap.add_argument("--emit-test", type=int, metavar="CLASS",
                    help="write a pytest file replaying CLASS's representative (with --out)")
    ap.add_argument("--out", metavar="FILE", help="where --emit-test writes")
    ap.add_argument("--dask", metavar="ADDR",
                    help="run schedules on Dask: 'local' (a 2-worker LocalCluster) or "
                         "tcp://host:port (needs the [dask] extra)")
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="run schedules on N local processes (default: 1, serial)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--timing", metavar="MODEL", default=None, choices=_timing_models(),
                    help="run every schedule with a timing model's per-leg latency and jitter "
                    "(mbedtls_py.timing; seeded with the scenario's network seed); default: none")
    return ap


def _check(args: argparse.Namespace) -> None:
    if args.faults < 0 or args.faults > 3:
        raise _UsageError("--faults must be 0..3 (schedules grow as menu^K)")
    if args.jobs < 1:
        raise _UsageError("--jobs must be >= 1")
    if args.dask and args.jobs > 1:
        raise _UsageError("--dask and --jobs exclude each other")
    if (args.emit_test is None) != (args.out is None):
        raise _UsageError("--emit-test CLASS and --out FILE go together")
    for flag, value in (("--trace", args.trace), ("--emit-test", args.emit_test)):
        if value is not None and value < 0:
            raise _UsageError(f"{flag} {value}: class numbers start at 0")
    if args.out is not None:
        folder = os.path.dirname(os.path.abspath(args.out))
        if os.path.isdir(args.out) or not os.path.isdir(folder) \
                or not os.access(folder, os.W_OK | os.X_OK):
            raise _UsageError(f"--out {args.out}: cannot write there (not a file in an "
                              "existing, writable directory)")
    try:
        get_scenario(args.scenario)
    except ValueError as e:
        raise _UsageError(str(e)) from None


def _checking_classes(args: argparse.Namespace,
                      report: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """``report``, and at the start (``done == 0``) a check that the classes
    asked for can exist: there are at most as many classes as schedules."""
    def progress(done: int, total: int) -> None:
        if done == 0:
            for flag, value in (("--trace", args.trace), ("--emit-test", args.emit_test)):
                if value is not None and value >= total:
                    raise _UsageError(f"{flag} {value}: there are {total} schedules, so "
                                      f"classes are at most 0..{total - 1}")
        report(done, total)
    return progress


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mbedtls-py explore``."""
    ap = _parser()
    args = ap.parse_args(argv)
    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:<12} {s.description}")
        for name, why in UNSUPPORTED.items():
            print(f"{name:<12} not available: {why}")
        return 0
    try:
        _check(args)
        with ExitStack() as stack:
            executor: Executor | None = None
            if args.dask:
                executor = dask_executor(args.dask, stack)
            elif args.jobs > 1:
                executor = stack.enter_context(ProcessPoolExecutor(args.jobs))
            progress = _checking_classes(args, stderr_progress(
                f"explore {args.scenario} --policy {args.policy} --faults {args.faults}"))
            result = explore(args.scenario, args.policy, args.faults, executor=executor,
                             progress=progress, timing=args.timing)
        print(f"{result.schedules} schedules in {result.seconds:.1f} s "
              f"({result.schedules / max(result.seconds, 1e-9):.0f}/s)", file=sys.stderr)
        if args.emit_test is not None:
            source = emit_test(result, args.emit_test)
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(source)
            print(f"wrote {args.out} (class {args.emit_test})", file=sys.stderr)
        if args.trace is not None:
            print(_timeline(result, args.trace))
        elif args.json:
            print(json.dumps(result.to_json(), indent=2))
        elif args.emit_test is None:
            print(format_table(result))
    except _UsageError as e:
        print(f"mbedtls-py explore: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # e.g. an --emit-test class that does not exist
        print(f"mbedtls-py explore: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"mbedtls-py explore: error: {e}", file=sys.stderr)
        return 2
    return 0

