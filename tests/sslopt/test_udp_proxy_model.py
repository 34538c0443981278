"""The udp_proxy model: every option against hand-made datagram sequences,
with the forward/hold/drop decisions udp_proxy.c makes."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import pytest

from mbedtls_py.sslopt.proxy import GlibcRand, ProxyOptions, UdpProxy, msg_type, parse_proxy_args


def hs(msg_type_: int, size: int = 60, seq: int = 0) -> bytes:
    """A plaintext DTLS handshake datagram of ``size`` bytes (first record)."""
    body = size - 25
    return (bytes([22, 254, 253, 0, 0]) + seq.to_bytes(6, "big") + (size - 13).to_bytes(2, "big")
            + bytes([msg_type_, 0]) + body.to_bytes(2, "big") + b"\0\0\0\0"
            + bytes([0]) + body.to_bytes(2, "big") + b"\x55" * body)


def rec(content: int, size: int = 40) -> bytes:
    return bytes([content, 254, 253]) + b"\0" * 8 + (size - 13).to_bytes(2, "big") + b"\x33" * (size - 13)


CH, SH, CERT, HVR, CCS, AD, CID = hs(1), hs(2, 70), hs(11, 300), hs(3, 48), rec(20, 14), rec(23), rec(25)


class Recorder:
    def __init__(self, opts: ProxyOptions) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.now = 0
        self.timers: list[tuple[int, Callable[[], None]]] = []
        self.proxy = UdpProxy(opts, lambda way, d: self.sent.append((way, d)), lambda: self.now,
                              lambda t, fn: self.timers.append((t, fn)))

    def c(self, data: bytes, addr: object = ("cli", 1)) -> str:
        self.proxy.from_client(addr, data)
        return self.proxy.log[-1]

    def decide(self, data: bytes) -> str:
        self.proxy.from_client(("cli", 1), b"") if self.proxy.client is None else None
        return self.proxy.handle("S <- C", data)


def test_glibc_rand_matches_libc() -> None:
    """The proxy's rand() is glibc's: same seed, same sequence as the real udp_proxy."""
    path = ctypes.util.find_library("c")
    if path is None or "libc.so" not in path:
        pytest.skip("glibc not available")
    libc = ctypes.CDLL(path)
    for seed in (1, 7, 1234567, 2**32 - 1):
        libc.srand(ctypes.c_uint(seed))
        expected = [libc.rand() for _ in range(500)]
        g = GlibcRand(seed)
        assert [g.rand() for _ in range(500)] == expected


def test_msg_type() -> None:
    """The type of a datagram is its first record's, as udp_proxy names it."""
    assert msg_type(CH) == "ClientHello" and msg_type(HVR) == "HelloVerifyRequest"
    assert msg_type(CCS) == "ChangeCipherSpec" and msg_type(AD) == "ApplicationData"
    assert msg_type(CID) == "CID" and msg_type(rec(21)) == "Alert"
    assert msg_type(rec(22, 30)) == "Encrypted handshake"
    assert msg_type(b"") == "Invalid" and msg_type(rec(22, 20)) == "Invalid handshake"


def test_no_options_forwards_everything() -> None:
    r = Recorder(ProxyOptions())
    for d in (CH, CERT, CCS, AD):
        assert r.proxy.handle("S <- C", d) == "forward"
    assert [d for _, d in r.sent] == [CH, CERT, CCS, AD]


def test_delay_holds_until_next_forward() -> None:
    """delay_cli: the held datagram goes out right after the next forwarded one."""
    r = Recorder(parse_proxy_args(["delay_cli=ClientHello"]))
    assert r.proxy.handle("S <- C", CH) == "delay"
    assert r.sent == []
    assert r.proxy.handle("S <- C", CERT) == "forward"
    assert [d for _, d in r.sent] == [CERT, CH]
    assert r.proxy.handle("S <- C", CH) == "forward"  # each delay_cli entry is used once


def test_delay_srv_only_server_direction() -> None:
    r = Recorder(parse_proxy_args(["delay_srv=ServerHello"]))
    assert r.proxy.handle("S <- C", SH) == "forward"
    assert r.proxy.handle("S -> C", SH) == "delay"


