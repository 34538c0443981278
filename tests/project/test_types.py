"""``mypy --strict`` on the package, the README's examples and every test
file (``tools/typecheck.py``, which CI also runs as its own step).  The
README's first example also runs: it is the seed's race and must still show it.
A missing mypy fails these tests: it is in the ``test`` extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import typecheck  # noqa: E402


def test_readme_has_examples() -> None:
    assert typecheck.readme_examples(), "README.md lost its ```python examples"


def test_mypy_package_readme_and_tests(tmp_path: Path) -> None:
    """The whole typed surface is mypy --strict clean (CI runs this as a step and deselects it)."""
    r = typecheck.run(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_first_example_runs(tmp_path: Path) -> None:
    # The seed's race: the example asserts its own outcome, so running it is the check.
    f = tmp_path / "readme_example_0.py"
    f.write_text(typecheck.readme_examples()[0])
    r = subprocess.run([sys.executable, str(f)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
