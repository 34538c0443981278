"""``Context``: one ``mbedtls_ssl_context`` with its datagram queues and timer.

The protocol calls return Mbed TLS's int unchanged (an ``Err`` member when
the code is known): ``assert srv.handshake() == Err.SSL_UNEXPECTED_MESSAGE``.
Each has a raising form ``do_<name>`` (``raising.py``); the queues and the
timer are in ``queues.py``, key export in ``keys.py``, the clocks in
``clock.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._ctxbase import as_data, pending, run_deferred
from ._lib import ffi, lib
from ._context_dtls import DtlsContextExtras, Session, reset_after_hello_verify
from .clock import RealClock, VirtualClock
from .config import Config
from .errors import ClosedError, as_err, check
from .keys import ExportedKeys, KeyExport, KeyLog, _default_keylog, export_keys_to
from .queues import DatagramQueues
from .raising import RaisingForms

__all__ = ["Context", "VirtualClock", "RealClock", "ExportedKeys", "MAX_DATAGRAM", "KeyLog",
           "export_keys_to", "Session", "reset_after_hello_verify"]

MAX_DATAGRAM: int = lib.MPY_MAX_DATAGRAM


_STATE_NAMES: dict[int, str] = {}  # Context.state's names, by value


class Context(DatagramQueues, KeyExport, RaisingForms, DtlsContextExtras):
    """A DTLS endpoint: ``mbedtls_ssl_context`` set up on a ``Config``, with an
    inbound and an outbound datagram queue and a timer reading ``clock``.

    Datagrams are values: ``push()`` one in, ``pop()`` one out, or
    ``move_to(peer)`` to hand the next outgoing datagram to another context
    without copying it.  ``clock`` defaults to a fresh ``VirtualClock``; pass a
    shared one, or ``RealClock()`` for real sockets.

    Key export is off unless asked for: ``keylog`` (a callable taking one NSS
    key log line, e.g. ``lines.append``) turns it on, else the config's
    ``keylog``, else the one of an enclosing ``export_keys_to()``; see
    :attr:`keylog`.
    """

    #: The raw calls: each returns Mbed TLS's int unchanged and has a raising
    #: form ``do_<name>`` (README: "Return codes and exceptions").
    RAW_CALLS = ("handshake", "handshake_step", "close_notify", "session_reset", "write",
                 "read_into", "check_record", "set_client_transport_id", "set_hostname",
                 "set_cid") + DtlsContextExtras.RAW_CALLS

    def __init__(self, config: Config, *, clock: VirtualClock | RealClock | None = None,
                 max_queue: int = 1024, max_datagram: int = MAX_DATAGRAM,
                 name: str | None = None, keylog: KeyLog | None = None) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {type(config).__name__}")
        for what, value in (("max_queue", max_queue), ("max_datagram", max_datagram)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{what} must be an int, not {type(value).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        if not 0 < max_queue <= 1 << 20:
            raise ValueError("max_queue must be 1 .. 2**20 datagrams")
        if not 0 < max_datagram <= MAX_DATAGRAM:
            raise ValueError(f"max_datagram must be 1 .. {MAX_DATAGRAM} bytes")
        if clock is None:
            clock = VirtualClock()
        if not isinstance(clock, (VirtualClock, RealClock)):
            raise TypeError("clock must be a VirtualClock or RealClock")
        conn = lib.mpy_conn_new(max_queue, max_datagram)
        if conn == ffi.NULL:
            raise MemoryError("could not allocate a DTLS context")
        self._conn = ffi.gc(conn, lib.mpy_conn_free)
        self._ssl = ffi.addressof(self._conn, "ssl")
        self._inq = ffi.addressof(self._conn, "inq")
        self._outq = ffi.addressof(self._conn, "outq")
        self._lock = threading.Lock()
        self._peek = ffi.new("const unsigned char **")
        self._peeked = ffi.cast("char **", self._peek)  # the same pointer, read as bytes
        self._rbuf = None  # read()'s buffer, allocated on first use (not per idle context)
        self.config = config
        self.clock = clock
        self.name = name or config.name
        self.max_datagram = max_datagram
        self._mtu = 0
        # The C context retains the C config and clock until after
        # mbedtls_ssl_free (the garbage collector may free the Python objects
        # in any order).
        check(lib.mpy_conn_setup_owned(self._conn, config._owner, clock._ptr),
              "mbedtls_ssl_setup")
        self._keylog: KeyLog | None = None
        self._keylog_handle = None
        if keylog is None:
            keylog = getattr(config, "keylog", None) or _default_keylog.get()
        if keylog is not None:
            self.keylog = keylog

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Free the C context now (idempotent).  Every later call raises ``ClosedError``."""
        with self._lock:
            conn = self.__dict__.pop("_conn", None)
            if conn is not None:
                self._ssl = self._inq = self._outq = None
                ffi.release(conn)
        if pending:  # what mbedtls_ssl_free wrote to a debug log
            run_deferred()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return "_conn" not in self.__dict__

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The hot-path calls below (handshake, write, read_into, move_to, ...) use
    # lock.acquire()/try/finally and an inline closed check instead of
    # ``with self._lock:`` and ``self._c()``: about half the per-call cost,
    # which is most of what driving Mbed TLS from Python costs (bench/).

    # -- protocol calls: return the int unchanged ------------------------------

    def handshake(self) -> int:
        """``mbedtls_ssl_handshake``: 0 when done, else the code (``Err``)."""
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            if self._mtu:
                self._check_mtu()
            rc = lib.mbedtls_ssl_handshake(ssl if ssl is not None else self._c())
        finally:
            lock.release()
        if pending:  # key export / debug callbacks, run now that the lock is free
            run_deferred()
        return as_err(rc) if rc else 0

    def handshake_step(self) -> int:
        """``mbedtls_ssl_handshake_step``: one state of the handshake."""
        with self._lock:
            if self._mtu:
                self._check_mtu()
            rc = lib.mbedtls_ssl_handshake_step(self._c())
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def close_notify(self) -> int:
        """``mbedtls_ssl_close_notify``: send the close_notify alert."""
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            rc = lib.mbedtls_ssl_close_notify(ssl if ssl is not None else self._c())
        finally:
            lock.release()
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def session_reset(self) -> int:
        """``mbedtls_ssl_session_reset``: forget the connection, keep the
        context (and its queues) ready for the next one."""
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            rc = lib.mbedtls_ssl_session_reset(ssl if ssl is not None else self._c())
            if self._keylog is not None:
                lib.mpy_conn_wipe_keys(self._conn)  # the old connection's secret
        finally:
            lock.release()
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def write(self, data: bytes) -> int:
        """``mbedtls_ssl_write``: bytes written (>= 0) or the code."""
        if type(data) is not bytes:
            data = as_data(data)
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            if self._mtu:
                self._check_mtu()
            rc = lib.mbedtls_ssl_write(ssl if ssl is not None else self._c(), data, len(data))
        finally:
            lock.release()
        if pending:
            run_deferred()
        return rc if rc >= 0 else as_err(rc)

    def read_into(self, buffer: bytearray | memoryview) -> int:
        """``mbedtls_ssl_read`` into a writable buffer: bytes read (0 at EOF) or the code."""
        if type(buffer) is bytearray:  # always writable: the fast path
            cbuf = ffi.from_buffer(buffer)
        elif isinstance(buffer, (bytearray, memoryview)):
            cbuf = ffi.from_buffer(buffer, require_writable=True)
        else:
            raise TypeError("buffer must be a writable bytearray or memoryview")
        n = len(cbuf)  # in bytes, whatever the memoryview's format
        if n == 0:
            raise ValueError("buffer must not be empty")
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            if self._mtu:
                self._check_mtu()
            rc = lib.mbedtls_ssl_read(ssl if ssl is not None else self._c(), cbuf, n)
        finally:
            lock.release()
        if pending:
            run_deferred()
        return rc if rc >= 0 else as_err(rc)

    def check_pending(self) -> int:
        """``mbedtls_ssl_check_pending``: 1 when data is buffered for ``read``."""
        return self._call(lib.mbedtls_ssl_check_pending)

    def check_record(self, data: bytes) -> int:
        """``mbedtls_ssl_check_record``: 0 when ``data`` begins with a valid,
        authentic record of this context's current epoch not seen before, else
        the code (``SSL_INVALID_MAC``, ``SSL_INVALID_RECORD``,
        ``SSL_UNEXPECTED_RECORD`` for another epoch or a replay).  Only the
        first record is checked; the context is not changed.  Mbed TLS
        decrypts and wipes the buffer in place, so it gets a copy."""
        data = as_data(data)
        if not data:
            raise ValueError("data must not be empty")
        buf = ffi.new("unsigned char[]", data)
        with self._lock:
            rc = lib.mbedtls_ssl_check_record(self._c(), buf, len(data))
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def set_client_transport_id(self, info: bytes) -> int:
        """``mbedtls_ssl_set_client_transport_id`` (server): the client's address,
        bound into the cookie."""
        if type(info) is not bytes:
            info = as_data(info, "transport id")
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            rc = lib.mbedtls_ssl_set_client_transport_id(ssl if ssl is not None else self._c(),
                                                         info, len(info))
        finally:
            lock.release()
        return as_err(rc) if rc else 0

    def set_hostname(self, hostname: str | None) -> int:
        """``mbedtls_ssl_set_hostname`` (client): SNI and the name checked in the
        server's certificate; ``None`` clears it."""
        if hostname is None:
            with self._lock:
                return as_err(lib.mbedtls_ssl_set_hostname(self._c(), ffi.NULL))
        if not isinstance(hostname, str):
            raise TypeError("hostname must be a str")
        if "\0" in hostname:
            raise ValueError("hostname contains NUL")
        with self._lock:
            return as_err(lib.mbedtls_ssl_set_hostname(self._c(), hostname.encode()))

    def set_mtu(self, mtu: int) -> None:
        """``mbedtls_ssl_set_mtu``: largest datagram Mbed TLS may send (0: no limit).

        A non-zero MTU must be at least :meth:`min_mtu`: the largest record
        expansion of any cipher suite the config allows (13-byte DTLS header,
        plus explicit IV and tag for AEAD or MAC, IV and a block of padding
        for CBC, plus 48 bytes when a connection ID is on) + a 12-byte
        handshake header + 1 byte.  Below that, Mbed TLS 3.6 never leaves
        ``mbedtls_ssl_handshake`` (``ssl_flight_transmit`` retries an empty
        datagram forever), so this raises ``ValueError`` instead; so do the
        calls that may send a flight (``handshake``, ``read``, ``write``...)
        if a later change (cipher suites, ``set_cid``) raised the bound.
        26 is the floor for plaintext; 106 covers every suite of this build.
        """
        if isinstance(mtu, bool) or not isinstance(mtu, int) or not 0 <= mtu <= 0xFFFF:
            raise ValueError("mtu must be an int 0 .. 65535")
        with self._lock:
            self._c()
            if mtu:
                floor = lib.mpy_conn_min_mtu(self._conn)
                if mtu < floor:
                    raise ValueError(self._mtu_message(mtu, floor))
            lib.mbedtls_ssl_set_mtu(self._ssl, mtu)
            self._mtu = mtu

    def min_mtu(self) -> int:
        """The smallest MTU :meth:`set_mtu` accepts for this context now."""
        with self._lock:
            self._c()
            return int(lib.mpy_conn_min_mtu(self._conn))

    def _mtu_message(self, mtu: int, floor: int) -> str:
        return (f"{self.name}: MTU {mtu} is below {floor}, the smallest that carries a "
                "handshake message under every cipher suite this config allows "
                "(Mbed TLS would never return); raise the MTU or narrow the cipher suites")

    def _check_mtu(self) -> None:
        # Called with the lock held, before any call that may send a flight.
        self._c()
        floor = lib.mpy_conn_min_mtu(self._conn)
        if self._mtu < floor:
            raise ValueError(self._mtu_message(self._mtu, floor))

    def set_datagram_packing(self, allow: bool) -> None:
        """``mbedtls_ssl_set_datagram_packing``: several records per datagram (default on)."""
        with self._lock:
            lib.mbedtls_ssl_set_datagram_packing(self._c(), 1 if allow else 0)

    def set_cid(self, enable: bool, own_cid: bytes = b"") -> int:
        """``mbedtls_ssl_set_cid``: offer/accept a connection ID (RFC 9146)."""
        own_cid = as_data(own_cid, "own_cid")
        if len(own_cid) > lib.MBEDTLS_SSL_CID_IN_LEN_MAX:
            raise ValueError(f"own_cid is longer than {lib.MBEDTLS_SSL_CID_IN_LEN_MAX} bytes")
        with self._lock:
            rc = as_err(lib.mbedtls_ssl_set_cid(
                self._c(), lib.MBEDTLS_SSL_CID_ENABLED if enable else lib.MBEDTLS_SSL_CID_DISABLED,
                own_cid, len(own_cid)))
            if rc == 0 and self._mtu and lib.mpy_conn_min_mtu(self._conn) > self._mtu:
                floor = lib.mpy_conn_min_mtu(self._conn)
                lib.mbedtls_ssl_set_cid(self._ssl, lib.MBEDTLS_SSL_CID_DISABLED, ffi.NULL, 0)
                raise ValueError(self._mtu_message(self._mtu, floor) + " (CID left off)")
            return rc

    def peer_cid(self) -> bytes | None:
        """The connection ID the peer asked for, or ``None`` when CIDs are not in use."""
        enabled = ffi.new("int *")
        buf = ffi.new("unsigned char[]", lib.MBEDTLS_SSL_CID_OUT_LEN_MAX)
        n = ffi.new("size_t *")
        with self._lock:
            check(lib.mbedtls_ssl_get_peer_cid(self._c(), enabled, buf, n), "get_peer_cid")
        return bytes(ffi.buffer(buf, n[0])) if enabled[0] else None

    # -- state -----------------------------------------------------------------

    @property
    def state(self) -> str:
        """The handshake state by Mbed TLS name, e.g. ``CLIENT_HELLO``, ``HANDSHAKE_OVER``."""
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            value = lib.mpy_ssl_state(ssl if ssl is not None else self._c())
        finally:
            lock.release()
        name = _STATE_NAMES.get(value)
        if name is None:  # once per state: servers ask on every datagram
            c_name = lib.mpy_ssl_state_name(value)
            name = ffi.string(c_name).decode() if c_name != ffi.NULL else f"UNKNOWN({value})"
            _STATE_NAMES[value] = name
        return name

    @property
    def handshake_over(self) -> bool:
        """Whether the handshake has completed."""
        return bool(self._call(lib.mbedtls_ssl_is_handshake_over))

    @property
    def version(self) -> str | None:
        """The negotiated protocol version (``DTLSv1.2``), or ``None`` before."""
        return self._negotiated(lib.mbedtls_ssl_get_version)

    @property
    def ciphersuite(self) -> str | None:
        """The negotiated cipher suite's Mbed TLS name, or ``None`` before."""
        return self._negotiated(lib.mbedtls_ssl_get_ciphersuite)

    def _negotiated(self, getter: Callable[[Any], Any]) -> str | None:
        # What the handshake chose (getter returns a C string): None before it is over.
        with self._lock:
            if not lib.mbedtls_ssl_is_handshake_over(self._c()):
                return None
            return str(ffi.string(getter(self._ssl)).decode())

    @property
    def verify_result(self) -> int:
        """``mbedtls_ssl_get_verify_result``: 0, or ``MBEDTLS_X509_BADCERT_*`` flags."""
        return self._call(lib.mbedtls_ssl_get_verify_result)

    @property
    def bytes_available(self) -> int:
        """``mbedtls_ssl_get_bytes_avail``: decrypted bytes ready to read."""
        return self._call(lib.mbedtls_ssl_get_bytes_avail)

    @property
    def max_out_record_payload(self) -> int:
        """``mbedtls_ssl_get_max_out_record_payload`` (or the code)."""
        return as_err(self._call(lib.mbedtls_ssl_get_max_out_record_payload))

    @property
    def record_expansion(self) -> int:
        """``mbedtls_ssl_get_record_expansion`` (or the code)."""
        return as_err(self._call(lib.mbedtls_ssl_get_record_expansion))

    def peer_certificate(self) -> bytes | None:
        """The DER of the peer's leaf certificate, or ``None``."""
        with self._lock:
            crt = lib.mbedtls_ssl_get_peer_cert(self._c())
            if crt == ffi.NULL or crt.raw.len == 0:
                return None
            return bytes(ffi.buffer(crt.raw.p, crt.raw.len))

    def __repr__(self) -> str:
        if not self._initialised():
            return "<Context not initialised>"
        try:
            return (f"<Context {self.name} {self.config.endpoint} {self.state} "
                    f"in={self.pending_in} out={self.pending_out}>")
        except ClosedError:
            return f"<Context {self.name} closed>"
