"""What the server emits and what it needs: :class:`Event` (one step of the loop,
JSON-able) and the :class:`DatagramTransport` protocol a transport implements."""

from __future__ import annotations

import socket
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..bindings.context import RealClock, VirtualClock
from ..address import addr_str
from ..bindings.errors import error_name, rc_text

__all__ = ["Event", "DatagramTransport", "Address", "SocketHook", "transport_id"]


Address = Hashable


class DatagramTransport(Protocol):
    """What ``DTLSServer`` needs from a socket."""

    @property
    def clock(self) -> VirtualClock | RealClock:  # read-only here: either kind fits
        ...

    def sendto(self, data: bytes, addr: Any) -> None: ...

    def recvfrom(self) -> tuple[bytes, Any] | None: ...


class SocketHook(Protocol):
    """The sample's per-client socket, as the server drives it
    (:class:`~mbedtls_py.udp.sample_sockets.SampleSockets`): ``accept`` is
    ``mbedtls_net_accept``'s ``connect()``, ``release_from`` is
    ``mbedtls_net_free`` (returns what the socket still held, with senders)."""

    @property
    def peer(self) -> Any: ...

    def accept(self, peer: Any) -> None: ...

    def release_from(self) -> list[tuple[bytes, Any]]: ...


def transport_id(addr: Address) -> bytes:
    """What the sample binds its cookies to (``mbedtls_ssl_set_client_transport_id``
    with ``mbedtls_net_accept``'s ``client_ip``): the client's IP address, 4
    bytes for IPv4, 16 for IPv6, without the port.  An address that is no IP
    (the simulator's names) is used as its text."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0]).split("%")[0]
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                return socket.inet_pton(family, host)
            except OSError:
                pass
    return addr_str(addr).encode()


@dataclass(slots=True)
class Event:
    """One step of the server loop (JSON-able through ``to_dict``)."""

    t_ms: int
    event: str
    peer: Address | None = None  # the address object; text only in to_dict/str
    rc: int | None = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t_ms": self.t_ms, "event": self.event}
        if self.peer is not None:
            d["peer"] = addr_str(self.peer)
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
        peer = f" {addr_str(self.peer)}" if self.peer is not None else ""
        return f"{self.t_ms:>8} ms  {self.event:<16}{peer}{rc}  {self.note}".rstrip()

