"""Shared by the real-UDP tests (test_udp, test_proxy, test_concurrent_server,
test_serve_robust): the check that a test left nothing behind, and real
first-flight datagrams to send at a server by hand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mbedtls_py.bindings.config import Config
from mbedtls_py.bindings.context import Context
from mbedtls_py.peers import interop
from mbedtls_py.testing import open_socket_inodes


def udp_threads() -> list[str]:
    """Names of live threads started by mbedtls_py's UDP helpers."""
    return [t.name for t in threading.enumerate() if t.name in ("dtls-serve", "udp-proxy")]


@contextmanager
def nothing_left_behind(*, threads: bool = False) -> Iterator[None]:
    """Fail (on leaving the block) when an OpenSSL child process, running or
    zombie, or a socket opened in the block is still there; with ``threads``,
    also a thread of the UDP helpers (:func:`udp_threads`).  A test file's
    autouse fixture wraps its ``yield`` in it, adding its own checks inside."""
    before = open_socket_inodes()
    yield
    if threads:
        assert udp_threads() == []
    assert interop.live_children() == []
    assert open_socket_inodes() <= before


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
