"""The explorer's evidence per policy: schedules run, classes, failure
classes, for K = 1 and K = 2, on the two-clients scenario; and, schedule by
schedule (on the schedules every policy shares), where a policy fails while
``none`` does not, and where ``none`` fails while the policy does not.

    python bench/explore_policies.py [--faults 1,2] [--jobs 2] [--out FILE]

Writes a JSON object (default bench/explore_policies.json) and prints the
markdown tables of bench/README.md.  K = 2 runs about 70,000-95,000
schedules per policy (minutes on two cores).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from mbedtls_py.explore.engine import Exploration, explore, menu, schedules, stderr_progress
from mbedtls_py.explore.model import schedule_words
from mbedtls_py.server import POLICIES

BENCH = Path(__file__).resolve().parent


def _failing(result: Exploration) -> dict[tuple, tuple[bool, str]]:
    """schedule -> (failure?, outcome words), for every schedule run."""
    failure = {c.id: (c.failure, c.outcome.codes_words()) for c in result.classes}
    items = menu(result.baseline)
    return {s: failure[cid] for s, cid in zip(schedules(items, result.faults),
                                              result.assignments)}


def _brief(c: dict[str, Any]) -> dict[str, Any]:
    """A failure class in a few fields (the full form is `explore --json`)."""
    return {"id": c["id"], "count": c["count"],
            "codes": {k: [x["name"] for x in v] for k, v in c["codes"].items()},
            "representative": c["representative"]["words"]}


def main(argv: list[str] | None = None) -> int:
    """Run every policy for each K; print tables; write JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faults", default="1,2", help="comma-separated K values (default 1,2)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--scenario", default="two-clients")
    ap.add_argument("--out", default=str(BENCH / "explore_policies.json"))
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.faults.split(",")]
    out: dict[str, Any] = {"scenario": args.scenario, "runs": []}
    rows = ["| policy | K | schedules | classes | failure classes | schedules failing |",
            "|---|---|---|---|---|---|"]
    diffs = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for k in ks:
            per_policy: dict[str, dict[tuple, tuple[bool, str]]] = {}
            for policy in POLICIES:
                r = explore(args.scenario, policy, k, executor=pool,
                            progress=stderr_progress(f"{policy} K={k}"))
                failing = sum(c.count for c in r.failures)
                out["runs"].append({"policy": policy, "faults": k, "schedules": r.schedules,
                                    "menu": r.menu_size, "classes": len(r.classes),
                                    "failure_classes": len(r.failures),
                                    "failing_schedules": failing, "seconds": round(r.seconds, 1),
                                    "failures": [_brief(c.to_json()) for c in r.failures]})
                rows.append(f"| {policy} | {k} | {r.schedules:,} | {len(r.classes)} | "
                            f"{len(r.failures)} | {failing:,} |")
                per_policy[policy] = _failing(r)
            none = per_policy["none"]
            for policy in POLICIES[1:]:
                mine = per_policy[policy]
                shared = [s for s in none if s in mine]
                worse = [s for s in shared if mine[s][0] and not none[s][0]]
                better = [s for s in shared if none[s][0] and not mine[s][0]]
                still = [s for s in shared if none[s][0] and mine[s][0]]
                d = {"policy": policy, "faults": k, "shared": len(shared),
                     "fails_where_none_does_not": len(worse),
                     "covers_where_none_fails": len(better),
                     "fails_where_none_fails_too": len(still),
                     "examples_still_failing": [f"{schedule_words(s)} -> {mine[s][1]}"
                                                for s in still[:8]],
                     "examples_worse": [f"{schedule_words(s)} -> {mine[s][1]}"
                                        for s in worse[:8]]}
                diffs.append(d)
    out["comparison"] = diffs
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(rows))
    print()
    print("| policy | K | schedules shared with none | none fails, policy does not | "
          "both fail | policy fails, none does not |")
    print("|---|---|---|---|---|---|")
    for d in diffs:
        print(f"| {d['policy']} | {d['faults']} | {d['shared']:,} | "
              f"{d['covers_where_none_fails']:,} | {d['fails_where_none_fails_too']:,} | "
              f"{d['fails_where_none_does_not']:,} |")
    for d in diffs:
        for ex in d["examples_still_failing"][:4]:
            print(f"- {d['policy']} K={d['faults']} still fails: {ex}")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
