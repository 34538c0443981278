"""Schedule search throughput: schedules per CPU second of `mbedtls-py search`
on ssl-opt cases, serially, beside the case's plain run rate.

    python bench/search_bench.py [--json] [--budget N]

Rows (one per case): `runs_per_cpu_s` is run_case alone (the fault-free run,
the runner's own cost); `schedules_per_cpu_s` a serial search of up to 2
moves, at most `--budget` schedules (default 300; each schedule is a
complete run of the case: proxy, server, client, the case's check), shrink
runs included.  CPU time is this process's (time.process_time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mbedtls_py.search import search
from mbedtls_py.sslopt.parse import load_cases
from mbedtls_py.sslopt.runner import run_case

CASES = ("DTLS proxy: 3d, \"short\" RSA handshake",
         "DTLS proxy: duplicate every packet, server anti-replay off",
         "Connection ID, 3D+MTU: Cli+Srv enabled, Cli+Srv CID nonempty")


def row(case: Any, budget: int) -> dict[str, Any]:
    """One case's figures."""
    c0 = time.process_time()
    for _ in range(10):
        run_case(case, 1)
    plain = 10 / (time.process_time() - c0)
    c0 = time.process_time()
    r = search(case, faults=2, max_schedules=budget)
    cpu = time.process_time() - c0
    runs = r.schedules + r.shrink_runs + 1  # + the baseline
    return {"case": case.name, "runs_per_cpu_s": round(plain, 1), "schedules": r.schedules,
            "found": r.found is not None, "cpu_s": round(cpu, 2),
            "schedules_per_cpu_s": round(runs / cpu, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--budget", type=int, default=300)
    a = ap.parse_args()
    cases = {c.name: c for c in load_cases()}
    rows = [row(cases[n], a.budget) for n in CASES]
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['schedules_per_cpu_s']:8.1f} schedules/CPU s  {r['runs_per_cpu_s']:8.1f} "
                  f"runs/CPU s  {r['schedules']:5d} schedules{' (found)' if r['found'] else ''}"
                  f"  {r['case']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
