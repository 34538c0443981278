"""The simplest transport: an in-memory, lossless pump between two contexts on
one virtual clock (no impairments; for those use :mod:`mbedtls_py.sim.network`)."""

from __future__ import annotations

from ..bindings.config import Config
from ..bindings.context import Context, VirtualClock, reset_after_hello_verify
from ..bindings.errors import Err

__all__ = ["pump", "handshake_pair", "new_pair"]


def pump(src: Context, dst: Context) -> int:
    """Move every queued datagram from ``src`` to ``dst``; return how many."""
    n = 0
    while src.move_to(dst):
        n += 1
    return n


def handshake_pair(client: Context, server: Context, *, max_rounds: int = 32,
                   transport_id: bytes = b"127.0.0.1:4433") -> tuple[int, int]:
    """Handshake two contexts over a lossless in-memory link.

    Handles the cookie exchange as the upstream ``dtls_server`` sample does
    (``HELLO_VERIFY_REQUIRED``: reset, set the transport id again, go on).
    Returns the final (client, server) codes: ``(0, 0)`` on success.
    """
    server.set_client_transport_id(transport_id)
    rc_c: int = Err.SSL_WANT_READ
    rc_s: int = Err.SSL_WANT_READ
    for _ in range(max_rounds):
        if rc_c != 0:
            rc_c = client.handshake()
        pump(client, server)
        if rc_s != 0:
            rc_s = server.handshake()
            if rc_s == Err.SSL_HELLO_VERIFY_REQUIRED:
                pump(server, client)
                reset_after_hello_verify(server, transport_id)
                rc_s = Err.SSL_WANT_READ
                continue
        pump(server, client)
        if rc_c == 0 and rc_s == 0:
            break
        if rc_c not in (0, Err.SSL_WANT_READ, Err.SSL_WANT_WRITE) or \
                rc_s not in (0, Err.SSL_WANT_READ, Err.SSL_WANT_WRITE):
            break
    return rc_c, rc_s


def new_pair(client_config: Config, server_config: Config, *,
             clock: VirtualClock | None = None,
             hostname: str | None = "localhost") -> tuple[Context, Context, VirtualClock]:
    """A (client, server) pair of contexts on one virtual clock."""
    clock = clock or VirtualClock()
    client = Context(client_config, clock=clock, name="client")
    server = Context(server_config, clock=clock, name="server")
    if hostname:
        client.set_hostname(hostname)
    return client, server, clock
