"""Library variants: choosing one, listing them, the matrix, the pytest option,
and the trailing-bytes finding pinned per variant (flips with patches/0001)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mbedtls_py
from mbedtls_py import variants
from mbedtls_py.variants import build as vbuild
from mbedtls_py.cli.matrix import flatten, parse_repro
from mbedtls_py.variants.probe import probe

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "patches" / "0001-dtls-discard-trailing-bytes-shorter-than-header.patch"


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def loaded() -> variants.Variant:
    return variants.find(mbedtls_py.__variant__)


# ------------------------------------------------------------ which is loaded


def test_the_loaded_variant_is_the_one_asked_for() -> None:
    """__variant__ is MBEDTLS_PY_VARIANT (or default), __mbedtls_version__ its version."""
    asked = os.environ.get(variants.ENV, "").strip() or "default"
    v = variants.find(asked)
    assert mbedtls_py.__variant__ == v.name
    assert mbedtls_py.__mbedtls_version__ == v.mbedtls_version
    assert sys.modules["mbedtls_py.bindings._lib"].lib is sys.modules[v.module].lib


def test_default_is_the_default_pin() -> None:
    pins = json.loads((ROOT / "vendor" / "pins.json").read_text())
    default = variants.list_variants()[0]
    assert default.name == "default"
    assert default.mbedtls_version == (os.environ.get("MBEDTLS_PY_PIN") or pins["default"])


def test_names_and_modules() -> None:
    assert variants.module_name("3.6.6") == "mbedtls_py._lib_3_6_6"
    assert variants.module_name("3.6.7+0001") == "mbedtls_py._lib_3_6_7_0001"
    assert variants.module_name("default") == "mbedtls_py._lib_default"
    for bad in ("", "../x", "a b", "-x", "x" * 49, "a/b"):
        with pytest.raises(ValueError):
            variants.check_name(bad)


def test_an_unknown_variant_is_one_line_and_exit_2() -> None:
    p = run("-m", "mbedtls_py", "--version", env={variants.ENV: "no-such-variant"})
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "no library variant 'no-such-variant'" in p.stderr
    assert "build-variant" in p.stderr


def test_variants_command_lists_default_and_json() -> None:
    p = run("-m", "mbedtls_py", "variants", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert rows[0]["name"] == "default"
    assert {r["name"] for r in rows} == {v.name for v in variants.list_variants()}


# ------------------------------------------------------------ the finding, per variant


@pytest.mark.parametrize("stray", range(14))
def test_trailing_bytes_after_a_record(stray: int) -> None:
    """A spoofed CCS record + N stray bytes into an established connection.
    3.6.6 and 3.6.7 as released: N = 1..12 breaks it (SSL_INTERNAL_ERROR); a
    variant carrying patches/0001 discards them.  A release that fixes it
    flips this test (then update the expectation with the version)."""
    result = probe(stray)
    patched = any(Path(p["path"]).name == PATCH.name for p in loaded().info.get("patches", []))
    if patched or stray in (0, 13):
        assert result["verdict"] == "discarded", result
        assert result["reads"] == ["read 42 bytes"]
    else:
        assert result["verdict"] == "connection-broken", result
        assert result["reads"][0] == "SSL_INTERNAL_ERROR"


def test_the_patch_applies_to_both_pinned_3_6_sources(tmp_path: Path) -> None:
    """patches/0001 applies with patch -p1 to 3.6.6 and 3.6.7 (dry run on the
    fetched, verified trees)."""
    b = vbuild.csrc_build()
    for version in ("3.6.6", "3.6.7"):
        src = Path(b.fetch.ensure_source(version=version, override=False))
        p = subprocess.run(["patch", "-p1", "--dry-run", "--batch", "-d", str(src),
                            "-i", str(PATCH)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr


# ------------------------------------------------------------ build-variant


def test_build_variant_rejects_bad_input() -> None:
    cases = [
        ([], "give a pinned VERSION or --source"),
        (["9.9.9"], "no pin for Mbed TLS '9.9.9'"),
        (["--source", "/no/such/dir", "--name", "x"], "is not an Mbed TLS tree"),
        (["--source", str(ROOT)], "--name is required"),
        (["3.6.6", "--name", "a b"], "bad variant name"),
        (["3.6.6", "--name", "default"], "'default' is the built-in"),
        (["3.6.6", "--patch", "/no/such.patch"], "no patch file"),
    ]
    for args, message in cases:
        p = run("-m", "mbedtls_py", "build-variant", *args, env={"MBEDTLS_SOURCE": ""})
        assert p.returncode == 2, (args, p.stderr)
        assert message in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)


def test_a_local_tree_is_recorded_with_git_describe_and_diff_hash(tmp_path: Path) -> None:
    tree = tmp_path / "mbedtls"
    (tree / "library").mkdir(parents=True)
    (tree / "library" / "a.c").write_text("int a;\n")
    git = ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    clean = vbuild.describe_tree(tree)
    (tree / "library" / "a.c").write_text("int a = 1;\n")
    dirty = vbuild.describe_tree(tree)
    assert clean["git_describe"] and not clean["git_describe"].endswith("-dirty")
    assert dirty["git_describe"].endswith("-dirty")
    assert dirty["diff_sha256"] != clean["diff_sha256"] and dirty["diff_bytes"] > 0


# ------------------------------------------------------------ matrix


def test_matrix_of_the_seed_race_on_the_default() -> None:
    p = run("-m", "mbedtls_py", "matrix", "--variants", "default", "--json", "-q", "--",
            "repro", "close-notify", "--mitigation", "none", "--scenario", "late-close-notify",
            "--runs", "4")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    cell = doc["rows"]["late-close-notify / none"]["default"]
    assert "rc -0x7700" in cell and "failed" in cell
    assert doc["rows"]["exit status"] == {"default": "0"}


def test_matrix_of_a_pytest_selection_counts_tests() -> None:
    p = run("-m", "mbedtls_py", "matrix", "--variants", "default", "--json", "-q", "--",
            "pytest", "tests/variants/test_variants.py", "-k", "names_and_modules or trailing_bytes")
    assert p.returncode == 0, p.stdout + p.stderr
    rows = json.loads(p.stdout)["rows"]
    assert rows["tests passed"] == {"default": "15"} and rows["tests failed"] == {"default": "0"}


def test_matrix_bad_input() -> None:
    for args in (["matrix"], ["matrix", "--variants", "nope", "--", "repro"],
                 ["matrix", "--timeout", "0", "--", "repro"]):
        p = run("-m", "mbedtls_py", *args)
        assert p.returncode == 2 and "Traceback" not in p.stderr, (args, p.stderr)


def test_matrix_parsers() -> None:
    doc = {"runs": [{"scenario": "s", "mitigation": "m", "outcome": "failed", "server_rc": -0x7700},
                    {"scenario": "s", "mitigation": "m", "outcome": "ok", "server_rc": 0}],
           "all_as_promised": True}
    assert parse_repro(doc) == {"s / m": "failed 1 ok 1 | rc -0x7700×1 0×1",
                                "all as promised": "True"}
    assert flatten({"a": {"b": 1}, "c": [{"name": "x", "v": 2}]}) == {"a.b": "1", "c[x].v": "2"}


# ------------------------------------------------------------ the pytest option


def test_pytest_option_selects_and_reports_the_variant() -> None:
    p = run("-m", "pytest", "-p", "no:cacheprovider", "--mbedtls-variant", "default",
            "tests/variants/test_variants.py", "-k", "names_and_modules")
    assert p.returncode == 0, p.stdout[-2000:]
    assert "(variant default)" in p.stdout.splitlines()[2] or "(variant default)" in p.stdout
    bad = run("-m", "pytest", "-p", "no:cacheprovider", "--mbedtls-variant", "nope",
              "tests/variants/test_variants.py", "-k", "names_and_modules")
    assert bad.returncode == 4 and "no library variant 'nope'" in bad.stderr
