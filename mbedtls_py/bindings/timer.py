"""The DTLS timer of a ``Context`` (a part it owns): the deadline Mbed TLS
set, read on the context's clock, which the caller advances."""

from __future__ import annotations

from ._connection import Connection
from ._lib import ffi, lib
from .clock import RealClock, VirtualClock

__all__ = ["Timer"]


class Timer:
    """The timer of one connection (``mpy_conn``'s ``timer``); ``Context``
    forwards its timer methods here."""

    __slots__ = ("_cx",)

    def __init__(self, connection: Connection) -> None:
        self._cx = connection

    def timer_deadline(self) -> int | None:
        """When the DTLS retransmission/read timer expires (in the clock's ms),
        or ``None`` when no timer is running."""
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            if cx.ssl is None:
                cx.c()  # raises ClosedError
            d = lib.mpy_conn_timer_deadline(cx.conn)
        finally:
            lock.release()
        return None if d < 0 else d

    def timer_state(self) -> int:
        """The timer as Mbed TLS sees it: -1 cancelled, 0 running, 1 intermediate
        delay passed, 2 final delay passed."""
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            if cx.ssl is None:
                cx.c()  # raises ClosedError
            return int(lib.mpy_timer_get(ffi.addressof(cx.conn, "timer")))
        finally:
            lock.release()

    def set_clock(self, clock: VirtualClock | RealClock) -> None:
        """``Context.set_clock``: the timer reads ``clock`` from now on."""
        if not isinstance(clock, (VirtualClock, RealClock)):
            raise TypeError("clock must be a VirtualClock or RealClock")
        cx = self._cx
        with cx.lock:
            cx.c()
            lib.mpy_conn_set_clock(cx.conn, clock._ptr)

    @property
    def recv_timeout_mode(self) -> bool:
        """``Context.recv_timeout_mode``."""
        cx = self._cx
        with cx.lock:
            cx.c()
            return bool(cx.conn.recv_timeout_mode)

    @recv_timeout_mode.setter
    def recv_timeout_mode(self, value: bool) -> None:
        cx = self._cx
        with cx.lock:
            cx.c()
            cx.conn.recv_timeout_mode = 1 if value else 0
