"""Driving a :class:`~mbedtls_py.sim.network.Network`: delivering, stepping the
virtual clock to the next event, running until a condition, the handshake
helper and the stall report.  One part of the network (:class:`Driver`),
given the schedule, the endpoints and small callables by the network."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Any

from ..bindings.context import reset_after_hello_verify
from ..bindings.errors import Err
from .endpoints import ContextEndpoint, SimSocket, _Endpoint
from .netclock import _NetClock
from .schedule import EventFn, Schedule
from .trace import HandshakeResult, RunResult, Stalled, Trace, TraceEvent, _rc_text

__all__ = ["Driver", "SOFT_CODES"]

SOFT_CODES = frozenset({Err.SSL_WANT_READ, Err.SSL_WANT_WRITE, Err.SSL_ASYNC_IN_PROGRESS,
                        Err.SSL_CRYPTO_IN_PROGRESS})
"""Codes that mean "call again later", not a failure."""


class Driver:
    """Moves a network's virtual time: delivers what the ``schedule`` holds to
    the ``endpoints``, expires the timers of the ``contexts``, polls the
    processes (``processes``, added through :meth:`add_process`), and runs
    handshakes and runs until a condition.  ``collect`` takes what contexts
    sent into the schedule; ``event`` records a trace event now; ``sync``
    sets Mbed TLS's time; ``endpoint`` looks an endpoint up by name."""

    def __init__(self, clock: _NetClock, schedule: Schedule, endpoints: dict[str, _Endpoint],
                 contexts: list[ContextEndpoint], trace: Trace, *, event: EventFn,
                 collect: Callable[[], int], sync: Callable[[], None],
                 endpoint: Callable[[Any], _Endpoint], cid_len: int) -> None:
        self.clock = clock
        self.schedule = schedule
        self._heap = schedule.heap  # the same list, for the hot path
        self.endpoints = endpoints
        self._contexts = contexts
        self.trace = trace
        self._event = event
        self.collect = collect
        self._sync_time = sync
        self.endpoint = endpoint
        self.cid_len = cid_len
        self.processes: list[Any] = []
        self._polled: dict[str, tuple[Any, ...]] = {}  # endpoint name -> processes to poll
        self._proc_served: dict[int, int] = {}
        self.last_result: RunResult | HandshakeResult | None = None

    def add_process(self, proc: Any) -> None:
        """``Network.add_process``: have ``proc`` polled."""
        if not callable(getattr(proc, "poll", None)) or \
                not callable(getattr(proc, "next_deadline", None)):
            raise TypeError("a process needs poll() and next_deadline() methods")
        self.processes.append(proc)
        self._polled.clear()

    def deliver_next(self) -> TraceEvent | None:
        """``Network.deliver_next``: deliver the earliest datagram, poll its owners."""
        if not self._heap:
            return None
        when, _, src, dst, data, note = heapq.heappop(self._heap)
        if when > self.clock.now:
            self.clock.forward(when)  # an int from the schedule
        ep = self.endpoints.get(dst)
        if ep is None:
            return self._event("drop", src, dst, data, f"no endpoint named {dst!r}")
        problem = ep.deliver(data, src)
        if problem is not None:
            return self._event("drop", src, dst, data, problem)
        ev = TraceEvent(self.clock.now, "deliver", src, dst, data, note, None, None, self.cid_len)
        self.trace.add(ev)
        procs = self._polled.get(dst)
        if procs is None:
            procs = self._polled[dst] = self._owners(dst)
        for proc in procs:
            proc.poll()
        return ev

    def _owners(self, dst: str) -> tuple[Any, ...]:
        """The processes polled on a delivery to ``dst`` (cached until the
        next ``add_process``: a process's ``sockets`` are read when it is added
        and on the first delivery to each name)."""
        owners = []
        for proc in self.processes:
            socks = getattr(proc, "sockets", None)
            if socks is None or any((s if isinstance(s, str) else s.name) == dst for s in socks):
                owners.append(proc)
        return tuple(owners)

    def _timer_deadline(self) -> tuple[int, ContextEndpoint] | None:
        now = self.clock.now
        best: tuple[int, ContextEndpoint] | None = None
        for ep in self._contexts:
            if not ep.ctx.closed:
                d = ep.ctx.timer_deadline()
                if d is not None and d > now and (best is None or d < best[0]):
                    best = (d, ep)
        return best

    def _process_deadline(self) -> tuple[int, Any] | None:
        best: tuple[int, Any] | None = None
        now = self.clock.now
        served_at = self._proc_served
        for proc in self.processes:
            d = proc.next_deadline()
            if d is None:
                continue
            if served_at:
                served = served_at.get(id(proc))
                if served is not None and d <= served:
                    continue  # already polled for it; do not spin on a stale deadline
            due = d if d > now else now
            if best is None or due < best[0]:
                best = (due, proc)
        return best

    def _next(self) -> tuple[int, int, Any] | None:
        """Collect what contexts sent; then the next thing to do: ``(when,
        what, who)`` with ``what`` 0 (deliver), 1 (poll process ``who``) or 2
        (the timer of endpoint ``who``), the earliest first and, at the same
        time, in that order; ``None`` when nothing is scheduled."""
        self.collect()
        best: tuple[int, int, Any] | None = (self._heap[0][0], 0, None) if self._heap else None
        if self.processes:
            proc = self._process_deadline()
            if proc is not None and (best is None or proc[0] < best[0]):
                best = (proc[0], 1, proc[1])
        if self._contexts:
            timer = self._timer_deadline()
            if timer is not None and (best is None or timer[0] < best[0]):
                best = (timer[0], 2, timer[1])
        return best

    def _do(self, nxt: tuple[int, int, Any]) -> None:
        """Do what :meth:`_next` chose, then collect what was sent meanwhile."""
        when, what, who = nxt
        if what == 0:
            self.deliver_next()
        elif what == 1:
            if when > self.clock.now:
                self.clock.now_ms = when
            self._proc_served[id(who)] = self.clock.now
            self._event("poll", type(who).__name__, "", b"", "deadline reached")
            who.poll()
        else:
            self.clock.forward(when)  # a context's timer deadline: an int past now
            self._event("timer", who.name, "", b"", "retransmission/read timer expired")
        self.collect()

    def next_event_ms(self) -> int | None:
        """``Network.next_event_ms``: when ``step()`` would do something next."""
        nxt = self._next()
        return None if nxt is None else nxt[0]

    def step(self) -> bool:
        """``Network.step``: collect, then do the earliest thing due."""
        nxt = self._next()
        if nxt is None:
            return False
        self._do(nxt)
        return True

    def _limit(self, deadline_ms: int | None, within_ms: int | None) -> int | None:
        limits = []
        if deadline_ms is not None:
            limits.append(int(deadline_ms))
        if within_ms is not None:
            if within_ms < 0:
                raise ValueError("within_ms must be >= 0")
            limits.append(self.clock.now_ms + int(within_ms))
        return min(limits) if limits else None

    def run(self, until: Callable[[], bool] | None = None, *, deadline_ms: int | None = None,
            within_ms: int | None = None, max_steps: int = 100_000) -> RunResult:
        """``Network.run``: step until ``until()``, idle, the deadline or ``max_steps``."""
        start = self.clock.now_ms
        limit = self._limit(deadline_ms, within_ms)
        t0 = time.perf_counter()
        steps = 0
        reason = "max_steps"
        stalled = None
        while steps < max_steps:
            if until is not None and until():
                reason = "until"
                break
            nxt = self._next()
            if nxt is None:
                reason, stalled = "idle", self.status()
                break
            if limit is not None and nxt[0] > limit:
                if limit > self.clock.now:
                    self.clock.now_ms = limit
                reason = "deadline"
                break
            self._do(nxt)
            steps += 1
        else:
            if until is not None and until():
                reason = "until"
        result = RunResult(reason, steps, start, self.clock.now_ms,
                           time.perf_counter() - t0, stalled)
        self.last_result = result
        return result

    def handshake(self, client: ContextEndpoint | str, server: ContextEndpoint | str, *,
                  deadline_ms: int | None = None, within_ms: int = 120_000,
                  max_steps: int = 100_000) -> HandshakeResult:
        """``Network.handshake``: drive both contexts until both are done or one fails."""
        c = self.endpoint(client)
        s = self.endpoint(server)
        if not isinstance(c, ContextEndpoint) or not isinstance(s, ContextEndpoint):
            raise TypeError("handshake() needs two context endpoints")
        self._sync_time()
        start = self.clock.now_ms
        limit = self._limit(deadline_ms, within_ms)
        assert limit is not None
        t0 = time.perf_counter()
        cookies = bool(getattr(s.ctx.config, "cookies", False))
        transport_id = c.name.encode()
        if cookies:
            s.ctx.set_client_transport_id(transport_id)
        rc: dict[str, int | None] = {"c": None, "s": None}
        seen = {"c": -1, "s": -1}
        called_at = {"c": -1, "s": -1}
        sides = (("c", c), ("s", s))
        steps = 0
        reason = "max_steps"
        stalled = None

        def hard(r: int | None) -> bool:
            return r is not None and r != 0 and r not in SOFT_CODES

        while steps < max_steps:
            for key, ep in sides:
                now = self.clock.now
                if rc[key] is not None and ep.delivered == seen[key]:
                    # nothing new for it: due only when its timer expired
                    deadline = ep.ctx.timer_deadline()
                    if deadline is None or deadline > now or called_at[key] == now:
                        continue
                seen[key] = ep.delivered
                called_at[key] = now
                if rc[key] == 0:
                    if ep.ctx.pending_in:
                        r = ep.read()
                        if isinstance(r, bytes):
                            if r:
                                ep.inbox.append(r)
                        elif hard(r) and r != Err.SSL_TIMEOUT:
                            rc[key] = r
                    continue
                r = ep.handshake()
                if key == "s" and r == Err.SSL_HELLO_VERIFY_REQUIRED:
                    reset_after_hello_verify(ep, transport_id)
                    r = Err.SSL_WANT_READ
                    if ep.ctx.pending_in:
                        seen[key] = -1  # a datagram is already waiting: call again
                rc[key] = r
            if rc["c"] == 0 and rc["s"] == 0:
                reason = "done"
                break
            if hard(rc["c"]) or hard(rc["s"]):
                reason = "error"
                break
            nxt = self._next()
            if nxt is None:
                if any(ep.delivered != seen[k] for k, ep in sides):
                    continue  # a side has input it has not been called for yet
                reason, stalled = "idle", self.status()
                break
            if nxt[0] > limit:
                if limit > self.clock.now:
                    self.clock.now_ms = limit
                reason = "deadline"
                stalled = self.status()
                break
            self._do(nxt)
            steps += 1
        result = HandshakeResult(
            Err.SSL_WANT_READ if rc["c"] is None else rc["c"],
            Err.SSL_WANT_READ if rc["s"] is None else rc["s"],
            reason=reason, start_ms=start, end_ms=self.clock.now_ms,
            real_seconds=time.perf_counter() - t0, steps=steps, stalled=stalled)
        # (no real time in the trace: it must replay byte for byte)
        self._event("end", "handshake", "", b"",
                    f"handshake {reason}: client {_rc_text(result.client_rc)}, server "
                    f"{_rc_text(result.server_rc)}, {result.elapsed_ms} virtual ms")
        self.last_result = result
        return result

    # -- reports -------------------------------------------------------------------

    def status(self) -> Stalled:
        """``Network.status``: who waits for what right now."""
        now = self.clock.now_ms
        lines: list[str] = []
        for ep in self.endpoints.values():
            if isinstance(ep, ContextEndpoint):
                ctx = ep.ctx
                if ctx.closed:
                    lines.append(f"{ep.name}: context closed")
                    continue
                last = ""
                if ep.last_call is not None:
                    call, rc, at = ep.last_call
                    last = f"; last call {call}() -> {_rc_text(rc) if rc else '0'} at {at} ms"
                d = ctx.timer_deadline()
                if d is None:
                    timer = "no timer running"
                elif d <= now:
                    timer = (f"timer expired at {d} ms: call it (handshake()/read()) so that "
                             "Mbed TLS retransmits or times out")
                else:
                    timer = f"timer expires at {d} ms"
                if ctx.pending_in:
                    waits = f"has {ctx.pending_in} unread datagram(s): call it"
                elif ctx.handshake_over:
                    waits = "handshake over; waits for application data or a close"
                else:
                    try:
                        peer = ep.peer_name()
                    except ValueError:
                        peer = "its peer"
                    waits = f"waits for a datagram from {peer}"
                lines.append(f"{ep.name} ({ctx.state}): {waits}; {timer}{last}")
            elif isinstance(ep, SimSocket):
                lines.append(f"{ep.name} (socket): {ep.pending()} datagram(s) not received")
        if self._heap:
            lines.append(f"{len(self._heap)} datagram(s) in flight, next at {self._heap[0][0]} ms")
        else:
            lines.append("no datagram in flight")
        for h in self.schedule.held:
            lines.append(f"held since {h.time_ms} ms: {h.src}->{h.dst} "
                         f"{h.records!r} (net.release() to deliver it)")
        for proc in self.processes:
            lines.append(f"process {type(proc).__name__}: next deadline {proc.next_deadline()}")
        return Stalled(now, lines)
