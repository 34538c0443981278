"""``DTLSServer``: upstream's ``programs/ssl/dtls_server.c`` loop, over any
datagram transport, with policies for a handshake that fails in its first
flight.

The loop, as in the sample: wait for a client; set its transport id
(cookies); handshake (``HELLO_VERIFY_REQUIRED``: reset and wait for the
ClientHello with the cookie); read the request; echo it; send close_notify;
``session_reset``; wait for the next client.  Every step and every return
code is emitted as a JSON-able event.

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
    returned exactly ``SSL_UNEXPECTED_MESSAGE``, the sender is a peer whose
    connection closed within ``recent_ms``, and every record of the datagram
    authenticates under that closed connection's keys
    (``mbedtls_ssl_check_record`` on its retained context returns 0), or the
    datagram is a byte-identical replay of one that authenticated while the
    connection was open.  Only then is it dropped (with the proof in the
    event); anything else is reported, whatever it looks like.

The transport is anything with ``sendto(data, addr)``, ``recvfrom() ->
(data, addr) | None`` (non-blocking) and a ``clock`` with ``now_ms``: the
simulated network's ``SimSocket`` or a real UDP socket wrapper.  The server
is driven by ``poll()`` (handle everything available now) and
``next_deadline()`` (when it must be polled again).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..config import Config
from ..context import Context, RealClock, VirtualClock
from ..errors import Err, as_err, error_name
from .eventlog import EVENT_WINDOW, BoundedLog, event_kind, short_hex
from ..wire.records import Datagram, parse_datagram
from .staleness import (
    _ACCEPTED_MAX,
    _RETAINED_MAX,
    Classification,
    ClosedConnection,
    _digest,
    classify_datagram,
)

__all__ = ["DTLSServer", "POLICIES", "Classification", "classify_datagram", "Event",
           "DatagramTransport", "ClosedConnection", "PEER_TIMEOUT_MS"]

_PARSED_MAX = 64  # parsed datagrams remembered (oldest forgotten first)

Policy = Literal["none", "lenient", "linger", "classify"]
POLICIES: tuple[str, ...] = ("none", "lenient", "linger", "classify")
Address = Hashable

_FLOW = (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE)
# The peer's initial retransmission timeout: Mbed TLS's
# MBEDTLS_SSL_DTLS_TIMEOUT_DFL_MIN and OpenSSL's DTLS timer both start at 1 s.
PEER_TIMEOUT_MS = 1000.0


class DatagramTransport(Protocol):
    """What ``DTLSServer`` needs from a socket."""

    clock: VirtualClock | RealClock

    def sendto(self, data: bytes, addr: Any) -> None: ...  # noqa: D102

    def recvfrom(self) -> tuple[bytes, Any] | None: ...  # noqa: D102


@dataclass
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
                d["rc_hex"] = f"-0x{-int(self.rc):04X}"
                d["rc_name"] = error_name(self.rc)
        if self.note:
            d["note"] = self.note
        d.update(self.data)
        return d

    def __str__(self) -> str:
        rc = ""
        if self.rc is not None:
            rc = f" rc={self.rc}" if self.rc >= 0 else f" rc=-0x{-int(self.rc):04X}"
        peer = f" {self.peer}" if self.peer is not None else ""
        return f"{self.t_ms:>8} ms  {self.event:<16}{peer}{rc}  {self.note}".rstrip()


class _Conn:
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


class DTLSServer:
    """The ``dtls_server`` sample's loop with a first-flight failure policy.

    ``events`` collects every step; ``on_event`` (optional) is called with each
    one as it happens (e.g. to write JSON lines).  ``echo=True`` writes the
    request back, as the sample does.
    """

    def __init__(self, config: Config, transport: DatagramTransport, *,
                 policy: Policy = "none", rtt_ms: float = 100.0,
                 linger_ms: float | None = None, recent_ms: float | None = None,
                 peer_timeout_ms: float = PEER_TIMEOUT_MS,
                 echo: bool = True, service_ms: int = 0, name: str = "server",
                 on_event: Callable[[Event], None] | None = None,
                 handshake_timeout_ms: float = 10_000.0, event_window: int = EVENT_WINDOW,
                 max_backlog: int = 256) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
        if config.endpoint != "server":
            raise ValueError("DTLSServer needs a server Config")
        if rtt_ms <= 0:
            raise ValueError("rtt_ms must be positive")
        self.config = config
        self.transport = transport
        self.sockets = [transport]  # the simulated network polls us on their input
        self.clock = transport.clock
        self.policy = policy
        self.name = name
        self.echo = echo
        if service_ms < 0:
            raise ValueError("service_ms must be >= 0")
        self.service_ms = int(service_ms)
        for what, value in (("linger_ms", linger_ms), ("recent_ms", recent_ms),
                            ("peer_timeout_ms", peer_timeout_ms)):
            if value is not None and not value >= 0:
                raise ValueError(f"{what} must be >= 0, not {value!r}")
        self.rtt_ms = float(rtt_ms)  # the estimate used until a round trip is measured
        self.peer_timeout_ms = float(peer_timeout_ms)
        # None: per connection, measured round trip + peer_timeout_ms.
        self.linger_ms = None if linger_ms is None else float(linger_ms)
        # How long a closed connection is kept for the classifier's proof.
        self.recent_ms = (max(self.rtt_ms + self.peer_timeout_ms, 10 * self.rtt_ms)
                          if recent_ms is None else float(recent_ms))
        self.on_event = on_event
        if not handshake_timeout_ms > 0:
            raise ValueError("handshake_timeout_ms must be positive")
        # Every wait has a deadline: a peer that passed the cookie exchange
        # but does not finish (handshake, request) within this is dropped.
        self.handshake_timeout_ms = float(handshake_timeout_ms)
        self.max_backlog = int(max_backlog)
        # Bounded: the last `event_window` events; `events.counts` is exact.
        self.events: BoundedLog[Event] = BoundedLog(event_window, event_kind)
        self._conn = _Conn(self._new_context())
        self._backlog: collections.deque[tuple[bytes, Address]] = collections.deque()
        self._parsed: dict[bytes, Datagram] = {}  # see _parse
        self._lingering: dict[Address, ClosedConnection] = {}
        self._spare: list[Context] = []
        self._closed: dict[Address, ClosedConnection] = {}  # classify's proofs
        self.served = 0
        self.errors: BoundedLog[Event] = BoundedLog(min(event_window, 1000))
        self.dropped: BoundedLog[Event] = BoundedLog(min(event_window, 1000))

    # -- plumbing --------------------------------------------------------------

    def _new_context(self) -> Context:
        return Context(self.config, clock=self.clock, name=self.name)

    def _now(self) -> int:
        return int(self.clock.now_ms)

    def _emit(self, event: str, peer: Address | None = None, rc: int | None = None,
              note: str = "", **data: Any) -> Event:
        ev = Event(self._now(), event, None if peer is None else _addr_str(peer),
                   None if rc is None else as_err(rc), note, data)
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)
        return ev

    def _flush(self, ctx: Context, peer: Address) -> None:
        sent = False
        while (d := ctx.pop()) is not None:
            self.transport.sendto(d, peer)
            sent = True
        if sent and ctx is self._conn.ctx and self._conn.phase == "handshake":
            self._conn.flight_sent = (peer, self._now())

    def linger_window(self, conn_rtt_ms: float | None = None) -> tuple[float, str]:
        """(window in ms, how it was chosen) for a connection whose measured
        round trip is ``conn_rtt_ms`` (``None``: not measured)."""
        if self.linger_ms is not None:
            return self.linger_ms, "set by the user"
        rtt, src = ((conn_rtt_ms, "measured") if conn_rtt_ms is not None
                    else (self.rtt_ms, "estimated"))
        return (rtt + self.peer_timeout_ms,
                f"{src} RTT {rtt:g} ms + peer retransmission timeout {self.peer_timeout_ms:g} ms")

    # -- the loop --------------------------------------------------------------

    def poll(self) -> None:
        """Handle every datagram available now and every expired timer."""
        self._expire_lingering()
        conn = self._conn
        # The DTLS timer (retransmission / read timeout) of the current connection.
        if conn.phase in ("handshake", "read") and conn.ctx.timer_state() == 2:
            self._advance(conn)
        if conn.phase in ("handshake", "read") and self._now() >= self._give_up_at(conn):
            self._timed_out(conn)
        if conn.phase == "closing" and self._now() >= conn.close_at:
            self._finish(conn)
        while True:
            item = self._next_datagram()
            if item is None:
                break
            data, src = item
            self._dispatch(data, src)

    def next_deadline(self) -> int | None:
        """The clock time at which ``poll`` must run again (``None``: only on input)."""
        # Expiry is checked with ``>``: the window's last ms is inclusive.
        times = [c.until + 1 for c in self._lingering.values()]
        if self._conn.phase == "closing":
            times.append(self._conn.close_at)
        if self._conn.phase in ("handshake", "read"):
            d = self._conn.ctx.timer_deadline()
            if d is not None:
                times.append(d)
            times.append(self._give_up_at(self._conn))
        return int(min(times)) if times else None

    def _parse(self, data: bytes) -> Datagram:
        """Parse a datagram once: every later look at it (linger proof,
        classification, the event's record list) reuses the result."""
        dgram = self._parsed.get(data)
        if dgram is None:
            if len(self._parsed) >= _PARSED_MAX:
                self._parsed.pop(next(iter(self._parsed)))
            dgram = self._parsed[data] = parse_datagram(data)
        return dgram

    def _next_datagram(self) -> tuple[bytes, Address] | None:
        conn = self._conn
        if self._backlog and conn.phase == "idle":
            return self._backlog.popleft()
        return self.transport.recvfrom()

    def _dispatch(self, data: bytes, src: Address) -> None:
        conn = self._conn
        if not self._acceptable_size(data, src):
            return
        lingering = self._lingering.get(src)
        # Only what authenticates under the old connection's keys goes to it;
        # anything else from the same address is new input (and reported if bad).
        if lingering is not None and lingering.prove(self._parse(data))[0] == 0:
            self._feed_lingering(src, lingering.ctx, data)
            return
        if conn.phase == "idle":
            self._accept(src)
        elif src != conn.peer:
            # The sample's socket is connected to the current client: others wait
            # (in a bounded queue, as in the kernel's socket buffer).
            if len(self._backlog) >= self.max_backlog:
                self._emit("overflow", src, None, "backlog full while serving another "
                           "peer; datagram dropped", size=len(data))
                return
            self._backlog.append((data, src))
            return
        elif conn.phase == "closing":
            conn.socket_queue.append(data)
            return
        if conn.phase == "handshake" and conn.flight_sent is not None \
                and conn.flight_sent[0] == src:
            # A server flight (HelloVerifyRequest included) to this peer and
            # its answer: one round trip (the largest one counts).
            sample = self._now() - conn.flight_sent[1]
            conn.rtt_ms = sample if conn.rtt_ms is None else max(conn.rtt_ms, sample)
            conn.flight_sent = None
        if conn.phase == "read" and self.policy in ("linger", "classify") \
                and len(conn.accepted) < _ACCEPTED_MAX and conn.ctx.check_record(data) == 0:
            conn.accepted.append(_digest(data))
        conn.ctx.push(data)
        conn.datagrams += 1
        self._advance(conn)

    def _acceptable_size(self, data: bytes, src: Address) -> bool:
        """An empty or oversized datagram cannot be queued: report it, keep no state."""
        if 0 < len(data) <= self._conn.ctx.max_datagram:
            return True
        self._emit("ignored", src, None, f"datagram of {len(data)} bytes cannot be DTLS; "
                   "no state kept", size=len(data), datagram=short_hex(data))
        return False

    def _accept(self, src: Address) -> None:
        conn = self._conn
        conn.peer, conn.phase, conn.datagrams = src, "handshake", 0
        conn.started_ms = self._now()
        conn.accepted = []
        rc = conn.ctx.set_client_transport_id(_addr_str(src).encode())
        self._emit("accept", src, rc, "waiting for ClientHello")

    def _advance(self, conn: _Conn) -> None:
        """Run the current connection as far as its input allows."""
        ctx, peer = conn.ctx, conn.peer
        if conn.phase == "handshake":
            first_flight = ctx.state in ("HELLO_REQUEST", "CLIENT_HELLO")
            rc = ctx.handshake()
            self._flush(ctx, peer)
            if rc in _FLOW:
                if first_flight and self._holds_nothing(ctx):
                    self._stateless_drop(conn)
                return
            if rc == Err.SSL_HELLO_VERIFY_REQUIRED:
                self._emit("hello_verify", peer, rc, "cookie sent; reset and wait for ClientHello")
                self._reset(linger=False)
                return
            if rc != 0:
                self._handshake_failed(conn, rc, first_flight)
                return
            self._emit("handshake", peer, 0, f"{ctx.ciphersuite}")
            conn.phase = "read"
        if conn.phase == "read":
            buf = bytearray(16384)
            rc = ctx.read_into(buf)
            self._flush(ctx, peer)
            if rc in _FLOW:
                return
            if rc <= 0:
                self._emit("read", peer, rc, "connection closed by peer"
                           if rc == Err.SSL_PEER_CLOSE_NOTIFY else "read failed")
                self._close(conn, send_close_notify=rc != Err.SSL_PEER_CLOSE_NOTIFY)
                return
            request = bytes(buf[:rc])
            self._emit("read", peer, rc, f"{rc} bytes read", request=request.decode("latin-1"))
            if self.echo:
                wrc = ctx.write(request)
                self._flush(ctx, peer)
                self._emit("write", peer, wrc, f"{wrc} bytes written" if wrc >= 0 else "write failed")
            self._close(conn, send_close_notify=True)

    def _give_up_at(self, conn: _Conn) -> float:
        return conn.started_ms + self.handshake_timeout_ms

    @staticmethod
    def _holds_nothing(ctx: Context) -> bool:
        """The handshake still waits for a first ClientHello and has sent
        nothing (no timer): the datagram moved nothing forward."""
        return ctx.state in ("HELLO_REQUEST", "CLIENT_HELLO") and ctx.timer_deadline() is None

    def _stateless_drop(self, conn: _Conn) -> None:
        """A datagram that did not start a handshake (a plaintext alert, a
        ClientHello fragment, garbage Mbed TLS ignored) keeps no state: report
        it and go back to waiting for anyone (issue 9, defect 10)."""
        bad = conn.ctx.last_datagram() or b""
        self._emit("ignored", conn.peer, Err.SSL_WANT_READ, "did not start a handshake; no "
                   "state kept, waiting for the next client", size=len(bad),
                   datagram=short_hex(bad))
        conn.ctx.session_reset()
        conn.ctx.clear_queues()
        conn.peer, conn.phase, conn.datagrams = None, "idle", 0

    def _timed_out(self, conn: _Conn) -> None:
        """A peer that stopped half-way: drop it so the next client is served."""
        self._emit("timeout", conn.peer, None, f"no progress in {self.handshake_timeout_ms:g} "
                   f"ms ({conn.phase}); peer dropped", phase=conn.phase)
        self._reset(linger=False)

    def _handshake_failed(self, conn: _Conn, rc: int, first_flight: bool) -> None:
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

    def _close(self, conn: _Conn, send_close_notify: bool) -> None:
        ctx, peer = conn.ctx, conn.peer
        if send_close_notify:
            rc = ctx.close_notify()
            self._flush(ctx, peer)
            self._emit("close_notify", peer, rc)
        self.served += 1
        conn.phase, conn.close_at = "closing", self._now() + self.service_ms
        if self.service_ms == 0:
            self._finish(conn)

    def _finish(self, conn: _Conn) -> None:
        """End the connection: free its socket and reset (or let it linger)."""
        peer = conn.peer
        queued, conn.socket_queue = conn.socket_queue, []
        linger = self.policy == "linger"
        closed = ClosedConnection(conn.ctx, 0, conn.accepted)
        keep = [linger and closed.prove(self._parse(d))[0] == 0 for d in queued]
        for data, kept in zip(queued, keep):
            if not kept:  # handed to the lingering context below otherwise
                self._emit("discard", peer, None, "arrived before the reset; freed with the "
                           "connection's socket", datagram=data.hex(),
                           records=[repr(r) for r in self._parse(data).records])
        self._reset(linger=linger, retain=self.policy == "classify")
        if linger:
            for data, kept in zip(queued, keep):
                if kept:
                    self._feed_lingering(peer, self._lingering[peer].ctx, data, queued=True)

    def _reset(self, linger: bool, retain: bool = False) -> None:
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

    def close(self) -> None:
        """Free every context the server holds."""
        self._conn.ctx.close()
        for old in [*self._lingering.values(), *self._closed.values()]:
            old.ctx.close()
        self._closed.clear()
        for ctx in self._spare:
            ctx.close()
        self._lingering.clear()
        self._spare.clear()

    def events_json(self) -> str:
        """The event log as JSON lines."""
        return "".join(json.dumps(e.to_dict()) + "\n" for e in self.events)


def _addr_str(addr: Address) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)
