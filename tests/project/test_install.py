"""What an installed wheel relies on: sources found in the per-user
cache, ``--ssl-opt PATH`` reading that tree's data files, runner errors as
ERROR, exit status when nothing ran, progress off a terminal, and one-line
errors when a C toolchain is missing.  tools/release_check.sh checks the
real wheel end to end."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mbedtls_py import _csrc
from mbedtls_py.cachedir import cache_dir
from mbedtls_py.sslopt.parse import default_ssl_opt

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "mbedtls_py"
TINY = '''
run_test    "DTLS tiny: default certificates" \\
            "$P_SRV dtls=1" \\
            "$P_CLI dtls=1" \\
            0 \\
            -s "Performing the SSL/TLS handshake" \\
            -c "HTTP/1.0 200 OK"
'''
needs_source = pytest.mark.skipif(not default_ssl_opt().is_file(),
                                  reason="pinned source not unpacked (./dev.sh)")


def _tree(tmp_path: Path, data: bool) -> Path:
    """A tree with a one-case ssl-opt.sh; with ``data``, the pinned tree's data files."""
    script = tmp_path / "tests" / "ssl-opt.sh"
    script.parent.mkdir(parents=True)
    script.write_text(TINY)
    if data:
        (tmp_path / "framework").symlink_to(default_ssl_opt().parent.parent / "framework")
    return script


def _sslopt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mbedtls_py", "ssl-opt", *args],
                          capture_output=True, text=True, timeout=120)


@needs_source
def test_ssl_opt_path_reads_that_trees_data_files(tmp_path: Path) -> None:
    """``--ssl-opt PATH``: the programs' default certificates come from PATH's tree;
    without them there, the run is an ERROR naming the missing file (it never
    falls back to the pinned tree)."""
    ok = _sslopt("--ssl-opt", str(_tree(tmp_path / "full", data=True)))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 PASS" in ok.stdout
    p = _sslopt("--ssl-opt", str(_tree(tmp_path / "bare", data=False)))
    assert p.returncode == 1 and "1 ERROR" in p.stdout, p.stdout
    assert str(tmp_path / "bare" / "framework" / "data_files") in p.stdout


@needs_source
def test_runner_error_is_error_not_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A crash of the runner is ERROR (never a FAIL of the case), and exits 1."""
    from mbedtls_py.cli import sslopt as cli
    from mbedtls_py.sslopt import runner

    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError("runner bug")

    monkeypatch.setattr(runner, "run_case", broken)
    rc = cli.main(["--ssl-opt", str(_tree(tmp_path, data=True))])
    out = capsys.readouterr().out
    assert rc == 1
    assert "ERROR" in out and "runner error: RuntimeError('runner bug')" in out
    assert "0 FAIL, 1 ERROR" in out


def test_nothing_ran_exits_non_zero(tmp_path: Path) -> None:
    """No case selected, or every one skipped: exit status 3 and a line saying so."""
    p = _sslopt("--ssl-opt", str(_tree(tmp_path, data=False)), "--filter", "no such case")
    assert p.returncode == 3 and "no case ran" in p.stderr
    skipped = tmp_path / "skip" / "tests" / "ssl-opt.sh"
    skipped.parent.mkdir(parents=True)
    skipped.write_text("requires_config_enabled MBEDTLS_NO_SUCH_OPTION\n" + TINY)
    p = _sslopt("--ssl-opt", str(skipped))
    assert "1 SKIP" in p.stdout and p.returncode == 3 and "no case ran" in p.stderr


@needs_source
def test_plugin_path_option(tmp_path: Path) -> None:
    """``--mbedtls-ssl-opt-path`` collects another tree's cases; a missing file is a
    usage error (exit 4), not an INTERNALERROR."""
    script = _tree(tmp_path / "t", data=True)
    run = tmp_path / "empty"  # nothing to collect but the cases
    run.mkdir()
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--mbedtls-ssl-opt", "tiny"]
    p = subprocess.run([*base, "--mbedtls-ssl-opt-path", str(script)], cwd=run,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "1 passed" in p.stdout, p.stdout[-2000:]
    p = subprocess.run([*base, "--mbedtls-ssl-opt-path", str(tmp_path / "none.sh")],
                       cwd=run, capture_output=True, text=True, timeout=120)
    assert p.returncode == 4 and "INTERNALERROR" not in p.stdout + p.stderr
    assert "no such ssl-opt.sh" in p.stderr


def _installed_fetch(tmp_path: Path) -> ModuleType:
    """``_fetch.py`` as laid out in a wheel (no checkout around it)."""
    site = tmp_path / "site" / "mbedtls_py"
    (site / "_build").mkdir(parents=True)
    for name in ("_fetch.py", "cachedir.py"):
        shutil.copy2(PKG / name, site / name)
    shutil.copy2(ROOT / "vendor" / "pins.json", site / "_build" / "pins.json")
    spec = importlib.util.spec_from_file_location("_fetch_as_installed", site / "_fetch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_sources_live_in_the_cache(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed, every pin unpacks into ``cache_dir("sources", VERSION)`` and
    tarballs are kept in ``cache_dir("download")``; ``MBEDTLS_PY_CACHE`` moves both."""
    monkeypatch.setenv("MBEDTLS_PY_CACHE", str(tmp_path / "cache"))
    fetch = _installed_fetch(tmp_path)
    assert not fetch.CHECKOUT
    for version in fetch.PINS:
        assert fetch.source_dir(fetch.PINS[version]) == tmp_path / "cache" / "sources" / version
    assert fetch.download_dir() == cache_dir("download") == tmp_path / "cache" / "download"


