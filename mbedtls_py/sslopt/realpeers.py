"""``--real-peers``: cases with an OpenSSL (or GnuTLS) peer, over real UDP on
loopback, in real time.

The external program runs as ssl-opt.sh runs it (the server command
field-split, the client command through ``sh -c`` as ``eval`` would, in the
tests directory, its output captured); the Mbed TLS side is the same
ssl_server2/ssl_client2 generator as in process, on real sockets with the
real clock; between them the same ``udp_proxy`` model, on real sockets.
Ports are chosen free at run time and substituted for ssl-opt's.
"""

from __future__ import annotations

import heapq
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..bindings.context import RealClock
from .parse import PXY_PORT, SRV_PORT, Case
from .proxy import ProxyOptions
from .world import Addr, Program, World

__all__ = ["RealWorld", "run_real"]

_LO = "127.0.0.1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((_LO, 0))
        return int(s.getsockname()[1])


class RealWorld(World):
    """A ``World`` whose sockets are real UDP sockets on loopback and whose
    clock is the monotonic clock."""

    def __init__(self, proxy: ProxyOptions | None, server_port: int, proxy_port: int, *,
                 real_server_port: int = 0, real_proxy_port: int = 0) -> None:
        self.real_ports: dict[Addr, int] = {}
        self.socks: dict[Addr, socket.socket] = {}
        self.by_port: dict[int, Addr] = {}
        super().__init__(proxy, server_port, proxy_port)
        self.clock = RealClock()  # type: ignore[assignment]
        self.real_ports[self.server_addr] = real_server_port or _free_port()
        if proxy is not None:
            self.real_ports[self.proxy_listen] = real_proxy_port or _free_port()
            for addr in (self.proxy_listen, self.proxy_upstream):
                self._open(addr, self.sockets[addr])

    def _open(self, addr: Addr, handler: Callable[[Addr, bytes], None]) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((_LO, self.real_ports.get(addr, 0)))
        s.setblocking(False)
        port = int(s.getsockname()[1])
        self.real_ports[addr] = port
        self.by_port[port] = addr
        self.socks[addr] = s
        self.sockets[addr] = handler

    def bind(self, addr: Addr, handler: Callable[[Addr, bytes], None]) -> None:
        self._open(addr, handler)

    def unbind(self, addr: Addr) -> None:
        s = self.socks.pop(addr, None)
        self.sockets.pop(addr, None)
        if s is not None:
            self.by_port.pop(int(s.getsockname()[1]), None)
            s.close()

    def send(self, src: Addr, dst: Addr, data: bytes) -> None:
        self.trace.append((self.clock.now_ms, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", "send",
                           data))
        s, port = self.socks.get(src), self.real_ports.get(dst, dst[1] if dst[0] == "ext" else 0)
        if s is not None and port:
            try:
                s.sendto(data, (_LO, port))
            except OSError:
                pass  # like an ICMP error on UDP: the datagram is lost

    def call_at(self, when_ms: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when_ms, self._seq, fn))

    def run(self, until: Callable[[], bool], limit_ms: int) -> bool:
        """Like ``World.run``, ``limit_ms`` on the monotonic clock."""
        while True:
            for p in self.programs:
                if p.gen is not None and p.runnable:
                    self._step(p)
            if until():
                return True
            now = self.clock.now_ms
            while self._events and self._events[0][0] <= now:
                heapq.heappop(self._events)[2]()
            deadlines = [e[0] for e in self._events[:1]] + [
                p.deadline for p in self.programs if p.gen is not None and p.deadline is not None]
            wait = min([limit_ms] + deadlines) - now
            if now >= limit_ms:
                return False
            ready, _, _ = select.select(list(self.socks.values()), [], [],
                                        max(0.0, min(wait, 50) / 1000))
            for s in ready:
                try:
                    data, (_, port) = s.recvfrom(65535)
                except OSError:
                    continue
                dst = next((a for a, x in self.socks.items() if x is s), None)
                src = self.by_port.get(port) or next(
                    (a for a, p in self.real_ports.items() if p == port), ("ext", port))
                if dst is not None and dst in self.sockets:
                    self.sockets[dst](src, data)
            now = self.clock.now_ms
            for p in self.programs:
                if p.gen is not None and p.deadline is not None and p.deadline <= now:
                    p.runnable = True

    def close(self) -> None:
        """Close every socket."""
        for addr in list(self.socks):
            self.unbind(addr)


