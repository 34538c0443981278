"""``mbedtls-py repro close-notify``: the seed's race and its remedies.

Runs the close_notify scenarios (see ``mbedtls_py.repro.scenarios``) under each
server policy on the simulated network (in-process, virtual time, real Mbed
TLS), prints a table per policy (or ``--json``: one object whose ``runs``
follow the contract), and exits 0 only when every run did what its policy
promises.  ``--trace`` prints the timeline of one run; ``--sweep`` measures
the failure rate against the late datagram's offset from the reset.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
from collections import defaultdict
from typing import Any

from ..repro.runs import exit_status, run_many, summarise, sweep
from ..repro.scenarios import (
    BAD_INPUT_SCENARIOS,
    DEFAULT_RTT_MS,
    LATE_SCENARIOS,
    SCENARIOS,
    RunResult,
    run_scenario,
)
from ..repro.verdict import offset_words
from ..server.policies import POLICIES
from .._cliargs import NON_NEGATIVE_MS, POSITIVE_INT, Progress, number_type, plain

LEGEND = """
late        the datagram of the previous connection reached the server after its reset
failed      the server reported an error caused by a datagram of the previous connection
reported    a genuinely bad input was reported as an error (as it should be)
hidden      a genuinely bad input was passed over (a real error hidden)
served      the next legitimate client was served
inconcl.    runs whose evidence is missing (datagram never delivered, no reset, no event)
unexpected  runs whose outcome differs from what the policy promises
window      the linger window the server used (ms; "-" for other policies)"""


def format_table(summary: dict[str, dict[str, int]]) -> str:
    """The per-policy table printed by default."""
    cols = [("runs", "runs"), ("late", "late"), ("failed", "failed"),
            ("reported", "reported"), ("hidden", "hidden"), ("served", "served"),
            ("inconclusive", "inconcl."), ("unexpected", "unexpected"), ("window_ms", "window")]
    head = f"{'policy':<10}" + "".join(f"{title:>11}" for _, title in cols)
    lines = [head, "-" * len(head)]
    for policy in POLICIES:
        if policy in summary:
            row = summary[policy]
            lines.append(f"{policy:<10}" + "".join(
                f"{row.get(key, '-' if key == 'window_ms' else 0)!s:>11}" for key, _ in cols))
    return "\n".join(lines)


def _format_sweep(result: dict[str, Any]) -> str:
    policies = list(result["buckets"])
    lines = [f"failure rate vs offset of the late close_notify after the reset "
             f"(RTT {result['rtt_ms']} ms, {result['seeds']} seeds per policy)",
             "each row: the runs whose late datagram arrived in that offset bucket (runs: "
             "how many seeds, the same for every policy); cells: the share of them that failed",
             f"{'offset (ms)':<14}{'runs':>6}" + "".join(f"{p:>10}" for p in policies)]
    for i, row in enumerate(result["buckets"][policies[0]]):
        lo, hi = row["offset_ms"]
        if hi <= 0:
            lo, hi = "before", "reset"
        cells = []
        for p in policies:
            cell = result["buckets"][p][i]
            cells.append("-" if cell["failure_rate"] is None else f"{cell['failure_rate']:.0%}")
        lines.append(f"{lo!s:>6}-{hi!s:<7}{row['runs']:>6}" + "".join(f"{c:>10}" for c in cells))
    lines.append(f"{'overall':<14}{result['seeds']:>6}" + "".join(f"{result['failure_rate'][p]:>10.1%}"
                                            for p in policies))
    if result["linger_window_ms"]:
        lines.append(f"linger window used (ms): "
                     f"{', '.join(f'{w:g}' for w in result['linger_window_ms'])}")
    lines.append(f"inconclusive runs: {result['inconclusive']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``repro`` argument parser."""
    ap = argparse.ArgumentParser(
        prog="mbedtls-py repro",
        description="Reproduce the DTLS close_notify race of Mbed-TLS/mbedtls#9652 and "
                    "compare the remedies.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="policies: none (historical), lenient (upstream 3.6.6 workaround), linger, "
               "classify\nscenarios: " + ", ".join(SCENARIOS))
    sub = ap.add_subparsers(dest="what", metavar="WHAT", required=True)
    cn = sub.add_parser("close-notify", help="the seed's late close_notify race",
                        description=plain(__doc__.split("\n\n")[1]) if __doc__ else None)
    cn.add_argument("--peer", default="mbedtls",
                    choices=["mbedtls", "openssl", "openssl-sim", "gnutls-sim", "upstream-client"],
                    help="the client: mbedtls (in-process, simulated network; default), "
                         "openssl (s_client over real UDP via the proxy), openssl-sim "
                         "(s_client on the in-process OpenSSL, simulated network, "
                         "certificates: implies --auth ecdsa), gnutls-sim (GnuTLS in "
                         "process, simulated network), upstream-client")
    cn.add_argument("--mitigation", default="all", choices=[*POLICIES, "all"],
                    help="server policy (default: all)")
    cn.add_argument("--scenario", default="all", choices=[*SCENARIOS, "late", "bad-input", "all"],
                    help="which scenarios (default: all)")
    cn.add_argument("--runs", type=POSITIVE_INT, default=20,
                    help="runs per scenario and policy (default 20)")
    cn.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    cn.add_argument("--auth", default="psk", choices=["psk", "ecdsa"],
                    help="psk (fast, default) or ecdsa (deterministic P-256 certificates)")
    cn.add_argument("--rtt", type=number_type(int, 0, "a whole number of ms >= 1", strict=True),
                    default=DEFAULT_RTT_MS, help="virtual RTT in ms (default 100)")
    cn.add_argument("--linger", type=NON_NEGATIVE_MS, metavar="MS", default=None,
                    help="linger window of the linger policy (default: the round trip "
                         "measured in the handshake + the peer's retransmission timeout, "
                         "1000 ms; the window's last ms is inclusive)")
    cn.add_argument("--json", action="store_true", help="one JSON object with a list `runs`")
    cn.add_argument("--trace", action="store_true",
                    help="print the timeline of one run (the first seed, first policy)")
    cn.add_argument("--sweep", type=POSITIVE_INT, metavar="SEEDS", default=None,
                    help="failure rate vs offset of the late alert after the reset, over SEEDS seeds")
    cn.add_argument("--jobs", type=POSITIVE_INT, default=1,
                    help="processes for --sweep, or concurrent runs with a real peer (default 1)")
    cn.add_argument("--delay", type=NON_NEGATIVE_MS, metavar="MS", default=None,
                    help="with a real peer: how long the proxy holds the client's encrypted "
                         "alert (default 200)")
    cn.add_argument("--progress", action="store_true", help="show progress even when not a tty")
    cn.add_argument("--timing", metavar="MODEL", default=None, choices=_timing_models(),
                    help="a timing model's per-leg latency and jitter on the simulated network "
                    "(mbedtls_py.timing; seeded with each run's seed); default: none")
    cn.add_argument("--allow-inconclusive", action="store_true",
                    help="exit 0 even if some runs are inconclusive (they are still "
                         "counted and listed); by default any inconclusive run exits 3")
    cap = cn.add_argument_group("captures (open them in Wireshark/tshark)")
    cap.add_argument("--pcap", metavar="FILE", help="write the run's datagrams as pcapng with the "
                     "session keys embedded (FILE.pcap: classic pcap, keys only via --keylog; "
                     "with a real peer: what the server's socket saw); "
                     "several runs: one file each, FILE with scenario, policy and seed inserted "
                     "before the extension; with --sweep: one per failing run")
    cap.add_argument("--keylog", metavar="FILE", help="write the session keys as an "
                     "SSLKEYLOGFILE (NSS key log), named like --pcap")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``repro``; returns the exit status."""
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.peer == "upstream-client":
        from .._csrc import csrc_dir
        if csrc_dir() is None:
            ap.error("--peer upstream-client builds upstream's dtls_client, and this "
                     "installation has no build machinery (csrc/): reinstall mbedtls-py "
                     "or use --peer openssl")
    policies = list(POLICIES) if args.mitigation == "all" else [args.mitigation]
    scenarios = {"all": list(SCENARIOS), "late": list(LATE_SCENARIOS),
                 "bad-input": list(BAD_INPUT_SCENARIOS)}.get(args.scenario, [args.scenario])
    progress_on = True if args.progress else None

    if args.pcap or args.keylog:
        from ..capture.files import check_writable
        try:
            check_writable(args.pcap, "--pcap")
            check_writable(args.keylog, "--keylog")
        except ValueError as exc:
            print(f"repro: error: {exc}", file=sys.stderr)
            return 2

    if args.peer not in ("mbedtls", "openssl-sim", "gnutls-sim"):
        return _main_real(args, policies, progress_on)
    sim_peer: dict[str, Any] = {}
    if args.peer in ("openssl-sim", "gnutls-sim"):
        if args.sweep is not None:
            ap.error(f"--sweep runs Mbed TLS clients only; drop --peer {args.peer}")
        sim_peer = {"peer": args.peer}
    if args.peer == "openssl-sim":
        from ..sslopt.foreign import unavailable
        why = unavailable("openssl")
        if why is not None:
            print(f"repro: error: --peer openssl-sim: {why}", file=sys.stderr)
            return 2
        args.auth = "ecdsa"

    if args.sweep is not None:
        bar = Progress(args.sweep * len(policies), "sweep", progress_on)
        failing: list[dict[str, Any]] = []
        keep = failing.append if (args.pcap or args.keylog) else None

        def on_result(r: dict[str, Any]) -> None:
            if keep is not None and r["outcome"] == "failed":
                keep(r)
        if args.jobs > 1:
            with concurrent.futures.ProcessPoolExecutor(args.jobs) as ex:
                result = sweep(policies, args.sweep, seed=args.seed, rtt_ms=args.rtt,
                               linger_ms=args.linger, executor=ex, progress=bar,
                               on_result=on_result)
        else:
            result = sweep(policies, args.sweep, seed=args.seed, rtt_ms=args.rtt,
                           linger_ms=args.linger, progress=bar, on_result=on_result)
        print(json.dumps(result, indent=1) if args.json else _format_sweep(result))
        if failing:  # same seed, same bytes: replay each failing run, captured
            for run in failing:
                _captured(args, "late-close-notify", run["policy"], run["seed"], True,
                          offset_ms=run["offset_ms"])
            print(f"{len(failing)} failing run(s) captured", file=sys.stderr)
        return 3 if result["inconclusive"] and not args.allow_inconclusive else 0

    if args.trace:
        r = _captured(args, scenarios[0], policies[0], args.seed, False, True, auth=args.auth,
                      rtt_ms=args.rtt, linger_ms=args.linger, events=True, **sim_peer)
        print(f"scenario {r.scenario}, policy {r.mitigation}, seed {r.seed}: {r.outcome} "
              f"(server_rc {r.to_dict()['server_rc_hex']}, the late datagram reached the server "
              f"{offset_words(r.offset_ms)} its reset in the trace"
              + (f", linger window {r.linger_ms:g} ms" if r.linger_ms is not None else "")
              + f")\n{r.evidence}\n")
        print(r.trace)
        print("\nserver events:")
        for e in r.events:
            rc = e.get("rc_hex", e.get("rc", ""))
            print(f"  {e['t_ms']:>6} ms  {e['event']:<16} {e.get('peer', ''):<9} "
                  f"{rc!s:>8}  {e.get('note', '')}")
        return exit_status([r], args.allow_inconclusive)

    total = len(scenarios) * len(policies) * args.runs
    bar = Progress(total, "repro", progress_on)
    t0 = time.perf_counter()
    several = total > 1

    def one(scenario: str, policy: str, seed: int, **kwargs: Any) -> RunResult:
        return _captured(args, scenario, policy, seed, several, **sim_peer, **kwargs)
    results = run_many(scenarios, policies, args.runs, args.seed, auth=args.auth,
                       rtt_ms=args.rtt, linger_ms=args.linger, progress=bar, run=one)
    elapsed = time.perf_counter() - t0
    return _report(args, results, elapsed)


def _timing_models() -> list[str]:
    from ..timing import MODELS
    return list(MODELS)


def _captured(args: argparse.Namespace, scenario: str, policy: str, seed: int, several: bool,
              trace: bool = False, **kwargs: Any) -> RunResult:
    """``run_scenario``, captured when --pcap/--keylog ask for it."""
    if getattr(args, "timing", None):
        kwargs["timing"] = args.timing
    if not (args.pcap or args.keylog):
        return run_scenario(scenario, policy, seed, trace=trace, **kwargs)
    from ..capture.files import capture_paths, run_captured
    parts = (scenario, policy, f"seed{seed}")
    return run_captured(run_scenario, capture_paths(args.pcap, *parts, several=several),
                        capture_paths(args.keylog, *parts, several=several),
                        scenario=scenario, policy=policy, seed=seed, trace=True, **kwargs)


def _real_capture(args: argparse.Namespace, policy: str, policies: int) -> Any:
    """With --pcap/--keylog and a real peer: each run's capture of the server's
    socket (its keys embedded), named like the simulated runs'."""
    if not (args.pcap or args.keylog):
        return None
    from ..capture.files import capture_paths
    from ..capture.live import ServeCapture
    several = args.runs * policies > 1

    def capture_for(seed: int) -> ServeCapture:
        parts = ("late-close-notify", policy, f"seed{seed}")
        return ServeCapture(capture_paths(args.pcap, *parts, several=several),
                            capture_paths(args.keylog, *parts, several=several),
                            comment=f"mbedtls-py repro --peer {args.peer}: the server's socket")
    return capture_for


