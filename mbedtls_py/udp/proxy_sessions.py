"""The proxy's sessions: one socket towards the server per client address,
created on the first datagram, ended when idle (a mixin of
:class:`~mbedtls_py.udp.proxy.UDPProxy`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .addresses import MAX_UDP, addr_str

__all__ = ["Session", "ProxySessions"]



@dataclass
class Session:
    sid: int
    client: tuple[Any, ...]
    sock: socket.socket
    last_ms: float
    index: dict[str, int] = field(default_factory=lambda: {"c2s": 0, "s2c": 0})


class ProxySessions:
    """Session bookkeeping of ``UDPProxy``; the state is set up by its ``__init__``."""

    server: tuple[str, int]
    idle_ms: float
    max_sessions: int
    held: list[Any]
    _sessions: dict[Any, Session]
    _by_fd: dict[int, Session]
    _heap: list[Any]
    _listen: socket.socket
    _lock: threading.RLock
    _log_fp: IO[str] | None
    _sid: Iterator[int]
    _own_log: bool
    _wake_r: socket.socket
    _wake_w: socket.socket
    _bind_host: str
    _sfam: socket.AddressFamily

    if TYPE_CHECKING:  # defined by UDPProxy
        def _log(self, event: str, direction: str | None = None, session: int | None = None,
                 data: bytes | None = None, **extra: Any) -> dict[str, Any]: ...

        def _now(self) -> float: ...

        def _handle(self, session: Session, direction: str, data: bytes) -> None: ...

    def _close_sockets(self) -> None:
        for s in self._sessions.values():
            s.sock.close()
        self._sessions.clear()
        self._by_fd.clear()
        for sock in (self._listen, self._wake_r, self._wake_w):
            sock.close()
        if self._log_fp is not None:
            if self._own_log:
                self._log_fp.close()
            else:
                self._log_fp.flush()
            self._log_fp = None

    def _drain_clients(self) -> None:
        for _ in range(256):
            try:
                data, addr = self._listen.recvfrom(MAX_UDP)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            session = self._session_for(addr)
            if session is not None:
                self._handle(session, "c2s", data)

    def _drain_server(self, session: Session) -> None:
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

    def _session_for(self, addr: Any) -> Session | None:
        key = tuple(addr[:2])
        session = self._sessions.get(key)
        if session is not None:
            return session
        if len(self._sessions) >= self.max_sessions:
            oldest = min(self._sessions.values(), key=lambda s: s.last_ms)
            self._end_session(oldest, "too many sessions")
        sock = socket.socket(self._sfam, socket.SOCK_DGRAM)
        try:
            sock.bind((self._bind_host, 0))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            self._log("error", note=f"cannot open a socket for {addr_str(addr)}: {exc}")
            return None
        session = Session(next(self._sid), key, sock, self._now())
        with self._lock:
            self._sessions[key] = session
            self._by_fd[sock.fileno()] = session
        self._log("session", session=session.sid, client=addr_str(key),
                  via=addr_str(sock.getsockname()))
        return session

    def _end_session(self, session: Session, why: str) -> None:
        with self._lock:
            self._sessions.pop(session.client, None)
            self._by_fd.pop(session.sock.fileno(), None)
            session.sock.close()
        self._log("session_end", session=session.sid, why=why)

    def _expire(self) -> None:
        now = self._now()
        with self._lock:
            busy = {item[3] for item in self._heap} | {h.session for h in self.held}
            idle = [s for s in self._sessions.values()
                    if now - s.last_ms > self.idle_ms and s.sid not in busy]
        for s in idle:
            self._end_session(s, f"idle {self.idle_ms:g} ms")
