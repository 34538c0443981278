"""``Context``: one ``mbedtls_ssl_context`` with its datagram queues and timer.

The protocol calls return Mbed TLS's int unchanged (an ``Err`` member when
the code is known): ``assert srv.handshake() == Err.SSL_UNEXPECTED_MESSAGE``.
Each has a raising form ``do_<name>`` (the rule: ``raising.py``).

A ``Context`` owns named parts on one ``Connection`` (``_connection.py``, the
C ``mpy_conn`` and its lock): the queues (``queues.py``), the timer
(``timer.py``), key export (``keys.py``), the settings (``settings.py``),
reset, sessions and serialization (``sessions.py``), the raising ``read``
with its buffer (``reader.py``).  The handshake and data
calls are here; the rest forward to their part, which has their docstrings.
"""

from __future__ import annotations

from ._connection import STATE_NAMES, Connection, state_name
from ._ctxbase import as_data, forward, pending, run_deferred
from ._lib import ffi, lib
from ._owned import COwner
from .clock import RealClock, VirtualClock
from .config import Config
from .errors import ClosedError, as_err
from .keys import ExportedKeys, KeyExport, KeyLog, _default_keylog, export_keys_to
from .queues import DatagramQueues
from .reader import Reader
from .sessions import Session, SessionCalls, reset_after_hello_verify
from .settings import Settings
from .timer import Timer

__all__ = ["Context", "VirtualClock", "RealClock", "ExportedKeys", "MAX_DATAGRAM", "KeyLog",
           "export_keys_to", "Session", "reset_after_hello_verify"]

MAX_DATAGRAM: int = lib.MPY_MAX_DATAGRAM


