"""The simulated network a case runs on: virtual time, UDP sockets, the
``udp_proxy`` model between client and server, and a scheduler that runs the
programs (generators) until each is blocked, then moves time forward to the
next datagram, flush or timer.  Everything is ordered by (time, sequence), so
a run is a pure function of its seed."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..bindings.context import VirtualClock
from .proxy import ProxyOptions, UdpProxy

if TYPE_CHECKING:
    from ..timing import Timing

__all__ = ["World", "Program", "Addr"]

Addr = tuple[str, int]
# A program yields the virtual time (ms) it may sleep until (None: no limit);
# it is resumed earlier when a datagram reaches one of its sockets.
ProgramGen = Generator["int | None", None, int]


@dataclass
class Program:
    """A running program: its generator, output, exit status."""

    name: str
    gen: ProgramGen | None = None
    out: list[str] = field(default_factory=list)
    exit: int | None = None
    deadline: int | None = None
    runnable: bool = True
    killed: bool = False
    busy_us: int | None = None  # computing until then (a timing model's cost)

    def printf(self, text: str) -> None:
        """Append program output (like ``mbedtls_printf``)."""
        self.out.append(text)

    def text(self) -> str:
        """Everything the program printed."""
        return "".join(self.out)


class World:
    """Virtual time, sockets and the optional proxy of one case run."""

    def __init__(self, proxy: ProxyOptions | None, server_port: int, proxy_port: int,
                 timing: Timing | None = None) -> None:
        self.clock = VirtualClock()
        # Internal time is in us (the clock shows ms); without a timing model
        # every event falls on a whole ms and the order is (ms, sequence).
        self.timing = timing
        self.now_us = 0
        self._proxy_out = 0
        self.timeline: list[tuple[int, str]] = []  # with a timing model: (us, what happened)
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.sockets: dict[Addr, Callable[[Addr, bytes], None]] = {}
        self.trace: list[tuple[int, str, str, str, bytes]] = []
        self.server_addr: Addr = ("srv", server_port)
        self.proxy: UdpProxy | None = None
        self.programs: list[Program] = []
        self._next_port = 40000
        self.on_time: Callable[[int], None] | None = None
        # extra delivery delay (ms) of one datagram, e.g. the schedule search's ``lag`` moves
        self.link_delay: Callable[[Addr, Addr, bytes], int] | None = None
        if proxy is not None:
            self.proxy_listen: Addr = ("pxy", proxy_port)
            self.proxy_upstream: Addr = ("pxy", 50000)
            self.proxy = UdpProxy(proxy, self._proxy_send, lambda: self.clock.now_ms, self.call_at)
            self._proxy_client: Addr | None = None
            self.sockets[self.proxy_listen] = self._proxy_from_client
            self.sockets[self.proxy_upstream] = self._proxy_from_server

    # -- time ----------------------------------------------------------------

    def call_at(self, when_ms: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at virtual time ``when_ms`` (in order of scheduling)."""
        self.call_at_us(when_ms * 1000, fn)

    def call_at_us(self, when_us: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at virtual time ``when_us`` (microseconds)."""
        self._seq += 1
        heapq.heappush(self._events, (max(when_us, self.now_us), self._seq, fn))

    # -- sockets -------------------------------------------------------------

    def ephemeral_port(self) -> int:
        """A fresh client port (each ``mbedtls_net_connect`` gets one)."""
        self._next_port += 1
        return self._next_port

    def bind(self, addr: Addr, handler: Callable[[Addr, bytes], None]) -> None:
        """Deliver datagrams sent to ``addr`` to ``handler(src, data)``."""
        self.sockets[addr] = handler

    def unbind(self, addr: Addr) -> None:
        """Close the socket at ``addr``: later datagrams to it are lost."""
        self.sockets.pop(addr, None)

    def send(self, src: Addr, dst: Addr, data: bytes) -> None:
        """Send a datagram; it arrives at once (loopback), after everything
        already scheduled for this instant (with a timing model: after the
        leg's latency)."""
        self.send_at(src, dst, data, self.now_us)

    def send_at(self, src: Addr, dst: Addr, data: bytes, depart_us: int) -> None:
        """Send a datagram that leaves at ``depart_us`` (>= now)."""
        self.trace.append((self.clock.now_ms, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", "send",
                           data))
        at = depart_us if self.timing is None else self.timing.deliver_us(src[0], dst[0],
                                                                          depart_us)
        if self.link_delay is not None:  # the schedule search's lag moves (ms)
            at += 1000 * self.link_delay(src, dst, data)
        self.call_at_us(at, lambda: self._deliver(src, dst, data))

    def _deliver(self, src: Addr, dst: Addr, data: bytes) -> None:
        handler = self.sockets.get(dst)
        if handler is None:
            return
        if self.timing is not None:
            if dst[0] == "pxy":  # udp_proxy takes its time
                self.call_at_us(self.timing.proxy_us(self.now_us), lambda: handler(src, data))
                return
            self.note(f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]} arrives, {len(data)} B "
                      f"{data[:1].hex()}..{data[-2:].hex()}")
        handler(src, data)

    def note(self, text: str) -> None:
        """With a timing model, log ``text`` at the current microsecond."""
        if self.timing is not None:
            self.timeline.append((self.now_us, text))

    def compute(self, prog: Program, key: str) -> Generator[int | None, None, None]:
        """With a timing model, ``prog`` computes (``key``: ``handshake 2>12``,
        ``read_into``, ...) for its measured cost before going on; without
        one, nothing happens.  ``yield from`` it after a call into Mbed TLS."""
        if self.timing is None:
            return
        from ..timing import program_kind
        prog.busy_us = self.timing.run_us(program_kind(prog.name), key, self.now_us)
        self.note(f"{prog.name} computes {key} until {prog.busy_us} us")
        yield None

    # -- the proxy -------------------------------------------------------------

    def _proxy_from_client(self, src: Addr, data: bytes) -> None:
        assert self.proxy is not None
        self._proxy_client = src
        self.proxy.from_client(src, data)

    def _proxy_from_server(self, src: Addr, data: bytes) -> None:
        assert self.proxy is not None
        if src == self.server_addr:
            self.proxy.from_server(data)

    def _proxy_send(self, way: str, data: bytes) -> None:
        dst = self.server_addr if way == "S <- C" else self._proxy_client
        src = self.proxy_upstream if way == "S <- C" else self.proxy_listen
        if dst is None:
            return
        if self.timing is None:
            self.send(src, dst, data)
            return
        # one datagram after another, as udp_proxy's sendto() calls go
        self._proxy_out = max(self._proxy_out, self.now_us) + self.timing.proxy_gap_us()
        self.send_at(src, dst, data, self._proxy_out)

    @property
    def entry_addr(self) -> Addr:
        """Where a client sends: the proxy when there is one, else the server."""
        return self.proxy_listen if self.proxy is not None else self.server_addr

    # -- scheduling --------------------------------------------------------------

    def start(self, prog: Program, gen: ProgramGen) -> None:
        """Add a program; it runs at the next ``run`` step."""
        prog.gen = gen
        self.programs.append(prog)

    def wake(self, prog: Program) -> None:
        """A datagram reached one of ``prog``'s sockets."""
        prog.runnable = True

    def _step(self, prog: Program) -> None:
        assert prog.gen is not None
        prog.runnable = False
        try:
            prog.deadline = next(prog.gen)
        except StopIteration as stop:
            prog.exit = stop.value if isinstance(stop.value, int) else 0
            prog.gen = None

    def _set_now(self, t_us: int) -> None:
        self.now_us = t_us
        ms = t_us // 1000
        if ms > self.clock.now_ms:
            self.clock.now_ms = ms
            if self.on_time is not None:
                self.on_time(ms)

    def run(self, until: Callable[[], bool], limit_ms: int) -> bool:
        """Run programs and events until ``until()`` is true (True) or nothing
        can happen before ``limit_ms`` (False)."""
        limit_us = limit_ms * 1000
        while True:
            progressed = True
            while progressed:
                progressed = False
                progs = self.programs if self.timing is None else self.timing.order(self.programs)
                for p in progs:
                    if p.gen is not None and p.runnable and p.busy_us is None:
                        self._step(p)
                        progressed = True
                if until():
                    return True
                # deliveries scheduled for "now" happen before time moves
                while self._events and self._events[0][0] <= self.now_us:
                    _, _, fn = heapq.heappop(self._events)
                    fn()
                    progressed = True
            if until():
                return True
            candidates = [e[0] for e in self._events[:1]]
            for p in self.programs:
                if p.gen is not None:
                    if p.busy_us is not None:
                        candidates.append(p.busy_us)
                    elif p.deadline is not None:
                        candidates.append(p.deadline * 1000)
            if not candidates:
                return False
            t = min(candidates)
            if t > limit_us:
                if self.now_us < limit_us:
                    self.now_us = limit_us
                    self.clock.now_ms = max(self.clock.now_ms, limit_ms)
                return False
            if t > self.now_us:
                self._set_now(t)
            for p in self.programs:
                if p.gen is None:
                    continue
                if p.busy_us is not None:
                    if p.busy_us <= t:
                        p.busy_us = None
                        p.runnable = True
                elif p.deadline is not None and p.deadline * 1000 <= t:
                    p.runnable = True
