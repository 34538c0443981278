"""``mbedtls-py matrix``: one command, once per library variant, one table.

  mbedtls-py matrix -- repro close-notify --mitigation none
  mbedtls-py matrix --variants 3.6.6,default -- pytest tests/variants/test_variants.py
  mbedtls-py matrix --json -- python -m mbedtls_py.variants.probe --json

Each variant runs the command in its own process (``MBEDTLS_PY_VARIANT`` set;
one process loads one variant).  The command is an ``mbedtls-py`` subcommand
(run with this Python), ``pytest ...``, ``python ...``, or any program.
Rows are what the command reports: ``repro`` (``--json`` is added) gives
outcome counts and the server's return codes per scenario and policy;
``pytest`` gives passed/failed/skipped counts and every test whose outcome
differs between variants (from a JUnit XML report); any other command
printing a JSON object gives its scalar fields; otherwise the last line of
output.  Columns are the variants.  Exit status: 0 when the command exited 0
in every variant, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .._cliargs import doc_parser
from ..variants import ENV, VariantError, find, list_variants

__all__ = ["resolve_command", "parse_output", "run_matrix", "render", "main"]

Rows = dict[str, str]


def resolve_command(cmd: list[str], report: Path) -> tuple[list[str], str]:
    """The argv to run and the parser to read its output with."""
    from . import COMMANDS

    head = cmd[0]
    if head in ("mbedtls-py", "mbedtls_py"):
        cmd, head = cmd[1:], cmd[1] if len(cmd) > 1 else ""
    if head in COMMANDS:
        argv = [sys.executable, "-m", "mbedtls_py", *cmd]
        if head == "repro" and "--json" not in cmd:
            argv.append("--json")
        return argv, "repro" if head == "repro" else "generic"
    if head in ("pytest", "py.test"):
        return [sys.executable, "-m", "pytest", *cmd[1:], "-p", "no:cacheprovider",
                f"--junitxml={report}"], "pytest"
    if head in ("python", "python3"):
        return [sys.executable, *cmd[1:]], "generic"
    return list(cmd), "generic"


def parse_repro(doc: dict[str, Any]) -> Rows:
    """Per scenario and policy: outcome counts and the server's return codes."""
    from ..bindings.errors import rc_text  # here: the matrix itself need not load an extension

    groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for run in doc.get("runs", []):
        groups[f"{run.get('scenario')} / {run.get('mitigation')}"].append(run)
    rows: Rows = {}
    for label, runs in groups.items():
        outcomes = collections.Counter(str(r.get("outcome")) for r in runs)
        codes = collections.Counter(rc_text(int(r.get("server_rc", 0))) for r in runs)
        rows[label] = (" ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
                       + " | rc " + " ".join(f"{k}×{v}" for k, v in sorted(codes.items())))
    if "all_as_promised" in doc:
        rows["all as promised"] = str(doc["all_as_promised"])
    return rows


def parse_junit(report: Path) -> tuple[Rows, dict[str, str]]:
    """Counts, and each test's outcome, from a JUnit XML report."""
    tests: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
        tests[name] = outcome
    counts = collections.Counter(tests.values())
    return {f"tests {k}": str(counts.get(k, 0))
            for k in ("passed", "failed", "error", "skipped")}, tests


def flatten(value: Any, prefix: str = "", out: Rows | None = None, depth: int = 0) -> Rows:
    """Scalar leaves of a JSON value as ``a.b.c`` rows (lists of objects labelled
    by their first name-like field)."""
    out = {} if out is None else out
    if isinstance(value, dict) and depth < 4:
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out, depth + 1)
    elif isinstance(value, list) and depth < 4 and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            label = next((str(v[k]) for k in ("name", "scenario", "case", "id", "stray_bytes")
                          if k in v), str(i))
            flatten({k: x for k, x in v.items() if str(x) != label}, f"{prefix}[{label}]",
                    out, depth + 1)
    elif isinstance(value, list):
        out[prefix] = ", ".join(map(str, value))
    else:
        out[prefix] = str(value)
    return out


def parse_output(kind: str, stdout: str, report: Path) -> tuple[Rows, dict[str, str]]:
    """Rows from one run's output (and per-test outcomes for pytest)."""
    if kind == "pytest" and report.is_file():
        return parse_junit(report)
    text = stdout.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            return (parse_repro(doc) if kind == "repro" else flatten(doc)), {}
    lines = [line for line in text.splitlines() if line.strip()]
    return {"last line": lines[-1][:80] if lines else ""}, {}


