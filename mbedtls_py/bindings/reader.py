"""The raising ``read(n) -> bytes`` of a ``Context``'s connection (a part it
owns): the bindings' one Python-shaped convenience (``raising.py``), with its
own buffer, allocated on first use (not per idle context)."""

from __future__ import annotations

from typing import Any

from ._connection import Connection
from ._ctxbase import pending, run_deferred
from ._lib import ffi, lib
from .errors import error_for
from .raising import READ_BUF

__all__ = ["Reader"]


class Reader:
    """``Context.read``: ``mbedtls_ssl_read`` into a buffer of its own, the
    bytes returned, a code raised."""

    __slots__ = ("_cx", "_buf")

    def __init__(self, connection: Connection) -> None:
        self._cx = connection
        self._buf: Any = None

    def read(self, n: int = 16384) -> bytes:
        """Up to ``n`` bytes of application data (``mbedtls_ssl_read``, raising
        form); raises ``WantRead`` when none arrived yet, ``PeerCloseNotify``
        when the peer closed."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError("n must be a positive int")
        cx = self._cx
        with cx.lock:
            ssl = cx.c()
            if cx.mtu:
                cx.check_mtu()
            # One call returns at most one record's payload: a larger n would
            # only allocate memory nobody fills.
            n = min(n, READ_BUF)
            buf = self._buf
            if buf is None:
                buf = self._buf = ffi.new("unsigned char[]", READ_BUF)
            rc: int = lib.mbedtls_ssl_read(ssl, buf, n)
            data: bytes = ffi.unpack(ffi.cast("char *", buf), rc) if rc >= 0 else b""
        if pending:  # key export / debug callbacks, outside the lock
            run_deferred()
        if rc >= 0:
            return data
        raise error_for(rc, f"{cx.name}: read")
