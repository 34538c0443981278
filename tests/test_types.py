"""``mypy --strict`` on the package, the README's examples and the test files
known to be clean (issue 14).  The README's first example also runs: it is the
seed's race and must still show it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Test files that pass ``mypy --strict``; grow this list as files are cleaned.
CLEAN_TESTS: list[str] = [
    "tests/_udp_helpers.py",
    "tests/_isolated.py",
    "tests/_versions.py",
    "tests/capture_helpers.py",
    "tests/test_attacks.py",
    "tests/test_bindings_api.py",
    "tests/test_capture.py",
    "tests/test_capture_cli.py",
    "tests/test_capture_keys.py",
    "tests/test_capture_plugin.py",
    "tests/test_capture_tshark.py",
    "tests/test_capture_udp.py",
    "tests/test_check_record.py",
    "tests/test_concurrent_server.py",
    "tests/test_config.py",
    "tests/test_context.py",
    "tests/test_determinism.py",
    "tests/test_errors.py",
    "tests/test_explore.py",
    "tests/test_fuzz.py",
    "tests/test_golden_traces.py",
    "tests/test_interop_matrix.py",
    "tests/test_interop_openssl.py",
    "tests/test_layers.py",
    "tests/test_lifetime.py",
    "tests/test_misuse.py",
    "tests/test_net.py",
    "tests/test_no_wallclock.py",
    "tests/test_plugin.py",
    "tests/test_proxy.py",
    "tests/test_records.py",
    "tests/test_repro.py",
    "tests/test_rules.py",
    "tests/test_sample_sockets.py",
    "tests/test_samples.py",
    "tests/test_serve_robust.py",
    "tests/test_sslopt_bindings.py",
    "tests/test_sslopt_cases.py",
    "tests/test_sslopt_parse.py",
    "tests/test_sslopt_proxy.py",
    "tests/test_types.py",
    "tests/test_udp.py",
    "tests/test_variants.py",
]

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


def test_mypy_package_readme_and_clean_tests(tmp_path: Path) -> None:
    files = []
    for i, block in enumerate(readme_examples()):
        f = tmp_path / f"readme_example_{i}.py"
        f.write_text(block)
        files.append(f)
    r = mypy("mbedtls_py", *CLEAN_TESTS, *files)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_first_example_runs(tmp_path: Path) -> None:
    # The seed's race: the example asserts its own outcome, so running it is the check.
    f = tmp_path / "readme_example_0.py"
    f.write_text(readme_examples()[0])
    r = subprocess.run([sys.executable, str(f)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
