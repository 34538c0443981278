"""Off-path attacks (mbedtls_py.attacks) against the linked Mbed TLS.

The ``PINNED`` tests pin what the library does TODAY: each forged datagram
breaks the connection although RFC 6347 §4.1.2.7 says it must be silently
discarded.  A fixed Mbed TLS flips them visibly (they fail): then record the
new behaviour under its version in ``PINNED`` and say so in the changelog.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from mbedtls_py import Err, __mbedtls_version__
from mbedtls_py.attacks import (
    Duo,
    early_ccs,
    early_short_alert,
    forged_ccs_bad_mac,
    established_ccs_stray_byte,
    established_reconnect_decode_error,
    forge,
    replay_window_poison,
    run_all,
    stray_bytes,
)
from mbedtls_py.attacks.duo import Kind
from mbedtls_py.attacks.result import code_name

pytestmark = pytest.mark.sanitize


def test_duo_gives_the_thread_its_time_back() -> None:
    """Duo fixes the time Mbed TLS reads only while it calls into it: afterwards
    the thread's own setting (fixed, or the system clock) is back."""
    from mbedtls_py.attacks.duo import Duo
    from mbedtls_py.bindings.timeutil import fixed_time, set_time

    set_time(1_234_567)
    try:
        assert Duo().handshake()
        assert fixed_time() == 1_234_567
    finally:
        set_time(None)
    assert Duo().handshake()
    assert fixed_time() is None

INTERNAL = code_name(Err.SSL_INTERNAL_ERROR)
TIMEOUT = code_name(Err.SSL_TIMEOUT)

# Today's behaviour, by Mbed TLS version.  3.6.7 leaves the record input path
# these scenarios exercise (mbedtls_ssl_fetch_input, ssl_get_next_record, the
# replay window) unchanged (diff of library/ssl_msg.c), so the same pin is
# expected there; a run on 3.6.7 confirms or flips it.
_PIN_366 = {
    "stray_kills": list(range(1, 13)),
    "stray_records": ["ccs/e0", "alert/e0", "handshake/e0", "app/e0", "app/e2"],
    "established": {"inject_rc": INTERNAL, "reads": [INTERNAL] * 3, "delivered": 0},
    "poison": {"completed": False, "failed": {"client": TIMEOUT, "server": TIMEOUT}},
    "ccs_seq2_late_ms": 1000,
    "malformed": code_name(Err.SSL_INVALID_RECORD),
    "bad_mac": code_name(Err.SSL_INVALID_MAC),
    "reconnect": code_name(Err.SSL_DECODE_ERROR),
}
# 4.0.0: the same ten findings, with the same codes (`attacks` on the variant).
PINNED = {"3.6.6": _PIN_366, "3.6.7": _PIN_366, "4.0.0": _PIN_366}


@pytest.fixture(scope="module")
def pin() -> dict[str, Any]:
    if __mbedtls_version__ not in PINNED:
        pytest.skip(f"no pinned off-path behaviour for Mbed TLS {__mbedtls_version__}; "
                    "run `python -m mbedtls_py attacks --json` and add it to PINNED")
    return PINNED[__mbedtls_version__]


@pytest.mark.parametrize("kind", ["psk", "ecdsa"])
@pytest.mark.parametrize("target", ["client", "server"])
def test_ccs_plus_one_byte_kills_established_connection(pin: dict[str, Any], kind: Kind, target: str) -> None:
    """PINNED (flips when fixed): 15 bytes (epoch-0 CCS + 1 stray byte) make the
    injected read and every later read return SSL_INTERNAL_ERROR."""
    r = established_ccs_stray_byte(kind, target=target, seed=3)
    assert len(r.datagram) == 15
    assert r.verdict == "violates"
    want = pin["established"]
    assert (r.facts["inject_rc"], r.facts["read_codes"], r.facts["delivered"]) == \
        (want["inject_rc"], want["reads"], want["delivered"])
    assert any("should never happen" in e for e in r.evidence)


