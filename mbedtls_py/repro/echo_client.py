"""The scenarios' client: :class:`EchoClient`, a process on the simulated network
that handshakes, sends one request, reads the echo and closes, as the seed's
``openssl s_client`` does."""

from __future__ import annotations

from ..config import Config
from ..context import Context
from ..errors import Err
from ..sim.network import Network

__all__ = ["EchoClient", "REQUEST"]

REQUEST = b"GET / HTTP/1.0\r\n\r\n"


class EchoClient:
    """A client like ``echo "GET / HTTP/1.0" | openssl s_client -dtls1_2``:
    handshake, send the request, close at once (stdin EOF), read the echo."""

    def __init__(self, net: Network, name: str, config: Config, *, server: str = "server",
                 request: bytes = REQUEST, start_ms: int = 0, hostname: str | None = None,
                 close_at_eof: bool = True) -> None:
        self.net, self.name, self.server = net, name, server
        self.sock = net.socket(name)
        self.sockets = [self.sock]
        self.ctx = Context(config, clock=net.clock, name=name)
        if hostname:
            self.ctx.set_hostname(hostname)
        self.request, self.start_ms, self.close_at_eof = request, start_ms, close_at_eof
        self.phase = "waiting"
        self.echo = b""
        self.rc: int | None = None

    @property
    def done(self) -> bool:
        """Whether the client has finished (served or failed)."""
        return self.phase in ("done", "failed")

    @property
    def served(self) -> bool:
        """Whether the handshake completed and the echo came back."""
        return self.echo == self.request

    def next_deadline(self) -> int | None:
        """When the client must be polled again."""
        if self.phase == "waiting":
            return self.start_ms
        if self.phase == "handshake":
            return self.ctx.timer_deadline()
        return None

    def poll(self) -> None:
        """Feed received datagrams and run the client as far as it goes."""
        now = self.net.clock.now_ms
        if self.phase == "waiting":
            if now < self.start_ms:
                return
            self.phase = "handshake"
        while (item := self.sock.recvfrom()) is not None:
            if not self.done:
                self.ctx.push(item[0])
        if self.phase == "handshake":
            rc = self.ctx.handshake()
            if rc == 0:
                self.ctx.write(self.request)
                if self.close_at_eof:
                    self.ctx.close_notify()
                self.phase = "reading"
            elif rc not in (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE):
                self.rc, self.phase = rc, "failed"
        if self.phase == "reading":
            buf = bytearray(4096)
            while True:
                rc = self.ctx.read_into(buf)
                if rc > 0:
                    self.echo += bytes(buf[:rc])
                    continue
                if rc == Err.SSL_PEER_CLOSE_NOTIFY or rc == 0:
                    if not self.close_at_eof:
                        self.ctx.close_notify()
                    self.phase = "done"
                elif rc not in (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE):
                    self.rc, self.phase = rc, "failed"
                break
        for d in self.ctx.drain():
            self.sock.sendto(d, self.server)
