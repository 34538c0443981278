"""mbedtls_py.Context against the real library: handshakes, data, close,
reset, cookies, retransmission on the virtual clock, and the seed's race."""

from __future__ import annotations

import gc
import threading

import pytest

from mbedtls_py import (
    ClosedError,
    Config,
    Context,
    Err,
    MbedTLSError,
    NotAvailableError,
    PeerCloseNotify,
    RealClock,
    VirtualClock,
    WantRead,
)
from mbedtls_py.wire.records import parse_datagram
from mbedtls_py.testing import TestPKI, cert_configs, handshake_pair, new_pair, psk_configs, pump
from _versions import MBEDTLS_2, RACE_RC, SHORT_CLIENT_HELLO_RCS

REQUEST = b"GET / HTTP/1.0\r\n\r\n"

Pair = tuple[Context, Context, VirtualClock]
Configs = tuple[Config, Config]


def established(client_config: Config, server_config: Config, *,
                hostname: str | None = "localhost") -> Pair:
    client, server, clock = new_pair(client_config, server_config, hostname=hostname)
    assert handshake_pair(client, server) == (0, 0)
    return client, server, clock


def echo(client: Context, server: Context, data: bytes = REQUEST) -> bytes:
    assert client.write(data) == len(data)
    pump(client, server)
    got = server.read()
    assert server.write(got) == len(got)
    pump(server, client)
    return client.read()


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_certificate_handshake_and_echo(kind: str, mbedtls_pki: TestPKI,
                                        mbedtls_rsa_pki: TestPKI) -> None:
    """An ECDSA or RSA certificate handshake completes in memory and echoes data."""
    pki = mbedtls_pki if kind == "ecdsa" else mbedtls_rsa_pki
    client, server, _ = established(*cert_configs(pki))
    assert client.version == server.version == "DTLSv1.2"
    assert client.ciphersuite is not None
    assert ("ECDSA" if kind == "ecdsa" else "RSA") in client.ciphersuite
    assert client.verify_result == 0
    cert = client.peer_certificate()
    assert cert is not None and cert.startswith(b"\x30")  # DER SEQUENCE
    assert server.peer_certificate() is None
    assert client.state == server.state == "HANDSHAKE_OVER"
    assert echo(client, server) == REQUEST


def test_psk_handshake_and_echo() -> None:
    """A PSK handshake negotiates the configured suite and echoes data."""
    client, server, _ = established(*psk_configs(), hostname=None)
    assert client.ciphersuite == server.ciphersuite == "TLS-PSK-WITH-AES-128-GCM-SHA256"
    assert echo(client, server, b"x" * 1000) == b"x" * 1000


def test_raw_forms_return_codes_unchanged(dtls_pair: Pair) -> None:
    """Protocol calls return the C int unchanged: WANT_READ before any reply."""
    client, server, _ = dtls_pair
    assert client.handshake() == Err.SSL_WANT_READ
    assert isinstance(client.handshake(), Err)
    assert client.state == "SERVER_HELLO"
    assert server.handshake_step() == 0 and server.state == "CLIENT_HELLO"
    with pytest.raises(WantRead) as info:
        client.do_handshake()
    assert info.value.code is Err.SSL_WANT_READ


def test_close_notify_seen_by_peer(dtls_pair: Pair) -> None:
    """close_notify from one side reads as SSL_PEER_CLOSE_NOTIFY on the other."""
    client, server, _ = dtls_pair
    assert handshake_pair(client, server) == (0, 0)
    assert client.close_notify() == 0
    pump(client, server)
    assert server.read_into(bytearray(100)) == Err.SSL_PEER_CLOSE_NOTIFY
    # The raising form, the other way round.
    assert server.close_notify() == 0
    pump(server, client)
    with pytest.raises(PeerCloseNotify) as info:
        client.read()
    assert info.value.code is Err.SSL_PEER_CLOSE_NOTIFY


