"""Many runs of the close_notify scenarios: :func:`run_many` (every scenario x
policy x seed), :func:`summarise` (outcome counts per policy), :func:`sweep`
(failure rate against the late datagram's offset from the reset, on any
``concurrent.futures`` executor) and :func:`exit_status` (the CLI's contract)."""

from __future__ import annotations

import concurrent.futures
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ..server.policies import POLICIES
from .scenarios import DEFAULT_RTT_MS, LATE_SCENARIOS, SERVICE_MS, RunResult, run_scenario

__all__ = ["run_many", "sweep", "summarise", "exit_status"]


def summarise(results: Iterable[RunResult]) -> dict[str, dict[str, int]]:
    """Per policy: runs, late datagrams, server failures, real errors hidden and
    reported, new clients served, runs not as promised."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in results:
        row = table[r.mitigation]
        row["runs"] += 1
        row["late"] += r.late and r.scenario in LATE_SCENARIOS  # bad input is not "late"
        row["failed"] += r.outcome == "failed"
        row["hidden"] += r.outcome == "error-hidden"
        row["reported"] += r.outcome == "error-reported"
        row["served"] += r.second_client_served
        row["inconclusive"] += r.outcome == "inconclusive"
        row["unexpected"] += not r.as_promised
        if r.linger_ms is not None:
            row["window_ms"] = max(row["window_ms"], int(r.linger_ms))
    return {k: dict(v) for k, v in table.items()}


def _sweep_task(args: tuple[str, int, int, int, str, float | None]) -> dict[str, Any]:
    policy, seed, offset, rtt, scenario, linger_ms = args
    r = run_scenario(scenario, policy, seed, offset_ms=offset, rtt_ms=rtt, linger_ms=linger_ms)
    return {"policy": policy, "seed": seed, "offset_ms": offset, "outcome": r.outcome,
            "server_rc": r.server_rc, "served": r.second_client_served,
            "linger_ms": r.linger_ms}


def sweep(policies: Iterable[str] = POLICIES, seeds: int = 1000, *, seed: int = 0,
          rtt_ms: int = DEFAULT_RTT_MS, max_rtt: float = 5.0, buckets: int = 10,
          scenario: str = "late-close-notify", linger_ms: float | None = None,
          executor: concurrent.futures.Executor | None = None,
          progress: Any = None,
          on_result: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """Failure rate per policy against the late close_notify's offset from the
    server's reset (drawn per seed from just before the reset to ``max_rtt``
    RTT after it), on any ``concurrent.futures.Executor`` (default: in this
    process).  The first bucket holds the runs where it arrived before the reset.
    ``on_result`` sees each run's dict (policy, seed, offset_ms, outcome, ...)."""
    import random

    rng = random.Random(f"sweep/{seed}")
    lo_ms = -SERVICE_MS + 1
    offsets = [int(rng.uniform(lo_ms, max_rtt * rtt_ms)) or 1 for _ in range(seeds)]
    tasks = [(p, seed + i, offsets[i], rtt_ms, scenario, linger_ms)
             for p in policies for i in range(seeds)]
    if executor is None:
        results = []
        for i, t in enumerate(tasks):
            results.append(_sweep_task(t))
            if on_result:
                on_result(results[-1])
            if progress:
                progress(i + 1, len(tasks))
    else:
        results = []
        for i, r in enumerate(executor.map(_sweep_task, tasks, chunksize=max(1, len(tasks) // 64))):
            results.append(r)
            if on_result:
                on_result(r)
            if progress:
                progress(i + 1, len(tasks))
    width = max_rtt * rtt_ms / buckets
    edges = [(lo_ms, 0)] + [(b * width, (b + 1) * width) for b in range(buckets)]
    table: dict[str, list[dict[str, Any]]] = {}
    for p in policies:
        rows = []
        for lo, hi in edges:
            sel = [r for r in results if r["policy"] == p and lo <= r["offset_ms"] < hi]
            failed = sum(r["outcome"] == "failed" for r in sel)
            rows.append({"offset_ms": [round(lo), round(hi)], "runs": len(sel), "failed": failed,
                         "failure_rate": round(failed / len(sel), 4) if sel else None})
        table[p] = rows
    windows = sorted({r["linger_ms"] for r in results if r["linger_ms"] is not None})
    return {"scenario": scenario, "seeds": seeds, "rtt_ms": rtt_ms, "buckets": table,
            "linger_window_ms": windows,
            "inconclusive": sum(r["outcome"] == "inconclusive" for r in results),
            "failure_rate": {p: round(sum(r["outcome"] == "failed" for r in results
                                          if r["policy"] == p) / seeds, 4) for p in policies}}


def exit_status(results: list[RunResult], allow_inconclusive: bool = False) -> int:
    """1 if any run is not as promised; else 3 if any is inconclusive (0 with
    ``allow_inconclusive``); else 0.  An inconclusive run is never a pass."""
    if any(not r.as_promised and r.outcome != "inconclusive" for r in results):
        return 1
    if any(r.outcome == "inconclusive" for r in results) and not allow_inconclusive:
        return 3
    return 0


def run_many(scenarios: list[str], policies: list[str], runs: int, seed: int, *,
             auth: str = "psk", rtt_ms: int = DEFAULT_RTT_MS, linger_ms: float | None = None,
             progress: Callable[[int, int], None] | None = None,
             run: Callable[..., RunResult] | None = None) -> list[RunResult]:
    """Run every scenario under every policy ``runs`` times (seeds seed, seed+1, ...);
    ``progress(done, total)`` after each run.  With ``auth="ecdsa"`` one deterministic
    PKI (from ``seed``) serves every run.  ``run`` (same arguments as
    :func:`run_scenario`) replaces it, e.g. to capture each run."""
    run = run_scenario if run is None else run
    pki = None
    if auth != "psk":
        from ..creds.det import make_det_pki
        pki = make_det_pki(seed)
    total, done, out = len(scenarios) * len(policies) * runs, 0, []
    for scenario in scenarios:
        for policy in policies:
            for i in range(runs):
                out.append(run(scenario, policy, seed + i, auth=auth, pki=pki,
                               rtt_ms=rtt_ms, linger_ms=linger_ms))
                done += 1
                if progress is not None:
                    progress(done, total)
    return out
