"""Helpers the bindings' classes share: ``as_data`` (bytes-like arguments),
``c_callback`` (typed ``extern "Python"`` callbacks) and the per-thread queue
of Python callbacks that C callbacks defer (``defer``, ``pending``,
``run_deferred``).  Internal."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from ._lib import ffi

__all__ = ["as_data", "c_callback", "defer", "pending", "run_deferred"]

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
