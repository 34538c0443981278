"""Summarise a `bench/fuzz_asan.sh` run: datagrams, rate, violations by
category, and every sanitizer report (ours: csrc/ or mbedtls_py; upstream:
Mbed TLS's library/).

    python bench/fuzz_asan_summary.py [OUT_DIR] [--json]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_REPORT = re.compile(r"(ERROR: AddressSanitizer: .*|runtime error: .*|"
                     r"ERROR: LeakSanitizer: .*|ERROR: UndefinedBehaviorSanitizer: .*)")
_FRAME = re.compile(r"#\d+ 0x[0-9a-f]+ in (\S+) (\S+)")


def _reports(log: str) -> list[dict[str, str]]:
    out = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = _REPORT.search(line)
        if not m:
            continue
        frames = [f for ln in lines[i:i + 40] if (f := _FRAME.search(ln))]
        where = next((f"{f.group(1)} {f.group(2)}" for f in frames
                      if "sanitizer" not in f.group(2) and "interceptor" not in f.group(1)), "?")
        ours = any(k in where for k in ("glue.c", "mbedtls_py", "_lib.c"))
        out.append({"report": m.group(1)[:200], "where": where,
                    "owner": "ours" if ours else "upstream" if "library/" in where else "other"})
    return out


def summarize(out_dir: Path) -> dict[str, object]:
    """Totals over every finished chunk of ``out_dir``."""
    total = secs = 0.0
    cats: dict[str, int] = {}
    new: list[dict[str, object]] = []
    reports: list[dict[str, str]] = []
    chunks = []
    for js in sorted(out_dir.glob("chunk*.json"), key=lambda p: int(p.stem[5:])):
        log = js.with_suffix(".log")
        reports += _reports(log.read_text(errors="replace")) if log.exists() else []
        try:
            doc = json.loads(js.read_text())
        except (json.JSONDecodeError, OSError):
            chunks.append({"chunk": js.stem, "finished": False})
            continue
        total += doc["iterations"]
        secs += doc["elapsed_s"]
        for k, v in doc["violations"].items():
            cats[k] = cats.get(k, 0) + v
        new += [f for f in doc["findings"] if f["category"] in ("new", "unreproduced")]
        chunks.append({"chunk": js.stem, "finished": True, "iterations": doc["iterations"],
                       "rate_per_s": doc["rate_per_s"], "mbedtls": doc["mbedtls_version"]})
    return {"datagrams": int(total), "seconds": round(secs, 1),
            "rate_per_s": round(total / secs, 1) if secs else 0.0,
            "violations": dict(sorted(cats.items())), "new": new,
            "sanitizer_reports": reports,
            "ours": sum(r["owner"] == "ours" for r in reports), "chunks": chunks}


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--json"]
    out_dir = Path(args[0] if args else "/tmp/mbedtls-py-fuzz-asan")
    if not out_dir.is_dir():
        print(f"fuzz_asan_summary: no such folder {out_dir}", file=sys.stderr)
        return 2
    s = summarize(out_dir)
    if "--json" in sys.argv:
        print(json.dumps(s, indent=1))
        return 0
    print(f"{s['datagrams']:,} datagrams under ASan+UBSan in {s['seconds']} s "
          f"({s['rate_per_s']}/s), {len(s['chunks'])} chunks")
    print("violations: " + ", ".join(f"{k} {v:,}" for k, v in s["violations"].items()))
    print(f"new: {len(s['new'])}; sanitizer reports: {len(s['sanitizer_reports'])} "
          f"({s['ours']} in our code)")
    distinct: dict[tuple[str, str, str], int] = {}
    for r in s["sanitizer_reports"]:  # type: ignore[union-attr]
        key = (r["owner"], re.sub(r"0x[0-9a-f]+", "0x?", r["report"]), r["where"])
        distinct[key] = distinct.get(key, 0) + 1
    for (owner, report, where), n in sorted(distinct.items()):
        print(f"  [{owner}] x{n} {report} at {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
