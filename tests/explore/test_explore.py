"""The schedule explorer: the seed rediscovered, emitted tests that pass and
flip, executors that agree with a serial run, the CLI contract."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mbedtls_py.explore import SCENARIOS, emit_test, explore, run_schedule
from mbedtls_py.explore.model import DatagramId, EventId, Fault, ordinal, schedule_from_json, \
    schedule_to_json
from mbedtls_py.explore.engine import Exploration, OutcomeClass
from mbedtls_py.sim import Network
from _versions import RACE_RC


@pytest.fixture(scope="module")
def none_k1() -> Exploration:
    """The default exploration: two clients, policy none, one fault."""
    return explore("two-clients", "none", 1)


def _seed_class(result: Exploration) -> OutcomeClass | None:
    for c in result.failures:
        (f,) = c.representative if len(c.representative) == 1 else (None,)
        if f is not None and f.kind == "hold" and f.d.src == "client" \
                and f.d.key == "alert epoch=1" and f.e is not None and f.e.kind == "reset" and f.e.peer == "client":
            return c
    return None


def _run(src: str, name: str) -> None:
    scope: dict[str, Any] = {}
    exec(compile(src, name, "exec"), scope)  # noqa: S102 - our own emitted test
    for key, fn in scope.items():
        if key.startswith("test_"):
            fn()


def _strip_faults(src: str) -> str:
    return "\n".join(line for line in src.splitlines() if "# fault f" not in line) + "\n"


def test_seed_rediscovered(none_k1: Exploration) -> None:
    """Told nothing about alerts or resets, the explorer finds the seed race."""
    c = _seed_class(none_k1)
    assert c is not None, [str(x.representative) for x in none_k1.failures]
    words = c.to_json()["representative"]["words"]
    assert "client's encrypted alert (epoch 1) held until after the server's session_reset" \
        in words
    assert [x["name"] for x in c.to_json()["codes"]["server"]] == [RACE_RC.name]  # 2.x: -0x7900
    assert c.failure and ("server", int(RACE_RC)) in c.new_errors
    assert none_k1.classes[0].representative == () and not none_k1.classes[0].failure


def test_emitted_seed_test_passes_and_flips_without_the_hold(none_k1: Exploration,
                                                            tmp_path: Path) -> None:
    """The emitted regression test passes under pytest; without its hold it fails."""
    c = _seed_class(none_k1)
    assert c is not None
    src = emit_test(none_k1, c.id)
    assert "hold f1" in src and "net.release('f1')" in src
    path = tmp_path / "test_seed.py"
    path.write_text(src)
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)]
    ok = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    path.write_text(_strip_faults(src))
    flipped = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert flipped.returncode == 1 and "AssertionError" in flipped.stdout, flipped.stdout


@pytest.mark.parametrize("spec,policy", [("two-clients", "none"), ("two-clients", "linger"),
                                         ("two-clients", "classify"), ("cookie", "lenient"),
                                         ("cert-chain", "none"), ("cid", "none")])
def test_every_emitted_test_replays_its_class(spec: str, policy: str) -> None:
    """Each class's emitted test passes; without its faults it is another class."""
    result = explore(spec, policy, 1)
    assert len(result.classes) >= 5
    for c in result.classes:
        src = emit_test(result, c.id)
        _run(src, f"class {c.id}")
        if c.id == 0:
            continue
        with pytest.raises(AssertionError):
            _run(_strip_faults(src), f"class {c.id} without faults")


def test_identities_survive_changes() -> None:
    """A fault on a datagram that is never sent changes nothing."""
    ghost = Fault("drop", DatagramId("client", "server", "alert epoch=1", 9))
    base = run_schedule("cookie", "none", ()).outcome()
    assert run_schedule("cookie", "none", (ghost,)).outcome() == base
    hold = Fault("hold", DatagramId("client", "server", "alert epoch=1", 1),
                 EventId("server", "reset", "client", 2))
    assert schedule_from_json(json.loads(json.dumps(schedule_to_json((hold,))))) == (hold,)
    assert run_schedule("cookie", "none", (hold,)).outcome() != base


def test_fault_validation() -> None:
    """Faults take an event exactly when they need one."""
    d = DatagramId("client", "server", "any", 1)
    with pytest.raises(ValueError):
        Fault("hold", d)
    with pytest.raises(ValueError):
        Fault("drop", d, EventId("server", "reset", "", 1))
    with pytest.raises(ValueError):
        Fault("corrupt", d)
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"]


