"""A non-blocking UDP socket (IPv4 or IPv6, loopback unless ``allow_remote``)
with the transport interface of :class:`mbedtls_py.server.server.DTLSServer`:
``sendto(data, addr)``, ``recvfrom() -> (data, addr) | None`` and ``clock`` (a
``RealClock``), plus ``wait(deadline_ms)`` (``select``)."""

from __future__ import annotations

import collections
import select
import socket
from typing import Any, TypeVar

from ..bindings.context import RealClock
from .addresses import MAX_UDP, _norm, addr_str, check_host, resolve

_T = TypeVar("_T", bound="UDPTransport")

__all__ = ["UDPTransport", "receive_one"]



# --------------------------------------------------------------------------- addresses
# --------------------------------------------------------------------------- transport


def receive_one(sock: socket.socket) -> tuple[bytes, Any] | None:
    """One datagram from a non-blocking socket as ``(data, addr)``, or ``None``
    when nothing is queued; ICMP errors reported on the socket are skipped."""
    for _ in range(64):
        try:
            data, addr = sock.recvfrom(MAX_UDP)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            continue
        return data, _norm(addr)
    return None


class UDPTransport:
    """A non-blocking UDP socket with the ``DTLSServer`` transport interface.

    ``host`` decides the family (IPv6 when it contains ``:`` or resolves only to
    IPv6); ``port=0`` picks a free one (see :attr:`address`).  Refuses
    non-loopback addresses unless ``allow_remote``.  ``recvfrom`` returns
    ``(data, addr)`` with IPv6 addresses as ``(host, port)`` or ``None`` when
    nothing is queued; ``sendto`` never raises for a lost datagram (errors are
    counted in :attr:`send_errors`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 allow_remote: bool = False, rcvbuf: int | None = None) -> None:
        check_host(host, allow_remote)
        family, sockaddr = resolve(host, port)
        self.family = family
        self.clock = RealClock()
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if rcvbuf:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self._sock.bind(sockaddr)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            raise
        self._pushback: collections.deque[tuple[bytes, Any]] = collections.deque()
        self.sent = 0
        self.received = 0
        self.send_errors: list[str] = []

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        name = self._sock.getsockname()
        return str(name[0]), int(name[1])

    @property
    def port(self) -> int:
        """The bound port."""
        return self.address[1]

    def _reading(self) -> socket.socket:
        """The socket datagrams are read from now (a subclass may switch it)."""
        return self._sock

    def fileno(self) -> int:
        """The descriptor datagrams are read from now (for ``select``)."""
        return self._reading().fileno()

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        return self._sock.fileno() < 0

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send one datagram; a failure is recorded, not raised (UDP may lose it anyway)."""
        try:
            self._sock.sendto(data, addr)
            self.sent += 1
        except OSError as exc:
            self.send_errors.append(f"sendto {addr_str(addr)}: {exc}")

    def recvfrom(self) -> tuple[bytes, Any] | None:
        """The next datagram and its sender, or ``None`` (never blocks)."""
        if self._pushback:
            return self._pushback.popleft()
        got = receive_one(self._reading())
        if got is not None:
            self.received += 1
        return got

    def pending(self) -> bool:
        """Whether a datagram can be read now."""
        if self._pushback:
            return True
        r, _, _ = select.select([self._reading()], [], [], 0)
        return bool(r)

    def wait(self, deadline_ms: float | None, max_wait_ms: float = 1000.0) -> bool:
        """Block until a datagram is readable or the clock reaches ``deadline_ms``
        (at most ``max_wait_ms``); return whether one is readable."""
        if self._pushback:
            return True
        timeout = max_wait_ms
        if deadline_ms is not None:
            timeout = min(timeout, deadline_ms - self.clock.now_ms)
        r, _, _ = select.select([self._reading()], [], [], max(0.0, timeout) / 1000.0)
        return bool(r)

    def discard_from(self, peer: Any) -> list[bytes]:
        """Take every datagram from ``peer`` queued now (in the kernel and pushed
        back) and return them; datagrams from others stay queued, in order."""
        keep: list[tuple[bytes, Any]] = []
        gone: list[bytes] = []
        for _ in range(100_000):  # bounded: a flood cannot keep us here
            item = self.recvfrom()
            if item is None:
                break
            if item[1] == peer:
                gone.append(item[0])
            else:
                keep.append(item)
        self._pushback.extend(keep)
        return gone

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self._sock.close()
        self._pushback.clear()

    def __enter__(self: _T) -> _T:  # a SampleSockets stays one
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<UDPTransport closed>"
        return f"<UDPTransport {addr_str(self.address)}>"


# --------------------------------------------------------------------------- server loop
# --------------------------------------------------------------------------- client
