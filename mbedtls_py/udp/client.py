"""A DTLS client over a real UDP socket: :class:`UDPClient` runs a client
``Context`` against ``host:port`` with real-time DTLS timers (retransmissions
included); :func:`run_client` is the whole exchange in one call (handshake,
write, read, close_notify)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bindings.config import Config
from ..bindings.context import Context
from ..bindings.errors import Err, as_err
from ..server.events import Event
from .addresses import addr_str, check_host, resolve
from .transport import UDPTransport

__all__ = ["UDPClient", "ClientResult", "run_client"]


_FLOW = (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE)


@dataclass
class ClientResult:
    """What :func:`run_client` did; every ``*_rc`` is the Mbed TLS return code."""

    handshake_rc: int
    write_rc: int | None = None
    read_rc: int | None = None
    received: bytes = b""
    peer_closed: bool = False
    close_rc: int | None = None
    ciphersuite: str | None = None
    verify_result: int | None = None
    elapsed_ms: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Handshake done and the write went through."""
        return self.handshake_rc == 0 and (self.write_rc is None or self.write_rc >= 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        d = dict(self.__dict__)
        d["received"] = self.received.decode("latin-1")
        for key in ("handshake_rc", "write_rc", "read_rc", "close_rc"):
            if d[key] is not None:
                d[key] = int(d[key])
        return d


class UDPClient:
    """A DTLS client ``Context`` on its own UDP socket, talking to ``host:port``.

    Each call drives the context with real-time timers until it completes or
    its ``timeout`` (seconds) runs out, and returns Mbed TLS's code unchanged
    (``SSL_WANT_READ`` when the time ran out waiting).  Datagrams from any
    address other than the server's are ignored.
    """

    def __init__(self, config: Config, host: str, port: int, *,
                 hostname: str | None = None, bind_host: str | None = None,
                 allow_remote: bool = False, mtu: int | None = None, name: str = "client",
                 on_event: Callable[[Event], None] | None = None) -> None:
        if config.endpoint != "client":
            raise ValueError("UDPClient needs a client Config")
        check_host(host, allow_remote)
        family, self.server = resolve(host, port)
        if bind_host is None:
            bind_host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.transport = UDPTransport(bind_host, 0, allow_remote=allow_remote)
        try:
            self.ctx = Context(config, clock=self.transport.clock, name=name)
            if hostname is not None:
                rc = self.ctx.set_hostname(hostname)
                if rc:
                    raise ValueError(f"set_hostname({hostname!r}) returned {rc!r}")
            if mtu is not None:
                self.ctx.set_mtu(mtu)
        except BaseException:
            self.transport.close()
            raise
        self.clock = self.transport.clock
        self.on_event = on_event
        self.events: list[Event] = []
        self.peer_closed = False
        self.ignored = 0
        self._t0 = self.clock.now_ms

    def _emit(self, event: str, rc: int | None = None, note: str = "", **data: Any) -> None:
        ev = Event(int(self.clock.now_ms - self._t0), event, addr_str(self.server),
                   None if rc is None else as_err(rc), note, data)
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def _flush(self) -> None:
        while (d := self.ctx.pop()) is not None:
            self.transport.sendto(d, self.server)

    def _receive(self) -> None:
        while (item := self.transport.recvfrom()) is not None:
            data, src = item
            if src != self.server:
                self.ignored += 1
                continue
            self.ctx.push(data)

    def _drive(self, call: Callable[[], int], timeout: float) -> int:
        end = self.clock.now_ms + timeout * 1000.0
        while True:
            self._receive()
            queued = self.ctx.pending_in
            rc = call()
            self._flush()
            if rc not in _FLOW:
                return rc
            now = self.clock.now_ms
            if now >= end:
                return rc
            timer = self.ctx.timer_deadline()
            target = end if timer is None else min(timer, end)
            left = self.ctx.pending_in
            if left == 0 or left >= queued:  # nothing queued, or nothing taken: wait
                self.transport.wait(target, max_wait_ms=max(1.0, end - now))

    def handshake_step(self) -> int:
        """One handshake step, without waiting: take the datagrams that have
        arrived, call ``mbedtls_ssl_handshake`` once, send what it queued.
        Returns its code unchanged (``SSL_WANT_READ`` while it waits for the
        server), and logs no event: for driving a handshake partway (a peer
        that stops answering mid-handshake); ``handshake`` drives it to the end."""
        self._receive()
        rc = self.ctx.handshake()
        self._flush()
        return rc

    def handshake(self, timeout: float = 10.0) -> int:
        """Handshake (cookies and retransmissions included); 0 when done."""
        rc = self._drive(self.ctx.handshake, timeout)
        note = self.ctx.ciphersuite or "" if rc == 0 else ""
        self._emit("handshake", rc, note)
        return rc

    def write(self, data: bytes, timeout: float = 5.0) -> int:
        """``mbedtls_ssl_write``: bytes written or the code."""
        rc = self._drive(lambda: self.ctx.write(data), timeout)
        self._emit("write", rc, f"{rc} bytes written" if rc >= 0 else "write failed")
        return rc

    def read(self, timeout: float = 5.0, size: int = 16384) -> tuple[int, bytes]:
        """``mbedtls_ssl_read``: ``(rc, data)``; ``rc`` is the byte count, or
        ``SSL_PEER_CLOSE_NOTIFY``, or ``SSL_WANT_READ`` when ``timeout`` ran out."""
        buf = bytearray(size)
        rc = self._drive(lambda: self.ctx.read_into(buf), timeout)
        data = bytes(buf[:rc]) if rc > 0 else b""
        if rc == Err.SSL_PEER_CLOSE_NOTIFY:
            self.peer_closed = True
            self._emit("read", rc, "connection closed by peer")
        elif rc > 0:
            self._emit("read", rc, f"{rc} bytes read", data=data.decode("latin-1"))
        else:
            self._emit("read", rc, "nothing read" if rc in _FLOW else "read failed")
        return rc, data

    def close_notify(self, timeout: float = 2.0) -> int:
        """Send close_notify; 0 on success."""
        rc = self._drive(self.ctx.close_notify, timeout)
        self._emit("close_notify", rc)
        return rc

    def close(self) -> None:
        """Free the context and close the socket (idempotent)."""
        self.ctx.close()
        self.transport.close()

    def __enter__(self) -> UDPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_client(config: Config, host: str, port: int, data: bytes = b"GET / HTTP/1.0\r\n\r\n",
               *, hostname: str | None = None, timeout: float = 10.0,
               expect_reply: bool = True, wait_close_ms: float = 0.0,
               send_close_notify: bool = True, allow_remote: bool = False,
               on_event: Callable[[Event], None] | None = None) -> ClientResult:
    """One client exchange: handshake, write ``data``, read the reply (if
    ``expect_reply``), wait up to ``wait_close_ms`` for the server's
    close_notify, then send close_notify (if ``send_close_notify``).  Always
    closes the socket.  ``timeout`` bounds each step (seconds)."""
    start = time.monotonic()
    with UDPClient(config, host, port, hostname=hostname, allow_remote=allow_remote,
                   on_event=on_event) as client:
        result = ClientResult(handshake_rc=client.handshake(timeout))
        if result.handshake_rc == 0:
            result.ciphersuite = client.ctx.ciphersuite
            result.verify_result = client.ctx.verify_result
            result.write_rc = client.write(data, timeout)
            if result.write_rc >= 0 and expect_reply:
                rc, got = client.read(timeout)
                result.read_rc, result.received = rc, got
            if wait_close_ms > 0 and not client.peer_closed:
                rc, got = client.read(wait_close_ms / 1000.0)
                result.received += got
                if result.read_rc is None or rc == Err.SSL_PEER_CLOSE_NOTIFY:
                    result.read_rc = rc
            result.peer_closed = client.peer_closed
            if send_close_notify:
                result.close_rc = client.close_notify()
        result.events = [e.to_dict() for e in client.events]
    result.elapsed_ms = (time.monotonic() - start) * 1000.0
    return result
