"""``python -m mbedtls_py repro close-notify``: table, JSON contract, trace,
determinism, speed, and the sweep on an Executor."""

import concurrent.futures
import json
import subprocess
import sys
from typing import Any

import pytest

from mbedtls_py import Err
from mbedtls_py.cli.repro import main
from mbedtls_py.repro.runs import summarise, sweep
from mbedtls_py.repro.scenarios import run_scenario
from mbedtls_py.server.staleness import FIRST_FLIGHT_REJECTED
from _versions import LENIENT_3X, RACE_RC


def repro(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mbedtls_py", "repro", "close-notify", *args],
                          capture_output=True, text=True, timeout=timeout)


@LENIENT_3X
def test_json_follows_the_contract() -> None:
    """--json prints one object whose runs carry seed, peer, mitigation, scenario, server_rc, outcome."""
    p = repro("--runs", "3", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["all_as_promised"] is True
    assert len(doc["runs"]) == 3 * 4 * 12 and doc["inconclusive"] == 0
    for run in doc["runs"]:
        assert {"seed", "peer", "mitigation", "scenario", "server_rc", "outcome"} <= set(run)
        assert run["peer"] == "mbedtls"
        assert run["outcome"] in ("ok", "failed", "error-reported", "error-hidden")
        assert ("linger_ms" in run) and (run["linger_ms"] is not None) == (run["mitigation"] == "linger")
        assert isinstance(run["server_rc"], int)
    late_none = [r for r in doc["runs"] if r["mitigation"] == "none"
                 and r["scenario"] == "late-close-notify"]
    for r in late_none:
        # -0x7700 exactly when the close_notify arrived after the reset, never before.
        assert (r["server_rc"] == Err.SSL_UNEXPECTED_MESSAGE) == r["late"]
        assert (r["outcome"] == "failed") == r["late"]


@LENIENT_3X
def test_same_seed_same_json() -> None:
    """The same --seed gives byte-identical JSON twice (in two processes)."""
    a = repro("--runs", "5", "--seed", "7", "--json")
    b = repro("--runs", "5", "--seed", "7", "--json")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout
    c = repro("--runs", "5", "--seed", "8", "--json")
    assert c.stdout != a.stdout


@LENIENT_3X
def test_200_runs_all_as_promised() -> None:
    """--runs 200 of the default scenario set: every run does what its policy promises.
    (How long it takes is a figure of bench/speed.py, not an assertion; the timeout
    only stops a hang.)"""
    p = repro("--runs", "200", timeout=600)
    assert p.returncode == 0, p.stdout[-2000:]
    assert "every run did what its policy promises" in p.stdout


@LENIENT_3X
def test_table_shows_the_difference() -> None:
    """The default table shows failures only under none, hidden errors only under lenient."""
    p = repro("--runs", "10")
    assert p.returncode == 0
    total = p.stdout.split("== all scenarios ==")[1]
    rows = {line.split()[0]: [int(x) if x != "-" else None for x in line.split()[1:]]
            for line in total.splitlines()[3:7]}
    runs, late, failed, reported, hidden, served, inconclusive, unexpected, window = range(9)
    assert rows["none"][failed] == rows["none"][late] and (rows["none"][late] or 0) > 0
    for policy in ("lenient", "linger", "classify"):
        assert rows[policy][failed] == 0
    assert (rows["lenient"][hidden] or 0) > 0
    for policy in ("none", "linger", "classify"):
        assert rows[policy][hidden] == 0
    assert all(row[served] == row[runs] and row[unexpected] == 0 and row[inconclusive] == 0
               for row in rows.values())
    assert rows["linger"][window] == 1100 and rows["none"][window] is None


def test_trace_shows_the_alert_crossing_the_reset() -> None:
    """--trace prints the timeline: the server's reset, then the late encrypted alert, then -0x7700."""
    p = repro("--trace", "--mitigation", "none", "--scenario", "late-close-notify", "--seed", "3")
    assert p.returncode == 0, p.stdout
    lines = p.stdout.splitlines()
    closed = next(i for i, line in enumerate(lines) if "** close_notify" in line)
    reset = next(i for i, line in enumerate(lines) if i > closed and "** reset" in line)
    late = next(i for i, line in enumerate(lines) if i > reset and "deliver" in line
                and "<Alert epoch=1" in line and "client->server" in line)
    code = f"-0x{-RACE_RC:04x}"  # -0x7700 (2.x: -0x7900)
    error = next(i for i, line in enumerate(lines) if f"** error rc={code}" in line)
    assert reset < late < error


@pytest.mark.parametrize("scenario, after_ms", [("late-close-notify-new-client", 0),
                                                  ("late-close-notify", 10)])
def test_next_client_is_timed_from_the_connection_ending_reset(scenario: str,
                                                               after_ms: int) -> None:
    """The next client's ClientHello reaches the server with the late alert
    (``-new-client``) or 10 ms after it, timed from the reset that ended the
    first connection: not from the reset after the cookie exchange, 300 ms
    earlier, which let the next client arrive whenever the first run ended."""
    nets: list[Any] = []
    r = run_scenario(scenario, "none", 3, offset_ms=150, on_network=nets.append)
    assert r.late and r.offset_ms == 150
    deliveries = [ev for ev in nets[0].trace if ev.kind == "deliver" and ev.dst == "server"]
    late = [ev.time_ms for ev in deliveries if ev.src == "client"][-1]
    hello = next(ev.time_ms for ev in deliveries if ev.src == "client2")
    assert hello == late + after_ms


def test_sweep_on_an_executor() -> None:
    """The sweep runs on any concurrent.futures Executor and gives the same numbers."""
    inline = sweep(["none", "classify"], seeds=40, seed=3, buckets=5)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        threaded = sweep(["none", "classify"], seeds=40, seed=3, buckets=5, executor=ex)
    assert inline == threaded
    before, *after = inline["buckets"]["none"]
    assert before["failed"] == 0  # arriving before the reset never fails
    assert all(b["failure_rate"] == 1.0 for b in after if b["runs"])
    assert inline["failure_rate"]["classify"] == 0.0


def test_classify_covers_the_race_on_this_version() -> None:
    """classify gates its proof on the code this library gives the race (-0x7700; 2.x:
    -0x7900), so on every version it drops the late alert, with the proof, and still
    reports every genuinely bad input (all scenarios, as promised)."""
    assert FIRST_FLIGHT_REJECTED == RACE_RC
    p = repro("--mitigation", "classify", "--runs", "3", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["all_as_promised"] is True and doc["inconclusive"] == 0
    late = [r for r in doc["runs"] if r["scenario"] == "late-close-notify" and r["late"]]
    assert late and all(r["server_rc"] == RACE_RC and r["outcome"] == "ok" for r in late)
    bad = [r for r in doc["runs"] if r["outcome"] in ("error-reported", "error-hidden")]
    assert bad and all(r["outcome"] == "error-reported" for r in bad)


def test_cli_misuse() -> None:
    """Bad arguments give argparse errors (exit 2), not tracebacks."""
    with pytest.raises(SystemExit) as info:
        main(["close-notify", "--mitigation", "hope"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["close-notify", "--runs", "0"])
    p = subprocess.run([sys.executable, "-m", "mbedtls_py", "repro", "--help"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "close-notify" in p.stdout


def test_summary_counts() -> None:
    """summarise() counts per policy what the table shows."""
    rs = [run_scenario("late-close-notify", p, 1, offset_ms=10) for p in ("none", "classify")]
    s = summarise(rs)
    assert s["none"]["failed"] == 1 and s["classify"]["failed"] == 0


@pytest.mark.parametrize("argv,quoted", [
    (["--rtt", "0"], "'0'"),
    (["--rtt", "-5"], "'-5'"),
    (["--rtt", "fast"], "'fast'"),
    (["--peer", "openssl", "--delay", "-1"], "'-1'"),
    (["--sweep", "0"], "'0'"),
    (["--sweep", "-3"], "'-3'"),
    (["--jobs", "0"], "'0'"),
    (["--jobs", "-2"], "'-2'"),
    (["--linger", "-1"], "'-1'"),
    (["--linger", "nan"], "'nan'"),
    (["--runs", "0"], "'0'"),
])
def test_cli_rejects_nonsense(argv: list[str], quoted: str) -> None:
    """Each bad value: exit 2, a usage line and ONE error line quoting what was typed and
    saying what to give; no traceback."""
    p = repro(*argv)
    assert p.returncode == 2, (p.returncode, p.stdout[-500:], p.stderr)
    assert "Traceback" not in p.stderr and not p.stdout
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and quoted in errors[0] and "give" in errors[0], p.stderr


def test_upstream_client_without_source_tree(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """An installation without the build machinery (neither a checkout's csrc/
    nor the copy a wheel carries) makes --peer upstream-client say what to do
    and exit 2 instead of a traceback."""
    from mbedtls_py import _csrc

    monkeypatch.setattr(_csrc, "csrc_dir", lambda: None)
    with pytest.raises(SystemExit) as info:
        main(["close-notify", "--peer", "upstream-client", "--runs", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "build machinery" in err and "--peer openssl" in err


def test_inconclusive_is_never_success() -> None:
    """exit_status: any inconclusive run exits 3 (0 only with --allow-inconclusive);
    a run not as promised exits 1."""
    from mbedtls_py.repro.runs import exit_status

    ok = run_scenario("late-close-notify", "classify", 1, offset_ms=30)
    lost = run_scenario("late-close-notify", "classify", 1, offset_ms=30,
                        extra_rules=("client->server alert epoch>=1: drop",))
    assert ok.outcome == "ok" and lost.outcome == "inconclusive"
    assert exit_status([ok]) == 0
    assert exit_status([ok, lost]) == 3
    assert exit_status([ok, lost], allow_inconclusive=True) == 0
    wrong = run_scenario("late-close-notify", "linger", 3, offset_ms=250, linger_ms=100)
    wrong.expected = "ok"  # pretend the policy promised otherwise
    assert exit_status([wrong, lost]) == 1


def test_linger_consumes_the_duplicate_of_a_datagram_it_read_after_the_close() -> None:
    """Under jitter the first client's close_notify overtakes its request: the
    lingering connection reads the request after the close, and its anti-replay
    then refuses the scenario's duplicate of it.  That duplicate is still the
    old connection's (byte-identical to what it consumed), not a new client's
    first flight: consumed, not -0x7700."""
    r = run_scenario("duplicate-after-reset", "linger", 2, timing="jitter")
    assert r.late and r.outcome == "ok" and r.server_rc == 0
    assert r.note.startswith("linger_consumed:")


@pytest.mark.parametrize("seed, overtaken", [(2, "the next client's request"),
                                             (11, "the server's echo")])
def test_a_next_client_undone_by_its_own_reordering_is_inconclusive(seed: int,
                                                                     overtaken: str) -> None:
    """The late alert was handled as the policy promises, but jitter made the
    next connection's own close_notify overtake its data: it goes unserved for
    a reason of its own, so the run is inconclusive, never a failed promise."""
    r = run_scenario("late-close-notify", "linger", seed, timing="jitter")
    assert r.note.startswith("linger_consumed:") and not r.second_client_served
    assert r.outcome == "inconclusive" and not r.as_promised
    assert f"a close_notify overtook {overtaken}" in r.evidence
