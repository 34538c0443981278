"""The simulated network a case runs on: virtual time, UDP sockets, the
``udp_proxy`` model between client and server, and a scheduler that runs the
programs (generators) until each is blocked, then moves time forward to the
next datagram, flush or timer.  Everything is ordered by (time, sequence), so
a run is a pure function of its seed."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from ..context import VirtualClock
from .proxy import ProxyOptions, UdpProxy

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

    def printf(self, text: str) -> None:
        """Append program output (like ``mbedtls_printf``)."""
        self.out.append(text)

    def text(self) -> str:
        """Everything the program printed."""
        return "".join(self.out)


class World:
    """Virtual time, sockets and the optional proxy of one case run."""

    def __init__(self, proxy: ProxyOptions | None, server_port: int, proxy_port: int) -> None:
        self.clock = VirtualClock()
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
        self._seq += 1
        heapq.heappush(self._events, (max(when_ms, self.clock.now_ms), self._seq, fn))

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
        already scheduled for this instant."""
        self.trace.append((self.clock.now_ms, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", "send",
                           data))
        lag = self.link_delay(src, dst, data) if self.link_delay is not None else 0
        self.call_at(self.clock.now_ms + lag, lambda: self._deliver(src, dst, data))

    def _deliver(self, src: Addr, dst: Addr, data: bytes) -> None:
        handler = self.sockets.get(dst)
        if handler is not None:
            handler(src, data)

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
        if way == "S <- C":
            self.send(self.proxy_upstream, self.server_addr, data)
        elif self._proxy_client is not None:
            self.send(self.proxy_listen, self._proxy_client, data)

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

    def run(self, until: Callable[[], bool], limit_ms: int) -> bool:
        """Run programs and events until ``until()`` is true (True) or nothing
        can happen before ``limit_ms`` (False)."""
        while True:
            progressed = True
            while progressed:
                progressed = False
                for p in self.programs:
                    if p.gen is not None and p.runnable:
                        self._step(p)
                        progressed = True
                if until():
                    return True
                # deliveries scheduled for "now" happen before time moves
                while self._events and self._events[0][0] <= self.clock.now_ms:
                    _, _, fn = heapq.heappop(self._events)
                    fn()
                    progressed = True
            if until():
                return True
            candidates = [e[0] for e in self._events[:1]]
            candidates += [p.deadline for p in self.programs
                           if p.gen is not None and p.deadline is not None]
            if not candidates:
                return False
            t = min(candidates)
            if t > limit_ms:
                if self.clock.now_ms < limit_ms:
                    self.clock.now_ms = limit_ms
                return False
            if t > self.clock.now_ms:
                self.clock.now_ms = t
                if self.on_time is not None:
                    self.on_time(t)
            for p in self.programs:
                if p.gen is not None and p.deadline is not None and p.deadline <= t:
                    p.runnable = True
