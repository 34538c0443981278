"""A one-connection server with connection IDs for simulated scenarios (the
client may change address)."""

from __future__ import annotations

from ..bindings.config import Config
from ..bindings.context import Context
from ..sim import Network
from .party import _FLOW, _Party

__all__ = ["CidServer"]


class CidServer(_Party):
    """One server connection with a connection ID: datagrams are routed to it
    whatever their source address, and answers go to the address of the
    latest datagram it processed (the client may move).  It echoes the
    request and closes.  Events as :class:`~mbedtls_py.server.DTLSServer`
    (``accept``, ``handshake``, ``read``, ``write``, ``close_notify``,
    ``error``, ``discard``) plus ``peer_moved``."""

    def __init__(self, net: Network, config: Config, *, name: str = "server",
                 cid: bytes = b"\x5e\x43\x1d\x00") -> None:
        super().__init__(net, name)
        self.sock = net.socket(name)
        self.sockets = [self.sock]
        self.ctx = Context(config, clock=net.clock, name=name)
        self.ctx.set_cid(True, cid)
        self.peer: str | None = None
        self.phase = "handshake"  # handshake | read | closed | failed

    def next_deadline(self) -> int | None:
        """The connection's DTLS timer while it runs."""
        return self.ctx.timer_deadline() if self.phase in ("handshake", "read") else None

    def poll(self) -> None:
        """Handle every datagram and an expired timer."""
        if self.phase in ("handshake", "read") and self.ctx.timer_state() == 2:
            self._advance()
        while (item := self.sock.recvfrom()) is not None:
            data, src = item
            if self.phase in ("closed", "failed"):
                self._emit("discard", src, None, "connection over")
                continue
            if self.peer is None:
                self.peer = src
                self._emit("accept", src, 0, "first datagram")
            self.ctx.push(data)
            self._advance()
            if src != self.peer and self.phase != "failed" and self.ctx.handshake_over:
                self._emit("peer_moved", src, None, f"from {self.peer}")
                self.peer = src

    def _flush(self) -> None:
        while (d := self.ctx.pop()) is not None:
            assert self.peer is not None
            self.sock.sendto(d, self.peer)

    def _advance(self) -> None:
        ctx = self.ctx
        if self.phase == "handshake":
            rc = ctx.handshake()
            self._flush()
            if rc in _FLOW:
                return
            if rc != 0:
                self.phase = "failed"
                self._emit("error", self.peer, rc, "handshake failed")
                return
            self._emit("handshake", self.peer, 0, str(ctx.ciphersuite))
            self.phase = "read"
        if self.phase == "read":
            buf = bytearray(16384)
            rc = ctx.read_into(buf)
            self._flush()
            if rc in _FLOW:
                return
            if rc <= 0:
                self._emit("read", self.peer, rc, "read ended")
                self.phase = "closed"
                return
            self._emit("read", self.peer, rc, "request")
            self._emit("write", self.peer, ctx.write(bytes(buf[:rc])))
            self._emit("close_notify", self.peer, ctx.close_notify())
            self._flush()
            self.phase = "closed"

    def close(self) -> None:
        """Free the context."""
        self.ctx.close()
