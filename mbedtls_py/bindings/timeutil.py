"""The wall-clock time Mbed TLS reads (``mbedtls_time``).

It appears in ClientHello/ServerHello randoms (gmt_unix_time), cookie
timestamps and certificate validity checks.  Fixing it makes seeded runs
byte-identical.  The setting is per thread: Mbed TLS reads the time on the
thread that called into it, so networks driven on different threads each
see their own time (Mbed TLS itself has one process-wide ``mbedtls_time``;
the glue installs one that reads a thread-local value).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._lib import lib

__all__ = ["set_time", "get_time", "fixed_time", "time_fixed_at"]


def set_time(unix_seconds: int | None) -> None:
    """Fix the time Mbed TLS reads on this thread to ``unix_seconds``; ``None``
    returns this thread to the system clock."""
    if unix_seconds is None:
        lib.mpy_set_time(-1)
        return
    if isinstance(unix_seconds, bool) or not isinstance(unix_seconds, int) or \
            not 0 <= unix_seconds < 1 << 62:
        raise ValueError("unix_seconds must be a non-negative int or None")
    lib.mpy_set_time(unix_seconds)


def get_time() -> int:
    """The time Mbed TLS currently reads on this thread, in Unix seconds."""
    return int(lib.mpy_get_time())


def fixed_time() -> int | None:
    """This thread's setting: the fixed Unix time, or ``None`` for the system clock."""
    value = lib.mpy_get_fixed_time()
    return None if value < 0 else value


@contextmanager
def time_fixed_at(unix_seconds: int) -> Iterator[None]:
    """``set_time(unix_seconds)`` for the block, then this thread's previous
    setting (fixed or the system clock) again."""
    saved = fixed_time()
    set_time(unix_seconds)
    try:
        yield
    finally:
        set_time(saved)
