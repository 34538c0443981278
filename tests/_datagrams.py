"""Shared by the server tests (test_concurrent_server, test_serve_robust): real
first-flight datagrams to send at a server by hand."""

from __future__ import annotations

from mbedtls_py.config import Config
from mbedtls_py.context import Context


def client_hello(cc: Config) -> bytes:
    """The first datagram a fresh client on ``cc`` sends: its ClientHello record."""
    ctx = Context(cc)
    try:
        ctx.handshake()
        data = ctx.pop()
    finally:
        ctx.close()
    assert data is not None
    return data
