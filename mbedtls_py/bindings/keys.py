"""Key export of a ``Context`` (opt-in): ``ExportedKeys``, the ``keylog``
callable that receives NSS key log lines, and ``export_keys_to()`` for
contexts created deep inside a scenario or server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ._connection import Connection
from ._ctxbase import c_callback, defer
from ._lib import ffi, lib

__all__ = ["ExportedKeys", "KeyLog", "export_keys_to", "KeyExport"]

@dataclass(frozen=True)
class ExportedKeys:
    """TLS 1.2 key material exported by Mbed TLS at the end of the handshake."""

    client_random: bytes
    server_random: bytes
    master_secret: bytes

    def nss_keylog_line(self) -> str:
        """The line for an NSS key log file (``SSLKEYLOGFILE``), e.g. for Wireshark."""
        return f"CLIENT_RANDOM {self.client_random.hex()} {self.master_secret.hex()}"


KeyLog = Callable[[str], object]
"""Receives one NSS key log line (``CLIENT_RANDOM <hex> <hex>``) per handshake."""

# The keylog of contexts created without one (see export_keys_to); off by default.
_default_keylog: ContextVar[KeyLog | None] = ContextVar("mbedtls_py_keylog", default=None)


@contextmanager
def export_keys_to(keylog: KeyLog | None) -> Iterator[None]:
    """Within the block (in this thread or task), every ``Context`` created
    without an explicit ``keylog`` exports its keys to ``keylog``: how a
    capture gets the keys of contexts made deep inside a scenario or server."""
    if keylog is not None and not callable(keylog):
        raise TypeError("keylog must be callable (e.g. list.append) or None")
    token = _default_keylog.set(keylog)
    try:
        yield
    finally:
        _default_keylog.reset(token)


@c_callback
def _mpy_keys_exported(conn: Any, arg: Any) -> None:  # C callback, under the context's lock
    keylog = ffi.from_handle(arg)
    keys = ExportedKeys(bytes(conn.client_random), bytes(conn.server_random),
                        bytes(conn.master_secret))
    defer(keylog, keys.nss_keylog_line())  # called once the lock is released


class KeyExport:
    """Key export of one connection (a part ``Context`` owns and forwards its
    ``keylog`` and ``exported_keys`` to): the callable, and the handle C holds
    to it while export is on."""

    __slots__ = ("_cx", "_keylog", "_keylog_handle")

    def __init__(self, connection: Connection) -> None:
        self._cx = connection
        self._keylog: KeyLog | None = None
        self._keylog_handle: Any = None

    @property
    def keylog(self) -> KeyLog | None:
        """``Context.keylog``."""
        return self._keylog

    @keylog.setter
    def keylog(self, keylog: KeyLog | None) -> None:
        if keylog is not None and not callable(keylog):
            raise TypeError("keylog must be callable (e.g. list.append) or None")
        cx = self._cx
        with cx.lock:
            cx.c()
            if keylog is None:
                lib.mpy_conn_export_keys(cx.conn, 0, ffi.NULL, ffi.NULL)
                handle = None
            else:
                handle = ffi.new_handle(keylog)
                lib.mpy_conn_export_keys(cx.conn, 1, lib._mpy_keys_exported, handle)
            self._keylog, self._keylog_handle = keylog, handle

    def exported_keys(self) -> ExportedKeys | None:
        """Key material of the last completed handshake (for NSS key logs), or
        ``None``: export is off (see :attr:`keylog`), no handshake completed
        since, or it was wiped.
        NotAvailableError on a variant without per-context key export (2.x)."""
        from .features import require

        require("KEY_EXPORT", "key export")
        cx = self._cx
        with cx.lock:
            cx.c()
            conn = cx.conn
            if not conn.keys_ready:
                return None
            return ExportedKeys(bytes(conn.client_random), bytes(conn.server_random),
                                bytes(conn.master_secret))

    def wipe(self) -> None:
        """With the lock held (``session_reset``): forget the old connection's
        secret, when export is on."""
        if self._keylog is not None:
            lib.mpy_conn_wipe_keys(self._cx.conn)
