"""The datagram queues of a ``Context`` (a part it owns): datagrams are
values, pushed in, popped out, or moved to a peer without a copy.

Taking datagrams is always explicit (``pop``, ``drain``, ``move_to``): a
``Context`` is not iterable, so no loop or ``list()`` empties a queue by
accident."""

from __future__ import annotations

from ._connection import Connection
from ._ctxbase import as_data
from ._lib import ffi, lib

__all__ = ["DatagramQueues"]


class DatagramQueues:
    """The inbound and outbound queues of one connection (the C ``inq`` and
    ``outq`` of ``mpy_conn``); ``Context`` forwards its queue methods here."""

    __slots__ = ("_cx",)

    def __init__(self, connection: Connection) -> None:
        self._cx = connection

    def push(self, datagram: bytes) -> None:
        """Queue one inbound datagram for Mbed TLS to read."""
        if type(datagram) is not bytes:
            datagram = as_data(datagram, "datagram")
        # acquire/release and an inline closed check: the hot-path pattern of
        # context.py (about half the cost of `with` and _c())
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            inq = cx.inq
            if inq is None:
                cx.c()  # raises ClosedError
            rc = lib.mpy_queue_push(inq, datagram, len(datagram))
        finally:
            lock.release()
        if rc:
            self._queue_error(rc, len(datagram))

    def _queue_error(self, rc: int, size: int) -> None:
        if rc == lib.MPY_DATAGRAM_SIZE:
            raise ValueError(f"{self._cx.name}: datagram of {size} bytes; must be 1 .. "
                             f"{self._cx.max_datagram}")
        if rc == lib.MPY_QUEUE_FULL:
            raise BufferError(f"{self._cx.name}: inbound queue is full; let the context read first")
        raise MemoryError("out of memory queueing a datagram")

    def take(self, most: int) -> list[bytes]:
        """Up to ``most`` (-1: all) outgoing datagrams, oldest first, under one
        lock (acquire/release and an inline closed check: the hot-path pattern)."""
        out: list[bytes] = []
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            outq = cx.outq
            if outq is None:
                cx.c()  # raises ClosedError
            if outq.count:
                peek, peeked = cx.peek, cx.peeked
                while most and (n := lib.mpy_queue_peek(outq, peek)) >= 0:
                    out.append(ffi.unpack(peeked[0], n))
                    lib.mpy_queue_pop(outq)
                    most -= 1
        finally:
            lock.release()
        return out

    def pop(self) -> bytes | None:
        """Take the next datagram Mbed TLS sent, or ``None``."""
        taken = self.take(1)
        return taken[0] if taken else None

    def drain(self) -> list[bytes]:
        """Take every queued outgoing datagram (``[]`` when there is none)."""
        return self.take(-1)

    def peek(self) -> bytes | None:
        """The next outgoing datagram, left in the queue; or ``None``."""
        cx = self._cx
        with cx.lock:
            cx.c()
            n = lib.mpy_queue_peek(cx.outq, cx.peek)
            return None if n < 0 else ffi.unpack(cx.peeked[0], n)

    def move_to(self, peer: DatagramQueues) -> int:
        """Hand the next outgoing datagram to ``peer``'s inbound queue without a
        copy: its size, or 0 when there was none."""
        cx, pcx = self._cx, peer._cx
        # both locks, always in the same order (no deadlock between two threads)
        first, second = (cx.lock, pcx.lock) if id(self) < id(peer) else (pcx.lock, cx.lock)
        first.acquire()
        try:
            second.acquire()
            try:
                outq, inq = cx.outq, pcx.inq
                if outq is None or inq is None:
                    cx.c(), pcx.c()  # raises ClosedError
                rc = lib.mpy_queue_move(outq, inq)
                # the datagram stays queued on failure: its size, for the message
                size = lib.mpy_queue_peek(outq, cx.peek) if rc < 0 else rc
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

    def count(self, inbound: bool) -> int:
        """Datagrams waiting in the inbound (or the outbound) queue."""
        # acquire/release: the simulator asks for these on every step
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            q = cx.inq if inbound else cx.outq
            return int(q.count if q is not None else cx.c())  # c(): ClosedError
        finally:
            lock.release()

    def counters(self) -> dict[str, int]:
        """Queue and traffic counters: datagrams and bytes waiting in each
        queue, and datagrams Mbed TLS has read and sent so far."""
        cx = self._cx
        with cx.lock:
            cx.c()
            conn = cx.conn
            return {"pending_in": conn.inq.count, "pending_in_bytes": conn.inq.bytes,
                    "pending_out": conn.outq.count, "pending_out_bytes": conn.outq.bytes,
                    "datagrams_in": conn.datagrams_in, "datagrams_out": conn.datagrams_out}

    def last_datagram(self) -> bytes | None:
        """The datagram Mbed TLS read most recently (what a failure was about)."""
        cx = self._cx
        with cx.lock:
            cx.c()
            n = lib.mpy_conn_last_in(cx.conn, cx.peek)
            return None if n < 0 else ffi.unpack(cx.peeked[0], n)

    def clear_queues(self) -> None:
        """Discard both queues and the last-read datagram."""
        cx = self._cx
        with cx.lock:
            cx.c()
            lib.mpy_conn_clear(cx.conn)
