"""Tests assert behaviour, never the harness's own wall-clock speed: no ``assert`` in tests/ bounds a real-time measurement from above.
Lower bounds (``elapsed >= timeout``: it did wait) and deadlines of bounded
loops (``time.monotonic() < end``, clock against clock) stay allowed; speed
figures live in ``bench/speed.py``."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CLOCKS = {"perf_counter", "monotonic", "time", "perf_counter_ns", "monotonic_ns", "time_ns"}
REAL_NAMES = {"elapsed", "real"}  # names and attributes holding a measured real duration


def _calls_clock(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in CLOCKS:
                return True
    return False


def _clocky(node: ast.AST, clock_vars: set[str]) -> bool:
    if _calls_clock(node):
        return True
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and (sub.id in clock_vars or sub.id in REAL_NAMES):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in REAL_NAMES:
            return True
    return False


def upper_bounds(source: str) -> list[int]:
    """Line numbers of asserts bounding a real-time measurement from above."""
    tree = ast.parse(source)
    clock_vars: set[str] = set()
    for node in ast.walk(tree):  # variables assigned from a clock (t0, end, deadline, ...)
        if isinstance(node, ast.Assign) and _calls_clock(node.value):
            clock_vars.update(t.id for t in node.targets if isinstance(t, ast.Name))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assert):
            continue
        for cmp in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
            operands = [cmp.left, *cmp.comparators]
            for op, left, right in zip(cmp.ops, operands, operands[1:]):
                if isinstance(op, (ast.Gt, ast.GtE)):
                    left, right = right, left
                elif not isinstance(op, (ast.Lt, ast.LtE)):
                    continue
                if _clocky(left, clock_vars) and not _clocky(right, clock_vars):
                    found.append(node.lineno)
    return found


def test_the_checker_finds_an_upper_bound_and_allows_the_rest() -> None:
    bad = ("import time\nt0 = time.perf_counter()\nf()\nelapsed = time.perf_counter() - t0\n"
           "assert elapsed < 10\nassert 0.5 <= r.elapsed < 3.0\nassert 5 > time.monotonic() - t0\n")
    assert upper_bounds(bad) == [5, 6, 7]
    good = ("import time\nend = time.monotonic() + 20\nassert time.monotonic() < end\n"
            "assert r.elapsed >= 0.5\nassert net.clock.now_ms < 7000\n")
    assert upper_bounds(good) == []


def test_no_test_bounds_our_wall_clock_speed() -> None:
    offenders = [f"{path.name}:{line}" for path in sorted(TESTS.rglob("test_*.py"))
                 for line in upper_bounds(path.read_text())]
    assert offenders == [], "move real-time speed bounds to bench/speed.py: " + ", ".join(offenders)
