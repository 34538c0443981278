"""What the server emits and what it needs: :class:`Event` (one step of the loop,
JSON-able) and the :class:`DatagramTransport` protocol a transport implements."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..context import RealClock, VirtualClock
from ..errors import error_name, rc_text

__all__ = ["Event", "DatagramTransport", "Address"]


Address = Hashable


class DatagramTransport(Protocol):
    """What ``DTLSServer`` needs from a socket."""

    @property
    def clock(self) -> VirtualClock | RealClock:  # read-only here: either kind fits
        ...

    def sendto(self, data: bytes, addr: Any) -> None: ...

    def recvfrom(self) -> tuple[bytes, Any] | None: ...


@dataclass(slots=True)
class Event:
    """One step of the server loop (JSON-able through ``to_dict``)."""

    t_ms: int
    event: str
    peer: str | None = None
    rc: int | None = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t_ms": self.t_ms, "event": self.event}
        if self.peer is not None:
            d["peer"] = self.peer
        if self.rc is not None:
            d["rc"] = int(self.rc)
            if self.rc < 0:
                d["rc_hex"] = rc_text(self.rc)
                d["rc_name"] = error_name(self.rc)
        if self.note:
            d["note"] = self.note
        d.update(self.data)
        return d

    def __str__(self) -> str:
        rc = ""
        if self.rc is not None:
            rc = f" rc={rc_text(self.rc)}"
        peer = f" {self.peer}" if self.peer is not None else ""
        return f"{self.t_ms:>8} ms  {self.event:<16}{peer}{rc}  {self.note}".rstrip()

