"""Flakiness with its uncertainty: per case and timing model, "fails k of n"
with a 95% Wilson score interval, and the one-line command that replays each
failing run.

The Wilson interval (not the normal approximation) because the counts that
matter are small: it stays inside [0, 1], is not degenerate at k = 0 (0 of
1,000 gives [0, 0.38%], a statement about how rare a flake can still be), and
its coverage is close to 95% for every n used here.
"""

from __future__ import annotations

import math
import shlex
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["wilson", "replay_command", "flakiness", "format_flakiness"]

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials
    (95% by default); ``(0, 1)`` for ``n == 0``."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo, hi = max(0.0, mid - half), min(1.0, mid + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return lo, hi


def replay_command(name: str, seed: int, ssl_opt: Path | str | None = None,
                   real: bool = False, timing: str | None = None, unskip: bool = False,
                   server_policy: str = "none") -> str:
    """The command that replays one run (byte for byte, unless ``real``)."""
    extra = f" --ssl-opt {shlex.quote(str(ssl_opt))}" if ssl_opt else ""
    extra += " --unskip" if unskip else ""
    extra += f" --server-policy {server_policy}" if server_policy != "none" else ""
    if timing:
        extra += f" --timing {shlex.quote(timing)}"
    if real:  # real time and a real peer: runs again, not byte for byte
        extra += " --real-peers"
    return f"python -m mbedtls_py ssl-opt --trace {shlex.quote(name)} --seed {seed}{extra}"


def flakiness(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (case, timing model): runs that gave a verdict (PASS/FAIL), failures,
    the failure rate's 95% Wilson interval and the failing seeds, in the order
    the cases first appear."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(r["name"], r.get("timing") or "off")].append(r)
    out = []
    for (name, model), rs in groups.items():
        judged = [r for r in rs if r["verdict"] in ("PASS", "FAIL")]
        failing = [r for r in judged if r["verdict"] == "FAIL"]
        lo, hi = wilson(len(failing), len(judged))
        out.append({"name": name, "timing": model, "runs": len(judged), "fails": len(failing),
                    "interval95": [round(lo, 6), round(hi, 6)],
                    "failing_seeds": [r["seed"] for r in failing]})
    return out


def format_flakiness(rows: list[dict[str, Any]]) -> list[str]:
    """One line per row: ``fails k of n [lo%, hi%]  timing  case``."""
    lines = []
    for row in rows:
        lo, hi = row["interval95"]
        lines.append(f"  fails {row['fails']:5d} of {row['runs']:<6d} "
                     f"[{100 * lo:6.2f}%, {100 * hi:6.2f}%]  {row['timing']:<9} {row['name']}")
    return lines
