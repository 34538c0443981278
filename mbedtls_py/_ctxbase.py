"""What every part of ``Context`` shares (its mixins in ``queues.py``,
``keys.py`` and ``raising.py`` read these): the lock, the C pointers, the
closed check.  Internal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ._lib import ffi
from .errors import ClosedError, error_for

__all__ = ["ContextBase", "as_data", "c_callback"]

_F = TypeVar("_F", bound=Callable[..., Any])


def c_callback(fn: _F) -> _F:
    """``@ffi.def_extern()`` with its type kept (cffi has no type hints): makes
    ``fn`` the ``extern "Python"`` callback of the same name."""
    ffi.def_extern(name=fn.__name__)(fn)
    return fn


def as_data(data: object, what: str = "data") -> bytes:
    """``data`` as bytes (bytes-like accepted), else a TypeError naming ``what``."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}")


class ContextBase:
    """The state of one C connection (``mpy_conn``): set by ``Context.__init__``."""

    name: str
    max_datagram: int
    _lock: threading.Lock
    _conn: Any  # mpy_conn *, removed from __dict__ by close()
    _ssl: Any   # &conn->ssl, None once closed
    _inq: Any
    _outq: Any
    _peek: Any  # const unsigned char **, scratch for peeks
    _peeked: Any  # the same, as char ** (ffi.unpack makes bytes of a char *)
    _mtu: int   # what set_mtu set (0: none), as the C connection has it

    def _c(self) -> Any:
        """The live ``mbedtls_ssl_context *`` (ClosedError after ``close()``)."""
        if self._ssl is None:
            raise ClosedError(f"{self.name}: the context is closed")
        return self._ssl

    def _call(self, fn: Callable[..., int], *args: Any) -> int:
        """``fn(ssl, *args)`` under the lock, on the live context: the int it returns."""
        with self._lock:
            return int(fn(self._c(), *args))

    def _raise_for(self, rc: int, call: str) -> None:
        """The raising forms' rule: the ``MbedTLSError`` for a negative ``rc``, naming ``call``."""
        if rc < 0:
            raise error_for(rc, f"{self.name}: {call}")
