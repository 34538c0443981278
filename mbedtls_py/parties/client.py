"""An echo client for simulated scenarios, like ``openssl s_client``: it
reports its steps as events."""

from __future__ import annotations

from typing import Any

from ..bindings.config import Config
from ..bindings.context import Context
from ..bindings.errors import Err
from ..sim import Network
from .party import _FLOW, _Party

__all__ = ["Client", "REQUEST"]

REQUEST = b"GET / HTTP/1.0\r\n\r\n"


class Client(_Party):
    """A client like ``echo "GET / HTTP/1.0" | openssl s_client -dtls1_2``:
    handshake, send the request, send close_notify at once (stdin EOF), read
    the echo until the server's close_notify.

    It starts at ``start_ms``, or, with ``after``, ``gap_ms`` after that
    client is done (at the latest at ``fallback_ms``): clients in sequence.
    ``move_to`` names a second socket it sends from once the handshake is
    over (an address change, for connection IDs).  Events: ``start``,
    ``handshake``, ``write``, ``close_notify``, ``read``, ``done``,
    ``error``; ``events=False`` keeps none (a client nobody asks about, as in
    ``repro``: its steps cost no objects).
    """

    def __init__(self, net: Network, name: str, config: Config, *, server: str = "server",
                 request: bytes = REQUEST, start_ms: int = 0, after: Client | None = None,
                 gap_ms: int = 100, fallback_ms: int = 10_000, hostname: str | None = None,
                 cid: bytes | None = None, move_to: str | None = None,
                 events: bool = True) -> None:
        super().__init__(net, name, events)
        self.server, self.request = server, request
        self.start_ms, self.after, self.gap_ms, self.fallback_ms = start_ms, after, gap_ms, \
            fallback_ms
        self.sock = net.socket(name)
        self.sockets = [self.sock]
        self.moved = net.socket(move_to) if move_to else None
        if self.moved is not None:
            self.sockets.append(self.moved)
        self.ctx = Context(config, clock=net.clock, name=name)
        if hostname:
            self.ctx.set_hostname(hostname)
        if cid is not None:
            self.ctx.set_cid(True, cid)
        self.phase = "waiting"  # waiting | handshake | reading | done | failed
        self.echo = b""
        self.rc: int | None = None
        self.completed = False
        self.done_ms: int | None = None

    @property
    def done(self) -> bool:
        """Finished: served, closed or failed."""
        return self.phase in ("done", "failed")

    @property
    def delivered(self) -> bool:
        """The request went through and its echo came back."""
        return self.echo == self.request

    def _start_ms(self) -> int:
        if self.after is None:
            return self.start_ms
        t = self.fallback_ms
        if self.after.done_ms is not None:
            t = min(t, self.after.done_ms + self.gap_ms)
        return max(t, self.start_ms)

    def next_deadline(self) -> int | None:
        """When to poll again (``None``: only on input)."""
        if self.phase == "waiting":
            return self._start_ms()
        if self.phase == "handshake":
            return self.ctx.timer_deadline()
        return None

    def _end(self, phase: str, rc: int | None = None) -> None:
        self.phase, self.done_ms = phase, self.net.clock.now_ms
        if rc is not None:
            self.rc = rc
            self._emit("error", self.server, rc, "client failed")
        else:
            self._emit("done", self.server, 0, "server closed the connection")

    def poll(self) -> None:
        """Take what arrived and run the client as far as it goes."""
        if self.phase == "waiting":
            if self.net.clock.now_ms < self._start_ms():
                return
            self.phase = "handshake"
            self._emit("start", self.server, None, "first flight")
        ctx = self.ctx
        for sock in self.sockets:
            while (item := sock.recvfrom()) is not None:
                if not self.done:
                    ctx.push(item[0])
        if self.phase == "handshake":
            rc = ctx.handshake()
            if rc == 0:
                self.completed = True
                if self.keeps_events:
                    self._emit("handshake", self.server, 0, str(self.ctx.ciphersuite))
                self._emit("write", self.server, self.ctx.write(self.request))
                self._emit("close_notify", self.server, self.ctx.close_notify())
                self.phase = "reading"
            elif rc not in _FLOW:
                self._end("failed", rc)
        if self.phase == "reading":
            buf = bytearray(4096)
            while True:
                rc = self.ctx.read_into(buf)
                if rc > 0:
                    self.echo += bytes(buf[:rc])
                    self._emit("read", self.server, rc, "echo")
                    continue
                if rc == Err.SSL_PEER_CLOSE_NOTIFY or rc == 0:
                    self._end("done")
                elif rc not in _FLOW:
                    self._end("failed", rc)
                break
        sock = self.moved if self.moved is not None and self.completed else self.sock
        for d in ctx.drain():
            sock.sendto(d, self.server)

    def outcome(self) -> dict[str, Any]:
        """``code`` (0 done, the error, or ``SSL_WANT_READ`` still waiting),
        ``completed`` (handshake), ``delivered`` (echo came back)."""
        code = self.rc if self.rc is not None else (0 if self.done else int(Err.SSL_WANT_READ))
        return {"codes": [int(code)], "completed": self.completed, "delivered": self.delivered}

    def close(self) -> None:
        """Free the context."""
        self.ctx.close()
