"""``Context``: one ``mbedtls_ssl_context`` with its datagram queues and timer.

The protocol calls return Mbed TLS's int unchanged (an ``Err`` member when
the code is known): ``assert srv.handshake() == Err.SSL_UNEXPECTED_MESSAGE``.
The ``do_*``/``read``/``send`` forms raise ``MbedTLSError`` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ._lib import ffi, lib
from ._context_dtls import DtlsContextExtras, Session
from .config import Config
from .errors import ClosedError, as_err, check, error_for

__all__ = ["Context", "VirtualClock", "RealClock", "ExportedKeys", "MAX_DATAGRAM", "Session"]

MAX_DATAGRAM: int = lib.MPY_MAX_DATAGRAM
_READ_BUF = 16384 + 2048


class VirtualClock:
    """Milliseconds owned by the harness.  Timers of every context that shares
    this clock read it directly in C (no Python callback)."""

    def __init__(self, now_ms: int = 0) -> None:
        self._ptr = ffi.new("mpy_clock *")
        self.now_ms = now_ms

    @property
    def now_ms(self) -> int:
        """The current virtual time in milliseconds."""
        return self._ptr.now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        if not isinstance(value, int) or value < 0:
            raise ValueError("virtual time must be a non-negative int (milliseconds)")
        if value < self._ptr.now_ms:
            raise ValueError(f"virtual time cannot go back ({value} < {self._ptr.now_ms})")
        self._ptr.now_ms = value

    def advance(self, ms: int) -> int:
        """Move time forward by ``ms``; return the new time."""
        self.now_ms = self._ptr.now_ms + ms
        return self._ptr.now_ms

    def __repr__(self) -> str:
        return f"<VirtualClock {self.now_ms} ms>"


class RealClock:
    """The real monotonic clock (for contexts on real sockets)."""

    _ptr = ffi.NULL

    @property
    def now_ms(self) -> int:
        """Milliseconds of the monotonic clock."""
        return lib.mpy_monotonic_ms()

    def __repr__(self) -> str:
        return "<RealClock>"


@dataclass(frozen=True)
class ExportedKeys:
    """TLS 1.2 key material exported by Mbed TLS at the end of the handshake."""

    client_random: bytes
    server_random: bytes
    master_secret: bytes

    def nss_keylog_line(self) -> str:
        """The line for an NSS key log file (``SSLKEYLOGFILE``), e.g. for Wireshark."""
        return f"CLIENT_RANDOM {self.client_random.hex()} {self.master_secret.hex()}"


def _as_data(data: object, what: str = "data") -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}")


class Context(DtlsContextExtras):
    """A DTLS endpoint: ``mbedtls_ssl_context`` set up on a ``Config``, with an
    inbound and an outbound datagram queue and a timer reading ``clock``.

    Datagrams are values: ``push()`` one in, ``pop()`` one out, or
    ``move_to(peer)`` to hand the next outgoing datagram to another context
    without copying it.  ``clock`` defaults to a fresh ``VirtualClock``; pass a
    shared one, or ``RealClock()`` for real sockets.
    """

    def __init__(self, config: Config, *, clock: VirtualClock | RealClock | None = None,
                 max_queue: int = 1024, max_datagram: int = MAX_DATAGRAM,
                 name: str | None = None) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {type(config).__name__}")
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
        self._rbuf = None  # read()'s buffer, allocated on first use (not per idle context)
        self.config = config
        self.clock = clock
        self.name = name or config.name
        self.max_datagram = max_datagram
        check(lib.mpy_conn_setup(self._conn, config._conf, clock._ptr), "mbedtls_ssl_setup")
        self._hostname: bytes | None = None

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Free the C context now (idempotent).  Every later call raises ``ClosedError``."""
        with self._lock:
            conn = self.__dict__.pop("_conn", None)
            if conn is not None:
                self._ssl = self._inq = self._outq = None
                ffi.release(conn)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return "_conn" not in self.__dict__

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _c(self):  # noqa: ANN202 - returns the live C pointer
        if self._ssl is None:
            raise ClosedError(f"{self.name}: the context is closed")
        return self._ssl

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
            rc = lib.mbedtls_ssl_handshake(ssl if ssl is not None else self._c())
        finally:
            lock.release()
        return as_err(rc) if rc else 0

    def handshake_step(self) -> int:
        """``mbedtls_ssl_handshake_step``: one state of the handshake."""
        with self._lock:
            rc = lib.mbedtls_ssl_handshake_step(self._c())
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
        return as_err(rc) if rc else 0

    def session_reset(self) -> int:
        """``mbedtls_ssl_session_reset``: forget the connection, keep the
        context (and its queues) ready for the next one."""
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            rc = lib.mbedtls_ssl_session_reset(ssl if ssl is not None else self._c())
        finally:
            lock.release()
        return as_err(rc) if rc else 0

    def write(self, data: bytes) -> int:
        """``mbedtls_ssl_write``: bytes written (>= 0) or the code."""
        if type(data) is not bytes:
            data = _as_data(data)
        lock = self._lock
        lock.acquire()
        try:
            ssl = self._ssl
            rc = lib.mbedtls_ssl_write(ssl if ssl is not None else self._c(), data, len(data))
        finally:
            lock.release()
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
            rc = lib.mbedtls_ssl_read(ssl if ssl is not None else self._c(), cbuf, n)
        finally:
            lock.release()
        return rc if rc >= 0 else as_err(rc)

    def check_pending(self) -> int:
        """``mbedtls_ssl_check_pending``: 1 when data is buffered for ``read``."""
        with self._lock:
            return lib.mbedtls_ssl_check_pending(self._c())

    def set_client_transport_id(self, info: bytes) -> int:
        """``mbedtls_ssl_set_client_transport_id`` (server): the client's address,
        bound into the cookie."""
        if type(info) is not bytes:
            info = _as_data(info, "transport id")
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
        """``mbedtls_ssl_set_mtu``: largest datagram Mbed TLS may send (0: no limit)."""
        if not isinstance(mtu, int) or not 0 <= mtu <= 0xFFFF:
            raise ValueError("mtu must be an int 0 .. 65535")
        with self._lock:
            lib.mbedtls_ssl_set_mtu(self._c(), mtu)

    def set_datagram_packing(self, allow: bool) -> None:
        """``mbedtls_ssl_set_datagram_packing``: several records per datagram (default on)."""
        with self._lock:
            lib.mbedtls_ssl_set_datagram_packing(self._c(), 1 if allow else 0)

    def set_cid(self, enable: bool, own_cid: bytes = b"") -> int:
        """``mbedtls_ssl_set_cid``: offer/accept a connection ID (RFC 9146)."""
        own_cid = _as_data(own_cid, "own_cid")
        if len(own_cid) > lib.MBEDTLS_SSL_CID_IN_LEN_MAX:
            raise ValueError(f"own_cid is longer than {lib.MBEDTLS_SSL_CID_IN_LEN_MAX} bytes")
        with self._lock:
            return as_err(lib.mbedtls_ssl_set_cid(
                self._c(), lib.MBEDTLS_SSL_CID_ENABLED if enable else lib.MBEDTLS_SSL_CID_DISABLED,
                own_cid, len(own_cid)))

    def peer_cid(self) -> bytes | None:
        """The connection ID the peer asked for, or ``None`` when CIDs are not in use."""
        enabled = ffi.new("int *")
        buf = ffi.new("unsigned char[]", lib.MBEDTLS_SSL_CID_OUT_LEN_MAX)
        n = ffi.new("size_t *")
        with self._lock:
            check(lib.mbedtls_ssl_get_peer_cid(self._c(), enabled, buf, n), "get_peer_cid")
        return bytes(ffi.buffer(buf, n[0])) if enabled[0] else None

    # -- convenience forms: raise MbedTLSError ---------------------------------

    def do_handshake(self) -> None:
        """Run the handshake as far as it goes; raise ``WantRead`` (etc.) or
        ``MbedTLSError`` unless it completes."""
        rc = self.handshake()
        if rc:
            raise error_for(rc, f"{self.name}: handshake")

    def read(self, n: int = 16384) -> bytes:
        """Up to ``n`` bytes of application data; raises ``WantRead`` when none
        arrived yet, ``PeerCloseNotify`` when the peer closed."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError("n must be a positive int")
        with self._lock:
            ssl = self._c()
            if n <= _READ_BUF:
                buf = self._rbuf
                if buf is None:
                    buf = self._rbuf = ffi.new("unsigned char[]", _READ_BUF)
            else:
                buf = ffi.new("unsigned char[]", n)
            rc = lib.mbedtls_ssl_read(ssl, buf, n)
            if rc >= 0:
                return ffi.unpack(ffi.cast("char *", buf), rc)
        raise error_for(rc, f"{self.name}: read")

    def send(self, data: bytes) -> int:
        """Write ``data``; return bytes written, raise on an error code."""
        rc = self.write(data)
        if rc < 0:
            raise error_for(rc, f"{self.name}: write")
        return rc

    # -- state -----------------------------------------------------------------

    @property
    def state(self) -> str:
        """The handshake state by Mbed TLS name, e.g. ``CLIENT_HELLO``, ``HANDSHAKE_OVER``."""
        with self._lock:
            value = lib.mpy_ssl_state(self._c())
        name = lib.mpy_ssl_state_name(value)
        return ffi.string(name).decode() if name != ffi.NULL else f"UNKNOWN({value})"

    @property
    def handshake_over(self) -> bool:
        """Whether the handshake has completed."""
        with self._lock:
            return bool(lib.mbedtls_ssl_is_handshake_over(self._c()))

    @property
    def version(self) -> str | None:
        """The negotiated protocol version (``DTLSv1.2``), or ``None`` before."""
        with self._lock:
            if not lib.mbedtls_ssl_is_handshake_over(self._c()):
                return None
            return ffi.string(lib.mbedtls_ssl_get_version(self._ssl)).decode()

    @property
    def ciphersuite(self) -> str | None:
        """The negotiated cipher suite's Mbed TLS name, or ``None`` before."""
        with self._lock:
            if not lib.mbedtls_ssl_is_handshake_over(self._c()):
                return None
            return ffi.string(lib.mbedtls_ssl_get_ciphersuite(self._ssl)).decode()

    @property
    def verify_result(self) -> int:
        """``mbedtls_ssl_get_verify_result``: 0, or ``MBEDTLS_X509_BADCERT_*`` flags."""
        with self._lock:
            return lib.mbedtls_ssl_get_verify_result(self._c())

    @property
    def bytes_available(self) -> int:
        """``mbedtls_ssl_get_bytes_avail``: decrypted bytes ready to read."""
        with self._lock:
            return lib.mbedtls_ssl_get_bytes_avail(self._c())

    @property
    def max_out_record_payload(self) -> int:
        """``mbedtls_ssl_get_max_out_record_payload`` (or the code)."""
        with self._lock:
            return as_err(lib.mbedtls_ssl_get_max_out_record_payload(self._c()))

    @property
    def record_expansion(self) -> int:
        """``mbedtls_ssl_get_record_expansion`` (or the code)."""
        with self._lock:
            return as_err(lib.mbedtls_ssl_get_record_expansion(self._c()))

    def peer_certificate(self) -> bytes | None:
        """The DER of the peer's leaf certificate, or ``None``."""
        with self._lock:
            crt = lib.mbedtls_ssl_get_peer_cert(self._c())
            if crt == ffi.NULL or crt.raw.len == 0:
                return None
            return bytes(ffi.buffer(crt.raw.p, crt.raw.len))

    def exported_keys(self) -> ExportedKeys | None:
        """Key material of the last completed handshake (for NSS key logs)."""
        with self._lock:
            self._c()
            conn = self._conn
            if not conn.keys_ready:
                return None
            return ExportedKeys(bytes(conn.client_random), bytes(conn.server_random),
                                bytes(conn.master_secret))

    # -- datagram queues -------------------------------------------------------

    def push(self, datagram: bytes) -> None:
        """Queue one inbound datagram for Mbed TLS to read."""
        datagram = _as_data(datagram, "datagram")
        with self._lock:
            self._c()
            rc = lib.mpy_queue_push(self._inq, datagram, len(datagram))
        if rc:
            self._queue_error(rc, len(datagram))

    def _queue_error(self, rc: int, size: int) -> None:
        if rc == lib.MPY_DATAGRAM_SIZE:
            raise ValueError(f"{self.name}: datagram of {size} bytes; must be 1 .. "
                             f"{self.max_datagram}")
        if rc == lib.MPY_QUEUE_FULL:
            raise BufferError(f"{self.name}: inbound queue is full; let the context read first")
        raise MemoryError("out of memory queueing a datagram")

    def pop(self) -> bytes | None:
        """Take the next datagram Mbed TLS sent, or ``None``."""
        with self._lock:
            self._c()
            n = lib.mpy_queue_peek(self._outq, self._peek)
            if n < 0:
                return None
            data = ffi.unpack(ffi.cast("char *", self._peek[0]), n)
            lib.mpy_queue_pop(self._outq)
        return data

    def peek(self) -> bytes | None:
        """The next outgoing datagram, left in the queue; or ``None``."""
        with self._lock:
            self._c()
            n = lib.mpy_queue_peek(self._outq, self._peek)
            return None if n < 0 else ffi.unpack(ffi.cast("char *", self._peek[0]), n)

    def drain(self) -> list[bytes]:
        """Take every queued outgoing datagram."""
        out = []
        while (d := self.pop()) is not None:
            out.append(d)
        return out

    def move_to(self, peer: Context) -> int:
        """Hand the next outgoing datagram to ``peer``'s inbound queue without a
        copy.  Returns its size, or 0 when there was none."""
        if not isinstance(peer, Context):
            raise TypeError("peer must be a Context")
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
            finally:
                second.release()
        finally:
            first.release()
        if rc >= 0:
            return rc
        if rc == lib.MPY_QUEUE_EMPTY:
            return 0
        peer._queue_error(rc, 0)
        return 0  # not reached

    @property
    def pending_in(self) -> int:
        """Inbound datagrams not yet read by Mbed TLS."""
        self._c()
        return self._inq.count

    @property
    def pending_out(self) -> int:
        """Outbound datagrams not yet taken."""
        self._c()
        return self._outq.count

    def last_datagram(self) -> bytes | None:
        """The datagram Mbed TLS read most recently (what a failure was about)."""
        with self._lock:
            self._c()
            n = lib.mpy_conn_last_in(self._conn, self._peek)
            return None if n < 0 else ffi.unpack(ffi.cast("char *", self._peek[0]), n)

    def clear_queues(self) -> None:
        """Discard both queues and the last-read datagram."""
        with self._lock:
            self._c()
            lib.mpy_conn_clear(self._conn)

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over (and take) the queued outgoing datagrams."""
        return iter(self.drain())

    # -- timer -------------------------------------------------------------------

    def timer_deadline(self) -> int | None:
        """When the DTLS retransmission/read timer expires (in the clock's ms),
        or ``None`` when no timer is running."""
        self._c()
        d = lib.mpy_conn_timer_deadline(self._conn)
        return None if d < 0 else d

    def timer_state(self) -> int:
        """The timer as Mbed TLS sees it: -1 cancelled, 0 running, 1 intermediate
        delay passed, 2 final delay passed."""
        self._c()
        return lib.mpy_timer_get(ffi.addressof(self._conn, "timer"))

    def set_clock(self, clock: VirtualClock | RealClock) -> None:
        """Make this context's timer read another clock (the timer is cancelled)."""
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
        self._c()
        return bool(self._conn.recv_timeout_mode)

    @recv_timeout_mode.setter
    def recv_timeout_mode(self, value: bool) -> None:
        self._c()
        self._conn.recv_timeout_mode = 1 if value else 0

    def __repr__(self) -> str:
        if self.closed:
            return f"<Context {self.name} closed>"
        return (f"<Context {self.name} {self.config.endpoint} {self.state} "
                f"in={self.pending_in} out={self.pending_out}>")

