"""Lifetime and threading: C-owned config lifetime, close() racing the
accessors, argument values that would hang Mbed TLS, per-thread Mbed TLS time
and set_clock keeping timers."""

from __future__ import annotations

import functools
import gc
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable

import pytest
from _isolated import run_isolated

from mbedtls_py import ClosedError, Context, Err, VirtualClock, get_time, set_time
from mbedtls_py.bindings import lib
from mbedtls_py.bindings.features import has as has_feature
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import handshake_pair, psk_configs
from mbedtls_py.bindings.timeutil import fixed_time

# Part of the short ASan+UBSan pass (./dev.sh sanitize).
pytestmark = pytest.mark.sanitize

# Freed memory is overwritten (glibc's MALLOC_PERTURB_, Python's allocator
# bypassed) and Mbed TLS's debug threshold raised: a context freed after its
# config then calls a garbage ssl->conf->f_dbg and the child dies on SIGSEGV
# instead of reading stale but intact bytes.
POISON = {"PYTHONMALLOC": "malloc", "MALLOC_PERTURB_": "85"}

CYCLES = """
import gc
from mbedtls_py import Config, Context
from mbedtls_py.bindings import lib
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import handshake_pair

lib.mbedtls_debug_set_threshold(4)
gc.disable()
psk = (b"k" * 16, b"id")
for i in range(ROUNDS):
    # a Network holding two contexts is a cycle (endpoints point back at it)
    net = Network(seed=i)
    cli = net.add("client", Context(Config("client", seed=net.seed_for("client"), psk=psk)))
    srv = net.add("server", Context(Config("server", seed=net.seed_for("server"), psk=psk)))
    net.handshake(cli, srv)
    del net, cli, srv
    gc.collect()
    # an explicit cycle Context <-> Config
    conf = Config("client", seed=i, psk=psk)
    conf.cycle = Context(conf)
    del conf
    gc.collect()
print("done")
"""


def test_context_and_config_collected_in_one_cycle_touch_no_freed_memory() -> None:
    """Whatever order the GC finalises a Context and its Config in,
    mbedtls_ssl_free never reads a freed config (on the old main: SIGSEGV)."""
    out = run_isolated(CYCLES.replace("ROUNDS", "60"), timeout=120, env=POISON)
    assert not out.hung
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "done"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="valgrind cannot run a process with AddressSanitizer preloaded")
def test_cycles_under_valgrind_report_no_invalid_access_in_the_extension() -> None:
    """As memcheck sees it: no invalid read/write with a frame in the
    extension (on the old main: 'Invalid read of size 8 at
    mbedtls_debug_print_msg <- mbedtls_ssl_free <- mpy_conn_free')."""
    out = run_isolated(CYCLES.replace("ROUNDS", "4"), timeout=300, env={"PYTHONMALLOC": "malloc"},
                       prefix=["valgrind", "--tool=memcheck", "--num-callers=8"])
    assert out.returncode == 0 and "done" in out.stdout, out.stderr[-2000:]
    # memcheck separates its error reports with an empty "==pid==" line
    blocks = re.split(r"^==\d+== ?$", out.stderr, flags=re.M)
    ours = [b for b in blocks if "Invalid" in b and ("_lib" in b or "mpy_" in b)]
    assert ours == [], "\n".join(ours[:3])


def test_c_config_outlives_its_python_wrapper_while_a_context_uses_it() -> None:
    """The C config is reference-counted: a context retains it until freed."""
    client, _ = psk_configs(seed=1)
    owner = client._owner
    assert lib.mpy_ref_count(owner) == 1
    ctx = Context(client)
    assert lib.mpy_ref_count(owner) == 2
    ctx.close()
    assert lib.mpy_ref_count(owner) == 1


def test_collected_cycles_free_every_c_object() -> None:
    """Nothing leaks through the reference counts: live C objects and
    connections return to where they were."""
    gc.collect()
    refs0, conns0 = lib.mpy_ref_live(), lib.mpy_conn_live()
    for i in range(50):
        net = Network(seed=i)
        cc, sc = psk_configs(seed=i, cookies=True)
        cli, srv = net.add("client", Context(cc)), net.add("server", Context(sc))
        assert net.handshake(cli, srv) == (0, 0)
        net.close()
        del net, cli, srv, cc, sc
    gc.collect()
    assert (lib.mpy_ref_live(), lib.mpy_conn_live()) == (refs0, conns0)