class Context(COwner):
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
                 "set_cid", "renegotiate", "get_session", "set_session", "context_save",
                 "context_load", "reinit")

    _C_FIELDS = ("_cx", "_queues", "_timer", "_keys", "_sessions", "_settings", "_reader", "name")

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
        self.name = name or config.name
        self._cx = cx = Connection(config._owner, clock, max_queue=max_queue,
                                   max_datagram=max_datagram, name=self.name)
        self._queues = DatagramQueues(cx)
        self._timer = Timer(cx)
        self._keys = KeyExport(cx)
        self._sessions = SessionCalls(cx, config._conf, self._keys)
        self._settings = Settings(cx)
        self._reader = Reader(cx)
        self.config = config
        self.clock = clock
        self.max_datagram = max_datagram
        if keylog is None:
            keylog = getattr(config, "keylog", None) or _default_keylog.get()
        if keylog is not None:
            self.keylog = keylog

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Free the C context now (idempotent).  Every later call raises ``ClosedError``."""
        self._cx.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._cx.ssl is None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- protocol calls (the int unchanged) and state ---------------------------
    # The hot ones use lock.acquire()/try/finally and an inline closed check,
    # not ``with cx.lock:`` and ``cx.c()``: about half the per-call cost, which
    # is most of what driving Mbed TLS from Python costs (bench/).

    def handshake(self) -> int:
        """``mbedtls_ssl_handshake``: 0 when done, else the code (``Err``)."""
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            ssl = cx.ssl
            if cx.mtu:
                cx.check_mtu()
            rc = lib.mbedtls_ssl_handshake(ssl if ssl is not None else cx.c())
        finally:
            lock.release()
        if pending:  # key export / debug callbacks, run now that the lock is free
            run_deferred()
        return as_err(rc) if rc else 0

    def handshake_step(self) -> int:
        """``mbedtls_ssl_handshake_step``: one state of the handshake."""
        cx = self._cx
        with cx.lock:
            if cx.mtu:
                cx.check_mtu()
            rc = lib.mbedtls_ssl_handshake_step(cx.c())
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def write(self, data: bytes) -> int:
        """``mbedtls_ssl_write``: bytes written (>= 0) or the code."""
        if type(data) is not bytes:
            data = as_data(data)
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            ssl = cx.ssl
            if cx.mtu:
                cx.check_mtu()
            rc = lib.mbedtls_ssl_write(ssl if ssl is not None else cx.c(), data, len(data))
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
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            ssl = cx.ssl
            if cx.mtu:
                cx.check_mtu()
            rc = lib.mbedtls_ssl_read(ssl if ssl is not None else cx.c(), cbuf, n)
        finally:
            lock.release()
        if pending:
            run_deferred()
        return rc if rc >= 0 else as_err(rc)

    @property
    def state(self) -> str:
        """The handshake state by Mbed TLS name, e.g. ``CLIENT_HELLO``, ``HANDSHAKE_OVER``."""
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            ssl = cx.ssl
            value = lib.mpy_ssl_state(ssl if ssl is not None else cx.c())
        finally:
            lock.release()
        return STATE_NAMES.get(value) or state_name(value)  # servers ask on every datagram

    @property
    def state_number(self) -> int:
        """The handshake state as its ``mbedtls_ssl_states`` value (what ``ssl->state`` holds)."""
        return int(self._cx.call(lib.mpy_ssl_state))

    @property
    def handshake_over(self) -> bool:
        """Whether the handshake has completed."""
        return bool(self._cx.call(lib.mbedtls_ssl_is_handshake_over))

    @property
    def version(self) -> str | None:
        """The negotiated protocol version (``DTLSv1.2``), or ``None`` before."""
        return self._cx.negotiated(lib.mbedtls_ssl_get_version)

    @property
    def ciphersuite(self) -> str | None:
        """The negotiated cipher suite's Mbed TLS name, or ``None`` before."""
        return self._cx.negotiated(lib.mbedtls_ssl_get_ciphersuite)

    @property
    def verify_result(self) -> int:
        """``mbedtls_ssl_get_verify_result``: 0, or ``MBEDTLS_X509_BADCERT_*`` flags."""
        return self._cx.call(lib.mbedtls_ssl_get_verify_result)

    @property
    def bytes_available(self) -> int:
        """``mbedtls_ssl_get_bytes_avail``: decrypted bytes ready to read."""
        return self._cx.call(lib.mbedtls_ssl_get_bytes_avail)

    @property
    def max_out_record_payload(self) -> int:
        """``mbedtls_ssl_get_max_out_record_payload`` (or the code)."""
        return as_err(self._cx.call(lib.mbedtls_ssl_get_max_out_record_payload))

    @property
    def max_in_record_payload(self) -> int:
        """``mbedtls_ssl_get_max_in_record_payload`` (or the code)."""
        return as_err(self._cx.call(lib.mbedtls_ssl_get_max_in_record_payload))

    @property
    def record_expansion(self) -> int:
        """``mbedtls_ssl_get_record_expansion`` (or the code)."""
        return as_err(self._cx.call(lib.mbedtls_ssl_get_record_expansion))

    def peer_certificate(self) -> bytes | None:
        """The DER of the peer's leaf certificate, or ``None``."""
        with self._cx.lock:
            crt = lib.mbedtls_ssl_get_peer_cert(self._cx.c())
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

    # -- the raising forms (the rule: raising.py) ------------------------------

    def do_handshake(self) -> None:
        """``handshake``; raises ``WantRead`` (etc.) or ``MbedTLSError`` unless it completes."""
        self._cx.raise_for(self.handshake(), "handshake")

    def do_handshake_step(self) -> None:
        """``handshake_step``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.handshake_step(), "handshake_step")

    def do_write(self, data: bytes) -> int:
        """``write``: bytes written; raises ``MbedTLSError`` on a code."""
        rc = self.write(data)
        self._cx.raise_for(rc, "write")
        return rc

    def do_read_into(self, buffer: bytearray | memoryview) -> int:
        """``read_into``: bytes read (0 at EOF); raises ``WantRead``,
        ``PeerCloseNotify``... on a code."""
        rc = self.read_into(buffer)
        self._cx.raise_for(rc, "read_into")
        return rc

    # -- the parts: what the context adds to them, then plain forwards ------

    def move_to(self, peer: Context) -> int:
        """Hand the next outgoing datagram to ``peer``'s inbound queue without a
        copy.  Returns its size, or 0 when there was none.  A datagram larger
        than ``peer.max_datagram`` (ValueError) or a full inbound queue of
        ``peer`` (BufferError) leaves the datagram where it was."""
        if not isinstance(peer, Context):
            raise TypeError(f"peer must be a Context, not {type(peer).__name__}")
        if peer is self:
            raise ValueError("a context cannot send to itself; push() a copy instead")
        return self._queues.move_to(peer._queues)

    @property
    def pending_in(self) -> int:
        """Inbound datagrams not yet read by Mbed TLS."""
        return self._queues.count(True)

    @property
    def pending_out(self) -> int:
        """Outbound datagrams not yet taken."""
        return self._queues.count(False)

    def set_clock(self, clock: VirtualClock | RealClock) -> None:
        """Make this context's timer read another clock.  A running timer keeps
        running: the time already elapsed on the old clock counts as elapsed
        on the new one, so a context moved mid-handshake still retransmits."""
        self._timer.set_clock(clock)
        self.clock = clock

    @property
    def recv_timeout_mode(self) -> bool:
        """When true, an empty inbound queue reads as ``SSL_TIMEOUT`` wherever
        Mbed TLS reads with a timeout (like a blocking socket whose wait ran out)."""
        return self._timer.recv_timeout_mode

    @recv_timeout_mode.setter
    def recv_timeout_mode(self, value: bool) -> None:
        self._timer.recv_timeout_mode = value

    @property
    def keylog(self) -> KeyLog | None:
        """Where exported keys go, or ``None`` (the default: Mbed TLS's export
        callback is not even registered, and no secret is kept).

        Set it to a callable to turn key export on: after each handshake it
        gets the NSS key log line, and :meth:`exported_keys` returns the keys
        until ``session_reset()``, ``clear_queues()`` or ``close()`` wipe them
        (``mbedtls_platform_zeroize``).  Setting ``None`` turns export off and
        wipes.  The callable runs when the call that completed the handshake
        (``handshake()``, ``read_into()``...) has released the context, just
        before it returns, in the same thread: it may use this context
        freely, even close it (README "Callbacks")."""
        return self._keys.keylog

    @keylog.setter
    def keylog(self, keylog: KeyLog | None) -> None:
        self._keys.keylog = keylog

    read = forward("_reader", Reader.read)
    push = forward("_queues", DatagramQueues.push)
    pop = forward("_queues", DatagramQueues.pop)
    peek = forward("_queues", DatagramQueues.peek)
    drain = forward("_queues", DatagramQueues.drain)
    counters = forward("_queues", DatagramQueues.counters)
    last_datagram = forward("_queues", DatagramQueues.last_datagram)
    clear_queues = forward("_queues", DatagramQueues.clear_queues)
    timer_deadline = forward("_timer", Timer.timer_deadline)
    timer_state = forward("_timer", Timer.timer_state)
    exported_keys = forward("_keys", KeyExport.exported_keys)
    check_pending = forward("_settings", Settings.check_pending)
    check_record = forward("_settings", Settings.check_record)
    do_check_record = forward("_settings", Settings.do_check_record)
    set_client_transport_id = forward("_settings", Settings.set_client_transport_id)
    do_set_client_transport_id = forward("_settings", Settings.do_set_client_transport_id)
    set_hostname = forward("_settings", Settings.set_hostname)
    do_set_hostname = forward("_settings", Settings.do_set_hostname)
    set_mtu = forward("_settings", Settings.set_mtu)
    min_mtu = forward("_settings", Settings.min_mtu)
    mtu = forward("_settings", Settings.mtu)
    set_datagram_packing = forward("_settings", Settings.set_datagram_packing)
    set_cid = forward("_settings", Settings.set_cid)
    do_set_cid = forward("_settings", Settings.do_set_cid)
    peer_cid = forward("_settings", Settings.peer_cid)
    close_notify = forward("_sessions", SessionCalls.close_notify)
    do_close_notify = forward("_sessions", SessionCalls.do_close_notify)
    session_reset = forward("_sessions", SessionCalls.session_reset)
    do_session_reset = forward("_sessions", SessionCalls.do_session_reset)
    renegotiate = forward("_sessions", SessionCalls.renegotiate)
    do_renegotiate = forward("_sessions", SessionCalls.do_renegotiate)
    get_session = forward("_sessions", SessionCalls.get_session)
    do_get_session = forward("_sessions", SessionCalls.do_get_session)
    set_session = forward("_sessions", SessionCalls.set_session)
    do_set_session = forward("_sessions", SessionCalls.do_set_session)
    context_save = forward("_sessions", SessionCalls.context_save)
    do_context_save = forward("_sessions", SessionCalls.do_context_save)
    context_load = forward("_sessions", SessionCalls.context_load)
    do_context_load = forward("_sessions", SessionCalls.do_context_load)
    reinit = forward("_sessions", SessionCalls.reinit)
    do_reinit = forward("_sessions", SessionCalls.do_reinit)
