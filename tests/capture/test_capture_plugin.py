"""pytest --dtls-capture DIR: a capture for every failing test that used the
plugin's fixtures, named after the test id; none for passing tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from capture_helpers import TSHARK, fields

THROWAWAY = '''
from mbedtls_py import Context
from mbedtls_py.testing import handshake_pair


def test_network_fails(dtls_network, dtls_psk_configs):
    cc, sc = dtls_psk_configs
    cli = dtls_network.add("client", Context(cc))
    srv = dtls_network.add("server", Context(sc))
    assert dtls_network.handshake(cli, srv) == (0, 0)
    cli.write(b"what the test sent")
    dtls_network.run()
    assert srv.read() == b"something else"


def test_network_passes(dtls_network, dtls_psk_configs):
    cc, sc = dtls_psk_configs
    cli = dtls_network.add("client", Context(cc))
    srv = dtls_network.add("server", Context(sc))
    assert dtls_network.handshake(cli, srv) == (0, 0)


def test_pair_fails(dtls_pair):
    client, server, _ = dtls_pair
    assert handshake_pair(client, server) == (0, 0)
    client.write(b"pair data")
    assert client.pop() is None


def test_without_fixtures_fails():
    assert False
'''


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_throwaway.py").write_text(THROWAWAY)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_throwaway.py", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)


def test_failing_tests_leave_a_capture_named_after_the_test_id(tmp_path: Path) -> None:
    """Two failing fixture users leave one file each; the passing test and the test
    without the plugin's fixtures leave none; the capture holds the test's traffic."""
    proc = _run(tmp_path, "--dtls-capture", "caps")
    assert "3 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    names = sorted(p.name for p in (tmp_path / "caps").iterdir())
    assert names == ["test_throwaway.py_test_network_fails.pcapng",
                     "test_throwaway.py_test_pair_fails.pcapng"]
    if TSHARK is not None:  # and they decrypt (the network's PSK suite is AES-GCM)
        net = tmp_path / "caps" / "test_throwaway.py_test_network_fails.pcapng"
        data = [r[0] for r in fields(net, "data.data") if r[0]]
        assert b"what the test sent".hex() in data
        pair = tmp_path / "caps" / "test_throwaway.py_test_pair_fails.pcapng"
        rows = fields(pair, "dtls.handshake.type")
        assert any(r[0].startswith("1") for r in rows)  # the ClientHello is in it


def test_no_option_no_capture(tmp_path: Path) -> None:
    """Without --dtls-capture nothing is written and key export stays off."""
    proc = _run(tmp_path)
    assert "3 failed, 1 passed" in proc.stdout, proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_throwaway.py"]