# -- close() racing the accessors -------------------------------------

ACCESSORS: dict[str, Callable[[Context], object]] = {
    "timer_state": lambda c: c.timer_state(),
    "timer_deadline": lambda c: c.timer_deadline(),
    "pending_in": lambda c: c.pending_in,
    "pending_out": lambda c: c.pending_out,
    "recv_timeout_mode": lambda c: c.recv_timeout_mode,
    "recv_timeout_mode=": lambda c: setattr(c, "recv_timeout_mode", True),
    "counters": lambda c: c.counters(),
    "state": lambda c: c.state,
    "last_datagram": lambda c: c.last_datagram(),
    "handshake_over": lambda c: c.handshake_over,
    "bytes_available": lambda c: c.bytes_available,
    # 2.x: NotAvailableError before the lock (no per-context key export)
    **({"exported_keys": lambda c: c.exported_keys()} if has_feature("KEY_EXPORT") else {}),
    "peek": lambda c: c.peek(),
    "pop": lambda c: c.pop(),
    "repr": repr,
    "min_mtu": lambda c: c.min_mtu(),
    "mtu": lambda c: c.mtu(),
}


def _accessors(ctx: Context) -> list[Callable[[], object]]:
    return [functools.partial(f, ctx) for f in ACCESSORS.values()]


def test_close_racing_four_polling_threads() -> None:
    """Four threads poll every accessor while a fifth closes; each
    call returns a value or raises ClosedError, nothing else (old main:
    AttributeError/reads of the freed struct)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    errors: list[BaseException] = []
    try:
        client, server = psk_configs(seed=2)
        for _ in range(150):
            ctx = Context(client)
            ctx.handshake()  # a ClientHello queued, a timer running
            start = threading.Barrier(5)

            def poll(ctx: Context = ctx, start: threading.Barrier = start) -> None:
                start.wait()
                for _ in range(20):
                    for f in _accessors(ctx):
                        try:
                            f()
                        except ClosedError:
                            pass
                        except BaseException as e:  # noqa: BLE001 - reported below
                            errors.append(e)

            threads = [threading.Thread(target=poll) for _ in range(4)]
            for t in threads:
                t.start()
            start.wait()
            ctx.close()
            for t in threads:
                t.join(timeout=30)
                assert not t.is_alive()
    finally:
        sys.setswitchinterval(old)
    assert errors == [], repr(errors[:3])


@pytest.mark.parametrize("name", list(ACCESSORS))
def test_every_accessor_waits_for_the_lock_close_holds(name: str) -> None:
    """Deterministically: with the context's lock held (as close()
    holds it while freeing), each accessor waits instead of reading the C
    struct (old main: timer_state, timer_deadline, pending_in/out and
    recv_timeout_mode returned at once)."""
    client, _ = psk_configs(seed=3)
    ctx = Context(client)
    ctx.handshake()
    f = ACCESSORS[name]
    done = threading.Event()
    def call() -> None:
        f(ctx)
        done.set()

    t = threading.Thread(target=call)
    with ctx._cx.lock:
        t.start()
        assert not done.wait(0.3), "the accessor ran while the lock was held"
    t.join(30)
    assert done.is_set()


# -- arguments that hang Mbed TLS ---------------------------------------

MTU_RUN = """
from mbedtls_py import Context
from mbedtls_py.bindings import lib
from mbedtls_py.testing import psk_configs, handshake_pair
cc, sc = psk_configs(suite=SUITE, seed=1)
cli, srv = Context(cc), Context(sc)
for c in (cli, srv):
    try:
        c.set_mtu(MTU)
    except ValueError as e:
        print("refused:", e)
        raise SystemExit(0)
