"""The sample's sockets, for real: a connected UDP socket per client.

Upstream's ``mbedtls_net_accept()`` (``library/net_sockets.c``) on a UDP
socket peeks at the first datagram, ``connect()``\\ s the *listening* socket
to its sender (that socket becomes the client's), and binds a fresh listening
socket to the same address with ``SO_REUSEADDR``.  The kernel then delivers
the client's datagrams to the connected socket (the better match) and
everyone else's to the new listening one.  At the sample's ``reset:`` label,
``mbedtls_net_free()`` closes the connected socket: whatever the client sent
that is still queued there dies with it; later datagrams reach the listening
socket and the next handshake.

:class:`SampleSockets` does exactly that with real sockets, so which
datagram dies and which survives is decided by the kernel and the timing, as
with the native sample, not by when the server's Python code handles its
reset (deciding it there would bias the outcome).
:func:`mbedtls_py.udp.loop.serve` makes it the server's ``socket_hook``: the
server calls :meth:`accept` when a client's first datagram arrives and
:meth:`release_from` the moment the connection is over, before it emits any
event (the sample: ``goto reset`` -> ``mbedtls_net_free``).

Datagrams still queued on the connected socket when it is freed are read
first (without delivering them) so that each is accounted in a ``discard``
event; this only observes what the close destroys.  The socket is re-connected
to its own address before that drain, so nothing arrives on it meanwhile: the
moment of the re-connect is the sample's ``close()``.

Fidelity note: datagrams from *other* peers that were already queued on the
listening socket when it was connected stay on it; the sample would read them
as the client's (``read()`` has no source), here they keep their real source
and wait in the server's backlog; those still queued when the socket is freed
die with it, as in the sample, and their ``discard`` names their real sender.
"""

from __future__ import annotations

import socket
from typing import Any

from .addresses import MAX_UDP, _norm
from .transport import UDPTransport

__all__ = ["SampleSockets"]

_DRAIN_MAX = 4096  # bound on datagrams read (for the report) when a socket is freed


class SampleSockets(UDPTransport):
    """A listening UDP socket that is handed to each client, as the sample does.

    ``recvfrom`` reads from the client's connected socket while there is one
    (the sample reads only ``client_fd`` during a connection) and from the
    listening socket otherwise; ``sendto`` to the client goes through its
    connected socket.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 allow_remote: bool = False, rcvbuf: int | None = None) -> None:
        super().__init__(host, port, allow_remote=allow_remote, rcvbuf=rcvbuf)
        self._rcvbuf = rcvbuf
        self._bound = self._sock.getsockname()
        # Re-bind the listening socket with SO_REUSEADDR, as mbedtls_net_bind does,
        # so that the next listening socket can share its address.
        self._sock.close()
        self._sock = self._listener()
        self._client: socket.socket | None = None
        self.peer: Any = None
        self.accepted = 0
        self.freed_datagrams = 0

    def _listener(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            sock.bind(self._bound)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (the same for every socket of the server)."""
        return str(self._bound[0]), int(self._bound[1])

    def accept(self, peer: Any) -> None:
        """``mbedtls_net_accept``: connect the listening socket to ``peer``, and
        listen on a fresh socket bound to the same address."""
        if self._client is not None:
            self.release()
        listening = self._sock
        # The fresh listener is bound before the old one is connected (the sample
        # binds after): in between no socket would match another sender, and the
        # kernel would drop its datagram unseen.  This way each one lands on a
        # socket the server reads or frees (and reports).
        self._sock = self._listener()
        listening.connect(peer)
        self._client, self.peer = listening, _norm(peer)
        self.accepted += 1

    def release(self) -> list[bytes]:
        """``mbedtls_net_free`` of the client's socket; returns the datagrams that
        were still queued on it (they are gone, as with the sample)."""
        return [data for data, _ in self.release_from()]

    def release_from(self) -> list[tuple[bytes, Any]]:
        """:meth:`release`, each freed datagram with its real sender: one from
        another peer that was queued before the ``connect`` dies here too.

        The socket is first re-connected to its own address (no one else sends
        from it): from that instant the kernel routes the client's datagrams
        to the listening socket, and what is queued here is all that the close
        destroys, so every one is read and returned (draining first and then
        closing would lose, unreported, one that arrived in between)."""
        sock, self._client, self.peer = self._client, None, None
        if sock is None:
            return []
        gone: list[tuple[bytes, Any]] = []
        try:
            sealed = True
            try:
                sock.connect(sock.getsockname())
            except OSError:
                sealed = False  # then a datagram arriving during the drain may be lost
            sock.setblocking(False)
            for _ in range(_DRAIN_MAX if not sealed else 1 << 20):
                try:
                    data, addr = sock.recvfrom(MAX_UDP)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue  # an ICMP error reported on the connected socket
                gone.append((data, _norm(addr)))
        finally:
            sock.close()
        self.freed_datagrams += len(gone)
        return gone

    def _reading(self) -> socket.socket:
        """The client's connected socket while there is one, else the listener."""
        return self._client if self._client is not None else self._sock

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send through the client's socket when ``addr`` is the client."""
        if self._client is not None and _norm(addr) == self.peer:
            try:
                self._client.send(data)
                self.sent += 1
            except OSError as exc:
                self.send_errors.append(f"send {addr}: {exc}")
            return
        super().sendto(data, addr)

    def close(self) -> None:
        """Close every socket (idempotent)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        super().close()

    def __repr__(self) -> str:
        if self.closed:
            return "<SampleSockets closed>"
        peer = f" client {self.peer}" if self.peer is not None else ""
        return f"<SampleSockets {self.address}{peer}>"