def run_matrix(variants: list[str], command: list[str], *, timeout: float,
               progress: bool = True) -> dict[str, Any]:
    """Run ``command`` once per variant; return the table as a JSON-able dict."""
    rows: dict[str, dict[str, str]] = collections.defaultdict(dict)
    tests: dict[str, dict[str, str]] = {}
    runs = []
    for i, name in enumerate(variants, 1):
        with tempfile.TemporaryDirectory(prefix="mbedtls-py-matrix-") as tmp:
            report = Path(tmp) / "junit.xml"
            argv, kind = resolve_command(command, report)
            if progress:
                print(f"matrix: [{i}/{len(variants)}] {name}: {' '.join(command)}",
                      file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                proc = subprocess.run(argv, env={**os.environ, ENV: name}, capture_output=True,
                                      text=True, timeout=timeout)
                rc, out, err = proc.returncode, proc.stdout, proc.stderr
            except subprocess.TimeoutExpired as e:
                rc, out, err = -1, "", f"timed out after {timeout:g} s: {e}"
            except OSError as e:  # the program vanished or is not executable
                rc, out, err = 127, "", f"cannot run {argv[0]}: {e.strerror}"
            seconds = round(time.monotonic() - t0, 2)
            parsed, outcomes = parse_output(kind, out, report)
        tests[name] = outcomes
        for label, cell in parsed.items():
            rows[label][name] = cell
        rows["exit status"][name] = str(rc)
        errors = [line for line in err.strip().splitlines() if line.strip()]
        runs.append({"variant": name, "returncode": rc, "seconds": seconds,
                     "stderr_tail": errors[-1][:200] if rc != 0 and errors else ""})
        if progress:
            print(f"matrix: [{i}/{len(variants)}] {name}: exit {rc} in {seconds} s",
                  file=sys.stderr, flush=True)
    every = sorted({t for outcomes in tests.values() for t in outcomes})
    for t in every:  # only the tests whose outcome differs between variants
        cells = {v: tests[v].get(t, "absent") for v in variants}
        if len(set(cells.values())) > 1:
            rows[f"differs: {t}"] = cells
    return {"command": command, "variants": variants, "runs": runs, "rows": dict(rows)}


def render(result: dict[str, Any]) -> str:
    """The table: one row per reported item, one column per variant."""
    variants = result["variants"]
    rows = result["rows"]
    label_w = min(60, max([len(r) for r in rows] + [10]))
    col_w = {v: min(48, max([len(v)] + [len(rows[r].get(v, "")) for r in rows])) for v in variants}
    lines = ["  ".join([f"{'':{label_w}}", *(f"{v:{col_w[v]}}" for v in variants)])]
    lines.append("  ".join(["-" * label_w, *("-" * col_w[v] for v in variants)]))
    for label, cells in rows.items():
        lines.append("  ".join([f"{label[:label_w]:{label_w}}",
                                *(f"{cells.get(v, '')[:col_w[v]]:{col_w[v]}}" for v in variants)]))
    for run in result["runs"]:
        if run["stderr_tail"]:
            lines.append(f"{run['variant']}: exit {run['returncode']}: {run['stderr_tail']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``matrix``: see the module's docstring."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = doc_parser("mbedtls-py matrix", __doc__,
                    usage="mbedtls-py matrix [--variants A,B] [--json] [--timeout S] -- COMMAND...")
    ap.add_argument("--variants", help="comma-separated names (default: every built variant "
                                       "and default; see `mbedtls-py variants`)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds per variant before the command is stopped (default 1800)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    if "--" in argv:
        split = argv.index("--")
        own, command = argv[:split], argv[split + 1:]
    else:
        own, command = argv, []
    args = ap.parse_args(own)
    if not command:
        ap.error("give the command after `--`, e.g. matrix -- repro close-notify")
    if not 0 < args.timeout <= 86400:
        ap.error("--timeout must be in (0, 86400] seconds")
    program = resolve_command(command, Path("junit.xml"))[0][0]
    if shutil.which(program) is None:  # before any variant runs (it raised in the first)
        ap.error(f"{program}: no such program (not a subcommand, not on PATH, "
                 "not an executable file)")
    if args.variants:
        names = [n.strip() for n in args.variants.split(",") if n.strip()]
        if not names:
            ap.error("--variants: no names given")
        try:
            for n in names:
                find(n)
        except VariantError as e:
            ap.error(f"--variants: {e}")
    else:
        names = [v.name for v in list_variants()]
    result = run_matrix(names, command, timeout=args.timeout, progress=not args.quiet)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0 if all(r["returncode"] == 0 for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