print("result", handshake_pair(cli, srv, max_rounds=64))
"""


def test_set_mtu_10_is_refused_instead_of_hanging_the_handshake() -> None:
    """Set_mtu(10) then handshake() spun forever inside Mbed TLS
    (old main: the child is still running at the timeout)."""
    out = run_isolated(MTU_RUN.replace("SUITE", "None or 'TLS-PSK-WITH-AES-128-GCM-SHA256'")
                       .replace("MTU", "10"), timeout=60)
    assert not out.hung, "handshake() with MTU 10 did not return"
    assert out.returncode == 0, out.stderr[-1500:]
    assert "refused: client: MTU 10 is below 50" in out.stdout


@pytest.mark.parametrize("suite,floor", [
    ("TLS-PSK-WITH-AES-128-GCM-SHA256", 50),
    ("TLS-PSK-WITH-AES-128-CCM-8", 42),
    ("TLS-PSK-WITH-CHACHA20-POLY1305-SHA256", 42),
    ("TLS-PSK-WITH-AES-128-CBC-SHA", 78),
    ("TLS-PSK-WITH-AES-256-CBC-SHA384", 106),
])
def test_the_mtu_floor_is_exact_per_suite(suite: str, floor: int) -> None:
    """At the documented floor the handshake completes; one byte less is
    refused.  (Below it, Mbed TLS itself never returns: see
    test_mbedtls_hangs_one_byte_below_the_floor.)"""
    cc, _ = psk_configs(suite=suite, seed=3)
    cli = Context(cc)
    assert cli.min_mtu() == floor
    with pytest.raises(ValueError, match=f"below {floor}"):
        cli.set_mtu(floor - 1)
    out = run_isolated(MTU_RUN.replace("SUITE", repr(suite)).replace("MTU", str(floor)), timeout=60)
    assert not out.hung and out.returncode == 0, out.stderr[-1500:]
    assert "result (0, 0)" in out.stdout


def test_mbedtls_hangs_one_byte_below_the_floor() -> None:
    """Pins why the floor exists: bypassing the check with the raw
    mbedtls_ssl_set_mtu one byte below it, Mbed TLS 3.6 does not return."""
    code = MTU_RUN.replace("SUITE", "'TLS-PSK-WITH-AES-128-GCM-SHA256'").replace(
        "c.set_mtu(MTU)", "lib.mbedtls_ssl_set_mtu(c._cx.ssl, 49)")
    out = run_isolated(code, timeout=10)
    assert out.hung, out.stdout


def test_cid_raises_the_floor_and_a_later_change_is_caught() -> None:
    """A connection ID adds up to 48 bytes; enabling it under a set MTU that
    no longer fits is refused, and so is a handshake after the config's
    cipher suites grew."""
    cc, sc = psk_configs(seed=4)
    cc.set_cid(32)
    cli = Context(cc)
    cli.set_mtu(50)
    with pytest.raises(ValueError, match="below 98"):
        cli.set_cid(True, b"\x01" * 32)
    cc.set_ciphersuites(["TLS-PSK-WITH-AES-256-CBC-SHA384"])
    with pytest.raises(ValueError, match="below 106"):
        cli.handshake()


@pytest.mark.parametrize("setup", [
    "cc.set_handshake_timeout(1, 1); sc.set_handshake_timeout(1, 1)",
    "cc.set_handshake_timeout(2**32-1, 2**32-1)",
    "cc.set_read_timeout(1); sc.set_read_timeout(1)",
    "sc.set_cookies(True, 0)",
    "cc.set_badmac_limit(1)",
    "kw['max_queue'] = 1",
    "kw['max_datagram'] = 20",
    "net.clock.now_ms = (1 << 62) - 100_000",
])
def test_other_extreme_arguments_end_with_a_code(setup: str) -> None:
    """Other candidates for the same kind of hang (timeouts, queue and
    datagram sizes, a clock near its end), over a lossy link: the handshake
    ends (done, timeout or an error code) within the network's bounds."""
    code = f"""
from mbedtls_py import Context
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import psk_configs
cc, sc = psk_configs(seed=5)
net = Network(seed=5)
net.link("client", "server", loss=0.5)
net.link("server", "client", loss=0.5)
kw = {{}}
{setup}
cli = net.add("client", Context(cc, **kw))
srv = net.add("server", Context(sc, **kw))
print("reason", net.handshake(cli, srv).reason)
"""
    out = run_isolated(code, timeout=60)
    assert not out.hung and out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.startswith("reason ")


# -- per-thread Mbed TLS time ----------------------------------------------

