"""The simulated network's clock (a :class:`VirtualClock` that tells the
network when it moves) and the derivation of its per-link and per-endpoint
seeds from the network seed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ..bindings.context import VirtualClock
from ..wire.vtime import LIMIT_MS, check_due

__all__ = ["_NetClock", "_derive"]


def _derive(seed: bytes, *parts: str) -> bytes:
    h = hashlib.sha256(b"mbedtls-py/net")
    for p in (seed, *(x.encode() for x in parts)):
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return h.digest()


class _NetClock(VirtualClock):
    """The network's clock: a VirtualClock that tells the network when it moves.

    It keeps the time in a Python int too (``_now``): the network reads the
    clock several times per datagram, and only Python ever writes it (the C
    timers only read ``_ptr.now_ms``)."""

    def __init__(self, on_change: Callable[[int], None]) -> None:
        self._on_change: Callable[[int], None] | None = None
        self._now = 0
        super().__init__(0)
        self._on_change = on_change

    @property
    def now_ms(self) -> int:
        """The current virtual time in milliseconds."""
        return self._now

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        VirtualClock.now_ms.fset(self, value)  # type: ignore[attr-defined]  # checks, writes C
        self._now = value
        if self._on_change is not None:
            self._on_change(value)

    def _forward(self, value: int) -> None:
        """Move to ``value``, an int the network took from its schedule or a
        context's timer (never behind the clock): the setter without its type
        checks; the limit is checked (a link delay changed after the link was
        made may have pushed a delivery past it)."""
        if not value < LIMIT_MS:
            check_due(value, "the network's next event")
        self._ptr.now_ms = value
        self._now = value
        if self._on_change is not None:
            self._on_change(value)
