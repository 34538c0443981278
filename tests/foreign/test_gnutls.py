"""The in-process GnuTLS peer (foreign/gnutls) and gnutls-cli/gnutls-serv in
ssl-opt's virtual time: the real libgnutls, its datagrams in the main
extension's queues, its clocks and randomness owned by the harness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mbedtls_py.bindings.clock import VirtualClock
from mbedtls_py.foreign import PeerUnavailable
from mbedtls_py.foreign.gnutls import build
from mbedtls_py.sslopt.parse import load_cases, unskipped
from mbedtls_py.sslopt.runner import run_case

try:
    from mbedtls_py.foreign.gnutls.session import E, GnuTLSSession, rng_owned, version
    version()
except PeerUnavailable as e:  # the machine lacks libgnutls28-dev: say so, loudly
    pytest.fail(f"GnuTLS peer unavailable: {e}", pytrace=False)

ROOT = Path(__file__).resolve().parents[2]
CASES = {c.name: c for c in load_cases()}
CLIENT_3D = "DTLS proxy: 3d, gnutls client"
FRAG_3D = "DTLS proxy: 3d, gnutls client, fragmentation"  # upstream #10652, skipped there


def test_loads_the_system_library() -> None:
    """The extension is built (or loaded from the cache) against libgnutls 3.x,
    with getrandom() and time() of libgnutls redirected."""
    assert version().startswith("3.")
    assert rng_owned()


def test_missing_headers_name_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """Without the headers the error names the Debian package (never a silent skip)."""
    monkeypatch.setattr(build, "HEADER", tmp_path / "gnutls.h")
    monkeypatch.setattr(build, "_LOADED", [])
    with pytest.raises(PeerUnavailable, match="libgnutls28-dev"):
        build.load()


def test_retransmission_runs_on_virtual_time() -> None:
    """A client's ClientHello is retransmitted when the virtual clock passes
    gnutls_dtls_get_timeout (1 s), not before, however much real time passes."""
    clock = VirtualClock()
    s = GnuTLSSession(False, clock, b"seed")
    try:
        lib = s.g.lib
        assert s.init(lib.GNUTLS_CLIENT) == 0
        s.fn("set_default_priority")
        assert s.handshake() == E.AGAIN
        first = s.drain()
        assert len(first) == 1 and first[0][0] == 22
        assert s.timeout_ms() == 1000
        clock.advance(999)
        assert s.handshake() == E.AGAIN and s.drain() == []
        clock.advance(1)
        assert s.handshake() == E.AGAIN
        again = s.drain()
        assert len(again) == 1 and again[0][13:] == first[0][13:]  # same message, next record
    finally:
        s.close()


def _digest(name: str, seed: int) -> tuple[str, str]:
    r = run_case(unskipped(CASES[name]), seed)
    return r.verdict, r.digest()


def test_same_seed_same_bytes() -> None:
    """Same seed, same datagrams, byte for byte (GnuTLS's randoms, keys and
    cookies come from the seed); another seed gives other bytes."""
    a, b = _digest(CLIENT_3D, 3), _digest(CLIENT_3D, 3)
    assert a == b and a[0] == "PASS"
    assert _digest(CLIENT_3D, 4)[1] != a[1]


def test_same_seed_same_bytes_in_another_process() -> None:
    """The digest does not depend on what ran before in the process (each
    GnuTLS session seeds a fresh thread's DRBG)."""
    code = ("from mbedtls_py.sslopt.parse import load_cases; "
            "from mbedtls_py.sslopt.runner import run_case; "
            f"c = [c for c in load_cases() if c.name == {CLIENT_3D!r}][0]; "
            "print(run_case(c, 3).digest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == _digest(CLIENT_3D, 3)[1]


@pytest.mark.parametrize("name", [
    "DTLS reassembly: more fragmentation (gnutls client)",
    "DTLS reassembly: fragmentation, renego (gnutls server)",
    "DTLS fragmenting: 3d, MTU=116, gnutls client, DTLS 1.2",
    "DTLS proxy: 3d, gnutls server, fragmentation",
])
def test_cases_pass(name: str) -> None:
    """GnuTLS DTLS cases of ssl-opt.sh run in process and pass at seed 1."""
    r = run_case(CASES[name], 1)
    assert r.verdict == "PASS", r.reason


def test_10652_fragmented_clienthello_replay_kills_the_handshake() -> None:
    """Upstream #10652 replayed: a duplicate of a ClientHello fragment reaches
    ssl_server2 while it reassembles the ClientHello; the anti-replay check
    makes ssl_get_next_record return UNEXPECTED_RECORD (state CLIENT_HELLO of
    an initial handshake), the server resets (-0x7700), and GnuTLS's
    handshake times out (exit 1)."""
    r = run_case(unskipped(CASES[FRAG_3D]), 21)
    assert r.verdict == "FAIL" and r.cli_exit == 1
    assert "replayed record" in r.srv_out
    assert "mbedtls_ssl_handshake returned -0x7700" in r.srv_out
    assert "*** Fatal error: The operation timed out" in r.cli_out


@pytest.mark.parametrize("seed", range(1, 6))
def test_seed_race_with_a_gnutls_client(seed: int) -> None:
    """The seed's race with GnuTLS as the client on the Network (repro --peer
    gnutls-sim): its encrypted close_notify (gnutls_bye) delivered after the
    server's reset fails the server with -0x7700 under `none`; `classify`
    proves it stale and serves the next client."""
    from mbedtls_py.bindings.errors import Err
    from mbedtls_py.repro.scenarios import run_scenario
    none = run_scenario("late-close-notify", "none", seed, peer="gnutls-sim")
    assert none.peer == "gnutls-sim"
    if none.late:
        assert none.outcome == "failed" and none.server_rc == Err.SSL_UNEXPECTED_MESSAGE
    else:
        assert none.outcome == "ok"
    ok = run_scenario("late-close-notify", "classify", seed, peer="gnutls-sim")
    assert ok.outcome == "ok" and ok.second_client_served


def test_gnutls_client_party_with_certificates() -> None:
    """GnuTLSClient on a Network against Mbed TLS's DTLSServer with an ECDSA
    PKI: handshake, request, echo, close."""
    from mbedtls_py.creds.det import make_det_pki
    from mbedtls_py.repro.scenarios import run_scenario
    r = run_scenario("late-close-notify", "classify", 3, peer="gnutls-sim", auth="ecdsa",
                     pki=make_det_pki(3))
    assert r.outcome == "ok" and r.second_client_served


def test_without_gnutls_the_skip_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """No libgnutls headers and no gnutls-cli: a GnuTLS case is SKIP with the
    packages to install in its reason, not a bare skip."""
    import shutil

    from mbedtls_py.sslopt import reqs
    monkeypatch.setattr(reqs, "gnutls_in_process", lambda: "")
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name: None if "gnutls" in name else real_which(name))
    r = run_case(CASES["DTLS reassembly: no fragmentation (gnutls server)"], 1)
    assert r.verdict == "SKIP"
    assert "apt-get install libgnutls28-dev" in r.reason and "gnutls-bin" in r.reason


def test_digest_does_not_depend_on_what_ran_before() -> None:
    """ssl_server2's ticket keys take their generation time from the virtual
    clock, not from what an earlier run left on the thread: a network run in
    between (which sets the thread's Mbed TLS time) changes no byte."""
    from mbedtls_py.bindings.timeutil import set_time
    set_time(None)  # the system clock (what a fresh thread has)
    first = _digest(CLIENT_3D, 5)
    set_time(1_700_000_000)  # what a Network run (explore, golden traces) may leave
    try:
        assert _digest(CLIENT_3D, 5) == first
    finally:
        set_time(None)


def test_explore_with_a_gnutls_client() -> None:
    """explore's gnutls-client scenario: GnuTLS's encrypted close_notify held
    past the server's reset is a failure class under `none`, as with the Mbed
    TLS client."""
    from mbedtls_py.explore.engine import explore
    result = explore("gnutls-client", "none", faults=1)
    held = [c.to_json() for c in result.classes]
    held = [c for c in held if "client's encrypted alert (epoch 1) held until after the "
            "server's session_reset" in c["representative"]["words"]]
    assert held and all(c["failure"] for c in held)
    assert all(any(n["name"] == "SSL_UNEXPECTED_MESSAGE" for n in c["codes"]["server"])
               for c in held)


def test_refused_setting_is_reported_by_role_and_frees_the_peer() -> None:
    """A case whose client MTU the bindings refuse is UNSUPPORTED with the
    same reason in every process (the client by role, not by an id-based
    tag), and the GnuTLS server program is closed with the run, not at
    interpreter exit (its worker pool is gone by then: a traceback)."""
    name = "DTLS fragmenting: 3d, MTU=103, gnutls server, DTLS 1.2"
    code = ("from mbedtls_py.sslopt.parse import load_cases; "
            "from mbedtls_py.sslopt.runner import run_case; "
            f"c = [c for c in load_cases() if c.name == {name!r}][0]; "
            "r = run_case(c, 1); print(r.verdict); print(r.reason)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120, cwd=ROOT) for _ in range(2)]
    for out in runs:
        assert out.returncode == 0 and out.stderr == "", out.stderr
    verdict, reason = runs[0].stdout.splitlines()
    assert verdict == "UNSUPPORTED" and reason.startswith("client: MTU 103 is below ")
    assert runs[1].stdout == runs[0].stdout
