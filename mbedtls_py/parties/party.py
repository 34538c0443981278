"""What every party of a simulated scenario has, and how its outcome is read
off its events.

Every party has ``name``, ``events`` (a list of
:class:`mbedtls_py.server.Event`), ``on_event`` (called with each event as
it happens) and ``poll()``/``next_deadline()`` for
:meth:`Network.add_process`.  :class:`~mbedtls_py.server.DTLSServer` has
all of these already.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..bindings.errors import Err, as_err
from ..server import Event
from ..sim import Network

__all__ = ["party_outcome", "reported_errors"]

_FLOW = (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE)


class _Party:
    name: str

    def __init__(self, net: Network, name: str, events: bool = True) -> None:
        self.net, self.name = net, name
        self.events: list[Event] = []
        self.on_event: Callable[[Event], None] | None = None
        self.keeps_events = events

    def _emit(self, kind: str, peer: str | None = None, rc: int | None = None,
              note: str = "") -> None:
        if not self.keeps_events:
            return
        ev = Event(self.net.clock.now_ms, kind, peer, None if rc is None else as_err(rc), note)
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)


def reported_errors(events: list[Any]) -> list[int]:
    """Error codes a server reported in its events: ``error`` events, and
    reads or writes that failed other than by the peer's close_notify
    (``drop`` events are errors a policy hid: not reported)."""
    out = []
    for e in events:
        rc = getattr(e, "rc", None)
        if rc is None:
            continue
        if e.event == "error" or (e.event in ("read", "write") and rc < 0
                                  and rc != Err.SSL_PEER_CLOSE_NOTIFY):
            out.append(int(rc))
    return out


def party_outcome(party: Any) -> dict[str, Any]:
    """A party's outcome: its own ``outcome()`` when it has one, else (a
    server) the errors it reported and how many handshakes it completed."""
    own = getattr(party, "outcome", None)
    if callable(own):
        return dict(own())
    codes = reported_errors(party.events)
    return {"codes": codes or [0], "completed": None, "delivered": None}