def _report(args: argparse.Namespace, results: list[RunResult], elapsed: float) -> int:
    summary = summarise(results)
    unsure = [r for r in results if r.outcome == "inconclusive"]
    bad = [r for r in results if not r.as_promised and r.outcome != "inconclusive"]
    status = exit_status(results, getattr(args, "allow_inconclusive", False))
    if args.json:
        print(json.dumps({"command": "repro close-notify", "peer": args.peer,
                          "seed": args.seed, "runs": [r.to_dict() for r in results],
                          "summary": summary, "all_as_promised": not bad and not unsure,
                          "inconclusive": len(unsure), "exit_status": status}, indent=1))
    else:
        by_scenario: dict[str, list[RunResult]] = defaultdict(list)
        for r in results:
            by_scenario[r.scenario].append(r)
        for scenario, rs in by_scenario.items():
            kind = "late datagram of the previous connection" if scenario in LATE_SCENARIOS \
                else "genuinely bad input"
            print(f"\n== {scenario} ({kind}) ==")
            print(format_table(summarise(rs)))
            rcs = sorted({r.to_dict()["server_rc_hex"] for r in rs if r.server_rc})
            if rcs:
                print(f"server_rc seen: {', '.join(rcs)}")
        print("\n== all scenarios ==")
        print(format_table(summary))
        print(LEGEND)
        print(f"\n{len(results)} runs in {elapsed:.2f} s; "
              + ("every run did what its policy promises." if not bad else
                 f"{len(bad)} run(s) NOT as promised, e.g. {bad[0].scenario}/{bad[0].mitigation} "
                 f"seed {bad[0].seed}: {bad[0].outcome} (expected {bad[0].expected}); "
                 f"replay with --trace --seed {bad[0].seed} --scenario {bad[0].scenario} "
                 f"--mitigation {bad[0].mitigation}"))
        for r in unsure[:10]:
            print(f"INCONCLUSIVE {r.scenario}/{r.mitigation} seed {r.seed}: {r.evidence}")
        if unsure:
            print(f"{len(unsure)} run(s) inconclusive (evidence missing): exit status {status}"
                  + ("" if status else " (--allow-inconclusive)"))
    return status


