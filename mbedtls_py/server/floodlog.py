"""A server's event stream for a file, with bounded growth under a flood.

A flood of hostile datagrams makes the server emit events at the flood's rate
(``accept``/``hello_verify``/``reset`` per cookie-less ClientHello, ``ignored``,
``error``, ``discard``, ``overflow``...): written whole, ``serve --events``
grew by 123-138 MB a minute at 3,000 datagrams/s (bench/flood.py).  :class:`FloodFilter`
sits between the server and the writer:

* events that belong to a completed handshake (``handshake``, ``read``, ...:
  :data:`ESTABLISHING`) are always written whole, and so are events without a
  peer (``listen``, ``stop``); after each, the same peer's next
  :data:`AFTER_HANDSHAKE` events of other kinds too (its ``reset``, a late
  close_notify's ``error``/``drop``/``discard``), so a peer that completed one
  handshake cannot flood the file;
* events of other peers (the flood's, and a client's first cookie round before
  it is known to be legitimate) are written whole up to ``per_kind`` per kind
  and second; the rest are counted, and one ``suppressed`` line per kind and
  second gives the exact count (``count``, with ``written`` whole);
* each such peer's last few events are kept (bounded), and written (marked
  ``deferred``) when it completes a handshake: a legitimate connection's
  events are always complete in the file, its cookie round included (a
  ``deferred`` line was already counted in its second's ``suppressed`` line).

So the file grows, per second, by at most ``per_kind`` whole events plus one
summary line per kind from peers without a handshake, plus the events of
connections that completed one (bounded by the server's handshake rate).
Counts by kind in the server's ``stop`` line stay exact.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

from .events import Address, Event

__all__ = ["FloodFilter", "ESTABLISHING", "PER_KIND_DEFAULT", "AFTER_HANDSHAKE"]

#: Whole events per kind and second from peers without a handshake (``--events-per-kind``).
PER_KIND_DEFAULT = 10
#: Kinds that show a peer completed a handshake (its events are then always written).
ESTABLISHING: tuple[str, ...] = ("handshake", "read", "write", "close_notify", "timeout",
                                 "linger", "linger_consumed", "linger_end", "retain")
_ESTABLISHING = frozenset(ESTABLISHING)
#: Events of other kinds written whole per peer after each of its ESTABLISHING events.
AFTER_HANDSHAKE = 32
_PEERS_MAX = 4096  # peers remembered as established (oldest forgotten first)
_KEPT_PEERS = 1024  # peers whose last events are kept while suppressed
# per peer, the last: a cookie round (accept, hello_verify, reset, a discard), the
# accept of the ClientHello with the cookie, one more
_KEPT_EVENTS = 6


class FloodFilter:
    """Call it with each server event; it calls ``write(event, deferred)`` for
    what goes to the file (``deferred``: written late, when its peer completed
    a handshake).  :meth:`close` writes the last summaries."""

    def __init__(self, write: Callable[[Event, bool], None],
                 per_kind: int = PER_KIND_DEFAULT) -> None:
        if not isinstance(per_kind, int) or per_kind < 1:
            raise ValueError(f"per_kind must be a positive int, not {per_kind!r}")
        self._write = write
        self.per_kind = per_kind
        self._second: int | None = None
        self._written: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        # peer -> events of other kinds it may still have written whole
        self._established: OrderedDict[Address, int] = OrderedDict()
        self._kept: OrderedDict[Address, deque[Event]] = OrderedDict()
        self.suppressed_total = 0

    def __call__(self, ev: Event) -> None:
        second = ev.t_ms // 1000
        if second != self._second:
            self._summarise()
            self._second = second
        peer = ev.peer
        if peer is None:
            self._write(ev, False)
            return
        if ev.event in _ESTABLISHING:
            self._established[peer] = AFTER_HANDSHAKE
            self._established.move_to_end(peer)
            if len(self._established) > _PEERS_MAX:
                self._established.popitem(last=False)
            for old in self._kept.pop(peer, ()):
                self._write(old, True)
            self._write(ev, False)
            return
        left = self._established.get(peer, 0)
        if left > 0:
            self._established[peer] = left - 1
            self._write(ev, False)
            return
        kind = ev.event
        if self._written.get(kind, 0) < self.per_kind:
            self._written[kind] = self._written.get(kind, 0) + 1
            self._write(ev, False)
            return
        self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        self.suppressed_total += 1
        kept = self._kept.get(peer)
        if kept is None:
            kept = self._kept[peer] = deque(maxlen=_KEPT_EVENTS)
            if len(self._kept) > _KEPT_PEERS:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(peer)
        kept.append(ev)

    def _summarise(self) -> None:
        if self._second is not None:
            for kind, n in sorted(self._suppressed.items()):
                written = self._written.get(kind, 0)
                self._write(Event(self._second * 1000, "suppressed", None, None,
                                  f"{n} more {kind} event(s) from peers without a handshake in "
                                  f"this second (the first {written} written whole)",
                                  {"kind": kind, "second": self._second, "count": n,
                                   "written": written}), False)
        self._written.clear()
        self._suppressed.clear()

    def close(self) -> None:
        """Write the summaries of the current second."""
        self._summarise()
        self._second = None
