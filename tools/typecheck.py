"""``mypy --strict`` over everything the project types: the package, every test
file, the golden-trace tool and each ```python block of README.md.

``./dev.sh test`` (CI) runs it as its own step before pytest; ``tests/project/test_types.py``
calls the same :func:`run` (and CI deselects that test, so mypy runs once).
Exit status: mypy's (0 clean, 1 errors, 2 usage)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Besides the package: every test file (a new one is checked by being in the
# directory) and the golden-trace tool the simulator's tests run.
CHECKED: list[str] = ["mbedtls_py", "tests", "tools/golden_traces.py", "tools/typecheck.py"]


def readme_examples() -> list[str]:
    """The ```python blocks of README.md, in order."""
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def run(workdir: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` from the repository root (its ``[tool.mypy]``) over
    :data:`CHECKED` and the README's examples, written into ``workdir``."""
    examples = []
    for i, block in enumerate(readme_examples()):
        f = workdir / f"readme_example_{i}.py"
        f.write_text(block)
        examples.append(str(f))
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                           *CHECKED, *examples], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mbedtls-py-typecheck-") as tmp:
        proc = run(Path(tmp))
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode == 0:
        print(f"typecheck: mypy --strict clean ({' '.join(CHECKED)}, README examples)")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
