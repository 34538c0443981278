"""The capture writer without tshark: framing, checksums, blocks, names, bounds."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from mbedtls_py import Context
from mbedtls_py.capture import LiveCapture, Packet, capture_paths, write_pcapng
from mbedtls_py.capture.pcapng import SECRETS_TLS_KEYLOG, ip_udp
from mbedtls_py.sim import Network
from mbedtls_py.testing import psk_configs


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


@pytest.mark.parametrize("src,dst", [(("192.0.2.1", 50001), ("192.0.2.2", 4433)),
                                     (("2001:db8::1", 50001), ("2001:db8::2", 4433))])
@pytest.mark.parametrize("size", [0, 1, 13, 1400])
def test_ip_udp_checksums_verify(src: tuple[str, int], dst: tuple[str, int],
                                 size: int) -> None:
    """Receiver-side verification: the one's complement sums come out as 0xFFFF."""
    payload = bytes((i * 7) & 0xFF for i in range(size))
    pkt = ip_udp(src, dst, payload)
    s, d = ipaddress.ip_address(src[0]).packed, ipaddress.ip_address(dst[0]).packed
    if len(s) == 4:
        head, udp = pkt[:20], pkt[20:]
        assert _ones_sum(head) == 0xFFFF
        pseudo = s + d + struct.pack("!BBH", 0, 17, len(udp))
    else:
        udp = pkt[40:]
        assert struct.unpack("!H", pkt[4:6])[0] == len(udp)
        pseudo = s + d + struct.pack("!I3xB", len(udp), 17)
    assert struct.unpack("!HHH", udp[:6]) == (src[1], dst[1], 8 + size)
    assert _ones_sum(pseudo + udp) == 0xFFFF
    assert udp[8:] == payload


def test_mixed_families_and_oversize_are_refused() -> None:
    """An IPv4 source with an IPv6 destination, or a datagram UDP cannot carry, is a ValueError."""
    with pytest.raises(ValueError):
        ip_udp(("192.0.2.1", 1), ("2001:db8::1", 2), b"x")
    with pytest.raises(ValueError):
        ip_udp(("192.0.2.1", 1), ("192.0.2.2", 2), bytes(65528))


def _blocks(raw: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(raw):
        btype, total = struct.unpack_from("<II", raw, i)
        assert total % 4 == 0 and struct.unpack_from("<I", raw, i + total - 4)[0] == total
        out.append((btype, raw[i + 8:i + total - 4]))
        i += total
    return out


def test_pcapng_blocks(tmp_path: Path) -> None:
    """SHB, one IDB per interface, the DSB (TLS key log) before the first EPB, EPBs in order."""
    pkts = [Packet(1_700_000_000_000_000 + i, ("192.0.2.1", 50001), ("192.0.2.2", 4433),
                   b"abc" * i, "a->b" if i % 2 else "b->a", [f"c{i}"] if i == 2 else [])
            for i in range(1, 5)]
    path = tmp_path / "x.pcapng"
    assert write_pcapng(path, pkts, ["CLIENT_RANDOM aa bb", "  "]) == 4
    blocks = _blocks(path.read_bytes())
    assert [b[0] for b in blocks] == [0x0A0D0D0A, 1, 1, 0x0A, 6, 6, 6, 6]
    stype, slen = struct.unpack_from("<II", blocks[3][1])
    assert stype == SECRETS_TLS_KEYLOG and blocks[3][1][8:8 + slen] == b"CLIENT_RANDOM aa bb\n"
    first = blocks[4][1]
    iface, hi, lo, caplen, origlen = struct.unpack_from("<IIIII", first)
    assert iface == 0 and (hi << 32 | lo) == pkts[0].time_us and caplen == origlen == 28 + 3
    assert b"c2" in blocks[5][1] and b"c2" not in blocks[6][1]
    with pytest.raises(ValueError):
        write_pcapng(tmp_path / "y.pcapng", pkts, linktype="token-ring")  # type: ignore[arg-type]


def test_capture_paths() -> None:
    """One run: exactly FILE; several: scenario, policy and seed before the extension."""
    assert capture_paths("out/race.pcapng", "late", "none", "seed3", several=False) == \
        Path("out/race.pcapng")
    assert capture_paths("out/race.pcapng", "late", "none", "seed3", several=True) == \
        Path("out/race.late.none.seed3.pcapng")
    assert capture_paths("race", "s", "seed1", several=True) == Path("race.s.seed1")
    assert capture_paths(None, "x", several=True) is None


def test_live_capture_is_bounded(tmp_path: Path) -> None:
    """Past its limit a live capture counts datagrams instead of keeping them, and says so."""
    cap = LiveCapture(max_packets=3)
    for i in range(10):
        cap.packet(("127.0.0.1", 1), ("127.0.0.1", 2), bytes([i]) * 10)
    assert len(cap.packets) == 3 and cap.missed == 7
    path = tmp_path / "live.pcapng"
    assert cap.save(path) == 3
    assert b"7 later datagram(s) not recorded" in path.read_bytes()
    with pytest.raises(ValueError):
        LiveCapture(max_bytes=0)


def test_network_capture_turns_key_export_on_only_for_its_contexts(tmp_path: Path) -> None:
    """net.capture() exports the keys of the network's contexts, not of others."""
    net = Network(seed="scope")
    cc, sc = psk_configs()
    cli = net.add("client", Context(cc))
    outsider = Context(cc)
    cap = net.capture(tmp_path / "scope.pcapng")
    srv = net.add("server", Context(sc))  # added after the start: adopted too
    assert cli.keylog is not None and srv.keylog is not None and outsider.keylog is None
    assert net.handshake(cli, srv) == (0, 0)
    assert len(cap.key_lines) == 1  # client and server export the same line
    assert cap.save() > 0
    assert cap.key_lines[0].encode() in (tmp_path / "scope.pcapng").read_bytes()


def test_capture_save_needs_a_target() -> None:
    """save() with neither a path nor a key log is a ValueError, not an empty file."""
    cap = Network(seed=1).capture()
    with pytest.raises(ValueError):
        cap.save()
