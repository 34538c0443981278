"""Per-thread Mbed TLS time: networks on two threads keep their own, a closed network
restores the thread's, and set_clock keeps a context's running timers."""

from __future__ import annotations

import threading

import pytest

from mbedtls_py import Context, Err, VirtualClock, get_time, set_time
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import handshake_pair, psk_configs
from mbedtls_py.bindings.timeutil import fixed_time

# Part of the short ASan+UBSan pass (./dev.sh sanitize).
pytestmark = pytest.mark.sanitize


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
