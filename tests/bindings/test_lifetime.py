"""Lifetime and threading: C-owned config lifetime, collected cycles (under
poisoned memory and valgrind) and close() racing the accessors.  Argument values
that would hang Mbed TLS: ``test_lifetime_hangs.py``; per-thread Mbed TLS time and
set_clock keeping timers: ``test_lifetime_threads.py``."""

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

from mbedtls_py import ClosedError, Context
from mbedtls_py.bindings import lib
from mbedtls_py.bindings.features import has as has_feature
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import psk_configs

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
