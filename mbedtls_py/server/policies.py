"""How :class:`~mbedtls_py.server.server.DTLSServer` handles a failed first
flight and the connection that just closed: the policies, as a mixin.

Policies (what to do when the first datagram of a new connection makes the
handshake fail, the seed's -0x7700):

``none``
    historical behaviour: the failure is reported as an error.
``lenient``
    upstream 3.6.6's workaround: ``SSL_UNEXPECTED_MESSAGE`` during a
    handshake is taken as harmless, whatever caused it (hides real errors).
``linger``
    after closing, the old connection's context lingers for a window and is
    fed the previous peer's datagrams that authenticate under its keys, so a
    late close_notify is consumed as ``SSL_PEER_CLOSE_NOTIFY`` by the
    connection it belongs to; a new client is served at once by a fresh
    context.  Default window: the round trip measured during that
    connection's handshake plus the peer's retransmission timeout
    (``peer_timeout_ms``, default 1000 ms, Mbed TLS's and OpenSSL's initial
    timer); the boundary is inclusive (a datagram arriving at exactly
    close + window is still the old connection's).  Every ``linger`` event
    carries the window used.
``classify``
    when the first flight fails, staleness must be PROVEN: the handshake
    returned exactly ``SSL_UNEXPECTED_MESSAGE`` (``SSL_BAD_HS_CLIENT_HELLO``
    on Mbed TLS 2.x, whose server reads the ClientHello record itself), the
    sender is a peer whose connection closed within ``recent_ms``, and every
    record of the datagram authenticates under that closed connection's keys
    (``mbedtls_ssl_check_record`` on its retained context returns 0), or the
    datagram is a byte-identical replay of one that authenticated while the
    connection was open.  Only then is it dropped (with the proof in the
    event); anything else is reported, whatever it looks like.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ..bindings.context import Context
from ..bindings.errors import Err
from ..wire.records import Datagram
from .eventlog import BoundedLog, short_hex
from .events import Address, Event
from .staleness import _RETAINED_MAX, ClosedConnection, classify_datagram

if TYPE_CHECKING:
    from .server import _Conn

__all__ = ["POLICIES", "Policy", "PEER_TIMEOUT_MS", "PolicyHandling", "as_policy"]


Policy = Literal["none", "lenient", "linger", "classify"]


POLICIES: tuple[str, ...] = ("none", "lenient", "linger", "classify")

_BY_NAME: dict[str, Policy] = {"none": "none", "lenient": "lenient", "linger": "linger",
                               "classify": "classify"}


def as_policy(name: str) -> Policy:
    """``name`` as a :data:`Policy`; ValueError if it names none."""
    policy = _BY_NAME.get(name)
    if policy is not None:
        return policy
    raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {name!r}")


# The peer's initial retransmission timeout: Mbed TLS's
# MBEDTLS_SSL_DTLS_TIMEOUT_DFL_MIN and OpenSSL's DTLS timer both start at 1 s.
PEER_TIMEOUT_MS = 1000.0


class PolicyHandling:
    """The policy half of ``DTLSServer`` (a mixin): the state it uses is set up
    by ``DTLSServer.__init__``."""

    policy: Policy
    linger_ms: float | None
    rtt_ms: float
    peer_timeout_ms: float
    recent_ms: float
    _conn: _Conn
    _lingering: dict[Address, ClosedConnection]
    _closed: dict[Address, ClosedConnection]
    _spare: list[Context]
    errors: BoundedLog[Event]
    dropped: BoundedLog[Event]
    _emit: Callable[..., Event]
    _flush: Callable[[Context, Address], None]
    _parse: Callable[[bytes], Datagram]
    _new_context: Callable[[], Context]
    _now: Callable[[], int]
    _release_socket: Callable[[], None]
    _report_freed: Callable[[], None]
    _freed: list[tuple[bytes, Address]]
    discarded: int

    def linger_window(self, conn_rtt_ms: float | None = None) -> tuple[float, str]:
        """(window in ms, how it was chosen) for a connection whose measured
        round trip is ``conn_rtt_ms`` (``None``: not measured)."""
        if self.linger_ms is not None:
            return self.linger_ms, "set by the user"
        rtt, src = ((conn_rtt_ms, "measured") if conn_rtt_ms is not None
                    else (self.rtt_ms, "estimated"))
        return (rtt + self.peer_timeout_ms,
                f"{src} RTT {rtt:g} ms + peer retransmission timeout {self.peer_timeout_ms:g} ms")

    def _handshake_failed(self, conn: _Conn, rc: int, first_flight: bool) -> None:
        self._release_socket()  # goto reset first; the report comes after
        ctx, peer = conn.ctx, conn.peer
        bad = ctx.last_datagram() or b""
        stale_candidate = first_flight and conn.datagrams == 1
        if self.policy == "lenient" and rc == Err.SSL_UNEXPECTED_MESSAGE:
            self._drop("lenient: UNEXPECTED_MESSAGE taken as harmless", peer, rc, bad)
        elif self.policy == "classify" and stale_candidate:
            verdict = classify_datagram(self._parse(bad), peer, rc, self._closed)
            proof = {"check_rc": verdict.check_rc, "proof": verdict.reason}
            if verdict.stale:
                self._drop(f"classify: dropped {verdict.kind}: {verdict.reason}", peer, rc, bad,
                           **proof)
            else:
                self._error(f"classify: real error: {verdict.kind}: {verdict.reason}", peer, rc,
                            bad, **proof)
        else:
            self._error("handshake failed", peer, rc, bad)
        self._reset(linger=False)

    def _error(self, note: str, peer: Address, rc: int, bad: bytes, **extra: Any) -> None:
        ev = self._emit("error", peer, rc, note, datagram=short_hex(bad, 2048),
                        records=[repr(r) for r in self._parse(bad).records], **extra)
        self.errors.append(ev)

    def _drop(self, note: str, peer: Address, rc: int, bad: bytes, **extra: Any) -> None:
        ev = self._emit("drop", peer, rc, note, datagram=short_hex(bad, 2048),
                        records=[repr(r) for r in self._parse(bad).records], **extra)
        self.dropped.append(ev)

    def _finish(self, conn: _Conn) -> None:
        """End the connection: free its socket and reset (or let it linger)."""
        self._release_socket()
        peer = conn.peer
        queued, conn.socket_queue = conn.socket_queue, []
        linger = self.policy == "linger"
        closed = ClosedConnection(conn.ctx, 0, conn.accepted)
        keep = [linger and closed.prove(self._parse(d))[0] == 0 for d in queued]
        for data, kept in zip(queued, keep):
            if not kept:  # handed to the lingering context below otherwise
                self.discarded += 1
                self._emit("discard", peer, None, "arrived before the reset; freed with the "
                           "connection's socket", count=1, datagram=data.hex(),
                           records=[repr(r) for r in self._parse(data).records])
        self._reset(linger=linger, retain=self.policy == "classify")
        if linger:
            for data, kept in zip(queued, keep):
                if kept:
                    self._feed_lingering(peer, self._lingering[peer].ctx, data, queued=True)

    def _reset(self, linger: bool, retain: bool = False) -> None:
        self._release_socket()  # mbedtls_net_free, before the reset (the sample's order)
        conn = self._conn
        if (linger or retain) and conn.peer is not None:
            # Keep the old connection (its keys and replay window) for late
            # datagrams; serve the next client from a fresh (or recycled)
            # context at once.
            table = self._lingering if linger else self._closed
            old = table.pop(conn.peer, None)
            if old is not None:
                self._recycle(old.ctx)
            while len(table) >= _RETAINED_MAX:  # bounded: the oldest goes first
                addr = min(table, key=lambda a: table[a].until)
                self._recycle(table.pop(addr).ctx)
                if linger:
                    self._emit("linger_end", addr, None, "evicted: too many lingering")
            if linger:
                window, how = self.linger_window(conn.rtt_ms)
            else:
                window, how = self.recent_ms, "recent_ms"
            table[conn.peer] = ClosedConnection(conn.ctx, self._now() + window, conn.accepted)
            if linger:
                self._emit("linger", conn.peer, None,
                           f"old connection lingers {window:g} ms ({how})",
                           window_ms=window, window_rule=how)
            else:
                self._emit("retain", conn.peer, None, f"closed connection kept {window:g} ms "
                           "to authenticate late datagrams (check_record)", window_ms=window)
            conn.ctx = self._spare.pop() if self._spare else self._new_context()
            rc = 0
        else:
            rc = conn.ctx.session_reset()
            conn.ctx.clear_queues()
        self._emit("reset", conn.peer, rc)
        if linger or retain:
            conn.rtt_ms, conn.accepted = None, []
        conn.peer, conn.phase, conn.datagrams = None, "idle", 0
        if self._freed:
            self._report_freed()

    def _recycle(self, ctx: Context) -> None:
        ctx.session_reset()
        ctx.clear_queues()
        self._spare.append(ctx)

    def _feed_lingering(self, src: Address, ctx: Context, data: bytes,
                        queued: bool = False) -> None:
        """``queued``: it arrived before the reset (it sat in the connection's socket)."""
        ctx.push(data)
        rc = ctx.read_into(bytearray(16384))
        self._flush(ctx, src)
        what = [repr(r) for r in self._parse(data).records]
        if rc == Err.SSL_PEER_CLOSE_NOTIFY:
            note = "late close_notify consumed by the lingering connection"
        elif rc >= 0:
            note = f"late application data ({rc} bytes) consumed by the lingering connection"
        else:
            note = "late datagram consumed by the lingering connection"
        self._emit("linger_consumed", src, rc, note, datagram=data.hex(), records=what,
                   arrived_before_reset=queued)

    def _expire_lingering(self) -> None:
        now = self._now()
        # Inclusive windows: a datagram arriving at exactly ``until`` still
        # belongs to the old connection.
        for addr, old in list(self._lingering.items()):
            if now > old.until:
                del self._lingering[addr]
                self._recycle(old.ctx)
                self._emit("linger_end", addr, None, "linger window over")
        for addr, old in list(self._closed.items()):
            if now > old.until:
                del self._closed[addr]
                self._recycle(old.ctx)