def _ports(cmd: str, world: RealWorld) -> str:
    srv = str(world.real_ports[world.server_addr])
    pxy = str(world.real_ports.get(world.proxy_listen, srv)) if world.proxy else srv
    return cmd.replace(SRV_PORT, srv).replace(PXY_PORT, pxy)


def _feed(world: RealWorld, proc: subprocess.Popen[bytes]) -> None:
    """ssl-opt.sh's provide_input: a response line on stdin every second."""
    if proc.poll() is not None or proc.stdin is None:
        return
    try:
        proc.stdin.write(b"HTTP/1.0 200 OK\n")
        proc.stdin.flush()
    except OSError:
        return
    world.call_at(world.clock.now_ms + 1000, lambda: _feed(world, proc))


def run_real(case: Case, seed: int, srv_o: dict[str, Any] | None, cli_o: dict[str, Any] | None,
             make: Callable[..., Any], pxy: ProxyOptions | None, tests_dir: Path,
             limit_ms: int) -> tuple[str, str, int, int, RealWorld]:
    """Run ``case`` with one external peer; returns (server output, client
    output, client exit, server exit, world)."""
    from .programs import client2, server2
    world = RealWorld(pxy, int(SRV_PORT), int(PXY_PORT))
    srv_p, cli_p = Program("server"), Program("client")
    srv_p.printf(f"# {case.name}\n{case.srv_cmd}\n")
    cli_p.printf(f"# {case.name}\n{case.cli_cmd}\n")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        start = world.clock.now_ms
        if srv_o is not None:
            world.start(srv_p, server2(world, srv_p, srv_o, make("server", srv_o, srv_p)))
            world.run(lambda: False, start + 100)
        else:
            cmd = _ports(case.srv_cmd, world)
            needs_input = "s_server" in cmd and "-dtls" in cmd
            if needs_input:
                cmd = " ".join(w for w in cmd.split() if w != "-www")
            srv = subprocess.Popen(cmd.split(), cwd=tests_dir, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
            procs.append(srv)
            if needs_input and srv.stdin is not None:
                _feed(world, srv)
            world.run(lambda: False, world.clock.now_ms + 500)
        deadline = world.clock.now_ms + limit_ms
        if cli_o is not None:
            world.start(cli_p, client2(world, cli_p, cli_o, make("client", cli_o, cli_p)))
            done = world.run(lambda: cli_p.exit is not None, deadline)
            cli_exit = cli_p.exit if done and cli_p.exit is not None else 143
        else:
            cli = subprocess.Popen(["sh", "-c", _ports(case.cli_cmd, world)], cwd=tests_dir,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
            procs.append(cli)
            done = world.run(lambda: cli.poll() is not None, deadline)
            if not done:
                os.killpg(cli.pid, signal.SIGTERM)
            out, _ = cli.communicate(timeout=10)
            cli_p.printf(out.decode("latin-1"))
            cli_exit = cli.returncode if done else 143
        world.run(lambda: False, world.clock.now_ms + 50)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
            try:
                out, _ = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                out, _ = p.communicate()
            if srv_o is None and p is procs[0]:
                srv_p.printf(out.decode("latin-1"))
        world.close()
    srv_exit = srv_p.exit if srv_o is not None and srv_p.exit is not None else 0
    time.sleep(0)
    return srv_p.text(), cli_p.text(), cli_exit, srv_exit, world
