"""The parties of simulated scenarios (``repro``, ``explore``, the tests): an
echo client that reports its steps as events, a one-connection server with
connection IDs, and how a party's outcome is read off its events.

Every party has ``name``, ``events`` (a list of
:class:`mbedtls_py.server.Event`), ``on_event`` (called with each event as
it happens) and ``poll()``/``next_deadline()`` for
:meth:`Network.add_process`.  :class:`~mbedtls_py.server.DTLSServer` has
all of these already.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Config
from ..context import Context
from ..errors import Err, as_err
from ..sim import Network
from ..server import Event

__all__ = ["Client", "CidServer", "REQUEST", "party_outcome", "reported_errors"]

REQUEST = b"GET / HTTP/1.0\r\n\r\n"
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