def test_session_reset_then_second_handshake(dtls_cert_configs: Configs) -> None:
    """After close and session_reset, the same server context serves a new client."""
    client, server, clock = established(*dtls_cert_configs)
    client.close_notify()
    pump(client, server)
    assert server.read_into(bytearray(16)) == Err.SSL_PEER_CLOSE_NOTIFY
    assert server.session_reset() == 0
    assert server.state == "HELLO_REQUEST"
    client2 = Context(dtls_cert_configs[0], clock=clock)
    client2.set_hostname("localhost")
    assert handshake_pair(client2, server) == (0, 0)
    assert echo(client2, server) == REQUEST


def test_cookie_exchange(mbedtls_pki: TestPKI) -> None:
    """With cookies, the first ClientHello gets HELLO_VERIFY_REQUIRED, then the handshake succeeds."""
    client, server, _ = new_pair(*cert_configs(mbedtls_pki, cookies=True))
    server.set_client_transport_id(b"127.0.0.1:5555")
    assert client.handshake() == Err.SSL_WANT_READ
    pump(client, server)
    assert server.handshake() == Err.SSL_HELLO_VERIFY_REQUIRED
    out = server.peek()
    assert out is not None
    hs = parse_datagram(out).records[0].handshake
    assert hs is not None and hs.type_name == "hello_verify_request"
    pump(server, client)
    assert server.session_reset() == 0
    assert server.set_client_transport_id(b"127.0.0.1:5555") == 0
    assert client.handshake() == Err.SSL_WANT_READ  # second ClientHello, with the cookie
    pump(client, server)
    assert handshake_pair(client, server, transport_id=b"127.0.0.1:5555") == (0, 0)


def test_cookie_bound_to_transport_id(mbedtls_pki: TestPKI) -> None:
    """A cookie made for one client address is refused for another (a new HVR)."""
    client, server, _ = new_pair(*cert_configs(mbedtls_pki, cookies=True))
    server.set_client_transport_id(b"A")
    client.handshake()
    pump(client, server)
    assert server.handshake() == Err.SSL_HELLO_VERIFY_REQUIRED
    pump(server, client)
    server.session_reset()
    server.set_client_transport_id(b"B")
    client.handshake()
    pump(client, server)
    assert server.handshake() == Err.SSL_HELLO_VERIFY_REQUIRED


def test_dropped_flight_retransmitted_on_virtual_timeout(mbedtls_pki: TestPKI) -> None:
    """A lost ClientHello is resent exactly when the virtual clock reaches the timer, then doubled."""
    client, server, clock = new_pair(*cert_configs(mbedtls_pki, handshake_timeout=(1000, 8000)))
    assert client.handshake() == Err.SSL_WANT_READ
    first = client.pop()  # dropped on the floor
    assert first is not None
    assert client.timer_deadline() == 1000
    clock.advance(999)
    assert client.handshake() == Err.SSL_WANT_READ and client.pending_out == 0
    clock.advance(1)
    assert client.timer_state() == 2
    assert client.handshake() == Err.SSL_WANT_READ
    assert client.pending_out == 1
    resent = client.peek()
    assert resent is not None
    again = parse_datagram(resent).records[0]
    assert again.payload == parse_datagram(first).records[0].payload  # same ClientHello
    assert again.seq == 1  # in a new record
    assert client.timer_deadline() == 1000 + 2000  # backoff doubled
    assert handshake_pair(client, server) == (0, 0)
    assert clock.now_ms == 1000


def test_pair_jumps_to_the_next_timer_and_a_finished_side_keeps_reading() -> None:
    """``sim.pump.Pair`` (the driver of ``handshake_pair`` and ``Duo``): with the
    first ClientHello lost, the clock jumps to the retransmission timer and the
    handshake completes; an established side then reads into ``received``."""
    from mbedtls_py.sim.pump import Pair as Driver

    client, server, clock = new_pair(*psk_configs(seed=3), hostname=None)
    assert client.handshake() == Err.SSL_WANT_READ
    assert client.pop() is not None  # lost
    pair = Driver(client, server, transport_id=b"peer")
    assert pair.run() and clock.now_ms == 1000
    assert client.write(REQUEST) == len(REQUEST)
    assert pair.run(lambda: bytes(pair.received["server"]) == REQUEST)
    assert pair.codes == {"client": 0, "server": 0} and not pair.failed


