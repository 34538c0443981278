"""ssl-opt.sh cases end to end: real Mbed TLS on both sides, the udp_proxy
model between them, virtual time, the case's own assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from capture_helpers import needs_tshark, tshark

from mbedtls_py.sslopt.parse import Case, default_ssl_opt, load_cases
from mbedtls_py.sslopt.runner import run_case

from _sslopt_tree import edited_ssl_opt

pytestmark = pytest.mark.skipif(not default_ssl_opt().is_file(),
                                reason="pinned source not unpacked (./dev.sh)")


def _case(name: str, path: Path | None = None) -> Case:
    return next(c for c in load_cases(path) if c.name == name)


@pytest.mark.parametrize("name", [
    "DTLS cookie: enabled",
    "DTLS client reconnect from same port: reconnect",
    "Session resume using tickets, DTLS: timeout",
    "Context serialization, re-init, both serialize, with CID",
    "DTLS fragmenting: both (MTU=509)",
    "DTLS proxy: inject invalid AD record, badmac_limit 2",
    "DTLS proxy: 3d, min handshake, server-initiated renego",
    "DTLS reordering: Buffer out-of-order CCS message on client",
])
def test_case_passes(name: str) -> None:
    """The case's assertions hold against the real library on the simulated network."""
    r = run_case(_case(name), seed=1)
    assert r.verdict == "PASS", (r.reason, r.cli_out[-2000:], r.srv_out[-2000:])
    assert "Performing the SSL/TLS handshake" in r.srv_out and r.trace


def test_ticket_expiry_follows_virtual_time() -> None:
    """reco_delay=2000 with ticket_timeout=1: the ticket is refused because
    virtual time (mbedtls_time and mbedtls_ms_time) moved 2 s."""
    r = run_case(_case("Session resume using tickets, DTLS: timeout"), seed=3)
    assert r.verdict == "PASS" and r.virtual_ms >= 2000
    assert "session successfully restored from ticket" not in r.srv_out


def _mutated(tmp_path: Path, old: str, new: str) -> Path:
    return edited_ssl_opt(tmp_path, old, new)


def test_mutated_assertion_fails(tmp_path: Path) -> None:
    """Editing an assertion in a copy of ssl-opt.sh flips the verdict."""
    name = "DTLS proxy: delay ChangeCipherSpec"
    assert run_case(_case(name), 1).verdict == "PASS"
    block = default_ssl_opt().read_text().split(f'"{name}"', 1)[1].split("run_test", 1)[0]
    assert '-c "HTTP/1.0 200 OK"' in block
    old = f'"{name}"' + block
    copy = _mutated(tmp_path, old, old.replace('-c "HTTP/1.0 200 OK"', '-c "HTTP/1.0 404 OK"'))
    r = run_case(_case(name, copy), 1)
    assert r.verdict == "FAIL"
    assert r.reason == "pattern 'HTTP/1.0 404 OK' MUST be present in the Client output"


def test_mutated_exit_status_and_negation_fail(tmp_path: Path) -> None:
    """An expected client failure, or a forbidden pattern that occurs, fails the case."""
    name = "DTLS cookie: enabled"
    block = default_ssl_opt().read_text().split(f'"{name}"', 1)[1].split("run_test", 1)[0]
    old = f'"{name}"' + block
    new = old.replace("            0 \\\n", "            1 \\\n", 1)
    assert new != old
    r = run_case(_case(name, _mutated(tmp_path, old, new)), 1)
    assert r.verdict == "FAIL" and r.reason.startswith("bad client exit code (expected 1, got 0)")
    new2 = old.replace('-s "cookie verification passed"', '-S "cookie verification passed"')
    assert new2 != old
    (tmp_path / "b").mkdir()
    r2 = run_case(_case(name, _mutated(tmp_path / "b", old, new2)), 1)
    assert r2.verdict == "FAIL" and "MUST NOT be present in the Server output" in r2.reason


def test_same_seed_same_bytes_in_one_process() -> None:
    case = _case("DTLS proxy: 3d, FS, client auth")
    a, b = run_case(case, 5), run_case(case, 5)
    assert a.verdict == b.verdict and a.digest() == b.digest() and a.cli_out == b.cli_out
    assert run_case(case, 6).digest() != a.digest()


def test_same_seed_same_bytes_in_two_processes() -> None:
    """Two processes, same seeds: same verdicts and the same datagrams (digests)."""
    cmd = [sys.executable, "-m", "mbedtls_py", "ssl-opt", "--json", "--seeds", "2",
           "--filter", r"^DTLS proxy: 3d, (FS, ticket|min handshake, resumption)$"]
    runs = [json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout)
            for _ in range(2)]
    key = [[(r["name"], r["seed"], r["verdict"], r["digest"]) for r in run["results"]]
           for run in runs]
    assert key[0] == key[1] and len(key[0]) == 4 and all(k[3] for k in key[0])


def test_cli_errors_are_one_line() -> None:
    for bad in (["--seeds", "0"], ["--filter", "("], ["--jobs", "x"]):
        p = subprocess.run([sys.executable, "-m", "mbedtls_py", "ssl-opt", *bad],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "mbedtls_py", "ssl-opt", "--trace", "no such case"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no case named" in p.stderr


def test_pytest_plugin_collects_cases(tmp_path: Path) -> None:
    """``pytest --mbedtls-ssl-opt REGEX`` runs the cases as items (-k works)."""
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--mbedtls-ssl-opt", "^DTLS cookie", "-k", "enabled and not IPv6"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:]
    assert "2 passed" in p.stdout and "deselected" in p.stdout


@needs_tshark
def test_trace_pcap_decrypts_in_tshark(tmp_path: Path) -> None:
    """``ssl-opt --trace NAME --pcap F`` writes exactly F: the case's datagrams with
    both programs' keys embedded, so tshark decrypts the application data alone."""
    from mbedtls_py.cli.sslopt import main

    pcap, keylog = tmp_path / "case.pcapng", tmp_path / "case.keys"
    rc = main(["--trace", "Context serialization, client serializes, GCM", "--seed", "1",
               "--pcap", str(pcap), "--keylog", str(keylog)])
    assert rc == 0 and pcap.is_file() and keylog.is_file()
    assert keylog.read_text().count("CLIENT_RANDOM") >= 1
    assert b"TLSK" in pcap.read_bytes()[:4096] or b"KSLT" in pcap.read_bytes()[:4096]
    out = tshark(pcap, "-x")
    assert "Decrypted DTLS" in out


def test_capture_file_names_of_cases_that_differ_only_in_a_comparison() -> None:
    """ssl-opt.sh has "…: timeout > delay" and "…: timeout < delay": with
    --pcap over several cases each needs its own file."""
    from mbedtls_py.cli.sslopt import case_slug
    gt = case_slug("Session resume using cache, DTLS: timeout > delay")
    lt = case_slug("Session resume using cache, DTLS: timeout < delay")
    assert gt != lt
    assert gt == "Session_resume_using_cache_DTLS_timeout_gt_delay"
    assert case_slug("???") == "case"
