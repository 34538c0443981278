"""The "Connection ID, 3D" reconnect failures: a copy of the ClientHello (with
cookie) that opened a connection, held by udp_proxy past the handshake, makes
ssl_server2 reset the live connection as a client reconnect.  Pinned on the
failing seed, with both remedies: the reconnect-guard server policy (always
run) and patches/0003 (as the loaded variant, or a built one in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mbedtls_py
from mbedtls_py import variants
from mbedtls_py.server.hello_guard import ReconnectGuard, client_hello_random
from mbedtls_py.sslopt.parse import load_cases
from mbedtls_py.sslopt.runner import run_case
from mbedtls_py.wire import parse_datagram

ROOT = Path(__file__).resolve().parents[2]
PATCH = ROOT / "patches" / "0003-dtls-tell-duplicate-clienthello-from-reconnect.patch"
VARIANT = "3.6.7+0003"
CASE = "Connection ID, 3D+MTU: Cli+Srv enabled, Cli+Srv CID nonempty"
SEED = 24  # bench/sslopt_3d.py: one of the 45 reconnect seeds of the 3D+MTU cases
RECONNECT = "Client initiated reconnection from same port"


def _case(name: str = CASE) -> object:
    return next(c for c in load_cases() if c.name == name)


def _patched() -> bool:
    v = variants.find(mbedtls_py.__variant__)
    return any(Path(p["path"]).name == PATCH.name for p in v.info.get("patches", []))


def _hello(random: bytes, cookie: bytes = b"", seq: int = 0) -> bytes:
    """An epoch-0 DTLS 1.2 ClientHello record (enough of one for the guard)."""
    body = b"\xfe\xfd" + random + b"\x00" + bytes([len(cookie)]) + cookie + b"\x00\x02\xc0\x2b\x01\x00"
    hs = b"\x01" + len(body).to_bytes(3, "big") + seq.to_bytes(2, "big") + b"\x00\x00\x00" \
        + len(body).to_bytes(3, "big") + body
    return b"\x16\xfe\xfd\x00\x00" + seq.to_bytes(6, "big") + len(hs).to_bytes(2, "big") + hs


def test_client_hello_random_reads_the_first_fragment_only() -> None:
    """The random is bytes 14..46 of an epoch-0 ClientHello's first fragment."""
    rnd = bytes(range(32))
    rec = parse_datagram(_hello(rnd)).records[0]
    assert client_hello_random(rec) == rnd
    alert = parse_datagram(b"\x15\xfe\xfd\x00\x00" + bytes(6) + b"\x00\x02\x01\x00").records[0]
    assert client_hello_random(alert) is None


def test_guard_drops_copies_after_the_handshake_and_passes_new_randoms() -> None:
    """Before the handshake is over everything passes (and randoms are noted);
    after it, a ClientHello with a cookie and a noted random is removed; one
    without a cookie (harmless) or with a new random passes."""
    old, new = b"A" * 32, b"B" * 32
    g = ReconnectGuard()
    assert g.admit(_hello(old), handshake_over=False) == _hello(old)
    assert g.admit(_hello(old), handshake_over=True) == _hello(old)  # no cookie: Mbed TLS's
    assert g.admit(_hello(old, b"cookie"), handshake_over=True) is None
    other = b"\x17\xfe\xfd\x00\x01" + bytes(6) + b"\x00\x01\x00"
    assert g.admit(_hello(old, b"c") + other, handshake_over=True) == other  # the rest stays
    assert g.admit(_hello(new, b"cookie"), handshake_over=True) == _hello(new, b"cookie")
    assert g.dropped == 2
    g.reconnected()  # Mbed TLS took the new one for a reconnect: it opens the next handshake
    assert g.randoms == [new]
    g.reset()
    assert g.admit(_hello(old), handshake_over=True) == _hello(old)


def test_failing_seed_fails_with_a_reconnect_and_replays_byte_for_byte() -> None:
    """Stock 3.6.7: the held ClientHello resets the live connection; the
    client waits for its answer until the 20 s watchdog. Same seed, same bytes."""
    if _patched():
        pytest.skip(f"the loaded variant carries {PATCH.name}")
    r1, r2 = run_case(_case(), SEED), run_case(_case(), SEED)  # type: ignore[arg-type]
    assert (r1.verdict, r1.reason) == ("FAIL", "bad client exit code (expected 0, got 143)")
    assert RECONNECT in r1.srv_out
    assert "cookie is valid, resetting context" in r1.srv_out
    assert r1.digest() == r2.digest()


def test_reconnect_guard_policy_passes_the_failing_seed() -> None:
    """The policy drops the copy (same random as the opening ClientHello): PASS."""
    r = run_case(_case(), SEED, server_policy="reconnect-guard")  # type: ignore[arg-type]
    assert r.verdict == "PASS", r.reason
    assert RECONNECT not in r.srv_out


@pytest.mark.parametrize("name", [
    "DTLS client reconnect from same port: reconnect",
    "DTLS client reconnect from same port: reconnect, nbio, no valgrind",
    "DTLS client reconnect from same port: attacker-injected",
])
def test_real_reconnects_still_work_under_the_policy(name: str) -> None:
    """A client that really reconnects sends a new random: still served."""
    r = run_case(_case(name), 1, server_policy="reconnect-guard")  # type: ignore[arg-type]
    assert r.verdict == "PASS", r.reason


def test_loaded_variant_behaves_as_its_patches_say() -> None:
    """On a variant carrying patches/0003 the seed passes and the debug log
    says why; on a released one it fails (the test above)."""
    if not _patched():
        pytest.skip(f"the loaded variant ({mbedtls_py.__variant__}) does not carry {PATCH.name}")
    r = run_case(_case(), SEED)  # type: ignore[arg-type]
    assert r.verdict == "PASS", r.reason
    assert "a duplicate, not a reconnect" in r.srv_out


def test_patched_variant_passes_the_failing_seed() -> None:
    """The built 3.6.7+0003 variant, in its own process: PASS where stock fails."""
    try:
        variants.find(VARIANT)
    except variants.VariantError:
        pytest.skip(f"variant {VARIANT} not built: python -m mbedtls_py build-variant 3.6.7 "
                    f"--patch {PATCH.relative_to(ROOT)}")
    p = subprocess.run([sys.executable, "-m", "mbedtls_py", "ssl-opt", "--trace", CASE,
                        "--seed", str(SEED)], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "MBEDTLS_PY_VARIANT": VARIANT}, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr
    assert f"(seed {SEED}): PASS" in p.stdout
    assert "a duplicate, not a reconnect" in p.stdout


def test_ssl_opt_cli_takes_the_policy() -> None:
    """``ssl-opt --trace CASE --seed 24 --server-policy reconnect-guard`` passes
    (exit 0) where the stock run exits 1."""
    base = [sys.executable, "-m", "mbedtls_py", "ssl-opt", "--trace", CASE, "--seed", str(SEED)]
    env = {k: v for k, v in os.environ.items() if k != "MBEDTLS_PY_VARIANT"}
    stock = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    guard = subprocess.run(base + ["--server-policy", "reconnect-guard"], capture_output=True,
                           text=True, cwd=ROOT, env=env, timeout=300)
    assert (stock.returncode, guard.returncode) == (1, 0), guard.stdout[-1000:] + guard.stderr
