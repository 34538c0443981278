"""A bounded event log for the servers: the last ``window`` events in memory,
exact counts by kind, and every event streamed to a sink (``--events``).

A server under a flood emits an event per hostile datagram; keeping them all
(with the datagram's bytes) would grow memory without bound.  The
window keeps what tests and reports look at; the counters stay exact; the
sink (a callback, e.g. writing JSON lines) sees everything.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

__all__ = ["EVENT_WINDOW", "DATAGRAM_HEX_MAX", "BoundedLog", "short_hex"]

#: Events kept in memory by a server (the rest only reach its ``on_event`` sink).
EVENT_WINDOW = 2_000
#: Bytes of a hostile datagram quoted in an event (its length is always given).
DATAGRAM_HEX_MAX = 64

T = TypeVar("T")


def short_hex(data: bytes, limit: int = DATAGRAM_HEX_MAX) -> str:
    """The first ``limit`` bytes of ``data`` as hex (``...`` when cut)."""
    return data[:limit].hex() + ("..." if len(data) > limit else "")


class BoundedLog(Generic[T]):
    """A list-like window of the last ``maxlen`` items plus exact counts by kind.

    Iteration, ``len`` and indexing see the window; ``total`` and ``counts``
    count everything ever appended.
    """

    def __init__(self, maxlen: int = EVENT_WINDOW,
                 kind: Callable[[T], str] | None = None) -> None:
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen must be a positive int, not {maxlen!r}")
        self._items: deque[T] = deque(maxlen=maxlen)
        self._kind = kind
        self.counts: Counter[str] = Counter()
        self.total = 0

    @property
    def maxlen(self) -> int:
        """How many items the window keeps."""
        return self._items.maxlen or 0

    def append(self, item: T) -> None:
        """Add ``item`` (the oldest one leaves the window when it is full)."""
        self._items.append(item)
        self.total += 1
        if self._kind is not None:
            counts, kind = self.counts, self._kind(item)
            counts[kind] = counts.get(kind, 0) + 1  # dict's get: Counter's += costs twice

    def clear(self) -> None:
        """Empty the window (the counts stay)."""
        self._items.clear()

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return list(self._items)[i]
        return self._items[i]

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return list(self._items) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"<BoundedLog {len(self._items)}/{self.maxlen} kept, {self.total} in all>"


def event_kind(ev: Any) -> str:
    """The ``event`` field of a server event."""
    return str(ev.event)
