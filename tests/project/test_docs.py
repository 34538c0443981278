"""docs/api.md is what tools/gen_api.py writes from the docstrings now (the
README links it as the API reference, so it must not drift)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_api_reference_is_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_api.py"), "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr + "\n(run: python tools/gen_api.py)"
