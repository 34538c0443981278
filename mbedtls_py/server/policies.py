"""How :class:`~mbedtls_py.server.server.DTLSServer` handles a failed first
flight and the connection that just closed: the policies, as a strategy object
(:class:`PolicyHandler`) the server owns and calls.

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
from typing import Any, Literal

from ..bindings.context import Context
from ..bindings.errors import Err
from ..wire.records import Datagram
from .eventlog import BoundedLog, short_hex
from .events import Address, Event
from .staleness import RETAINED_MAX, ClosedConnection, classify_datagram

__all__ = ["POLICIES", "Policy", "PEER_TIMEOUT_MS", "PolicyHandler", "as_policy"]


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


class PolicyHandler:
    """The server's first-flight policy and the closed connections it keeps
    (lingering for ``linger``, retained for ``classify``'s proofs), with the
    spare contexts they are recycled into.  ``DTLSServer`` owns one and calls
    it; it holds its own state and reaches the server only through the
    callables it is built with: ``emit`` (an event), ``now`` (the clock, ms),
    ``flush`` (send what a context has queued), ``parse`` (the server's
    parse-once cache) and ``new_context`` (a fresh context)."""

    def __init__(self, policy: Policy, *, emit: Callable[..., Event], now: Callable[[], int],
                 flush: Callable[[Context, Address], None], parse: Callable[[bytes], Datagram],
                 new_context: Callable[[], Context], rtt_ms: float, linger_ms: float | None,
                 recent_ms: float | None, peer_timeout_ms: float, log_window: int,
                 max_spare: int | None = None) -> None:
        for what, value in (("linger_ms", linger_ms), ("recent_ms", recent_ms),
                            ("peer_timeout_ms", peer_timeout_ms)):
            if value is not None and not value >= 0:
                raise ValueError(f"{what} must be >= 0, not {value!r}")
        self.policy = policy
        self._emit, self._now, self._flush, self._parse = emit, now, flush, parse
        self._new_context = new_context
        self.rtt_ms = float(rtt_ms)  # the estimate used until a round trip is measured
        self.peer_timeout_ms = float(peer_timeout_ms)
        # None: per connection, measured round trip + peer_timeout_ms.
        self.linger_ms = None if linger_ms is None else float(linger_ms)
        # How long a closed connection is kept for the classifier's proof.
        self.recent_ms = (max(self.rtt_ms + self.peer_timeout_ms, 10 * self.rtt_ms)
                          if recent_ms is None else float(recent_ms))
        self.max_spare = max_spare  # None: unbounded (one per retained connection)
        self.lingering: dict[Address, ClosedConnection] = {}
        self.closed: dict[Address, ClosedConnection] = {}  # classify's proofs
        self.spare: list[Context] = []
        self.errors: BoundedLog[Event] = BoundedLog(log_window)
        self.dropped: BoundedLog[Event] = BoundedLog(log_window)
        self._buf = bytearray(16384)  # one read buffer for every lingering read

    def linger_window(self, conn_rtt_ms: float | None = None) -> tuple[float, str]:
        """(window in ms, how it was chosen) for a connection whose measured
        round trip is ``conn_rtt_ms`` (``None``: not measured)."""
        if self.linger_ms is not None:
            return self.linger_ms, "set by the user"
        rtt, src = ((conn_rtt_ms, "measured") if conn_rtt_ms is not None
                    else (self.rtt_ms, "estimated"))
        return (rtt + self.peer_timeout_ms,
                f"{src} RTT {rtt:g} ms + peer retransmission timeout {self.peer_timeout_ms:g} ms")

    def first_flight_failed(self, peer: Address, rc: int, bad: bytes,
                            stale_candidate: bool) -> None:
        """Report a failed handshake as the policy says: ``drop`` or ``error``."""
        if self.policy == "lenient" and rc == Err.SSL_UNEXPECTED_MESSAGE:
            self._drop("lenient: UNEXPECTED_MESSAGE taken as harmless", peer, rc, bad)
        elif self.policy == "classify" and stale_candidate:
            verdict = classify_datagram(self._parse(bad), peer, rc, self.closed)
            proof = {"check_rc": verdict.check_rc, "proof": verdict.reason}
            if verdict.stale:
                self._drop(f"classify: dropped {verdict.kind}: {verdict.reason}", peer, rc, bad,
                           **proof)
            else:
                self._error(f"classify: real error: {verdict.kind}: {verdict.reason}", peer, rc,
                            bad, **proof)
        else:
            self._error("handshake failed", peer, rc, bad)

    def _error(self, note: str, peer: Address, rc: int, bad: bytes, **extra: Any) -> None:
        ev = self._emit("error", peer, rc, note, datagram=short_hex(bad, 2048),
                        records=[repr(r) for r in self._parse(bad).records], **extra)
        self.errors.append(ev)

    def _drop(self, note: str, peer: Address, rc: int, bad: bytes, **extra: Any) -> None:
        ev = self._emit("drop", peer, rc, note, datagram=short_hex(bad, 2048),
                        records=[repr(r) for r in self._parse(bad).records], **extra)
        self.dropped.append(ev)

    def keep(self, peer: Address, ctx: Context, rtt_ms: float | None, accepted: list[bytes],
             linger: bool) -> Context:
        """Keep the old connection (its keys and replay window) for late
        datagrams: lingering (``linger``) or retained for ``classify``; returns
        the fresh (or recycled) context the next client is served from."""
        table = self.lingering if linger else self.closed
        old = table.pop(peer, None)
        if old is not None:
            self.recycle(old.ctx)
        while len(table) >= RETAINED_MAX:  # bounded: the oldest goes first
            addr = min(table, key=lambda a: table[a].until)
            self.recycle(table.pop(addr).ctx)
            if linger:
                self._emit("linger_end", addr, None, "evicted: too many lingering")
        if linger:
            window, how = self.linger_window(rtt_ms)
        else:
            window, how = self.recent_ms, "recent_ms"
        table[peer] = ClosedConnection(ctx, self._now() + window, accepted)
        if linger:
            self._emit("linger", peer, None, f"old connection lingers {window:g} ms ({how})",
                       window_ms=window, window_rule=how)
        else:
            self._emit("retain", peer, None, f"closed connection kept {window:g} ms "
                       "to authenticate late datagrams (check_record)", window_ms=window)
        return self.fresh_context()

    def fresh_context(self) -> Context:
        """A spare context, else a new one."""
        return self.spare.pop() if self.spare else self._new_context()

    def recycle(self, ctx: Context) -> None:
        """Reset ``ctx`` and keep it as a spare (closed when ``max_spare`` are kept)."""
        if self.max_spare is not None and len(self.spare) >= self.max_spare:
            ctx.close()
            return
        ctx.session_reset()
        ctx.clear_queues()
        self.spare.append(ctx)

    def take_late(self, src: Address, data: bytes) -> bool:
        """Feed ``data`` to ``src``'s lingering connection if it authenticates
        under that connection's keys (then True); anything else is new input."""
        lingering = self.lingering.get(src) if self.lingering else None
        if lingering is not None and lingering.prove(self._parse(data))[0] == 0:
            self.feed_lingering(src, lingering.ctx, data)
            return True
        return False

    def feed_lingering(self, src: Address, ctx: Context, data: bytes,
                       queued: bool = False) -> None:
        """``queued``: it arrived before the reset (it sat in the connection's socket)."""
        ctx.push(data)
        rc = ctx.read_into(self._buf)
        self._flush(ctx, src)
        kept = self.lingering.get(src)
        if kept is not None and kept.ctx is ctx:
            # a duplicate of it may follow, which the lingering context's
            # anti-replay refuses: it is still this connection's, not new input
            kept.remember(data)
        what = [repr(r) for r in self._parse(data).records]
        if rc == Err.SSL_PEER_CLOSE_NOTIFY:
            note = "late close_notify consumed by the lingering connection"
        elif rc >= 0:
            note = f"late application data ({rc} bytes) consumed by the lingering connection"
        else:
            note = "late datagram consumed by the lingering connection"
        self._emit("linger_consumed", src, rc, note, datagram=data.hex(), records=what,
                   arrived_before_reset=queued)

    def expire(self) -> None:
        """Recycle the kept connections whose window is over."""
        now = self._now()
        # Inclusive windows: a datagram arriving at exactly ``until`` still
        # belongs to the old connection.
        for addr, old in list(self.lingering.items()):
            if now > old.until:
                del self.lingering[addr]
                self.recycle(old.ctx)
                self._emit("linger_end", addr, None, "linger window over")
        for addr, old in list(self.closed.items()):
            if now > old.until:
                del self.closed[addr]
                self.recycle(old.ctx)

    def next_expiry(self) -> int | None:
        """When ``expire`` must next run for a lingering connection (``None``: none lingers)."""
        if not self.lingering:
            return None
        # Expiry is checked with ``>``: the window's last ms is inclusive.
        return int(min(c.until for c in self.lingering.values()) + 1)

    def close(self) -> None:
        """Free every context kept."""
        for old in [*self.lingering.values(), *self.closed.values()]:
            old.ctx.close()
        for ctx in self.spare:
            ctx.close()
        self.lingering.clear()
        self.closed.clear()
        self.spare.clear()
