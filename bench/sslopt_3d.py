"""The "3d" cases (drop, delay, duplicate) with many seeds: failing seeds per
case, each replayed to check it gives the same bytes, and classified.

    python -m mbedtls_py ssl-opt --filter '(?i)3d' --seeds 1000 --json > 3d.json
    python bench/sslopt_3d.py 3d.json
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict

from mbedtls_py.sslopt.parse import load_cases
from mbedtls_py.sslopt.runner import run_case

RECONNECT = "server took a delayed ClientHello (valid cookie) for a client reconnect"
SLOW = "20 s client watchdog during a slow handshake or renegotiation (retransmission back-off)"


def classify(srv_out: str, cli_out: str, cli_exit: int | None) -> str:
    """Why a seed failed, from the programs' outputs."""
    if "Client initiated reconnection from same port" in srv_out:
        return RECONNECT
    if cli_exit == 143:
        return SLOW
    return f"client exit {cli_exit}"


def main(path: str) -> int:
    data = json.load(open(path))
    cases = {c.name: c for c in load_cases()}
    runs: Counter[str] = Counter()
    fails: dict[str, Counter[str]] = defaultdict(Counter)
    example: dict[tuple[str, str], int] = {}
    for r in data["results"]:
        if r["verdict"] not in ("PASS", "FAIL"):
            continue
        runs[r["name"]] += 1
        if r["verdict"] == "FAIL":
            res = run_case(cases[r["name"]], r["seed"])
            same = res.verdict == "FAIL" and res.digest() == r["digest"]
            why = classify(res.srv_out, res.cli_out, res.cli_exit) + ("" if same else " (NOT REPLAYED)")
            fails[r["name"]][why] += 1
            example.setdefault((r["name"], why), r["seed"])
    for name in runs:
        total = sum(fails[name].values())
        print(f"{total:4d} / {runs[name]} failing seeds  {name}")
        for why, k in fails[name].items():
            print(f"        {k:4d} {why} (e.g. --trace '{name}' --seed {example[(name, why)]})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else (print(__doc__), 2)[1])
