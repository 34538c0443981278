"""The proxy's sessions: one socket towards the server per client address,
created on the first datagram, ended when idle (and the datagrams a ``hold``
rule keeps for one).  :class:`ProxySessions` is a
part :class:`~mbedtls_py.udp.proxy.UDPProxy` owns and calls; it holds its own
state and reaches the proxy only through what it is built with."""

from __future__ import annotations

import itertools
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .addresses import MAX_UDP, addr_str

__all__ = ["Session", "HeldDatagram", "ProxySessions"]


@dataclass
class HeldDatagram:
    """A datagram caught by a ``hold`` rule."""

    t_ms: float
    direction: str
    session: int
    data: bytes
    tag: str | None
    rule: str


@dataclass
class Session:
    sid: int
    client: tuple[Any, ...]
    sock: socket.socket
    last_ms: float
    index: dict[str, int] = field(default_factory=lambda: {"c2s": 0, "s2c": 0})


class ProxySessions:
    """Session bookkeeping of ``UDPProxy``: the sessions by client address and
    by socket, opened towards ``server`` (family ``family``, bound to loopback
    unless ``allow_remote``), at most ``max_sessions`` (the least recently used ends
    first), ended after ``idle_ms`` without traffic.  ``log``, ``now`` and
    ``handle`` are the proxy's log, clock (ms) and datagram handler; ``lock``
    is the proxy's lock, shared with its schedule."""

    def __init__(self, server: tuple[str, int], family: socket.AddressFamily,
                 allow_remote: bool, *,
                 max_sessions: int, idle_ms: float, lock: threading.RLock,
                 log: Callable[..., dict[str, Any]], now: Callable[[], float],
                 handle: Callable[[Session, str, bytes], None]) -> None:
        self.server, self.family = server, family
        self.bind_host = "" if allow_remote else ("::1" if family == socket.AF_INET6
                                                  else "127.0.0.1")
        self.max_sessions, self.idle_ms = max_sessions, idle_ms
        self._lock, self._log, self._now, self._handle = lock, log, now, handle
        self._by_client: dict[Any, Session] = {}
        self._by_fd: dict[int, Session] = {}
        self._sid = itertools.count(1)

    def sockets(self) -> list[socket.socket]:
        """Every session's socket (to wait on)."""
        return [s.sock for s in self._by_client.values()]

    def by_sid(self) -> dict[int, Session]:
        """The open sessions by id."""
        return {s.sid: s for s in self._by_client.values()}

    def for_socket(self, sock: socket.socket) -> Session | None:
        """The session whose socket ``sock`` is (``None``: it ended)."""
        return self._by_fd.get(sock.fileno())

    def close(self) -> None:
        """Close every session's socket (no ``session_end`` entries)."""
        for s in self._by_client.values():
            s.sock.close()
        self._by_client.clear()
        self._by_fd.clear()

    def drain_clients(self, listen: socket.socket) -> None:
        """Hand what clients sent to ``listen`` to the proxy, each in its session."""
        for _ in range(256):
            try:
                data, addr = listen.recvfrom(MAX_UDP)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            session = self.session_for(addr)
            if session is not None:
                self._handle(session, "c2s", data)

    def drain_server(self, session: Session) -> None:
        """Hand what the server sent to ``session``'s socket to the proxy."""
        for _ in range(256):
            try:
                data, addr = session.sock.recvfrom(MAX_UDP)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if (str(addr[0]), int(addr[1])) != self.server:
                self._log("ignored", session=session.sid, data=data, src=addr_str(addr),
                          why="not from the server")
                continue
            self._handle(session, "s2c", data)

    def session_for(self, addr: Any) -> Session | None:
        """``addr``'s session, opened on its first datagram (``None``: no socket)."""
        key = tuple(addr[:2])
        session = self._by_client.get(key)
        if session is not None:
            return session
        if len(self._by_client) >= self.max_sessions:
            oldest = min(self._by_client.values(), key=lambda s: s.last_ms)
            self.end(oldest, "too many sessions")
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.bind_host, 0))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            self._log("error", note=f"cannot open a socket for {addr_str(addr)}: {exc}")
            return None
        session = Session(next(self._sid), key, sock, self._now())
        with self._lock:
            self._by_client[key] = session
            self._by_fd[sock.fileno()] = session
        self._log("session", session=session.sid, client=addr_str(key),
                  via=addr_str(sock.getsockname()))
        return session

    def end(self, session: Session, why: str) -> None:
        """End ``session``: close its socket, log ``session_end``."""
        with self._lock:
            self._by_client.pop(session.client, None)
            self._by_fd.pop(session.sock.fileno(), None)
            session.sock.close()
        self._log("session_end", session=session.sid, why=why)

    def expire(self, busy: Callable[[], set[int]]) -> None:
        """End the sessions idle for ``idle_ms`` that are not ``busy()`` (ids
        with datagrams still scheduled or held; called under the lock)."""
        now = self._now()
        with self._lock:
            keep = busy()
            idle = [s for s in self._by_client.values()
                    if now - s.last_ms > self.idle_ms and s.sid not in keep]
        for s in idle:
            self.end(s, f"idle {self.idle_ms:g} ms")
