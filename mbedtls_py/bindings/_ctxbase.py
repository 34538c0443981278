"""Helpers the bindings' classes share: ``as_data`` (bytes-like arguments),
``c_callback`` (typed ``extern "Python"`` callbacks), ``forward`` (a class's
method that is one of its parts'), and the per-thread queue
of Python callbacks that C callbacks defer (``defer``, ``pending``,
``run_deferred``).  Internal."""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from ._lib import ffi

__all__ = ["as_data", "c_callback", "defer", "forward", "pending", "run_deferred"]

_F = TypeVar("_F", bound=Callable[..., Any])
_P = ParamSpec("_P")
_R = TypeVar("_R")


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


def forward(part: str, method: Callable[Concatenate[Any, _P], _R]
            ) -> Callable[Concatenate[Any, _P], _R]:
    """A method that calls ``method`` on the part of its object named
    ``part`` (``Context._queues``, ``Config._options``...), with ``method``'s
    name, signature and docstring: ``peek = forward("_queues", DatagramQueues.peek)``.

    The method is written out with ``method``'s own parameters, as
    ``dataclasses`` writes ``__init__``: a forward taking ``*args, **kwargs``
    costs four times a hand-written one (Python 3.11), and some of these are
    on the datagram path."""
    code = method.__code__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS) or not part.isidentifier():
        raise TypeError(f"cannot forward {method.__qualname__} to {part!r}")
    names = code.co_varnames[1:code.co_argcount]
    kwonly = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    params = ", ".join(["self", *names, *(["*", *kwonly] if kwonly else [])])
    args = ", ".join([f"self.{part}", *names, *(f"{k}={k}" for k in kwonly)])
    namespace: dict[str, Any] = {"method": method}
    exec(f"def forwarded({params}):\n    return method({args})\n", namespace)  # noqa: S102
    forwarded = namespace["forwarded"]
    forwarded.__defaults__ = method.__defaults__
    forwarded.__kwdefaults__ = method.__kwdefaults__
    functools.update_wrapper(forwarded, method)
    # Named after the class whose body calls forward (its namespace has
    # __qualname__), so a bad call reads "Context.push() missing ...".
    owner = sys._getframe(1).f_locals.get("__qualname__")
    if isinstance(owner, str):
        forwarded.__qualname__ = f"{owner}.{method.__name__}"
    return forwarded  # type: ignore[no-any-return]
