"""Bad command-line input is found before any work starts: one line on stderr
and exit status 2 from the commands, a usage error at session start from the
pytest plugin's ``--dtls-capture``."""

from __future__ import annotations

import pytest


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], run: object) -> str:
    try:
        rc = run()  # type: ignore[operator]
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("value", ["abc", "5x", "", "0x10"])
def test_udp_proxy_refuses_a_value_that_is_not_a_number(
        capsys: pytest.CaptureFixture[str], value: str) -> None:
    """``udp-proxy drop=abc`` was read as 0 (atoi): now one line, exit 2."""
    from mbedtls_py.cli.udpproxy import main

    line = _one_line_exit_2(capsys, lambda: main([f"drop={value}", "--duration", "0.01"]))
    assert "drop" in line


def test_matrix_with_no_such_program_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``matrix -- nosuchprogram``: one line and exit 2 before any variant runs
    (it printed a FileNotFoundError traceback)."""
    from mbedtls_py.cli.matrix import main

    line = _one_line_exit_2(capsys, lambda: main(["--variants", "default", "--",
                                                  "nosuchprogram-hm22"]))
    assert "nosuchprogram-hm22: no such program" in line


def test_dtls_capture_on_a_file_fails_at_session_start(tmp_path: object) -> None:
    """``pytest --dtls-capture FILE`` (an existing file) is a usage error at the
    start of the session, not an error at the teardown of every failing test."""
    import subprocess
    import sys
    from pathlib import Path

    tmp = Path(str(tmp_path))
    (tmp / "not_a_dir").write_text("x")
    (tmp / "test_x.py").write_text("def test_x(dtls_network):\n    assert False\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--dtls-capture", str(tmp / "not_a_dir"), str(tmp / "test_x.py")],
                         capture_output=True, text=True, timeout=120, cwd=tmp)
    assert out.returncode == 4, out.stdout + out.stderr  # pytest's usage error
    assert "exists and is not a directory" in out.stderr
    assert "test_x" not in out.stdout  # nothing ran


@pytest.mark.parametrize("args", [["--trace", "999"], ["--emit-test", "999", "--out", "x.py"],
                                  ["--trace", "-1"],
                                  ["--emit-test", "0", "--out", "/nonexistent-hm22/dir/x.py"]],
                         ids=["trace", "emit-test", "trace-negative", "out-missing-dir"])
def test_explore_checks_classes_and_out_before_exploring(
        capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """``explore --trace 999`` and ``--emit-test N --out /missing/dir/x.py``
    fail (one line, exit 2) before the schedules run, not after."""
    from mbedtls_py.cli.explore import main

    line = _one_line_exit_2(capsys, lambda: main(args))
    assert "schedules in" not in line
