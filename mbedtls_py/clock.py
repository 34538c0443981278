"""The clocks a ``Context``'s DTLS timer reads: ``VirtualClock`` (owned by the
harness, shared by every context of a simulated network) and ``RealClock``."""

from __future__ import annotations

from typing import Any

from ._lib import ffi, lib

__all__ = ["VirtualClock", "RealClock"]

# Virtual time stays far below 2**63 ms: timers compute in signed 64-bit.
_MAX_VIRTUAL_MS = 1 << 62


class VirtualClock:
    """Milliseconds owned by the harness.  Timers of every context that shares
    this clock read it directly in C (no Python callback)."""

    def __init__(self, now_ms: int = 0) -> None:
        # C-owned and reference-counted: a context's timer retains its clock.
        ptr = lib.mpy_clock_new()
        if ptr == ffi.NULL:
            raise MemoryError("could not allocate a clock")
        self._ptr = ffi.gc(ptr, lib.mpy_ref_release)
        self.now_ms = now_ms

    @property
    def now_ms(self) -> int:
        """The current virtual time in milliseconds."""
        return int(self._ptr.now_ms)

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value < _MAX_VIRTUAL_MS:
            raise ValueError("virtual time must be an int 0 .. 2**62-1 (milliseconds)")
        if value < self._ptr.now_ms:
            raise ValueError(f"virtual time cannot go back ({value} < {self._ptr.now_ms})")
        self._ptr.now_ms = value

    def advance(self, ms: int) -> int:
        """Move time forward by ``ms``; return the new time."""
        if isinstance(ms, bool) or not isinstance(ms, int):
            raise TypeError(f"ms must be an int, not {type(ms).__name__}")
        self.now_ms = self._ptr.now_ms + ms
        return int(self._ptr.now_ms)

    def __repr__(self) -> str:
        return f"<VirtualClock {self.now_ms} ms>"


class RealClock:
    """The real monotonic clock (for contexts on real sockets)."""

    _ptr: Any = ffi.NULL

    @property
    def now_ms(self) -> int:
        """Milliseconds of the monotonic clock."""
        return int(lib.mpy_monotonic_ms())

    def __repr__(self) -> str:
        return "<RealClock>"