def test_installed_without_network_says_what_to_do(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBEDTLS_PY_CACHE", str(tmp_path / "cache"))
    fetch = _installed_fetch(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no apt-get
    with pytest.raises(fetch.SourceError) as e:
        fetch.ensure_source(version="3.6.6")
    text = str(e.value)
    assert "mbedtls-py fetch --pin 3.6.6" in text
    assert str(tmp_path / "cache" / "download") in text and fetch.PINS["3.6.6"]["sha256"] in text


def test_installed_unpacks_a_cached_tarball(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A verified tarball in the cache is unpacked there, without apt."""
    fetch = _installed_fetch(tmp_path)
    pin = fetch.PINS[fetch.DEFAULT_VERSION]
    tarball = ROOT / "vendor" / "download" / pin["tarball"]
    if not tarball.is_file():
        pytest.skip(f"no {tarball}")
    monkeypatch.setenv("MBEDTLS_PY_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "download").mkdir(parents=True)
    os.symlink(tarball, tmp_path / "cache" / "download" / pin["tarball"])
    monkeypatch.setattr(fetch, "download", lambda *a: pytest.fail("fetched"))
    root = fetch.ensure_source(version=pin["version"])
    assert root == tmp_path / "cache" / "sources" / pin["version"]
    assert (root / "tests" / "ssl-opt.sh").is_file() and fetch.is_ready(pin)


def test_build_machinery_found_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checkout's csrc/ (installed: the wheel's copy) is the build machinery;
    without a C compiler the build says, in one line, what to install."""
    csrc = _csrc.csrc_dir()
    assert csrc in (ROOT / "csrc", Path(_csrc.__file__).parent / "_build" / "csrc")
    build = _csrc.load_build()
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(RuntimeError) as e:
        build.check_toolchain()
    assert "\n" not in str(e.value) and "apt-get install gcc" in str(e.value)


def test_build_variant_without_compiler_one_line(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mbedtls_py.cli.build_variant import main

    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert main(["3.6.6"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no C compiler" in err and "gcc" in err


def test_progress_lines_off_a_terminal(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a terminal: a plain line every LINE_INTERVAL_S (here 0) and one at the end."""
    from mbedtls_py import _progress

    monkeypatch.setattr(_progress, "LINE_INTERVAL_S", 0.0)
    bar = _progress.Progress(3, "work")
    for n in (1, 2, 3):
        bar(n)
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(" (")[0] for ln in lines] == ["work: 1/3", "work: 2/3", "work: 3/3"]
    silent = _progress.Progress(3, "work", enabled=False)
    silent(3)
    assert capsys.readouterr().err == ""


def test_build_script_in_a_wheel_layout_finds_the_cache(tmp_path: Path) -> None:
    """The build script as a wheel ships it (``mbedtls_py/_build/csrc``, the pins
    beside it) builds into the per-user cache: it loads the package's own
    ``cachedir.py`` (it looked for one under ``bindings/`` and raised)."""
    pkg = tmp_path / "site" / "mbedtls_py"
    shutil.copytree(ROOT / "mbedtls_py", pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copytree(ROOT / "csrc", pkg / "_build" / "csrc",
                    ignore=shutil.ignore_patterns("_generated", "__pycache__"))
    shutil.copy2(ROOT / "vendor" / "pins.json", pkg / "_build" / "pins.json")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import mbedtls_build as m; "
            "print(m.CHECKOUT, m.default_build_dir())")
    out = subprocess.run([sys.executable, "-c", code, str(pkg / "_build" / "csrc")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "MBEDTLS_PY_CACHE": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", str(tmp_path / "cache" / "build")]
