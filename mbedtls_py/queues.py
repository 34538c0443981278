"""The datagram queues and the timer of a ``Context`` (a mixin): datagrams
are values, pushed in, popped out, or moved to a peer without a copy.

Taking datagrams is always explicit (``pop``, ``drain``, ``move_to``): a
``Context`` is not iterable, so no loop or ``list()`` empties a queue by
accident."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._ctxbase import ContextBase, as_data
from ._lib import ffi, lib
from .clock import RealClock, VirtualClock

if TYPE_CHECKING:
    from .context import Context

__all__ = ["DatagramQueues"]


class DatagramQueues(ContextBase):
    """``Context``'s inbound and outbound queues, its DTLS timer and clock."""

    clock: VirtualClock | RealClock

    # -- datagram queues -------------------------------------------------------

    def push(self, datagram: bytes) -> None:
        """Queue one inbound datagram for Mbed TLS to read."""
        if type(datagram) is not bytes:
            datagram = as_data(datagram, "datagram")
        # acquire/release and an inline closed check: the hot-path pattern of
        # context.py (about half the cost of `with` and _c())
        lock = self._lock
        lock.acquire()
        try:
            inq = self._inq
            if inq is None:
                self._c()  # raises ClosedError
            rc = lib.mpy_queue_push(inq, datagram, len(datagram))
        finally:
            lock.release()
        if rc:
            self._queue_error(rc, len(datagram))

    def _queue_error(self, rc: int, size: int) -> None:
        if rc == lib.MPY_DATAGRAM_SIZE:
            raise ValueError(f"{self.name}: datagram of {size} bytes; must be 1 .. "
                             f"{self.max_datagram}")
        if rc == lib.MPY_QUEUE_FULL:
            raise BufferError(f"{self.name}: inbound queue is full; let the context read first")
        raise MemoryError("out of memory queueing a datagram")

    def _take(self, most: int) -> list[bytes]:
        """Up to ``most`` (-1: all) outgoing datagrams, oldest first, under one
        lock (acquire/release and an inline closed check: the hot-path pattern)."""
        out: list[bytes] = []
        lock = self._lock
        lock.acquire()
        try:
            outq = self._outq
            if outq is None:
                self._c()  # raises ClosedError
            if outq.count:
                peek, peeked = self._peek, self._peeked
                while most and (n := lib.mpy_queue_peek(outq, peek)) >= 0:
                    out.append(ffi.unpack(peeked[0], n))
                    lib.mpy_queue_pop(outq)
                    most -= 1
        finally:
            lock.release()
        return out

    def pop(self) -> bytes | None:
        """Take the next datagram Mbed TLS sent, or ``None``."""
        taken = self._take(1)
        return taken[0] if taken else None

    def peek(self) -> bytes | None:
        """The next outgoing datagram, left in the queue; or ``None``."""
        with self._lock:
            self._c()
            n = lib.mpy_queue_peek(self._outq, self._peek)
            return None if n < 0 else ffi.unpack(self._peeked[0], n)

    def drain(self) -> list[bytes]:
        """Take every queued outgoing datagram (``[]`` when there is none)."""
        return self._take(-1)

    def move_to(self, peer: Context) -> int:
        """Hand the next outgoing datagram to ``peer``'s inbound queue without a
        copy.  Returns its size, or 0 when there was none.  A datagram larger
        than ``peer.max_datagram`` (ValueError) or a full inbound queue of
        ``peer`` (BufferError) leaves the datagram where it was."""
        if not isinstance(peer, DatagramQueues):
            raise TypeError(f"peer must be a Context, not {type(peer).__name__}")
        if peer is self:
            raise ValueError("a context cannot send to itself; push() a copy instead")
        # both locks, always in the same order (no deadlock between two threads)
        first, second = (self._lock, peer._lock) if id(self) < id(peer) else \
            (peer._lock, self._lock)
        first.acquire()
        try:
            second.acquire()
            try:
                outq, inq = self._outq, peer._inq
                if outq is None or inq is None:
                    self._c(), peer._c()  # raises ClosedError
                rc = lib.mpy_queue_move(outq, inq)
                # the datagram stays queued on failure: its size, for the message
                size = lib.mpy_queue_peek(outq, self._peek) if rc < 0 else rc
            finally:
                second.release()
        finally:
            first.release()
        if rc >= 0:
            return int(rc)
        if rc == lib.MPY_QUEUE_EMPTY:
            return 0
        peer._queue_error(rc, int(size))
        return 0  # not reached

    def _count(self, inbound: bool) -> int:
        # acquire/release: the simulator asks for these on every step
        lock = self._lock
        lock.acquire()
        try:
            q = self._inq if inbound else self._outq
            return int(q.count if q is not None else self._c())  # _c(): ClosedError
        finally:
            lock.release()

    @property
    def pending_in(self) -> int:
        """Inbound datagrams not yet read by Mbed TLS."""
        return self._count(True)

    @property
    def pending_out(self) -> int:
        """Outbound datagrams not yet taken."""
        return self._count(False)

    def counters(self) -> dict[str, int]:
        """Queue and traffic counters: datagrams and bytes waiting in each
        queue, and datagrams Mbed TLS has read and sent so far."""
        with self._lock:
            self._c()
            conn = self._conn
            return {"pending_in": conn.inq.count, "pending_in_bytes": conn.inq.bytes,
                    "pending_out": conn.outq.count, "pending_out_bytes": conn.outq.bytes,
                    "datagrams_in": conn.datagrams_in, "datagrams_out": conn.datagrams_out}

    def last_datagram(self) -> bytes | None:
        """The datagram Mbed TLS read most recently (what a failure was about)."""
        with self._lock:
            self._c()
            n = lib.mpy_conn_last_in(self._conn, self._peek)
            return None if n < 0 else ffi.unpack(self._peeked[0], n)

    def clear_queues(self) -> None:
        """Discard both queues and the last-read datagram."""
        with self._lock:
            self._c()
            lib.mpy_conn_clear(self._conn)

    # -- timer -------------------------------------------------------------------

    def timer_deadline(self) -> int | None:
        """When the DTLS retransmission/read timer expires (in the clock's ms),
        or ``None`` when no timer is running."""
        lock = self._lock
        lock.acquire()
        try:
            if self._ssl is None:
                self._c()  # raises ClosedError
            d = lib.mpy_conn_timer_deadline(self._conn)
        finally:
            lock.release()
        return None if d < 0 else d

    def timer_state(self) -> int:
        """The timer as Mbed TLS sees it: -1 cancelled, 0 running, 1 intermediate
        delay passed, 2 final delay passed."""
        lock = self._lock
        lock.acquire()
        try:
            if self._ssl is None:
                self._c()  # raises ClosedError
            return int(lib.mpy_timer_get(ffi.addressof(self._conn, "timer")))
        finally:
            lock.release()

    def set_clock(self, clock: VirtualClock | RealClock) -> None:
        """Make this context's timer read another clock.  A running timer keeps
        running: the time already elapsed on the old clock counts as elapsed
        on the new one, so a context moved mid-handshake still retransmits."""
        if not isinstance(clock, (VirtualClock, RealClock)):
            raise TypeError("clock must be a VirtualClock or RealClock")
        with self._lock:
            self._c()
            lib.mpy_conn_set_clock(self._conn, clock._ptr)
            self.clock = clock

    @property
    def recv_timeout_mode(self) -> bool:
        """When true, an empty inbound queue reads as ``SSL_TIMEOUT`` wherever
        Mbed TLS reads with a timeout (like a blocking socket whose wait ran out)."""
        with self._lock:
            self._c()
            return bool(self._conn.recv_timeout_mode)

    @recv_timeout_mode.setter
    def recv_timeout_mode(self, value: bool) -> None:
        with self._lock:
            self._c()
            self._conn.recv_timeout_mode = 1 if value else 0
