"""``Connection``: the one C connection (``mpy_conn``) behind a ``Context``,
the lock every call on it holds, and the closed check.  The context's parts
(``queues.DatagramQueues``, ``timer.Timer``, ``keys.KeyExport``,
``settings.Settings``, ``sessions.SessionCalls``) each hold the same
``Connection``.  Internal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._ctxbase import pending, run_deferred
from ._lib import ffi, lib
from .clock import RealClock, VirtualClock
from .errors import ClosedError, check, error_for

__all__ = ["Connection", "STATE_NAMES", "state_name"]

STATE_NAMES: dict[int, str] = {}  # mbedtls_ssl_states names by value, as state_name found them


def state_name(value: int) -> str:
    """The Mbed TLS name of handshake state ``value`` (``CLIENT_HELLO``...)."""
    name = STATE_NAMES.get(value)
    if name is None:  # once per state: servers ask on every datagram
        c_name = lib.mpy_ssl_state_name(value)
        name = ffi.string(c_name).decode() if c_name != ffi.NULL else f"UNKNOWN({value})"
        STATE_NAMES[value] = name
    return name


class Connection:
    """An ``mpy_conn``: the ``mbedtls_ssl_context`` with its two datagram
    queues, timer and key slot, set up on ``conf_owner`` (a config's C owner)
    and reading ``clock``.

    Its fields are read directly by the context's hot paths: ``lock``;
    ``conn`` (the C struct); ``ssl``, ``inq``, ``outq`` (pointers into it, all
    ``None`` once closed); ``peek``/``peeked`` (scratch for peeks);
    ``mtu`` (what ``set_mtu`` set, 0: none, as the C connection has it)."""

    # Slots: made with every Context (three per simulated race) and read on
    # every call.  Not a COwner: only Context makes one, in its __init__.
    __slots__ = ("lock", "conn", "ssl", "inq", "outq", "peek", "peeked", "name", "max_datagram",
                 "mtu")

    def __init__(self, conf_owner: Any, clock: VirtualClock | RealClock, *, max_queue: int,
                 max_datagram: int, name: str) -> None:
        conn = lib.mpy_conn_new(max_queue, max_datagram)
        if conn == ffi.NULL:
            raise MemoryError("could not allocate a DTLS context")
        self.conn: Any = ffi.gc(conn, lib.mpy_conn_free)
        self.ssl: Any = ffi.addressof(self.conn, "ssl")
        self.inq: Any = ffi.addressof(self.conn, "inq")
        self.outq: Any = ffi.addressof(self.conn, "outq")
        self.lock = threading.Lock()
        self.peek: Any = ffi.new("const unsigned char **")
        self.peeked: Any = ffi.cast("char **", self.peek)  # the same pointer, read as bytes
        self.name = name
        self.max_datagram = max_datagram
        self.mtu = 0
        # The C context retains the C config and clock until after
        # mbedtls_ssl_free (the garbage collector may free the Python objects
        # in any order).
        check(lib.mpy_conn_setup_owned(self.conn, conf_owner, clock._ptr), "mbedtls_ssl_setup")

    def close(self) -> None:
        """Free the C connection now (idempotent)."""
        with self.lock:
            if self.ssl is not None:
                self.ssl = self.inq = self.outq = None
                ffi.release(self.conn)
        if pending:  # what mbedtls_ssl_free wrote to a debug log
            run_deferred()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self.ssl is None

    def c(self) -> Any:
        """The live ``mbedtls_ssl_context *`` (ClosedError after ``close()``)."""
        if self.ssl is None:
            raise ClosedError(f"{self.name}: the context is closed")
        return self.ssl

    def call(self, fn: Callable[..., int], *args: Any) -> int:
        """``fn(ssl, *args)`` under the lock, on the live context: the int it
        returns (then the callbacks it queued, outside the lock)."""
        with self.lock:
            rc = int(fn(self.c(), *args))
        if pending:
            run_deferred()
        return rc

    def negotiated(self, getter: Callable[[Any], Any]) -> str | None:
        """What the handshake chose (``getter`` returns a C string on the ssl
        context), or ``None`` before the handshake is over."""
        with self.lock:
            ssl = self.c()
            if not lib.mbedtls_ssl_is_handshake_over(ssl):
                return None
            return str(ffi.string(getter(ssl)).decode())

    def raise_for(self, rc: int, call: str) -> None:
        """The raising forms' rule: the ``MbedTLSError`` for a negative ``rc``, naming ``call``."""
        if rc < 0:
            raise error_for(rc, f"{self.name}: {call}")

    # -- the MTU floor (README "set_mtu") ---------------------------------------

    def mtu_message(self, mtu: int, floor: int) -> str:
        """Why ``mtu`` is refused: below ``floor``."""
        return (f"{self.name}: MTU {mtu} is below {floor}, the smallest that carries a "
                "handshake message under every cipher suite this config allows "
                "(Mbed TLS would never return); raise the MTU or narrow the cipher suites")

    def check_mtu(self) -> None:
        """With the lock held, before any call that may send a flight: a
        ``ValueError`` when a later change raised the floor above ``mtu``."""
        self.c()
        floor = lib.mpy_conn_min_mtu(self.conn)
        if self.mtu < floor:
            raise ValueError(self.mtu_message(self.mtu, floor))
