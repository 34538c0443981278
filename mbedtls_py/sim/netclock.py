"""The simulated network's clock (a :class:`VirtualClock` that tells the
network when it moves), the keeper of the wall-clock time Mbed TLS reads
(:class:`TimeKeeper`), and the derivation of its per-link and per-endpoint
seeds from the network seed."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from ..bindings import lib as _lib
from ..bindings.context import VirtualClock
from ..bindings.timeutil import fixed_time, set_time
from ..wire.vtime import LIMIT_MS, check_due

__all__ = ["_NetClock", "derive_seed", "TimeKeeper"]

_fixed_time_raw = _lib.mpy_get_fixed_time


def derive_seed(seed: bytes, *parts: str) -> bytes:
    """The seed of one part of a network seeded by ``seed``: SHA-256 over the
    length-prefixed ``seed`` and ``parts`` (``"endpoint", name`` for
    ``Network.seed_for``; ``"link", src, dst`` for a link's random stream;
    ``"rules"`` for the rules' stream).  Fixed: traces depend on it."""
    h = hashlib.sha256(b"mbedtls-py/net")
    for p in (seed, *(x.encode() for x in parts)):
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return h.digest()


class _NetClock(VirtualClock):
    """The network's clock: a VirtualClock that tells the network when it moves.

    It keeps the time in a Python int too (``now``, read-only for its
    readers): the network reads the clock several times per datagram, and
    only Python ever writes it (the C timers only read ``_ptr.now_ms``)."""

    def __init__(self, on_change: Callable[[int], None]) -> None:
        self._on_change: Callable[[int], None] | None = None
        self.now = 0
        super().__init__(0)
        self._on_change = on_change

    @property
    def now_ms(self) -> int:
        """The current virtual time in milliseconds."""
        return self.now

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        VirtualClock.now_ms.fset(self, value)  # type: ignore[attr-defined]  # checks, writes C
        self.now = value
        if self._on_change is not None:
            self._on_change(value)

    def forward(self, value: int) -> None:
        """Move to ``value``, an int the network took from its schedule or a
        context's timer (never behind the clock): the setter without its type
        checks; the limit is checked (a link delay changed after the link was
        made may have pushed a delivery past it)."""
        if not value < LIMIT_MS:
            check_due(value, "the network's next event")
        self._ptr.now_ms = value
        self.now = value
        if self._on_change is not None:
            self._on_change(value)


class TimeKeeper:
    """Sets the wall-clock time Mbed TLS reads on the driving thread to
    ``unix_time + clock // 1000`` (``None``: leaves it alone) and restores
    each thread's previous setting on :meth:`close`.  The clock calls
    :meth:`moved`; the network calls :meth:`sync` before every call it makes
    or proxies (another network on the thread may have moved the time)."""

    def __init__(self, unix_time: int | None) -> None:
        self.unix_time = unix_time
        self.clock: _NetClock | None = None  # set by attach(): the clock tells us it moved
        self._time_set: tuple[int, int] | None = None  # (thread, seconds) last set
        self._saved_time: dict[int, int | None] = {}  # thread -> its setting before us
        self._closed = False

    def make_clock(self) -> _NetClock:
        """The network's clock, telling this keeper when it moves; time synced."""
        self.clock = _NetClock(self.moved)
        self.sync()
        return self.clock

    def _set_time(self, t: int) -> None:
        tid = threading.get_ident()
        if tid not in self._saved_time:
            self._saved_time[tid] = fixed_time()  # restored by close()
        set_time(t)
        self._time_set = (tid, t)

    def moved(self, now: int) -> None:
        """The clock moved to ``now``: set the time if its second changed."""
        if self.unix_time is not None and not self._closed:
            t = self.unix_time + now // 1000
            time_set = self._time_set
            if time_set is None or time_set[1] != t or time_set[0] != threading.get_ident():
                self._set_time(t)

    def sync(self) -> None:
        """Set the time again if this thread's setting is not ours."""
        if self.unix_time is not None and not self._closed and self.clock is not None:
            # again: another network on this thread may have moved it (a C
            # read is cheaper than finding out who set it last)
            t = self.unix_time + self.clock.now // 1000
            if _fixed_time_raw() != t or threading.get_ident() not in self._saved_time:
                self._set_time(t)

    def close(self) -> None:
        """Stop setting the time; restore this thread's previous setting."""
        self._closed = True
        tid = threading.get_ident()
        if tid in self._saved_time:
            set_time(self._saved_time.pop(tid))
        self._time_set = None
