"""The wall-clock time Mbed TLS reads (``mbedtls_time``).

It appears in ClientHello/ServerHello randoms (gmt_unix_time), cookie
timestamps and certificate validity checks.  Fixing it makes seeded runs
byte-identical.  It is process-wide, as in Mbed TLS.
"""

from __future__ import annotations

from ._lib import lib

__all__ = ["set_time", "get_time"]


def set_time(unix_seconds: int | None) -> None:
    """Fix the time Mbed TLS reads to ``unix_seconds``; ``None`` returns to the system clock."""
    if unix_seconds is None:
        lib.mpy_set_time(-1)
        return
    if isinstance(unix_seconds, bool) or not isinstance(unix_seconds, int) or unix_seconds < 0:
        raise ValueError("unix_seconds must be a non-negative int or None")
    lib.mpy_set_time(unix_seconds)


def get_time() -> int:
    """The time Mbed TLS currently reads, in Unix seconds."""
    return lib.mpy_get_time()