def test_seed_race_late_close_notify_after_reset(dtls_cert_configs: Configs) -> None:
    """The seed's race: the client's close_notify, held until after session_reset, makes
    the server's next handshake return exactly SSL_UNEXPECTED_MESSAGE (-0x7700)."""
    client, server, _ = established(*dtls_cert_configs)
    assert echo(client, server) == REQUEST
    # The server closes first, as the dtls_server sample does after echoing.
    assert server.close_notify() == 0
    pump(server, client)
    assert client.read_into(bytearray(64)) == Err.SSL_PEER_CLOSE_NOTIFY
    assert client.close_notify() == 0
    held = client.pop()  # the client's encrypted close_notify, in flight
    assert held is not None
    late = parse_datagram(held).records[0]
    assert late.type_name == "alert" and late.epoch == 1 and late.encrypted
    assert server.session_reset() == 0
    server.set_client_transport_id(b"127.0.0.1:4433")
    server.push(held)  # ... arrives after the reset
    assert server.handshake() == RACE_RC  # -0x7700 (2.x: -0x7900)
    assert server.last_datagram() == held


def test_late_close_notify_before_reset_is_harmless(dtls_cert_configs: Configs) -> None:
    """The same close_notify arriving before the reset is just the peer's close."""
    client, server, _ = established(*dtls_cert_configs)
    server.close_notify()
    pump(server, client)
    client.read_into(bytearray(64))
    client.close_notify()
    pump(client, server)
    assert server.read_into(bytearray(64)) == Err.SSL_PEER_CLOSE_NOTIFY
    assert server.session_reset() == 0
    assert server.handshake() == Err.SSL_WANT_READ


def test_exported_keys(dtls_pair: Pair) -> None:
    """With key export on, the hook yields an NSS key log line after the handshake
    (2.x has no per-context key export: NotAvailableError, naming the variant)."""
    client, server, _ = dtls_pair
    if MBEDTLS_2:
        with pytest.raises(NotAvailableError, match="not available in this variant"):
            client.exported_keys()
        return
    lines: list[str] = []
    client.keylog = server.keylog = lines.append
    assert client.exported_keys() is None
    assert handshake_pair(client, server) == (0, 0)
    assert len(lines) == 2 and lines[0] == lines[1]
    ck, sk = client.exported_keys(), server.exported_keys()
    assert ck is not None and ck == sk and len(ck.master_secret) == 48
    assert ck.nss_keylog_line().startswith("CLIENT_RANDOM " + ck.client_random.hex())


# -- misuse --------------------------------------------------------------------

def test_closed_context_raises(dtls_pair: Pair) -> None:
    """After close() every call raises ClosedError; close() is idempotent."""
    client, _, _ = dtls_pair
    client.close()
    client.close()
    assert client.closed and "closed" in repr(client)
    for call in (client.handshake, client.pop, client.close_notify, client.session_reset,
                 lambda: client.write(b"x"), lambda: client.push(b"x"), lambda: client.state,
                 client.timer_deadline, lambda: client.pending_in):
        with pytest.raises(ClosedError):
            call()


