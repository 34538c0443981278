"""The clocks a ``Context``'s DTLS timer reads: ``VirtualClock`` (owned by the
harness, shared by every context of a simulated network) and ``RealClock``."""

from __future__ import annotations

from typing import Any

from ._lib import ffi, lib
from ._owned import COwner
from ..wire.vtime import check_ms

__all__ = ["VirtualClock", "RealClock"]



class VirtualClock(COwner):
    """Milliseconds owned by the harness.  Timers of every context that shares
    this clock read it directly in C (no Python callback)."""

    _C_FIELDS = ("_ptr",)

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
        # Far below 2**63 ms: timers compute in signed 64-bit (wire/vtime.py).
        if isinstance(value, bool) or not isinstance(value, int):  # ValueError, as it always was
            raise ValueError(f"virtual time must be an int of milliseconds, not {value!r}")
        check_ms(value, "virtual time")
        if value < self._ptr.now_ms:
            raise ValueError(f"virtual time cannot go back ({value} < {self._ptr.now_ms})")
        self._ptr.now_ms = value

    def advance(self, ms: int) -> int:
        """Move time forward by ``ms``; return the new time."""
        check_ms(ms, "advance", integer=True)
        self.now_ms = self._ptr.now_ms + ms
        return int(self._ptr.now_ms)

    @property
    def c_pointer(self) -> Any:
        """The C ``mpy_clock *`` (cffi cdata) for C code outside the bindings
        that reads this clock itself (the in-process GnuTLS peer reads its
        ``now_ms``); valid while this clock is referenced."""
        return self._ptr

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

