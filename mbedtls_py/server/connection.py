"""A server connection (one reusable context and what the loop knows about
its peer) and the parse-once cache of the datagrams the server looks at."""

from __future__ import annotations

from ..bindings.context import Context, reset_after_hello_verify
from ..wire.records import Datagram, parse_datagram
from .events import Address

__all__ = ["Connection", "ParseCache"]


class Connection:
    """The server's current connection (one reusable context, as in the sample)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.peer: Address | None = None
        self.phase = "idle"  # idle | handshake | read | closing
        self.datagrams = 0
        self.started_ms = 0
        self.close_at = 0
        # Datagrams from the peer while closing: they sit in the connection's
        # socket, which the sample frees (mbedtls_net_free) with the connection.
        self.socket_queue: list[bytes] = []
        # Evidence kept for linger/classify: digests of datagrams that
        # authenticated after the handshake, and the round trip measured from
        # a server flight to the peer's next datagram.
        self.accepted: list[bytes] = []
        self.flight_sent: tuple[Address, int] | None = None  # (to whom, when)
        self.rtt_ms: float | None = None

    def reset(self, hello_verify_id: bytes | None = None) -> int:
        """Reset the context for the next ClientHello and forget its queued
        input; after a HelloVerifyRequest (``hello_verify_id``: the client's
        transport id) through the bindings' ``reset_after_hello_verify``."""
        rc = (self.ctx.session_reset() if hello_verify_id is None
              else reset_after_hello_verify(self.ctx, hello_verify_id))
        self.ctx.clear_queues()
        return rc

    def give_up_at(self, timeout_ms: float) -> float:
        """When a peer that makes no progress is dropped."""
        return self.started_ms + timeout_ms

    def holds_nothing(self) -> bool:
        """The handshake still waits for a first ClientHello and has sent
        nothing (no timer): the datagram moved nothing forward."""
        return self.ctx.state in ("HELLO_REQUEST", "CLIENT_HELLO") \
            and self.ctx.timer_deadline() is None


class ParseCache:
    """Parse a datagram once: every later look at it (linger proof,
    classification, the event's record list) reuses the result; the last
    ``size`` datagrams are remembered (oldest forgotten first)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._parsed: dict[bytes, Datagram] = {}

    def __call__(self, data: bytes) -> Datagram:
        dgram = self._parsed.get(data)
        if dgram is None:
            if len(self._parsed) >= self.size:
                self._parsed.pop(next(iter(self._parsed)))
            dgram = self._parsed[data] = parse_datagram(data)
        return dgram
