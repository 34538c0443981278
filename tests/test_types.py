"""``mypy --strict`` on the package, the README's examples and every test
file (issue 14).  The README's first example also runs: it is the
seed's race and must still show it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Besides the package: every test file (a new one is checked by being in the
# directory) and the golden-trace tool the simulator's tests run.
CHECKED: list[str] = ["tests", "tools/golden_traces.py"]

pytest.importorskip("mypy")


def readme_examples() -> list[str]:
    """The ```python blocks of README.md, in order."""
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def mypy(*targets: str | Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` over ``targets`` from the repository root (its config)."""
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                           *map(str, targets)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_readme_has_examples() -> None:
    assert readme_examples(), "README.md lost its ```python examples"


def test_mypy_package_readme_and_tests(tmp_path: Path) -> None:
    files = []
    for i, block in enumerate(readme_examples()):
        f = tmp_path / f"readme_example_{i}.py"
        f.write_text(block)
        files.append(f)
    r = mypy("mbedtls_py", *CHECKED, *files)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_first_example_runs(tmp_path: Path) -> None:
    # The seed's race: the example asserts its own outcome, so running it is the check.
    f = tmp_path / "readme_example_0.py"
    f.write_text(readme_examples()[0])
    r = subprocess.run([sys.executable, str(f)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