def test_network_intercept() -> None:
    """The interceptor sees each datagram first and can drop or hold it."""
    net = Network(seed=1)
    a, b = net.socket("a"), net.socket("b")
    seen = []

    def fn(src: str, dst: str, index: int, data: bytes) -> tuple[str, str] | None:
        seen.append((src, dst, index))
        return {1: ("drop", "first"), 2: ("hold", "second")}.get(index)

    net.intercept(fn)
    for i in range(3):
        a.sendto(bytes([i]), "b")
    net.run()
    assert seen == [("a", "b", 1), ("a", "b", 2), ("a", "b", 3)]
    assert b.recvfrom() == (b"\x02", "a") and b.recvfrom() is None
    net.release("second")
    net.run()
    assert b.recvfrom() == (b"\x01", "a")
    net.intercept(lambda *args: ("corrupt", "x"))
    with pytest.raises(ValueError):
        a.sendto(b"x", "b")
    with pytest.raises(TypeError):
        net.intercept(42)  # type: ignore[arg-type]


def test_process_executor_same_json() -> None:
    """A process pool gives the same JSON, in the same order, as a serial run."""
    serial = explore("cookie", "none", 1)
    with ProcessPoolExecutor(2) as pool:
        parallel = explore("cookie", "none", 1, executor=pool, chunk=7)
    assert json.dumps(parallel.to_json()) == json.dumps(serial.to_json())
    assert parallel.assignments == serial.assignments


def test_dask_same_json() -> None:
    """A two-worker Dask LocalCluster gives the same JSON as a serial run."""
    distributed = pytest.importorskip("dask.distributed")
    serial = explore("cookie", "none", 1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = explore("cookie", "none", 1, executor=client.get_executor(), chunk=16)
    assert json.dumps(remote.to_json()) == json.dumps(serial.to_json())


USER_SCENARIO = '''
"""A user's scenario: the built-in cookie handshake, driven by hand."""
from mbedtls_py.explore.scenarios import build_cookie, finish


def cookie_by_hand(probe, policy):
    """One cookie handshake."""
    net = probe.network(seed=0)
    setup = build_cookie(net, policy)
    probe.watch(setup.server, server=True)
    probe.watch(setup.clients[0])
    try:
        finish(net, setup)
    finally:
        setup.close()
'''


def test_user_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """module:function scenarios explore like built-ins and emit replay tests."""
    (tmp_path / "my_scenario.py").write_text(USER_SCENARIO)
    monkeypatch.syspath_prepend(str(tmp_path))
    mine = explore("my_scenario:cookie_by_hand", "none", 1)
    builtin = explore("cookie", "none", 1)
    assert [c.to_json()["codes"] for c in mine.classes] == \
        [c.to_json()["codes"] for c in builtin.classes]
    failure = mine.failures[0]
    _run(emit_test(mine, failure.id), "user replay")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mbedtls_py", "explore", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_contract(tmp_path: Path) -> None:
    """--help, one-line errors with status 2, --json, --trace, --emit-test."""
    assert _cli("--help").returncode == 0
    for bad in (["nope"], ["resumption"], ["renegotiation"], ["--faults", "-1"],
                ["--emit-test", "3"], ["--jobs", "0"], ["--policy", "x"], ["no.such:fn"]):
        r = _cli(*bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") <= 2, r.stderr
    r = _cli("cookie", "--json")
    assert r.returncode == 0 and "schedules" in r.stderr
    out = json.loads(r.stdout)
    assert out["schedules"] == 1 + out["menu"] and out["classes"][0]["count"] >= 1
    for c in out["classes"]:
        assert {"codes", "count", "representative", "failure"} <= set(c)
    fail = next(c["id"] for c in out["classes"] if c["failure"])
    r = _cli("cookie", "--trace", str(fail))
    assert r.returncode == 0 and "interceptor" in r.stdout and "** error" in r.stdout
    path = tmp_path / "test_x.py"
    r = _cli("cookie", "--emit-test", str(fail), "--out", str(path))
    assert r.returncode == 0 and path.is_file()
    assert _cli("cookie", "--trace", "999").returncode == 2


def test_table_lists_every_class() -> None:
    """The default command prints a table with one row per class."""
    r = _cli("cid")
    assert r.returncode == 0
    assert "failure classes" in r.stdout and "no fault" in r.stdout


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_builtin_baselines_are_clean(name: str) -> None:
    """Every built-in scenario runs fault-free without any error."""
    out = run_schedule(name, "none", ()).outcome()
    assert out.errors == ()
    assert all(codes == (0,) for _, codes, _, _ in out.sides)
    assert all(dl in (True, None) for *_, dl in out.sides)


def test_docstring_example_is_current() -> None:
    """The emitted test's header names the command that wrote it."""
    result = explore("cookie", "none", 0)
    src = emit_test(result, 0)
    assert textwrap.dedent(src).startswith('"""Regression test written by `mbedtls-py explore '
                                           'cookie --policy none --faults 0')
    with pytest.raises(ValueError):
        emit_test(result, 5)