def test_delay_ccs() -> None:
    r = Recorder(parse_proxy_args(["delay_ccs=1"]))
    assert r.proxy.handle("S <- C", CCS) == "delay"
    assert r.proxy.handle("S <- C", CCS) == "delay"  # no hold limit for delay_ccs
    assert r.proxy.handle("S -> C", hs(20, 61)) == "forward"
    assert [d for _, d in r.sent] == [hs(20, 61), CCS, CCS]


def test_at_most_five_held() -> None:
    """A sixth held datagram is lost."""
    r = Recorder(parse_proxy_args(["delay_cli=ClientHello"] * 6))
    for i in range(6):
        assert r.proxy.handle("S <- C", hs(1, 60 + i)) == "delay"
    r.proxy.handle("S <- C", AD)
    assert len(r.sent) == 1 + 5


def _decisions(opts: list[str], data: bytes, n: int = 200) -> list[str]:
    r = Recorder(parse_proxy_args(opts))
    return [r.proxy.handle("S <- C", data) for _ in range(n)]


def test_drop_uses_rand_and_hold_limit() -> None:
    """drop=N: rand() % N == 0 drops; a datagram size is dropped at most twice."""
    out = _decisions(["drop=2", "seed=1"], CH)
    assert out.count("drop") == 2 and out[2:].count("drop") <= 2
    g = GlibcRand(1)
    first = ["drop" if g.rand() % 2 == 0 else "forward" for _ in range(3)]
    assert out[:len(first)][:first.index("forward") + 1] == first[:first.index("forward") + 1]


def test_drop_and_delay_never_touch_ad_or_cid() -> None:
    for opt in ("drop=2", "delay=2"):
        assert set(_decisions([opt, "seed=3"], AD)) == {"forward"}
        assert set(_decisions([opt, "seed=3"], CID)) == {"forward"}


def test_delay_random() -> None:
    out = _decisions(["delay=2", "seed=5"], CERT)
    assert out.count("delay") == 2  # held at most twice (same size)


def test_protect_hvr_and_len() -> None:
    assert set(_decisions(["drop=2", "protect_hvr=1", "seed=9"], HVR)) == {"forward"}
    assert "drop" in _decisions(["drop=2", "seed=9"], HVR)
    assert set(_decisions(["drop=2", f"protect_len={len(CERT)}", "seed=9"], CERT)) == {"forward"}


def test_mtu_drops_large() -> None:
    r = Recorder(parse_proxy_args(["mtu=100"]))
    assert r.proxy.handle("S <- C", CERT) == "drop"
    assert r.proxy.handle("S <- C", CERT) == "drop"  # mtu ignores the hold limit
    assert r.proxy.handle("S <- C", CH) == "forward"


def test_duplicate_not_application_data() -> None:
    r = Recorder(parse_proxy_args(["duplicate=2", "seed=4"]))
    for _ in range(20):
        r.proxy.handle("S <- C", CH)
        r.proxy.handle("S <- C", AD)
    assert sum(1 for _, d in r.sent if d == AD) == 20
    assert sum(1 for _, d in r.sent if d == CH) > 20


def test_bad_ad_sends_corrupted_copy_first() -> None:
    r = Recorder(parse_proxy_args(["bad_ad=1"]))
    r.proxy.handle("S <- C", AD)
    assert len(r.sent) == 2 and r.sent[1][1] == AD
    assert r.sent[0][1][13] == (AD[13] + 1) & 0xFF


def test_bad_cid_modifies_byte_11() -> None:
    r = Recorder(parse_proxy_args(["bad_cid=1"]))
    r.proxy.handle("S <- C", CID)
    assert len(r.sent) == 2 and r.sent[1][1] == CID and r.sent[0][1][11] == CID[11] ^ 1


def test_inject_clihlo_after_first_ad() -> None:
    r = Recorder(parse_proxy_args(["inject_clihlo=1"]))
    r.proxy.handle("S <- C", CH)
    r.proxy.handle("S <- C", AD)
    r.proxy.handle("S <- C", AD)
    assert [d for _, d in r.sent] == [CH, AD, CH, AD]