def test_bad_arguments(dtls_pair: Pair) -> None:
    """Wrong types and sizes raise TypeError/ValueError, never crash."""
    client, server, _ = dtls_pair
    with pytest.raises(TypeError):
        client.write("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.push(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.push(b"")
    with pytest.raises(ValueError):
        client.push(b"x" * 70000)
    with pytest.raises(TypeError):
        client.read_into(b"immutable")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.read_into(bytearray())
    with pytest.raises(ValueError):
        client.read(0)
    with pytest.raises(ValueError):
        client.set_hostname("a\0b")
    with pytest.raises(ValueError):
        client.set_mtu(70000)
    with pytest.raises(TypeError):
        client.move_to("server")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.move_to(client)
    with pytest.raises(TypeError):
        Context("not a config")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Context(Config("client"), max_queue=0)
    with pytest.raises(TypeError):
        Context(Config("client"), clock=5)  # type: ignore[arg-type]


def test_wrong_state_codes(dtls_pair: Pair) -> None:
    """Calls in the wrong state return Mbed TLS's own codes."""
    client, server, _ = dtls_pair
    assert client.set_client_transport_id(b"x") == Err.SSL_BAD_INPUT_DATA  # client side
    assert server.read_into(bytearray(10)) == Err.SSL_WANT_READ  # nothing yet
    assert client.set_hostname("h" * 300) == Err.SSL_BAD_INPUT_DATA


def test_queue_bound_gives_buffer_error(dtls_psk_configs: Configs) -> None:
    """A full inbound queue refuses a datagram with BufferError; Mbed TLS sees WANT_WRITE on a full outbound queue."""
    client = Context(dtls_psk_configs[0], max_queue=2)
    client.push(b"a")
    client.push(b"b")
    with pytest.raises(BufferError):
        client.push(b"c")
    client.clear_queues()
    assert client.pending_in == 0


def test_garbage_from_the_wire_never_crashes(dtls_pair: Pair) -> None:
    """Random datagrams fed to both sides give error codes or WANT_READ, never a crash."""
    import random

    rnd = random.Random(1)
    client, server, _ = dtls_pair
    client.handshake()
    for _ in range(300):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
        if rnd.random() < 0.5:
            data = bytes([22, 0xFE, 0xFD]) + data  # plausible header start
        for ctx in (server, client):
            ctx.push(data)
            rc = ctx.handshake()
            assert rc <= 0
            if rc not in (Err.SSL_WANT_READ, Err.SSL_HELLO_VERIFY_REQUIRED):
                ctx.session_reset()
            ctx.drain()


def test_truncated_oversize_datagram(dtls_psk_configs: Configs) -> None:
    """A datagram larger than Mbed TLS's buffer is truncated like UDP does, not overflowed."""
    _, server = dtls_psk_configs
    ctx = Context(server)
    ctx.push(bytes([22, 0xFE, 0xFD]) + b"\0" * 60000)
    # 2.x and 4.0: the ClientHello parser reads the (truncated) record itself
    assert ctx.handshake() in (Err.SSL_WANT_READ, Err.SSL_UNEXPECTED_RECORD,
                               Err.SSL_INVALID_RECORD, *SHORT_CLIENT_HELLO_RCS)


def test_contexts_free_their_memory() -> None:
    """Many context lifecycles leave no Context objects behind (freed by ffi.gc)."""
    cc, sc = psk_configs()
    for _ in range(200):
        c, s, _ = new_pair(cc, sc, hostname=None)
        assert handshake_pair(c, s) == (0, 0)
    del c, s
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is Context]


def test_threads_serialise_on_one_context(dtls_psk_configs: Configs) -> None:
    """Two threads calling one context are serialised by its lock (no crash)."""
    cc, sc = dtls_psk_configs
    client, server, _ = new_pair(cc, sc, hostname=None)
    assert handshake_pair(client, server) == (0, 0)

    def writer() -> None:
        for _ in range(500):
            client.write(b"y" * 100)
            client.drain()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)


def test_virtual_clock_misuse() -> None:
    """The virtual clock only moves forward, in whole milliseconds."""
    clock = VirtualClock(5)
    with pytest.raises(ValueError):
        clock.now_ms = 4
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.now_ms = 1.5  # type: ignore[assignment]
    assert clock.advance(10) == 15
    assert RealClock().now_ms > 0


def test_raising_forms_carry_code(dtls_pair: Pair) -> None:
    """read() on a context with nothing to read raises WantRead with .code."""
    client, server, _ = dtls_pair
    handshake_pair(client, server)
    with pytest.raises(MbedTLSError) as info:
        server.read()
    assert info.value.code == Err.SSL_WANT_READ
