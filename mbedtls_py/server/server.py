"""``DTLSServer``: upstream's ``programs/ssl/dtls_server.c`` loop, over any
datagram transport, with policies for a handshake that fails in its first
flight.

The loop, as in the sample: wait for a client; set its transport id
(cookies); handshake (``HELLO_VERIFY_REQUIRED``: reset and wait for the
ClientHello with the cookie); read the request; echo it; send close_notify;
``session_reset``; wait for the next client.  Every step and every return
code is emitted as a JSON-able event.

The policies (``none``, ``lenient``, ``linger``, ``classify``) are described in
:mod:`mbedtls_py.server.policies`; the server owns a ``PolicyHandler`` (the
policy and the closed connections it keeps) and calls it.

The transport is anything with ``sendto(data, addr)``, ``recvfrom() ->
(data, addr) | None`` (non-blocking) and a ``clock`` with ``now_ms``: the
simulated network's ``SimSocket`` or a real UDP socket wrapper.  The server
is driven by ``poll()`` (handle everything available now) and
``next_deadline()`` (when it must be polled again).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import Any

from ..bindings.config import Config
from ..bindings.context import Context, VirtualClock
from ..bindings.errors import Err, as_err
from .eventlog import EVENT_WINDOW, BoundedLog, event_kind, short_hex
from .events import Address, DatagramTransport, Event, SocketHook, transport_id
from .policies import PEER_TIMEOUT_MS, POLICIES, Policy, PolicyHandler
from .connection import Connection, ParseCache
from .staleness import _ACCEPTED_MAX, ClosedConnection, _digest

__all__ = ["DTLSServer"]

_FREED_QUOTED = 8  # datagrams quoted whole per ``discard`` event (``count`` is exact)
_FLOW = (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE)
_ACTIVE = ("handshake", "read")  # phases with a running connection


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
        self._parse = ParseCache()  # every look at a datagram reuses one parse
        self.transport = transport
        self.sockets = [transport]  # the simulated network polls us on their input
        self.clock = transport.clock
        # Event times count from the run's start: a virtual clock starts at 0
        # already; a real one (monotonic, since boot) from this server's creation.
        self.epoch_ms = 0 if isinstance(self.clock, VirtualClock) else int(self.clock.now_ms)
        self.policy = policy
        self.name = name
        self.echo = echo
        if service_ms < 0:
            raise ValueError("service_ms must be >= 0")
        self.service_ms = int(service_ms)
        # The policy and the closed connections it keeps (validates the windows).
        self.policy_handler = handler = PolicyHandler(
            policy, emit=self._emit, now=self._now, flush=self._flush, parse=self._parse,
            new_context=self._new_context, rtt_ms=rtt_ms, linger_ms=linger_ms,
            recent_ms=recent_ms, peer_timeout_ms=peer_timeout_ms,
            log_window=min(event_window, 1000))
        self.rtt_ms, self.peer_timeout_ms = handler.rtt_ms, handler.peer_timeout_ms
        self.linger_ms, self.recent_ms = handler.linger_ms, handler.recent_ms
        self.on_event = on_event
        if not handshake_timeout_ms > 0:
            raise ValueError("handshake_timeout_ms must be positive")
        # Every wait has a deadline: a peer that passed the cookie exchange
        # but does not finish (handshake, request) within this is dropped.
        self.handshake_timeout_ms = float(handshake_timeout_ms)
        self.max_backlog = int(max_backlog)
        # Bounded: the last `event_window` events; `events.counts` is exact.
        self.events: BoundedLog[Event] = BoundedLog(event_window, event_kind)
        self._conn = Connection(self._new_context())
        self._backlog: collections.deque[tuple[bytes, Address]] = collections.deque()
        self._buf = bytearray(16384)  # one read buffer, reused for every request
        self.served = 0
        self.errors, self.dropped = handler.errors, handler.dropped
        # The sample's per-client socket (``SampleSockets``, set by ``serve``):
        # connected at accept, freed the moment a connection is over, before
        # anything is emitted, as the sample's ``goto reset`` -> mbedtls_net_free.
        self.socket_hook: SocketHook | None = None
        self._freed: list[tuple[bytes, Address]] = []  # freed, not yet reported
        self.discarded = 0  # datagrams accounted by ``discard`` events

    # -- plumbing --------------------------------------------------------------

    def _new_context(self) -> Context:
        return Context(self.config, clock=self.clock, name=self.name)

    def _now(self) -> int:
        return self.clock.now_ms  # an int on both clocks

    def linger_window(self, conn_rtt_ms: float | None = None) -> tuple[float, str]:
        """See :meth:`PolicyHandler.linger_window`."""
        return self.policy_handler.linger_window(conn_rtt_ms)

    def elapsed_ms(self) -> int:
        """Milliseconds since the run's start (what event times count)."""
        return self.clock.now_ms - self.epoch_ms

    def _emit(self, event: str, peer: Address | None = None, rc: int | None = None,
              note: str = "", **data: Any) -> Event:
        ev = Event(self.clock.now_ms - self.epoch_ms, event, peer,
                   None if rc is None else as_err(rc), note, data)
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)
        return ev

    def emit_discard(self, peer: Address, data: bytes, note: str) -> Event:
        """A ``discard`` event for a datagram freed before it reached the server
        (``serve``'s emulated socket); the caller counts it."""
        return self._emit("discard", peer, None, note, count=1,
                          records=[repr(r) for r in self._parse(data).records],
                          datagram=data.hex())

    def _release_socket(self) -> None:
        """Free the client's socket now (idempotent); what it still held is
        reported by :meth:`_report_freed`, after the fact."""
        hook = self.socket_hook
        if hook is not None and hook.peer is not None:
            self._freed.extend(hook.release_from())

    def _report_freed(self) -> None:
        """One ``discard`` event per sender for the datagrams freed with the
        socket: ``count`` exact, the first few quoted whole."""
        freed, self._freed = self._freed, []
        by_sender: dict[Address, list[bytes]] = {}
        for data, src in freed:
            by_sender.setdefault(src, []).append(data)
        for src, datas in by_sender.items():
            self.discarded += len(datas)
            self._emit("discard", src, None, f"{len(datas)} datagram(s) queued on the client's "
                       "socket when it was freed (mbedtls_net_free)", count=len(datas),
                       datagram=short_hex(datas[0], 2048),
                       records=[repr(r) for r in self._parse(datas[0]).records],
                       datagrams=[short_hex(d, 2048) for d in datas[:_FREED_QUOTED]])

    def _flush(self, ctx: Context, peer: Address) -> None:
        sent = ctx.drain()
        for d in sent:
            self.transport.sendto(d, peer)
        if sent and ctx is self._conn.ctx and self._conn.phase == "handshake":
            self._conn.flight_sent = (peer, self._now())

    # -- the loop --------------------------------------------------------------

    def poll(self) -> None:
        """Handle every datagram available now and every expired timer."""
        self.policy_handler.expire()
        conn = self._conn
        # The DTLS timer (retransmission / read timeout) of the current connection.
        if conn.phase in _ACTIVE and conn.ctx.timer_state() == 2:
            self._advance(conn)
        if conn.phase in _ACTIVE and self._now() >= conn.give_up_at(self.handshake_timeout_ms):
            self._timed_out(conn)
        if conn.phase == "closing" and self._now() >= conn.close_at:
            self._finish(conn)
        recvfrom = self.transport.recvfrom
        while True:
            item: tuple[bytes, Address] | None
            if self._backlog and conn.phase == "idle":
                item = self._backlog.popleft()
            else:
                item = recvfrom()
                if item is None:
                    break
            self._dispatch(*item)

    def next_deadline(self) -> int | None:
        """The clock time at which ``poll`` must run again (``None``: only on input)."""
        conn = self._conn
        phase = conn.phase
        best: float | None = None
        if phase == "closing":
            best = conn.close_at
        elif phase in _ACTIVE:
            best = conn.give_up_at(self.handshake_timeout_ms)
            d = conn.ctx.timer_deadline()
            if d is not None and d < best:
                best = d
        first = self.policy_handler.next_expiry()
        if first is not None and (best is None or first < best):
            best = first
        return None if best is None else int(best)

    def _dispatch(self, data: bytes, src: Address) -> None:
        conn = self._conn
        if not self._acceptable_size(data, src):
            return
        # Only what authenticates under the old connection's keys goes to it;
        # anything else from the same address is new input (and reported if bad).
        if self.policy_handler.take_late(src, data):
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
        if self.socket_hook is not None:
            self.socket_hook.accept(src)  # mbedtls_net_accept's connect(), first
        rc = conn.ctx.set_client_transport_id(transport_id(src))
        self._emit("accept", src, rc, "waiting for ClientHello")

    def _advance(self, conn: Connection) -> None:
        """Run the current connection as far as its input allows."""
        ctx, peer = conn.ctx, conn.peer
        if conn.phase == "handshake":
            first_flight = ctx.state in ("HELLO_REQUEST", "CLIENT_HELLO")
            rc = ctx.handshake()
            self._flush(ctx, peer)
            if rc in _FLOW:
                if first_flight and conn.holds_nothing():
                    self._stateless_drop(conn)
                return
            if rc == Err.SSL_HELLO_VERIFY_REQUIRED:
                self._release_socket()  # goto reset: mbedtls_net_free before any output
                self._emit("hello_verify", peer, rc, "cookie sent; reset and wait for ClientHello")
                self._reset(linger=False, hello_verify=True)
                return
            if rc != 0:
                self._handshake_failed(conn, rc, first_flight)
                return
            self._emit("handshake", peer, 0, f"{ctx.ciphersuite}")
            conn.phase = "read"
        if conn.phase == "read":
            buf = self._buf
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

    def _stateless_drop(self, conn: Connection) -> None:
        """A datagram that did not start a handshake (a plaintext alert, a
        ClientHello fragment, garbage Mbed TLS ignored) keeps no state: report
        it and go back to waiting for anyone (a stray datagram must not
        occupy the server)."""
        bad = conn.ctx.last_datagram() or b""
        self._release_socket()
        self._emit("ignored", conn.peer, Err.SSL_WANT_READ, "did not start a handshake; no "
                   "state kept, waiting for the next client", size=len(bad),
                   datagram=short_hex(bad))
        conn.reset()
        conn.peer, conn.phase, conn.datagrams = None, "idle", 0
        if self._freed:
            self._report_freed()

    def _timed_out(self, conn: Connection) -> None:
        """A peer that stopped half-way: drop it so the next client is served."""
        self._emit("timeout", conn.peer, None, f"no progress in {self.handshake_timeout_ms:g} "
                   f"ms ({conn.phase}); peer dropped", phase=conn.phase)
        self._reset(linger=False)

    def _handshake_failed(self, conn: Connection, rc: int, first_flight: bool) -> None:
        self._release_socket()  # goto reset first; the report comes after
        bad = conn.ctx.last_datagram() or b""
        self.policy_handler.first_flight_failed(conn.peer, rc, bad,
                                                first_flight and conn.datagrams == 1)
        self._reset(linger=False)

    def _finish(self, conn: Connection) -> None:
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
            handler = self.policy_handler
            for data, kept in zip(queued, keep):
                if kept:
                    handler.feed_lingering(peer, handler.lingering[peer].ctx, data, queued=True)

    def _reset(self, linger: bool, retain: bool = False, hello_verify: bool = False) -> None:
        self._release_socket()  # mbedtls_net_free, before the reset (the sample's order)
        conn = self._conn
        if (linger or retain) and conn.peer is not None:
            # The old connection is kept for late datagrams; the next client is
            # served at once from a fresh (or recycled) context.
            conn.ctx = self.policy_handler.keep(conn.peer, conn.ctx, conn.rtt_ms,
                                                conn.accepted, linger)
            rc = 0
        else:
            rc = conn.reset(transport_id(conn.peer) if hello_verify else None)
        self._emit("reset", conn.peer, rc)
        if linger or retain:
            conn.rtt_ms, conn.accepted = None, []
        conn.peer, conn.phase, conn.datagrams = None, "idle", 0
        if self._freed:
            self._report_freed()

    def _close(self, conn: Connection, send_close_notify: bool) -> None:
        ctx, peer = conn.ctx, conn.peer
        if send_close_notify:
            rc = ctx.close_notify()
            self._flush(ctx, peer)
            if self.service_ms == 0:
                self._release_socket()  # the sample: close_notify, goto reset, net_free
            self._emit("close_notify", peer, rc)
        elif self.service_ms == 0:
            self._release_socket()
        self.served += 1
        conn.phase, conn.close_at = "closing", self._now() + self.service_ms
        if self.service_ms == 0:
            self._finish(conn)

    def close(self) -> None:
        """Free every context the server holds."""
        self._conn.ctx.close()
        self.policy_handler.close()

    def events_json(self) -> str:
        """The event log as JSON lines."""
        return "".join(json.dumps(e.to_dict()) + "\n" for e in self.events)