def _main_real(args: argparse.Namespace, policies: list[str], progress_on: bool | None) -> int:
    try:
        from ..repro.udp import run_real
    except ImportError as e:  # pragma: no cover - shipped together
        raise SystemExit(f"repro: --peer {args.peer} is not available: {e}") from None
    results: list[RunResult] = []
    bar = Progress(args.runs * len(policies), f"repro ({args.peer}, real UDP)", progress_on)
    t0, done = time.perf_counter(), 0
    for policy in policies:
        def tick(_run: dict[str, Any]) -> None:
            # run_real reports each finished run's dict; the bar counts them
            nonlocal done
            done += 1
            bar(done)
        for run in run_real(args.peer, policy, args.runs, args.seed, args.delay, tick,
                            jobs=args.jobs, linger_ms=args.linger,
                            capture_for=_real_capture(args, policy, len(policies))):
            results.append(RunResult(
                seed=run["seed"], peer=run["peer"], mitigation=run["mitigation"],
                scenario=run["scenario"], server_rc=run["server_rc"], outcome=run["outcome"],
                late=run["late"], offset_ms=run["offset_ms"],
                second_client_served=bool(run.get("second_client_served")),
                expected=run["expected"], note=run.get("note", ""),
                linger_ms=run.get("linger_ms"), evidence=run.get("evidence", "")))
    return _report(args, results, time.perf_counter() - t0)
