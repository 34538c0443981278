"""The datagram fuzzer (mbedtls_py.fuzz): cases, oracle, classification, CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mbedtls_py.attacks import forge
from mbedtls_py.bindings.errors import Err
from mbedtls_py.fuzz import MUTATIONS, STATES, Fuzzer, classify, make_case, mutate, run_alone, shrink
from mbedtls_py.fuzz.engine import Case
from mbedtls_py.fuzz.states import control_ms, corpus

pytestmark = pytest.mark.sanitize


@pytest.fixture(autouse=True)
def _system_time_afterwards() -> Iterator[None]:
    """Duo fixes the time Mbed TLS reads (process-wide today); give it back."""
    yield
    from mbedtls_py import set_time

    set_time(None)
ALL = list(STATES)


def _case(state: str, data: bytes, kind: str = "psk", cookies: bool = False) -> Case:
    return Case("test", 0, state, kind, cookies, "manual", data, tuple(ALL))  # type: ignore[arg-type]


def test_cases_are_fixed_by_seed_and_index() -> None:
    """Same (seed, index), same datagram and state; another seed, other datagrams."""
    a = [make_case("s", i, ALL) for i in range(40)]
    b = [make_case("s", i, ALL) for i in range(40)]
    c = [make_case("t", i, ALL) for i in range(40)]
    assert a == b
    assert [x.datagram for x in a] != [x.datagram for x in c]
    assert {x.state for x in a} == set(ALL)
    assert {x.kind for x in a} == {"psk", "ecdsa"} and {x.cookies for x in a} == {True, False}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_gives_a_datagram(name: str) -> None:
    rng = random.Random(name)
    pool = corpus("psk", True)
    for _ in range(30):
        out = MUTATIONS[name](rng, pool)
        assert isinstance(out, bytes) and 0 < len(out) <= 65507
    assert mutate(random.Random(1), pool) == mutate(random.Random(1), pool)


def test_corpus_is_a_real_handshake() -> None:
    """Cookies on: ClientHello, HelloVerifyRequest, ClientHello with cookie, ...,
    application data both ways, close_notify; ECDSA carries the certificate."""
    psk, ecdsa = corpus("psk", True), corpus("ecdsa", False)
    assert len(psk) >= 7 and psk[0][0] == 22
    assert max(map(len, ecdsa)) > 300  # the Certificate flight


@pytest.mark.parametrize("state", ALL)
def test_oracle_accepts_a_harmless_datagram(state: str) -> None:
    """A datagram that is not DTLS at all (5 bytes) is discarded in every state:
    the oracle says 'ok', so it can pass as well as fail."""
    out, _ = run_alone(_case(state, b"\xff" * 5))
    assert out.verdict == "ok", out


@pytest.mark.parametrize("state", ["server-mid", "client-mid", "client-end"])
def test_control_times_exist(state: str) -> None:
    assert control_ms(state, "psk", False) >= 0


def test_trailing_bytes_is_recognised_as_known() -> None:
    """PINNED (3.6.6): CCS + 1 stray byte on an established client is a violation
    ('failed', SSL_INTERNAL_ERROR) that the classifier names known:trailing-bytes."""
    case = _case("client-established", forge.ccs(seq=1) + b"\x00")
    out, lines = run_alone(case, debug=True)
    assert (out.verdict, out.codes) == ("failed", (str(Err.SSL_INTERNAL_ERROR),))
    assert classify(STATES[case.state], case.datagram, out, lines)[0] == "known:trailing-bytes"


def test_malformed_ccs_and_forged_alert_are_classified() -> None:
    """PINNED (3.6.6): a malformed CCS is the known 14-byte CCS; a forged fatal
    alert during the epoch-0 handshake is protocol-inherent."""
    bad = _case("client-mid", forge.record(20, b"\x00", seq=10))
    out, lines = run_alone(bad, debug=True)
    assert classify(STATES["client-mid"], bad.datagram, out, lines)[0] == "known:malformed-ccs"
    fatal = _case("client-mid", forge.alert(2, 40, seq=10))
    out, lines = run_alone(fatal, debug=True)
    assert out.verdict == "failed"
    assert classify(STATES["client-mid"], fatal.datagram, out, lines)[0] == "inherent"


def test_shrink_finds_the_minimal_reproducer() -> None:
    """CCS + 9 stray bytes + junk shrinks to at most 15 bytes and still fails the same way."""
    case = _case("client-established", forge.ccs(seq=1) + bytes(range(1, 10)))
    out, _ = run_alone(case)
    small = shrink(case, out, budget=60)
    assert len(small) <= 15
    again, _ = run_alone(case, small)
    assert (again.verdict, again.codes) == (out.verdict, out.codes)


def test_a_short_run_counts_every_datagram_and_finds_nothing_new() -> None:
    """PINNED (3.6.6): 250 seeded datagrams; every violation is known, documented,
    authentic or inherent (a new upstream behaviour shows up here first)."""
    fz = Fuzzer("pytest", progress=0)
    fz.run(250)
    assert sum(sum(t.values()) for t in fz.counts.values()) == 250
    assert fz.new == [], [f.to_dict() for f in fz.new]
    assert any(c.startswith("known:") for c in fz.category_counts())
    for f in fz.findings.values():
        assert f.to_dict()["replay"].startswith("python -m mbedtls_py fuzz --seed pytest")


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mbedtls_py", "fuzz", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_cli_json_progress_and_replay() -> None:
    """--json is one object; progress goes to stderr; --replay reruns one case."""
    out = _cli("--iterations", "60", "--seed", "cli", "--json", "--state", "client-established",
               "--state", "client-mid")
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert doc["iterations"] == 60 and doc["states"] == ["client-mid", "client-established"]
    assert "fuzz: 60/60 datagrams" in out.stderr
    rep = _cli("--seed", "cli", "--replay", "3", "--state", "client-established",
               "--state", "client-mid", "--json")
    assert rep.returncode == 0, rep.stderr
    case = json.loads(rep.stdout)
    assert case["index"] == 3 and case["state"] in ("client-established", "client-mid")
    assert case["datagram"] == make_case("cli", 3, ["client-mid", "client-established"]
                                         ).datagram.hex()


@pytest.mark.parametrize("args", [["--iterations", "0"], ["--iterations", "x"],
                                  ["--state", "nope"], ["--history-from", "3"],
                                  ["--replay", "-1"]])
def test_cli_bad_input_exits_2(args: list[str]) -> None:
    out = _cli(*args, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "error:" in out.stderr


def test_sanitizer_catches_an_overflow_when_active() -> None:
    """Under `./dev.sh sanitize` (libasan preloaded): a deliberate over-read in the
    glue is reported by ASan and kills the child, so a clean run means something."""
    import os

    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("not running under ./dev.sh sanitize")
    code = ("from mbedtls_py.bindings import lib\nfrom mbedtls_py import Context, Config\n"
            "c = Context(Config('client'))\nlib.mpy_queue_push(c._cx.inq, b'x' * 1000, 5000)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "AddressSanitizer: heap-buffer-overflow" in out.stderr
    assert "mpy_queue_push" in out.stderr


def test_replay_ignores_state_order_and_replays_history() -> None:
    """The replay command printed for a history-dependent violation reproduces it:
    the same case whatever the order of --state, and the same outcome after the
    cases that shared its connection."""
    fz = Fuzzer("h", ["server-established", "client-established"], progress=0)
    fz.run(100)
    hist = [f for f in fz.findings.values() if f.history_from is not None]
    assert hist, "seed 'h' had a history-dependent violation at case 8"
    f = hist[0]
    again, _ = run_alone(f.case, history_from=f.history_from)
    assert (again.verdict, again.codes) == (f.outcome.verdict, f.outcome.codes)
    a = make_case("x", 5, ["server-mid", "client-established"])
    out = _cli("--seed", "x", "--replay", "5", "--state", "server-mid",
               "--state", "client-established", "--json", timeout=60)
    assert json.loads(out.stdout)["datagram"] == a.datagram.hex()
