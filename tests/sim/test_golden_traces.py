"""The simulator replays byte for byte what it did when the golden traces were
written (tools/golden_traces.py): every timeline line, the JSON, the digest,
the capture bytes.  This is what lets the hot path be rewritten for speed
without changing a single run."""

from __future__ import annotations

import difflib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

import mbedtls_py

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
INDEX = json.loads((GOLDEN / "index.json").read_text())


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_traces",
                                                  ROOT / "tools" / "golden_traces.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("golden_traces", module)
    spec.loader.exec_module(module)
    return module


def test_every_case_has_a_golden_file() -> None:
    assert set(_tool().CASES) == set(INDEX["cases"])


@pytest.mark.parametrize("name", sorted(INDEX["cases"]))
def test_trace_is_unchanged(name: str) -> None:
    if mbedtls_py.__mbedtls_version__ != INDEX["mbedtls_version"]:
        pytest.skip(f"golden traces were written with Mbed TLS {INDEX['mbedtls_version']}, "
                    f"this is {mbedtls_py.__mbedtls_version__}")
    got = _tool().record(name)
    want_text = (GOLDEN / f"{name}.txt").read_text()
    if got["text"] != want_text:
        diff = difflib.unified_diff(want_text.splitlines(), got["text"].splitlines(),
                                    "golden", "now", lineterm="", n=2)
        pytest.fail("the timeline changed:\n" + "\n".join(list(diff)[:60]))
    want = INDEX["cases"][name]
    assert {k: got.get(k) for k in want} == want
