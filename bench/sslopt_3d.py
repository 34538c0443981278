"""The "3d" cases (drop, delay, duplicate) with many seeds: failing seeds per
case, each replayed to check it gives the same bytes, and classified.

    python -m mbedtls_py ssl-opt --filter '(?i)3d' --seeds 1000 --json > 3d.json
    python bench/sslopt_3d.py 3d.json

With a remedy, replay under the same one (docs/upstream/cid-reconnect.md):

    python -m mbedtls_py ssl-opt ... --server-policy reconnect-guard --json > guard.json
    python bench/sslopt_3d.py guard.json --server-policy reconnect-guard
    MBEDTLS_PY_VARIANT=3.6.7+0002 python -m mbedtls_py ssl-opt ... --json > variant.json
    MBEDTLS_PY_VARIANT=3.6.7+0002 python bench/sslopt_3d.py variant.json
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


def main(path: str, policy: str = "none") -> int:
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
            res = run_case(cases[r["name"]], r["seed"], server_policy=policy)
            same = res.verdict == "FAIL" and res.digest() == r["digest"]
            why = classify(res.srv_out, res.cli_out, res.cli_exit) + ("" if same else " (NOT REPLAYED)")
            fails[r["name"]][why] += 1
            example.setdefault((r["name"], why), r["seed"])
    print(f"{sum(runs.values())} runs, {sum(sum(f.values()) for f in fails.values())} failing; "
          f"reconnect {sum(f[w] for f in fails.values() for w in f if w.startswith(RECONNECT))}")
    for name in runs:
        total = sum(fails[name].values())
        print(f"{total:4d} / {runs[name]} failing seeds  {name}")
        for why, k in fails[name].items():
            print(f"        {k:4d} {why} (e.g. --trace '{name}' --seed {example[(name, why)]})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2:
        sys.exit(main(sys.argv[1]))
    if len(sys.argv) == 4 and sys.argv[2] == "--server-policy":
        sys.exit(main(sys.argv[1], sys.argv[3]))
    print(__doc__)
    sys.exit(2)
