"""Sessions and a connection's life after its handshake: ``Session`` (saved,
loaded, resumed), and ``SessionCalls``, the part of a ``Context`` for
close_notify, session reset, renegotiation, sessions, context serialization
and re-init."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from ._connection import Connection
from ._ctxbase import as_data, pending, run_deferred
from ._lib import ffi, lib
from .keys import KeyExport
from ._owned import COwner
from .errors import as_err, check

__all__ = ["SessionCalls", "Session", "reset_after_hello_verify"]


def _check_session(session: object) -> None:
    if not isinstance(session, Session):
        raise TypeError(f"session must be a Session, not {type(session).__name__}")


class Session(COwner):
    """An ``mbedtls_ssl_session`` saved from a connection, for resumption
    (not copyable: ``save()`` and ``load()`` make an independent one)."""

    _C_FIELDS = ("_s",)

    def __init__(self) -> None:
        s = ffi.new("mbedtls_ssl_session *")
        lib.mbedtls_ssl_session_init(s)
        self._s = ffi.gc(s, lib.mbedtls_ssl_session_free)

    def save(self) -> bytes:
        """``mbedtls_ssl_session_save``: the serialized session."""
        n = ffi.new("size_t *")
        lib.mbedtls_ssl_session_save(self._s, ffi.NULL, 0, n)
        buf = ffi.new("unsigned char[]", max(n[0], 1))
        check(lib.mbedtls_ssl_session_save(self._s, buf, n[0], n), "mbedtls_ssl_session_save")
        return bytes(ffi.buffer(buf, n[0]))

    @classmethod
    def load(cls, data: bytes) -> Session:
        """``mbedtls_ssl_session_load``: a session from ``save()`` output."""
        data = as_data(data, "session data")
        s = cls()
        check(lib.mbedtls_ssl_session_load(s._s, data, len(data)), "mbedtls_ssl_session_load")
        return s


class _Resettable(Protocol):
    def session_reset(self) -> int: ...
    def set_client_transport_id(self, info: bytes) -> int: ...


def reset_after_hello_verify(server: _Resettable, transport_id: bytes) -> int:
    """What a server does on ``SSL_HELLO_VERIFY_REQUIRED`` (its HelloVerifyRequest
    is out), as upstream's ``dtls_server`` sample does: ``session_reset``, then
    the client's transport id again (the reset forgets it; the ClientHello with
    the cookie is checked against it).  ``server`` is a ``Context`` or anything
    with those two methods (the simulator's traced endpoint).  Returns the
    first non-zero code, else 0."""
    reset_rc = server.session_reset()
    id_rc = server.set_client_transport_id(transport_id)
    return reset_rc or id_rc


class SessionCalls:
    """close_notify, reset, renegotiation, sessions, serialization and re-init
    of one connection set up on ``conf`` (its config's ``mbedtls_ssl_config
    *``); ``Context`` forwards these methods here.

    They follow the bindings' rule (README "Return codes and exceptions"):
    the plain name returns Mbed TLS's int unchanged (an ``Err`` member where
    known) and never raises for a code; ``do_<name>`` takes the same
    arguments and raises the matching ``MbedTLSError``.
    """

    #: These raw calls (``Context.RAW_CALLS`` has them too).
    RAW_CALLS: ClassVar[tuple[str, ...]] = ("close_notify", "session_reset", "renegotiate",
                                            "get_session", "set_session", "context_save",
                                            "context_load", "reinit")

    __slots__ = ("_cx", "_conf", "_keys")

    def __init__(self, connection: Connection, conf: Any, keys: KeyExport) -> None:
        self._cx = connection
        self._conf = conf
        self._keys = keys  # session_reset wipes the old connection's secret

    def close_notify(self) -> int:
        """``mbedtls_ssl_close_notify``: send the close_notify alert."""
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            ssl = cx.ssl
            rc = lib.mbedtls_ssl_close_notify(ssl if ssl is not None else cx.c())
        finally:
            lock.release()
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def session_reset(self) -> int:
        """``mbedtls_ssl_session_reset``: forget the connection, keep the
        context (and its queues) ready for the next one."""
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            ssl = cx.ssl
            rc = lib.mbedtls_ssl_session_reset(ssl if ssl is not None else cx.c())
            self._keys.wipe()  # the old connection's secret
        finally:
            lock.release()
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def do_close_notify(self) -> None:
        """``close_notify``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.close_notify(), "close_notify")

    def do_session_reset(self) -> None:
        """``session_reset``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.session_reset(), "session_reset")

    def renegotiate(self) -> int:
        """``mbedtls_ssl_renegotiate``: 0 when done, else the code (``Err``)."""
        return as_err(self._cx.call(lib.mbedtls_ssl_renegotiate))

    def do_renegotiate(self) -> None:
        """``renegotiate``; raises ``WantRead`` (etc.) or ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.renegotiate(), "renegotiate")

    def get_session(self, session: Session) -> int:
        """``mbedtls_ssl_get_session``: copy the current session into
        ``session`` (a fresh ``Session()``, for resumption); 0 or the code."""
        _check_session(session)
        return as_err(self._cx.call(lib.mbedtls_ssl_get_session, session._s))

    def do_get_session(self, session: Session) -> None:
        """``get_session``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.get_session(session), "get_session")

    def set_session(self, session: Session) -> int:
        """``mbedtls_ssl_set_session`` (client, before the handshake): 0 or the code."""
        _check_session(session)
        return as_err(self._cx.call(lib.mbedtls_ssl_set_session, session._s))

    def do_set_session(self, session: Session) -> None:
        """``set_session``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.set_session(session), "set_session")

    def context_save(self, buffer: bytearray) -> int:
        """``mbedtls_ssl_context_save`` into ``buffer``: 0 or the code.

        Mbed TLS's ``olen`` comes back as ``buffer``'s length: on 0 it is cut
        to the bytes written; on ``SSL_BUFFER_TOO_SMALL`` it is grown (zeros)
        to the bytes needed, so the upstream two-call pattern reads
        ``buf = bytearray(); ctx.context_save(buf); ctx.do_context_save(buf)``.
        On other codes ``buffer`` is left as it was.  On success the context
        is reset, as Mbed TLS documents."""
        if not isinstance(buffer, bytearray):
            raise TypeError(f"buffer must be a bytearray, not {type(buffer).__name__}")
        n = ffi.new("size_t *")
        with self._cx.lock:
            ssl = self._cx.c()
            with ffi.from_buffer(buffer) as buf:  # released before the resize below
                rc = lib.mbedtls_ssl_context_save(ssl, buf, len(buffer), n)
        if rc == 0 or rc == lib.MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL:
            if n[0] < len(buffer):
                del buffer[n[0]:]
            else:
                buffer.extend(bytes(n[0] - len(buffer)))
        return as_err(rc)

    def do_context_save(self, buffer: bytearray) -> None:
        """``context_save``; raises ``MbedTLSError`` on a code (``buffer`` is
        still resized as there)."""
        self._cx.raise_for(self.context_save(buffer), "context_save")

    def context_load(self, data: bytes) -> int:
        """``mbedtls_ssl_context_load`` (on a fresh or reset context): 0 or the
        code.  On failure Mbed TLS frees the ssl context (any later call on it
        would crash), so this context is set up again, fresh, before the code
        is returned."""
        data = as_data(data, "context data")
        cx = self._cx
        with cx.lock:
            rc = lib.mbedtls_ssl_context_load(cx.c(), data, len(data))
            if rc:
                lib.mbedtls_ssl_init(cx.ssl)
                if self._reinit() != 0:
                    raise MemoryError(f"{cx.name}: could not set the context up again")
        if pending:
            run_deferred()
        return as_err(rc)

    def do_context_load(self, data: bytes) -> None:
        """``context_load``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.context_load(data), "context_load")

    def reinit(self) -> int:
        """``mbedtls_ssl_free`` + ``mbedtls_ssl_init`` + ``mbedtls_ssl_setup``
        on this context, as upstream's programs do for serialization: 0 or the
        code of ``mbedtls_ssl_setup``.  The connection's settings (MTU, CID,
        hostname, datagram packing) are back to their defaults; its queues,
        clock and key log are kept."""
        with self._cx.lock:
            self._cx.c()
            rc = self._reinit()
        if pending:
            run_deferred()
        return as_err(rc)

    def _reinit(self) -> int:
        # With the lock held.  What this object remembers of the connection's
        # settings follows C's: only the MTU is remembered.
        rc: int = lib.mpy_conn_reinit(self._cx.conn, self._conf)
        self._cx.mtu = 0
        return rc

    def do_reinit(self) -> None:
        """``reinit``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.reinit(), "reinit")