@pytest.mark.parametrize("kind", ["psk", "ecdsa"])
def test_unparsable_clienthello_kills_established_server_with_cookies(pin: dict[str, Any], kind: Kind) -> None:
    """PINNED (flips when fixed; found by the fuzzer): 14 bytes (an epoch-0
    handshake record holding only the ClientHello type byte) make an established
    server with cookies fail with SSL_DECODE_ERROR (client-reconnect path)."""
    r = established_reconnect_decode_error(kind, seed=4)
    assert len(r.datagram) == 14
    assert r.verdict == "violates"
    assert (r.facts["inject_rc"], r.facts["delivered"]) == (pin["reconnect"], 0)
    assert any("possible client reconnect" in e for e in r.evidence)


def test_ccs_without_stray_byte_is_discarded() -> None:
    """The same CCS with nothing after it is discarded: the verdict can be 'conforms'."""
    r = established_ccs_stray_byte("psk", stray=b"", seed=3)
    assert r.verdict == "conforms", r.observed
    assert r.facts["delivered"] == r.facts["expected"] == 18


@pytest.mark.parametrize("kind,cookies", [("psk", False), ("psk", True), ("ecdsa", False),
                                          ("ecdsa", True)])
def test_early_malformed_ccs_makes_client_handshake_impossible(pin: dict[str, Any], kind: Kind, cookies: bool) -> None:
    """PINNED (flips when fixed): a 14-byte plaintext CCS with content 0 before the
    ServerHello fails the client's handshake at once with SSL_INVALID_RECORD."""
    r = early_ccs(kind, cookies=cookies, seed=5)
    assert len(r.datagram) == 14
    assert r.verdict == "violates"
    assert (r.facts["inject_rc"], r.facts["completed"], r.facts["failed"]) == \
        (pin["malformed"], False, {"client": pin["malformed"]})
    assert any("invalid CCS message" in e for e in r.evidence)


def test_early_short_alert_fails_the_handshake(pin: dict[str, Any]) -> None:
    """PINNED (flips when fixed; found by the fuzzer): a plaintext alert with a
    1-byte body is not discarded either: SSL_INVALID_RECORD, fatal."""
    r = early_short_alert("psk", seed=5)
    assert (r.verdict, r.facts["inject_rc"], r.facts["failed"]) == \
        ("violates", pin["malformed"], {"client": pin["malformed"]})


@pytest.mark.parametrize("kind,cookies", [("psk", False), ("ecdsa", True)])
def test_forged_ccs_then_bad_mac_record_fails_the_handshake(pin: dict[str, Any], kind: Kind, cookies: bool) -> None:
    """PINNED (flips when fixed; found by the fuzzer): a forged CCS while the
    client waits for the server's, then an epoch-1 record with a bad MAC:
    SSL_INVALID_MAC, fatal (the server then sees the client's fatal alert)."""
    r = forged_ccs_bad_mac(kind, cookies=cookies, seed=9)
    assert r.verdict == "violates"
    assert (r.facts["inject_rc"], r.facts["failed"].get("client")) == \
        (pin["bad_mac"], pin["bad_mac"])


def test_forged_ccs_alone_is_harmless() -> None:
    """Control: the forged CCS without the bad record changes nothing."""
    from mbedtls_py.attacks.scenarios import judge_handshake
    from mbedtls_py.attacks.result import AttackResult

    def inject(duo: Duo) -> int | None:
        duo.step("server")
        duo.flush()
        duo.step("client")
        return duo.inject("client", forge.ccs(seq=10))

    r = judge_handshake(AttackResult("ccs-alone", "", "client", b"", __mbedtls_version__),
                        "psk", False, 9, inject)
    assert r.verdict == "conforms", r.observed


@pytest.mark.parametrize("kind,cookies", [("psk", False), ("psk", True), ("ecdsa", True)])
def test_early_valid_ccs_far_ahead_poisons_the_replay_window(pin: dict[str, Any], kind: Kind, cookies: bool) -> None:
    """PINNED (flips when fixed): a valid 14-byte CCS with sequence number 2**40
    before the ServerHello; every real server record, retransmissions included,
    is 'replayed' and both sides time out."""
    r = early_ccs(kind, cookies=cookies, content=b"\x01", seq=1 << 40, seed=5)
    assert r.verdict == "violates"
    assert {k: r.facts[k] for k in ("completed", "failed")} == pin["poison"]
    assert r.facts["replayed_records"] > 0
    assert any("out-of-order ChangeCipherSpec" in e for e in r.evidence)


