"""What every part of ``Context`` shares (its mixins in ``queues.py``,
``keys.py`` and ``raising.py`` read these): the lock, the C pointers, the
closed check.  Internal."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from ._lib import ffi
from ._owned import COwner
from .errors import ClosedError, error_for

__all__ = ["ContextBase", "as_data", "c_callback", "defer", "pending", "run_deferred"]

_F = TypeVar("_F", bound=Callable[..., Any])


def c_callback(fn: _F) -> _F:
    """``@ffi.def_extern()`` with its type kept (cffi has no type hints): makes
    ``fn`` the ``extern "Python"`` callback of the same name."""
    ffi.def_extern(name=fn.__name__)(fn)
    return fn


# Python callbacks that C callbacks (key export, debug output) asked for,
# per thread, in order.  They run under a context's lock otherwise, where a
# callback that calls its own context (``close()``, ``.state``, ``keylog =
# None``) would wait for itself forever; so the C callback only queues them
# and the context call runs them once it has released its lock (README
# "Callbacks").  The hot paths test ``if pending:``, one global read.
pending: dict[int, list[tuple[Callable[..., object], tuple[Any, ...]]]] = {}


def defer(fn: Callable[..., object], *args: Any) -> None:
    """Run ``fn(*args)`` when this thread's context call returns (from a C callback)."""
    ident = threading.get_ident()
    entries = pending.get(ident)
    if entries is None:
        if len(pending) >= 64:  # threads that ended with lines queued (a GC'd context's)
            alive = {t.ident for t in threading.enumerate()}
            for gone in [i for i in pending if i not in alive]:
                del pending[gone]
        entries = pending[ident] = []
    entries.append((fn, args))


def run_deferred() -> None:
    """Run what C callbacks queued in this thread, oldest first; called with no
    context lock held.  An exception in one is printed and the rest still run,
    as an exception in a C callback always was (it cannot reach the caller)."""
    entries = pending.pop(threading.get_ident(), None)
    while entries:
        fn, args = entries.pop(0)
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - reported, as cffi reports callback errors
            print(f"mbedtls-py: exception in callback {fn!r} (ignored):", file=sys.stderr)
            traceback.print_exc()


def as_data(data: object, what: str = "data") -> bytes:
    """``data`` as bytes (bytes-like accepted), else a TypeError naming ``what``."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}")


class ContextBase(COwner):
    """The state of one C connection (``mpy_conn``): set by ``Context.__init__``."""

    _C_FIELDS = ("_lock", "_conn", "_ssl", "_inq", "_outq", "name")

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
        """``fn(ssl, *args)`` under the lock, on the live context: the int it
        returns (then the callbacks it queued, outside the lock)."""
        with self._lock:
            rc = int(fn(self._c(), *args))
        if pending:
            run_deferred()
        return rc

    def _raise_for(self, rc: int, call: str) -> None:
        """The raising forms' rule: the ``MbedTLSError`` for a negative ``rc``, naming ``call``."""
        if rc < 0:
            raise error_for(rc, f"{self.name}: {call}")
