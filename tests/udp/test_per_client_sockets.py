"""SampleSockets: the dtls_server sample's real connected per-client sockets
(mbedtls_net_accept / mbedtls_net_free)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mbedtls_py.udp.sample_sockets import SampleSockets
from mbedtls_py.testing import open_socket_inodes
from mbedtls_py.udp.transport import UDPTransport


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    before = open_socket_inodes()
    yield
    assert open_socket_inodes() <= before


def recv_all(t: UDPTransport, wait_ms: float = 300) -> list[tuple[bytes, object]]:
    got = []
    end = t.clock.now_ms + wait_ms
    while t.wait(end):
        while (item := t.recvfrom()) is not None:
            got.append(item)
    return got


def test_the_kernel_routes_the_client_to_its_connected_socket() -> None:
    """After accept(A): A's datagrams reach only A's connected socket, B's the new
    listening socket; release() frees A's socket with what was queued on it; later
    datagrams from A reach the listening socket (the next handshake)."""
    with SampleSockets() as srv, UDPTransport() as a, UDPTransport() as b:
        a.sendto(b"hello from a", srv.address)
        assert recv_all(srv) == [(b"hello from a", a.address)]
        srv.accept(a.address)
        assert srv.peer == a.address and srv.accepted == 1
        srv.sendto(b"to a", a.address)  # through the connected socket
        assert recv_all(a) == [(b"to a", srv.address)]
        b.sendto(b"from b", srv.address)
        a.sendto(b"a-1", srv.address)
        a.sendto(b"a-2", srv.address)
        time.sleep(0.05)
        assert recv_all(srv, 100) == [(b"a-1", a.address), (b"a-2", a.address)]
        a.sendto(b"a-late", srv.address)
        time.sleep(0.05)
        assert srv.release() == [b"a-late"] and srv.freed_datagrams == 1
        a.sendto(b"a-next", srv.address)
        got = recv_all(srv)
        assert sorted(got) == sorted([(b"from b", b.address), (b"a-next", a.address)])
        assert srv.release() == []


def test_release_names_the_real_sender_of_each_freed_datagram() -> None:
    """A datagram from B queued on the listening socket before it was connected to
    A dies with A's socket, as in the sample; release_from() names B as its sender
    (the server's "discard" event must not blame A for it)."""
    with SampleSockets() as srv, UDPTransport() as a, UDPTransport() as b:
        a.sendto(b"from a", srv.address)
        assert srv.wait(srv.clock.now_ms + 5000) and srv.recvfrom() == (b"from a", a.address)
        b.sendto(b"from b", srv.address)
        assert srv.wait(srv.clock.now_ms + 5000)  # queued on the listening socket
        srv.accept(a.address)
        assert srv.release_from() == [(b"from b", b.address)]
        assert srv.freed_datagrams == 1 and srv.release_from() == []