def test_early_ccs_with_a_small_sequence_number_costs_a_retransmission(pin: dict[str, Any]) -> None:
    """PINNED (flips when fixed): a valid CCS with seq 2 collides with the server's
    real CCS (PSK, no cookies): that record is discarded as replayed, the
    handshake completes one retransmission timeout late."""
    r = early_ccs("psk", content=b"\x01", seq=2, seed=5)
    assert r.facts["completed"] is True
    assert r.facts["t_ms"] - r.facts["control_t_ms"] == pin["ccs_seq2_late_ms"]
    assert r.facts["replayed_records"] >= 1
    assert r.verdict == "violates"


@pytest.mark.parametrize("target", ["client", "server"])
def test_replay_window_poisoned_by_one_record(pin: dict[str, Any], target: str) -> None:
    """PINNED (flips when fixed): an epoch-0 record with seq 2**40 (itself dropped
    as unexpected application data) makes the peer's later epoch-0 records replays."""
    r = replay_window_poison("psk", target=target, seed=7)
    assert r.verdict == "violates"
    assert {k: r.facts[k] for k in ("completed", "failed")} == pin["poison"]
    assert r.facts["replayed_records"] > 0


def test_replay_window_needs_a_far_sequence_number() -> None:
    """Control for the poisoning: seq 10 stays inside the window, nothing is lost."""
    r = replay_window_poison("psk", seq=10, seed=7)
    assert r.verdict == "conforms", r.observed


def test_stray_bytes_table(pin: dict[str, Any]) -> None:
    """PINNED (flips when fixed): a record dropped before decryption + 1..12 stray
    bytes kills the connection; 0 or 13 do not (13 bytes parse as a record
    header); a bad-MAC record of the current epoch drops the whole datagram."""
    r = stray_bytes("psk", seed=1)
    killed = r.facts["killed_by"]
    assert sorted(killed) == sorted(pin["stray_records"])
    assert all(ks == pin["stray_kills"] for ks in killed.values())
    assert all(codes == [INTERNAL] for codes in r.facts["codes"].values())
    assert "app/e1-badmac" not in killed


def test_results_replay_byte_for_byte() -> None:
    """Same seed, same codes and evidence (the verdicts are reproducible)."""
    a = [r.to_dict() for r in run_all(seed=11, only=["early-ccs", "established-ccs-stray-byte"])]
    b = [r.to_dict() for r in run_all(seed=11, only=["early-ccs", "established-ccs-stray-byte"])]
    assert a == b


def test_forge_matches_the_wire_format() -> None:
    """Forged records are real DTLS 1.2 record headers (checked by the parser)."""
    from mbedtls_py.wire import parse_datagram

    d = parse_datagram(forge.ccs(seq=1 << 40) + b"\x00")
    rec = d.records[0]
    assert (rec.content_type, rec.epoch, rec.seq, rec.payload, d.trailing) == \
        (20, 0, 1 << 40, b"\x01", b"\x00")
    with pytest.raises(ValueError):
        forge.record(23, b"", seq=1 << 48)


def test_duo_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Duo("rsa")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Duo().ctx("proxy")


def test_cli_json_and_errors() -> None:
    """`attacks --json` is one JSON object; a bad --only exits 2 with one error line."""
    out = subprocess.run([sys.executable, "-m", "mbedtls_py", "attacks", "--json", "--only",
                          "established-ccs-stray-byte", "--seed", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["mbedtls_version"] == __mbedtls_version__
    (s,) = doc["scenarios"]
    assert s["name"] == "established-ccs-stray-byte" and s["datagram"] == \
        "14fefd000000000000000100010100"
    assert s["rfc"].startswith("RFC 6347")
    assert [c["name"] for c in s["codes"] if c["call"] == "read"][0] == s["facts"]["inject_rc"]
    bad = subprocess.run([sys.executable, "-m", "mbedtls_py", "attacks", "--only", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown scenario 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr
