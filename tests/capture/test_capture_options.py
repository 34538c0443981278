"""--pcap/--keylog on the command line: file names, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mbedtls_py.cli.repro import main as repro_main


def test_several_runs_one_file_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Several runs: FILE with scenario, policy and seed before the extension, keys too."""
    rc = repro_main(["close-notify", "--scenario", "late-close-notify", "--mitigation", "none",
                     "--runs", "2", "--seed", "5", "--pcap", str(tmp_path / "r.pcapng"),
                     "--keylog", str(tmp_path / "r.keys")])
    capsys.readouterr()
    assert rc == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "r.late-close-notify.none.seed5.keys", "r.late-close-notify.none.seed5.pcapng",
        "r.late-close-notify.none.seed6.keys", "r.late-close-notify.none.seed6.pcapng"]
    for keys in tmp_path.glob("*.keys"):
        lines = keys.read_text().splitlines()
        assert len(lines) == 2 and all(ln.startswith("CLIENT_RANDOM ") for ln in lines)


def test_sweep_captures_each_failing_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --sweep, exactly the failing runs leave a capture (replayed from their seed)."""
    rc = repro_main(["close-notify", "--sweep", "12", "--mitigation", "none", "--json",
                     "--pcap", str(tmp_path / "s.pcapng")])
    out = capsys.readouterr().out
    assert rc == 0
    failed = sum(row["failed"] for row in json.loads(out)["buckets"]["none"])
    assert failed > 0
    assert len(list(tmp_path.glob("s.late-close-notify.none.seed*.pcapng"))) == failed


@pytest.mark.parametrize("argv", [
    ["repro", "close-notify", "--pcap", "/no/such/dir/x.pcapng"],
    ["repro", "close-notify", "--keylog", "/no/such/dir/x.keys"],
    ["serve", "--pcap", "/no/such/dir/x.pcapng"],
    ["proxy", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:9", "--pcap",
     "/no/such/dir/x.pcapng"],
    ["proxy", "--listen", "127.0.0.1:0", "--server", "127.0.0.1:9", "--keylog", "k.txt"],
])
def test_bad_capture_paths_are_one_line_errors(argv: list[str]) -> None:
    """A missing folder (or --keylog without --pcap on the proxy): exit 2, one line, no traceback."""
    p = subprocess.run([sys.executable, "-m", "mbedtls_py", *argv], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