def test_pack_coalesces_until_timer() -> None:
    r = Recorder(parse_proxy_args(["pack=50"]))
    r.proxy.handle("S <- C", CH)
    r.now = 10
    r.proxy.handle("S <- C", CERT)
    assert r.sent == [] and r.timers and r.timers[0][0] == 50
    r.now = 50
    r.timers[0][1]()
    assert r.sent == [("S <- C", CH + CERT)]


def test_new_client_resets_proxy() -> None:
    """A datagram from another client address forgets held datagrams and counts."""
    r = Recorder(parse_proxy_args(["delay_cli=ClientHello", "drop=2", "seed=1"]))
    r.proxy.from_client(("cli", 1), CH)
    assert r.proxy.prev
    r.proxy.held[5] = 2
    r.proxy.from_client(("cli", 2), AD)
    assert r.sent == [("S <- C", AD)] and r.proxy.held[5] == 0


@pytest.mark.parametrize("bad", [["drop=1"], ["delay=21"], ["duplicate=-1"], ["mtu=99999"],
                                 ["seed=0"], ["bad_ad=2"], ["nonsense=1"], ["drop"],
                                 ["delay_cli=X"] * 11])
def test_parse_rejects_what_udp_proxy_rejects(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_proxy_args(bad)


def test_udp_proxy_command_over_real_udp() -> None:
    """`mbedtls-py udp-proxy` applies the same options over real UDP on loopback:
    delay_cli=ClientHello sends the ClientHello after the next datagram."""
    import socket
    import subprocess
    import sys

    def free() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(5)
    lport = free()
    proc = subprocess.Popen([sys.executable, "-m", "mbedtls_py", "udp-proxy",
                             f"server_port={srv.getsockname()[1]}", f"listen_port={lport}",
                             "delay_cli=ClientHello", "--duration", "6"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        while "Forwarding" not in proc.stdout.readline():
            pass
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cli.sendto(CH, ("127.0.0.1", lport))
        cli.sendto(CERT, ("127.0.0.1", lport))
        assert srv.recvfrom(65535)[0] == CERT
        assert srv.recvfrom(65535)[0] == CH
        cli.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        srv.close()


def test_udp_proxy_takes_any_new_source_as_the_client() -> None:
    """Pinned: like upstream's udp_proxy (``goto accept``), the model and
    ``mbedtls-py udp-proxy`` serve one client at a time: a datagram from a new
    source address makes it "the client", so the server's replies go to the
    newcomer and the first client hears nothing.  Faithful, not robust: ``--help``
    says so and points to ``mbedtls-py proxy``."""
    import socket
    import subprocess
    import sys

    r = Recorder(ProxyOptions())
    r.c(CH, ("a", 1))
    r.proxy.from_server(HVR)
    assert r.proxy.client == ("a", 1) and r.sent[-1] == ("S -> C", HVR)
    r.c(AD, ("b", 2))  # any other sender: a stranger's garbage
    assert r.proxy.client == ("b", 2)

    def free() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(5)
    lport = free()
    proc = subprocess.Popen([sys.executable, "-m", "mbedtls_py", "udp-proxy",
                             f"server_port={srv.getsockname()[1]}", f"listen_port={lport}",
                             "--duration", "8", "--quiet"], stdout=subprocess.PIPE, text=True)
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert proc.stdout is not None
        while "Forwarding" not in proc.stdout.readline():
            pass
        for s in (a, b):
            s.settimeout(1.0)
        a.sendto(CH, ("127.0.0.1", lport))
        _, upstream = srv.recvfrom(65535)
        srv.sendto(HVR, upstream)
        assert a.recvfrom(65535)[0] == HVR  # a is the client
        b.sendto(AD, ("127.0.0.1", lport))
        assert srv.recvfrom(65535)[0] == AD
        srv.sendto(SH, upstream)  # the server answers its client ...
        assert b.recvfrom(65535)[0] == SH  # ... and the newcomer gets it
        with pytest.raises(TimeoutError):
            a.recvfrom(65535)
    finally:
        a.close()
        b.close()
        proc.terminate()
        proc.wait(timeout=10)
        srv.close()
    out = subprocess.run([sys.executable, "-m", "mbedtls_py", "udp-proxy", "--help"],
                         capture_output=True, text=True, timeout=30).stdout
    assert "new source address" in " ".join(out.split()) and "mbedtls-py proxy" in out