def _seeded_run(seed: int, unix_time: int, both_ready: threading.Barrier | None = None) -> str:
    """A seeded PSK handshake between raw contexts of a network (no
    endpoint re-syncs the time): the SHA-256 of every datagram, in order."""
    import hashlib

    digest = hashlib.sha256()
    with Network(seed=seed, unix_time=unix_time):  # sets this thread's time
        cc, sc = psk_configs(seed=seed)
        cli, srv = Context(cc), Context(sc)
        if both_ready is not None:
            both_ready.wait(30)  # the other thread has set its time too
        assert handshake_pair(cli, srv, tap=lambda _, d: digest.update(d)) == (0, 0)
    return digest.hexdigest()


def test_two_networks_on_two_threads_keep_their_own_time() -> None:
    """Two networks with different unix_time on two threads, both
    alive at once, each produce the bytes of a single-threaded run of the
    same seed (the Hello randoms carry the time; old main: one process-wide
    time, the last network's, so one thread's bytes differ)."""
    expected = {1: _seeded_run(1, 1_700_000_000), 2: _seeded_run(2, 1_900_000_000)}
    assert expected[1] != _seeded_run(1, 1_900_000_000)  # the time is in the bytes
    for _ in range(5):
        ready = threading.Barrier(2)
        got: dict[int, str] = {}
        threads = [threading.Thread(target=lambda s=s, t=t, got=got, ready=ready:
                                    got.__setitem__(s, _seeded_run(s, t, ready)))
                   for s, t in ((1, 1_700_000_000), (2, 1_900_000_000))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert got == expected


def test_network_restores_the_threads_time_when_closed() -> None:
    """A network sets Mbed TLS's time only until it is closed (or
    its with-block ends); then this thread's previous setting is back."""
    set_time(1234)
    try:
        with Network(seed=1, unix_time=1_700_000_000) as net:
            net.advance(5000)
            assert get_time() == 1_700_000_005
        assert fixed_time() == 1234
        net2 = Network(seed=2)
        assert fixed_time() == 1_700_000_000
        net2.close()
        assert fixed_time() == 1234
    finally:
        set_time(None)
    assert fixed_time() is None


def test_time_set_on_one_thread_is_not_seen_by_another() -> None:
    """set_time is per thread; a new thread reads the system clock."""
    set_time(42)
    seen: list[int | None] = []
    t = threading.Thread(target=lambda: seen.append(fixed_time()))
    t.start()
    t.join()
    try:
        assert seen == [None] and get_time() == 42
    finally:
        set_time(None)


# -- set_clock keeps a running timer -----------------------------------------

def test_a_context_moved_onto_a_network_mid_handshake_still_retransmits() -> None:
    """The ClientHello's retransmission timer survives the move to
    the network's clock (elapsed time carried over) and fires there (old
    main: cancelled, so no retransmission ever)."""
    cc, _ = psk_configs(seed=7)
    own = VirtualClock(10_000)
    cli = Context(cc, clock=own)
    assert cli.handshake() == Err.SSL_WANT_READ
    first = cli.pop()
    assert first is not None and cli.timer_deadline() == 11_000  # 1 s initial timeout
    own.advance(400)
    net = Network(seed=7)
    net.advance(50)
    net.socket("server")
    ep = net.add("client", cli, peer="server")
    assert cli.clock is net.clock
    assert cli.timer_state() == 1  # running; the intermediate delay (1/4) has passed
    assert cli.timer_deadline() == 50 + 600  # 400 ms of 1000 already elapsed
    net.advance(600)
    assert cli.timer_state() == 2
    assert ep.handshake() == Err.SSL_WANT_READ
    assert net.in_flight == 1  # the retransmitted ClientHello
    assert cli.timer_deadline() == 650 + 2000  # doubled timeout


def test_set_clock_without_a_running_timer_keeps_none() -> None:
    cc, _ = psk_configs(seed=8)
    cli = Context(cc)
    cli.set_clock(VirtualClock(5))
    assert cli.timer_deadline() is None and cli.timer_state() == -1


def test_handshake_pair_still_completes_after_clock_moves() -> None:
    cc, sc = psk_configs(seed=9)
    clock = VirtualClock()
    cli, srv = Context(cc, clock=clock), Context(sc, clock=clock)
    assert cli.handshake() == Err.SSL_WANT_READ
    cli.set_clock(VirtualClock(1 << 40))
    srv.set_clock(cli.clock)
    assert handshake_pair(cli, srv) == (0, 0)

