"""Context methods added for the ssl-opt runner (issue 10): renegotiation,
sessions (save, load, resume), context serialization and re-init.  A mixin
of ``Context`` so they live apart from the original class body."""

from __future__ import annotations

import threading
from typing import Any

from ._lib import ffi, lib
from .errors import as_err, check, error_for

__all__ = ["DtlsContextExtras", "Session"]


def _as_data(data: object, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}")


class Session:
    """An ``mbedtls_ssl_session`` saved from a connection, for resumption."""

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
        data = _as_data(data, "session data")
        s = cls()
        check(lib.mbedtls_ssl_session_load(s._s, data, len(data)), "mbedtls_ssl_session_load")
        return s


class DtlsContextExtras:
    """The methods; ``Context`` provides the attributes below."""

    _lock: threading.Lock
    _conn: Any
    _ssl: Any
    name: str
    config: Any

    def _c(self) -> Any:
        raise NotImplementedError


    def renegotiate(self) -> int:
        """``mbedtls_ssl_renegotiate``: 0 when done, else the code (``Err``)."""
        with self._lock:
            rc = lib.mbedtls_ssl_renegotiate(self._c())
        return as_err(rc) if rc else 0

    def do_renegotiate(self) -> None:
        """``renegotiate`` that raises ``WantRead`` (etc.) or ``MbedTLSError``."""
        rc = self.renegotiate()
        if rc:
            raise error_for(rc, f"{self.name}: renegotiate")

    def get_session_rc(self, session: Session) -> int:
        """``mbedtls_ssl_get_session`` into ``session``: 0 or the code."""
        with self._lock:
            rc = lib.mbedtls_ssl_get_session(self._c(), session._s)
        return as_err(rc) if rc else 0

    def get_session(self) -> Session:
        """The current session (for resumption); raises on failure."""
        s = Session()
        rc = self.get_session_rc(s)
        if rc:
            raise error_for(rc, f"{self.name}: get_session")
        return s

    def set_session_rc(self, session: Session) -> int:
        """``mbedtls_ssl_set_session`` (client, before the handshake): 0 or the code."""
        if not isinstance(session, Session):
            raise TypeError("session must be a Session")
        with self._lock:
            rc = lib.mbedtls_ssl_set_session(self._c(), session._s)
        return as_err(rc) if rc else 0

    def set_session(self, session: Session) -> None:
        """``set_session_rc`` that raises on failure."""
        rc = self.set_session_rc(session)
        if rc:
            raise error_for(rc, f"{self.name}: set_session")

    def context_save_rc(self) -> tuple[int, bytes]:
        """``mbedtls_ssl_context_save``: (0, data) or (code, b"").  On success
        the context is reset, as Mbed TLS documents."""
        n = ffi.new("size_t *")
        with self._lock:
            ssl = self._c()
            rc = lib.mbedtls_ssl_context_save(ssl, ffi.NULL, 0, n)
            if rc != lib.MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL:
                return (as_err(rc) if rc else rc), b""
            buf = ffi.new("unsigned char[]", n[0])
            rc = lib.mbedtls_ssl_context_save(ssl, buf, n[0], n)
        return (as_err(rc), b"") if rc else (0, bytes(ffi.buffer(buf, n[0])))

    def context_save(self) -> bytes:
        """``context_save_rc`` that raises on failure."""
        rc, data = self.context_save_rc()
        if rc:
            raise error_for(rc, f"{self.name}: context_save")
        return data

    def context_load(self, data: bytes) -> int:
        """``mbedtls_ssl_context_load`` (on a fresh or reset context): 0 or the
        code.  On failure Mbed TLS frees the ssl context (any later call on it
        would crash), so this context is set up again, fresh, before the code
        is returned."""
        data = _as_data(data, "context data")
        with self._lock:
            rc = lib.mbedtls_ssl_context_load(self._c(), data, len(data))
            if rc:
                lib.mbedtls_ssl_init(self._ssl)
                if lib.mpy_conn_reinit(self._conn, self.config._conf) != 0:
                    raise MemoryError(f"{self.name}: could not set the context up again")
        return as_err(rc) if rc else 0

    def do_context_load(self, data: bytes) -> None:
        """``context_load`` that raises on failure."""
        rc = self.context_load(data)
        if rc:
            raise error_for(rc, f"{self.name}: context_load")

    def reinit(self) -> int:
        """``mbedtls_ssl_free`` + ``mbedtls_ssl_init`` + ``mbedtls_ssl_setup``
        on this context (its queues, BIO and clock kept): 0 or the code."""
        with self._lock:
            self._c()
            rc = lib.mpy_conn_reinit(self._conn, self.config._conf)
        return as_err(rc) if rc else 0
