"""The raising forms of ``Context``'s Mbed TLS calls (a mixin).

The rule (README, "Return codes and exceptions"): a method named after an
Mbed TLS call (``handshake`` for ``mbedtls_ssl_handshake``) returns its int
unchanged, an ``Err`` member where the code is known, and never raises for a
code.  Its raising form is ``do_`` + the same name with the same arguments:
it raises the matching ``MbedTLSError`` (``WantRead``, ``PeerCloseNotify``...)
for a negative code and returns the count where the call returns one
(``do_write``, ``do_read_into``), else ``None``.  ``read(n) -> bytes`` is the
one Python-shaped convenience (the raising read, with its own buffer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._ctxbase import ContextBase, pending, run_deferred
from ._lib import ffi, lib
from .errors import error_for

__all__ = ["RaisingForms", "READ_BUF"]

# One mbedtls_ssl_read returns at most one record's payload.
READ_BUF = 16384 + 2048


class RaisingForms(ContextBase):
    """``do_<call>`` for every raw call of ``Context`` that can return an error code."""

    _rbuf: Any = None  # read()'s buffer, allocated on first use (not per idle context)
    _mtu: int

    if TYPE_CHECKING:  # the raw calls, defined by Context
        def handshake(self) -> int: ...
        def handshake_step(self) -> int: ...
        def close_notify(self) -> int: ...
        def session_reset(self) -> int: ...
        def write(self, data: bytes) -> int: ...
        def read_into(self, buffer: bytearray | memoryview) -> int: ...
        def check_record(self, data: bytes) -> int: ...
        def set_client_transport_id(self, info: bytes) -> int: ...
        def set_hostname(self, hostname: str | None) -> int: ...
        def set_cid(self, enable: bool, own_cid: bytes = b"") -> int: ...
        def _check_mtu(self) -> None: ...

    def do_handshake(self) -> None:
        """``handshake``; raises ``WantRead`` (etc.) or ``MbedTLSError`` unless it completes."""
        self._raise_for(self.handshake(), "handshake")

    def do_handshake_step(self) -> None:
        """``handshake_step``; raises ``MbedTLSError`` on a code."""
        self._raise_for(self.handshake_step(), "handshake_step")

    def do_close_notify(self) -> None:
        """``close_notify``; raises ``MbedTLSError`` on a code."""
        self._raise_for(self.close_notify(), "close_notify")

    def do_session_reset(self) -> None:
        """``session_reset``; raises ``MbedTLSError`` on a code."""
        self._raise_for(self.session_reset(), "session_reset")

    def do_write(self, data: bytes) -> int:
        """``write``: bytes written; raises ``MbedTLSError`` on a code."""
        rc = self.write(data)
        self._raise_for(rc, "write")
        return rc

    def do_read_into(self, buffer: bytearray | memoryview) -> int:
        """``read_into``: bytes read (0 at EOF); raises ``WantRead``,
        ``PeerCloseNotify``... on a code."""
        rc = self.read_into(buffer)
        self._raise_for(rc, "read_into")
        return rc

    def do_check_record(self, data: bytes) -> None:
        """``check_record``; raises ``MbedTLSError`` unless the record authenticates."""
        self._raise_for(self.check_record(data), "check_record")

    def do_set_client_transport_id(self, info: bytes) -> None:
        """``set_client_transport_id``; raises ``MbedTLSError`` on a code."""
        self._raise_for(self.set_client_transport_id(info), "set_client_transport_id")

    def do_set_hostname(self, hostname: str | None) -> None:
        """``set_hostname``; raises ``MbedTLSError`` on a code."""
        self._raise_for(self.set_hostname(hostname), "set_hostname")

    def do_set_cid(self, enable: bool, own_cid: bytes = b"") -> None:
        """``set_cid``; raises ``MbedTLSError`` on a code."""
        self._raise_for(self.set_cid(enable, own_cid), "set_cid")

    def read(self, n: int = 16384) -> bytes:
        """Up to ``n`` bytes of application data (``mbedtls_ssl_read``, raising
        form); raises ``WantRead`` when none arrived yet, ``PeerCloseNotify``
        when the peer closed."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError("n must be a positive int")
        with self._lock:
            ssl = self._c()
            if self._mtu:
                self._check_mtu()
            # One call returns at most one record's payload: a larger n would
            # only allocate memory nobody fills.
            n = min(n, READ_BUF)
            buf = self._rbuf
            if buf is None:
                buf = self._rbuf = ffi.new("unsigned char[]", READ_BUF)
            rc: int = lib.mbedtls_ssl_read(ssl, buf, n)
            data: bytes = ffi.unpack(ffi.cast("char *", buf), rc) if rc >= 0 else b""
        if pending:  # key export / debug callbacks, outside the lock
            run_deferred()
        if rc >= 0:
            return data
        raise error_for(rc, f"{self.name}: read")
