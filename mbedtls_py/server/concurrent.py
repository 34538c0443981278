"""``ConcurrentServer``: many clients at once, no state before the cookie.

:class:`~mbedtls_py.server.server.DTLSServer` is the faithful model of upstream's
``dtls_server`` sample: one client at a time, so one silent client holds it
for the whole retransmission schedule.  ``ConcurrentServer`` (``serve
--concurrent``) is the other choice, built from the same pieces (events, the
handshake/read/echo/close steps, the first-flight policies, the deadlines):

* every datagram from an address without a connection goes to one shared
  *gate* context: Mbed TLS checks its cookie (``mbedtls_ssl_cookie``, bound to
  the address).  A ClientHello without a valid cookie gets a
  HelloVerifyRequest and the gate is reset: **no per-peer state**.  Anything
  that starts no handshake is reported (``ignored``) and forgotten.
* only a ClientHello with a valid cookie creates state: the gate context
  becomes that peer's connection (``accept``) and a fresh gate takes its place;
* at most ``max_peers`` connections (``busy`` for a cookie-verified peer
  beyond that), each with a bounded inbound queue (``max_queue`` datagrams),
  each dropped at its handshake deadline (``timeout``);
* closed connections' contexts are reset and reused (at most ``max_spare``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..bindings.config import Config
from ..bindings.context import Context
from ..bindings.errors import Err
from .eventlog import EVENT_WINDOW, short_hex
from ..address import addr_str
from .events import Address, DatagramTransport, Event
from .connection import Connection
from .server import DTLSServer
from .policies import Policy

__all__ = ["ConcurrentServer", "MAX_PEERS"]

#: Default bound on connections holding state at once.
MAX_PEERS = 64
_FLOW = (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE)


class ConcurrentServer(DTLSServer):
    """Per-peer contexts behind a stateless cookie gate (see the module docstring).

    Same interface as :class:`DTLSServer` (``poll``, ``next_deadline``,
    ``events``, ``served``, ``close``); needs a server ``Config`` with cookies on.
    """

    def __init__(self, config: Config, transport: DatagramTransport, *,
                 policy: Policy = "none", max_peers: int = MAX_PEERS, max_queue: int = 32,
                 max_spare: int = 8, rtt_ms: float = 100.0, linger_ms: float | None = None,
                 echo: bool = True, name: str = "server",
                 on_event: Callable[[Event], None] | None = None,
                 handshake_timeout_ms: float = 10_000.0,
                 event_window: int = EVENT_WINDOW) -> None:
        if config.endpoint == "server" and not config.cookies:
            raise ValueError("a concurrent server needs cookies (Config(..., cookies=True)): "
                             "without them a spoofed ClientHello would create state")
        if not isinstance(max_peers, int) or max_peers < 1:
            raise ValueError(f"max_peers must be a positive int, not {max_peers!r}")
        if not isinstance(max_queue, int) or not 1 <= max_queue <= 1024:
            raise ValueError(f"max_queue must be 1 .. 1024, not {max_queue!r}")
        self.max_peers = max_peers
        self.max_queue = max_queue
        self.max_spare = max(0, int(max_spare))
        super().__init__(config, transport, policy=policy, rtt_ms=rtt_ms, linger_ms=linger_ms,
                         echo=echo, name=name, on_event=on_event,
                         handshake_timeout_ms=handshake_timeout_ms, event_window=event_window)
        self.policy_handler.max_spare = self.max_spare  # closed contexts reused, bounded
        self._gate = self._conn  # DTLSServer's connection is our gate
        self.peers: dict[Address, Connection] = {}

    def _new_context(self) -> Context:
        return Context(self.config, clock=self.clock, name=self.name, max_queue=self.max_queue)

    def _fresh_conn(self) -> Connection:
        return Connection(self.policy_handler.fresh_context())

    # -- the loop --------------------------------------------------------------

    def poll(self) -> None:
        """Handle every datagram available now and every expired timer."""
        self.policy_handler.expire()
        for conn in list(self.peers.values()):
            if conn.ctx.timer_state() == 2:
                self._run(conn, self._advance)
            if conn.phase in ("handshake", "read") and self._now() >= conn.give_up_at(self.handshake_timeout_ms):
                self._run(conn, self._timed_out)
        while (item := self.transport.recvfrom()) is not None:
            self._dispatch(*item)

    def next_deadline(self) -> int | None:
        """The clock time at which ``poll`` must run again (``None``: only on input)."""
        times = [closed.until for closed in self.policy_handler.lingering.values()]
        for conn in self.peers.values():
            d = conn.ctx.timer_deadline()
            if d is not None:
                times.append(d)
            times.append(conn.give_up_at(self.handshake_timeout_ms))
        return int(min(times)) if times else None

    def _run(self, conn: Connection, step: Callable[[Connection], Any]) -> None:
        """Run one of DTLSServer's steps on ``conn``; forget the peer when it ended."""
        peer = conn.peer
        self._conn = conn
        try:
            step(conn)
        finally:
            self._conn = self._gate
        if conn.phase == "idle":  # reset: the connection is over
            self.peers.pop(peer, None)
            self.policy_handler.recycle(conn.ctx)

    def _dispatch(self, data: bytes, src: Address) -> None:
        if not self._acceptable_size(data, src):
            return
        conn = self.peers.get(src)
        # as in DTLSServer: only what authenticates under the old connection's keys
        if conn is None and self.policy_handler.take_late(src, data):
            return
        if conn is not None:
            if conn.phase == "closing":
                return  # freed with the connection, as the sample's socket does
            try:
                conn.ctx.push(data)
            except BufferError:
                self._emit("overflow", src, None, "per-peer queue full; datagram dropped",
                           size=len(data))
                return
            conn.datagrams += 1
            self._run(conn, self._advance)
            return
        self._through_gate(data, src)

    def _through_gate(self, data: bytes, src: Address) -> None:
        """Let Mbed TLS check the cookie on the shared gate context: state is kept
        only for a ClientHello whose cookie is valid for ``src``."""
        gate = self._gate
        ctx = gate.ctx
        if len(self.peers) >= self.max_peers:
            self._emit("busy", src, None, f"{self.max_peers} peers hold state; datagram "
                       "dropped without looking", size=len(data))
            return
        transport_id = addr_str(src).encode()
        ctx.set_client_transport_id(transport_id)
        ctx.push(data)
        rc = ctx.handshake()
        if rc == Err.SSL_HELLO_VERIFY_REQUIRED:
            self._flush(ctx, src)
            self._emit("hello_verify", src, rc, "stateless HelloVerifyRequest; no state kept")
            self._clear_gate(hello_verify_id=transport_id)
            return
        if rc in _FLOW and gate.holds_nothing():
            ctx.clear_queues()  # keep nothing (no reply either)
            self._emit("ignored", src, rc, "did not start a handshake; no state kept",
                       size=len(data), datagram=short_hex(data))
            self._clear_gate()
            return
        gate.peer, gate.datagrams = src, 1
        if rc not in _FLOW and rc != 0:
            # Rejected outright: report it through the first-flight policy; the
            # gate is reset (no state kept).
            self._flush(ctx, src)
            self._handshake_failed(gate, rc, True)
            return
        # The cookie was valid: this context is now the peer's connection.
        self._flush(ctx, src)
        gate.phase, gate.started_ms = "handshake", self._now()
        self.peers[src] = gate
        self._gate = self._conn = self._fresh_conn()
        self._emit("accept", src, 0, f"cookie verified; {len(self.peers)} peer(s) hold state")
        if rc == 0:  # not expected after one flight, but handled as DTLSServer would
            self._emit("handshake", src, 0, f"{ctx.ciphersuite}")
            gate.phase = "read"
            self._run(gate, self._advance)

    def _clear_gate(self, hello_verify_id: bytes | None = None) -> None:
        self._gate.reset(hello_verify_id)
        self._gate.peer, self._gate.phase, self._gate.datagrams = None, "idle", 0

    def close(self) -> None:
        """Free every context the server holds."""
        for conn in self.peers.values():
            conn.ctx.close()
        self.peers.clear()
        self._conn = self._gate
        super().close()
