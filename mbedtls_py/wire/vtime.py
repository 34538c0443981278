"""The one bound on virtual time and on every delay that feeds it.

Mbed TLS's timers (csrc/glue.c) compute in signed 64-bit milliseconds; a
clock pushed to 2**63 ms reads negative there, every timer reports "not
expired" and a handshake goes idle instead of retransmitting.  So virtual
times and delays stay below :data:`LIMIT_MS` (2**62 ms, about 146 million
years): the clock, the rule language, links, ``inject`` and ``release`` all
check with :func:`check_ms`, and the network checks the times it computes
from them (:func:`check_due`) before they reach the clock.
"""

from __future__ import annotations

import math

__all__ = ["LIMIT_MS", "check_ms", "check_due"]

LIMIT_MS = 1 << 62
"""Virtual times and delays are ``0 .. LIMIT_MS - 1`` milliseconds."""

_LIMIT_TEXT = "0 .. 2**62-1 ms (the virtual clock's limit)"


def check_ms(value: object, what: str, *, integer: bool = False) -> float:
    """``value`` when it is a number (an int with ``integer``) of milliseconds
    in ``0 .. 2**62-1``; else TypeError (not a number) or ValueError, both
    stating the limit."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        kind = "an int" if integer else "a number"
        raise TypeError(f"{what} must be {kind} of milliseconds, not {type(value).__name__}")
    if not (math.isfinite(value) and 0 <= value < LIMIT_MS):
        raise ValueError(f"{what} must be {_LIMIT_TEXT}, not {value!r}")
    return value


def check_due(when: float, what: str) -> None:
    """A time computed from checked values (now plus delays) must still be
    below the limit: ValueError saying so."""
    if not when < LIMIT_MS:
        raise ValueError(f"{what} at {when:g} ms would pass the virtual clock's limit, "
                         "2**62-1 ms; use shorter delays")
