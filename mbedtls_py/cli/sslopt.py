"""``mbedtls-py ssl-opt``: upstream's DTLS cases, in process, in virtual time."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from .._cliargs import OneLineParser
from .._progress import Progress
from ..sslopt.tree import SourceUnavailable

__all__ = ["main"]

_ORDER = ("PASS", "FAIL", "ERROR", "SKIP", "UNSUPPORTED", "NOTRUN")
_RAN = ("PASS", "FAIL", "ERROR")  # verdicts of a case that ran
_MAX_CAPTURES = 50  # failing runs captured at most (each is replayed)


def _args(argv: list[str]) -> argparse.Namespace:
    ap = OneLineParser(prog="mbedtls-py ssl-opt",
                       description="Run the DTLS cases of Mbed TLS's tests/ssl-opt.sh (read from "
                       "the pinned source) in process: ssl_server2/ssl_client2/udp_proxy on a "
                       "simulated network in virtual time, seeded, with each case's own "
                       "assertions.")
    ap.add_argument("--filter", default=".", metavar="REGEX",
                    help="run the cases whose name matches REGEX (Python re.search)")
    ap.add_argument("--seeds", type=int, default=1, metavar="N",
                    help="run each case with seeds 1..N (random impairments, RNGs)")
    ap.add_argument("--seed-base", type=int, default=1, metavar="S",
                    help="first seed (default 1)")
    ap.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--ssl-opt", type=Path, metavar="PATH",
                    help="the ssl-opt.sh of another Mbed TLS tree (its data files are read "
                    "from that tree too; default: the pinned source's, fetched into the user's "
                    "cache on first use when installed)")
    ap.add_argument("--trace", metavar="NAME",
                    help="run the case NAME (exact) with --seed and print its outputs and "
                    "every datagram")
    ap.add_argument("--seed", type=int, default=1, metavar="S", help="the seed for --trace")
    ap.add_argument("--timing", default=None, metavar="MODEL[,MODEL...]",
                    help="timing model(s) (mbedtls_py.timing: measured, loaded, jitter), seeded "
                    "with each run's seed; several: every run once per model; default: off "
                    "(zero-cost calls, zero latency)")
    ap.add_argument("--pcap", metavar="FILE",
                    help="write the datagrams as pcapng with both programs' session keys embedded "
                         "(open in Wireshark/tshark): with --trace exactly FILE; otherwise one file "
                         "per FAILING case and seed, FILE with the case and seed inserted before "
                         "the extension (each failing run replayed from its seed)")
    ap.add_argument("--keylog", metavar="FILE",
                    help="write the session keys as an SSLKEYLOGFILE, named like --pcap")
    ap.add_argument("--all", action="store_true",
                    help="also list TLS (non-DTLS) cases as NOTRUN")
    ap.add_argument("--real-peers", action="store_true",
                    help="run cases with an OpenSSL/GnuTLS peer over real UDP, in real time "
                    "(the real program, the Mbed TLS side and the udp_proxy model on loopback)")
    ap.add_argument("--unskip", action="store_true",
                    help="ignore skip_next_test: run the cases upstream disables (e.g. the "
                    "3d GnuTLS fragmentation cases of Mbed-TLS/mbedtls#10652)")
    ap.add_argument("--server-policy", default="none", choices=("none", "reconnect-guard"),
                    help="reconnect-guard: the in-process ssl_server2 drops copies of the "
                    "ClientHello that opened its connection (same random) instead of taking "
                    "them for a client reconnect (mbedtls_py.server.hello_guard)")
    a = ap.parse_args(argv)
    if a.seeds < 1 or a.seeds > 100000:
        ap.error("--seeds must be 1 .. 100000")
    if a.jobs < 1 or a.jobs > 64:
        ap.error("--jobs must be 1 .. 64")
    try:
        re.compile(a.filter)
    except re.error as e:
        ap.error(f"--filter: {e}")
    from ..timing import MODELS
    a.models = [m for m in (a.timing or "").split(",") if m] or [None]
    bad = [m for m in a.models if m is not None and m not in MODELS]
    if bad:
        ap.error(f"--timing: unknown model {bad[0]!r}; have {', '.join(MODELS)}")
    if a.real_peers and a.models != [None]:
        ap.error("--timing models the in-process runs; real peers run in real time")
    if a.trace and len(a.models) > 1:
        ap.error("--trace replays one run: give one --timing model")
    return a


_CASES: list[Any] = []


_REAL = [False]
_POLICY = ["none"]


def _init(ssl_opt: str | None, real_peers: bool = False, unskip: bool = False,
          policy: str = "none") -> None:
    from ..sslopt.parse import load_cases, unskipped
    _CASES[:] = [unskipped(c) for c in load_cases(ssl_opt)] if unskip else load_cases(ssl_opt)
    _REAL[0] = real_peers
    _POLICY[0] = policy


def _work(item: tuple[int, int] | tuple[int, int, str | None]) -> dict[str, Any]:
    from ..sslopt.runner import describe, run_case
    idx, seed = item[0], item[1]
    model = item[2] if len(item) > 2 else None
    try:
        r = run_case(_CASES[idx], seed, real_peers=_REAL[0], timing=model,
                     server_policy=_POLICY[0])
    except Exception as e:  # noqa: BLE001 - a crash of the runner: ERROR, not the case's FAIL
        return {"name": _CASES[idx].name, "number": _CASES[idx].number, "seed": seed,
                "verdict": "ERROR", "reason": f"runner error: {e!r}"
                + (f": {e.filename}" if isinstance(e, OSError) and e.filename else ""),
                "virtual_ms": 0,
                "real_s": 0.0, "cli_exit": None, "digest": None,
                **({"timing": model} if model else {})}
    return describe(r)


def _replay(name: str, seed: int, ssl_opt: Path | None, real: bool = False,
            unskip: bool = False, timing: str | None = None) -> str:
    from ..sslopt.flaky import replay_command
    return replay_command(name, seed, ssl_opt, real, timing, unskip, _POLICY[0])


def case_slug(name: str) -> str:
    """A case name as a file name part: ``Session resume using cache, DTLS:
    timeout > delay`` -> ``Session_resume_using_cache_DTLS_timeout_gt_delay``.
    ``<``/``>`` are spelled out: ssl-opt.sh has cases that differ only there,
    and their captures must not overwrite each other."""
    name = name.replace(">", " gt ").replace("<", " lt ")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "case"


def _captured(case: Any, seed: int, real_peers: bool, pcap: str | None,
              keylog: str | None, several: bool, timing: str | None = None,
              setup: Any = None) -> Any:
    """``run_case`` with key export on for every context it creates; the run's
    datagrams (as the case's network saw them) and keys go to ``pcap``/``keylog``."""
    from ..capture.files import capture_paths
    from ..capture.pcapng import Packet, write_keylog, write_pcap, write_pcapng
    from ..bindings.context import export_keys_to
    from ..sslopt.runner import run_case

    keys: list[str] = []
    with export_keys_to(keys.append):
        r = run_case(case, seed, real_peers=real_peers, timing=timing,
                     server_policy=_POLICY[0], setup=setup)
    slug = case_slug(case.name)
    hosts: dict[str, str] = {}

    def addr(text: str) -> tuple[str, int]:  # "srv:4433" -> a stable documentation address
        host, _, port = text.rpartition(":")
        ip = hosts.setdefault(host, f"192.0.2.{len(hosts) + 1}")
        return ip, int(port) if port.isdigit() else 0

    packets = [Packet(1_700_000_000_000_000 + t * 1000, addr(src), addr(dst), data,
                      comments=[f"{src} -> {dst} (ssl-opt: {case.name}, seed {seed})"])
               for t, src, dst, _, data in r.trace]
    path = capture_paths(pcap, slug, f"seed{seed}", several=several)
    if path is not None:
        if path.suffix == ".pcap":
            write_pcap(path, packets)
        else:
            write_pcapng(path, packets, keys, comment=f"ssl-opt {case.name!r} seed {seed}: "
                         f"{r.verdict}")
    log = capture_paths(keylog, slug, f"seed{seed}", several=several)
    if log is not None:
        write_keylog(log, keys)
    return r


def _trace(a: argparse.Namespace) -> int:
    from ..sslopt.parse import load_cases, unskipped
    found = [unskipped(c) if a.unskip else c for c in load_cases(a.ssl_opt) if c.name == a.trace]
    if not found:
        print(f"mbedtls-py ssl-opt: error: no case named {a.trace!r}", file=sys.stderr)
        return 2
    _POLICY[0] = a.server_policy
    r = _captured(found[0], a.seed, a.real_peers, a.pcap, a.keylog, several=False,
                  timing=a.models[0])
    print_result(r, a.models[0])
    return 0 if r.verdict in ("PASS", "SKIP") else 1


def print_result(r: Any, timing: str | None = None) -> None:
    """``--trace``'s report of one run: verdict, proxy log, outputs, datagrams, digest."""
    model = f", timing {timing}" if timing else ""
    print(f"== {r.case.name} (seed {r.seed}{model}): {r.verdict} {r.reason}")
    print(f"== proxy: {r.case.pxy_cmd}\n{r.pxy_out}")
    print(f"== server output\n{r.srv_out}")
    print(f"== client output\n{r.cli_out}")
    print("== datagrams (virtual ms, from, to, length, first bytes)")
    for t, src, dst, _, data in r.trace:
        print(f"{t:8d} {src:>11} -> {dst:<11} {len(data):5d} {data[:16].hex()}")
    if r.timeline:
        print("== timing (virtual us): arrivals, computations, sockets freed")
        for us, what in r.timeline:
            print(f"{us:10d} {what}")
    print(f"== digest {r.digest()}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mbedtls-py ssl-opt``."""
    a = _args(sys.argv[1:] if argv is None else argv)
    try:
        if a.trace:
            return _trace(a)
        _init(str(a.ssl_opt) if a.ssl_opt else None, a.real_peers, a.unskip, a.server_policy)
    except FileNotFoundError as e:
        print(f"mbedtls-py ssl-opt: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, SourceUnavailable) else 2
    rx = re.compile(a.filter)
    chosen = [i for i, c in enumerate(_CASES) if (c.dtls or a.all) and rx.search(c.name)]
    seeds = range(a.seed_base, a.seed_base + a.seeds)
    items: list[Any] = ([(i, s) for i in chosen for s in seeds] if a.models == [None] else
                        [(i, s, m) for i in chosen for m in a.models for s in seeds])
    tty = sys.stderr.isatty() and not a.json
    lines = Progress(len(items), "ssl-opt", None if not tty else False)  # off a terminal
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    it: Iterator[dict[str, Any]]
    if a.jobs > 1:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        pool = ctx.Pool(a.jobs, _init, (str(a.ssl_opt) if a.ssl_opt else None, a.real_peers,
                                        a.unskip, a.server_policy))
        it = pool.imap(_work, items, chunksize=max(1, len(items) // (a.jobs * 8) or 1))
    else:
        pool = None
        it = map(_work, items)
    try:
        for n, res in enumerate(it, 1):
            results.append(res)
            if tty:
                print(f"\r[{n}/{len(items)}] {res['name'][:60]:60}", end="", file=sys.stderr,
                      flush=True)
            else:
                lines(n)
            if not a.json and (a.seeds == 1 or res["verdict"] in ("FAIL", "ERROR")):
                if tty:
                    print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
                extra = f" (seed {res['seed']})" if a.seeds > 1 else ""
                extra += f" [timing {res['timing']}]" if res.get("timing") else ""
                why = f"  [{res['reason']}]" if res["reason"] else ""
                print(f"{res['verdict']:<11} {res['virtual_ms']:>7} ms {res['real_s']:7.3f} s  "
                      f"{res['name']}{extra}{why}", flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    elapsed = time.perf_counter() - t0
    counts = Counter(r["verdict"] for r in results)
    failing = [r for r in results if r["verdict"] in ("FAIL", "ERROR")]
    for r in failing:
        r["replay"] = _replay(r["name"], r["seed"], a.ssl_opt,
                              a.real_peers and r.get("virtual_ms", 0) == 0 and "real" in r,
                              a.unskip, r.get("timing"))
    if failing and (a.pcap or a.keylog):  # same seed, same bytes: replay each, captured
        by_name = {c.name: c for c in _CASES}
        for r in [r for r in failing if r["verdict"] == "FAIL"][:_MAX_CAPTURES]:
            _captured(by_name[r["name"]], r["seed"], a.real_peers, a.pcap, a.keylog, several=True,
                      timing=r.get("timing"))
        print(f"{min(len(failing), _MAX_CAPTURES)} failing run(s) captured", file=sys.stderr)
    from ..sslopt.flaky import flakiness, format_flakiness
    flaky = flakiness(results) if a.seeds > 1 or len(a.models) > 1 else []
    if a.json:
        print(json.dumps({"counts": {k: counts.get(k, 0) for k in _ORDER}, "results": results,
                          "real_s": round(elapsed, 3), "seeds": a.seeds,
                          **({"flakiness": flaky} if flaky else {}),
                          **({"timing": a.models} if a.models != [None] else {})}, indent=1))
    else:
        if tty:
            print("\r" + " " * 80 + "\r", end="", file=sys.stderr)
        if failing:
            print("\nfailing runs, each replayable byte for byte:")
            per: Counter[str] = Counter(r["name"] for r in failing)
            for name, k in per.items():
                first = next(r for r in failing if r["name"] == name)
                print(f"  {k:5d} x {name}\n        {first['replay']}")
        if flaky:
            print("\nper case and timing model (95% Wilson interval of the failure rate):")
            print("\n".join(format_flakiness([f for f in flaky if f["runs"]])))
            for f in flaky:
                for seed in f["failing_seeds"][:20]:
                    model = None if f["timing"] == "off" else f["timing"]
                    print(f"    {_replay(f['name'], seed, a.ssl_opt, False, a.unskip, model)}")
        summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in _ORDER)
        print(f"\n{len(results)} runs of {len(chosen)} cases: {summary}; {elapsed:.1f} s real")
    ran = sum(counts.get(k, 0) for k in _RAN)
    if not failing and not ran:
        print("mbedtls-py ssl-opt: error: no case ran (every selected case was SKIP, "
              "UNSUPPORTED or NOTRUN, or --filter matched none)", file=sys.stderr)
    return 1 if failing else 0 if ran else 3
