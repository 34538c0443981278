"""pcapng and pcap files from datagrams (standard library only).

A :class:`Packet` is one UDP datagram between two ``(ip, port)`` endpoints at
an absolute time in microseconds, with the comments to show on it.
:func:`write_pcapng` writes a Section Header Block, one Interface
Description Block per interface name (``LINKTYPE_RAW`` IPv4/IPv6, or
Ethernet), a Decryption Secrets Block holding the NSS key log lines (type
``TLS key log``, so Wireshark and tshark decrypt the file with no setup), and
one Enhanced Packet Block per packet with its ``opt_comment`` options.
:func:`write_pcap` writes the classic format for older tools (no comments,
no keys: pair it with :func:`write_keylog`, an ``SSLKEYLOGFILE``).
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

__all__ = ["Packet", "LinkType", "write_pcapng", "write_pcap", "write_keylog", "read_keylog",
           "ip_udp", "LINKTYPE_RAW", "LINKTYPE_ETHERNET", "SECRETS_TLS_KEYLOG"]

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # the packet starts with the IPv4 or IPv6 header
SECRETS_TLS_KEYLOG = 0x544C534B  # "TLSK": NSS key log lines

LinkType = Literal["raw", "ethernet"]
_LINKTYPES = {"raw": LINKTYPE_RAW, "ethernet": LINKTYPE_ETHERNET}

Address = tuple[str, int]


@dataclass
class Packet:
    """One UDP datagram as a capture shows it."""

    time_us: int  # microseconds since the Unix epoch
    src: Address
    dst: Address
    data: bytes
    interface: str = "udp"
    comments: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- IP and UDP


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


_ip_ids = itertools.count(1)


def ip_udp(src: Address, dst: Address, payload: bytes, ip_id: int | None = None) -> bytes:
    """An IPv4 or IPv6 packet (by the addresses' family) carrying a UDP
    datagram, with correct IP header and UDP checksums."""
    s_ip, d_ip = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    if s_ip.version != d_ip.version:
        raise ValueError(f"mixed address families: {src[0]} -> {dst[0]}")
    udp_len = 8 + len(payload)
    if udp_len > 0xFFFF:
        raise ValueError(f"datagram of {len(payload)} bytes does not fit in UDP")
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    if s_ip.version == 4:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!BBH", 0, 17, udp_len)
    else:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!IxxxB", udp_len, 17)
    csum = _checksum(pseudo + udp) or 0xFFFF  # 0 means "no checksum" in UDP
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    if s_ip.version == 4:
        ident = next(_ip_ids) & 0xFFFF if ip_id is None else ip_id & 0xFFFF
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident, 0x4000, 64, 17, 0,
                           s_ip.packed, d_ip.packed)
        head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
        return head + udp
    return struct.pack("!IHBB16s16s", 6 << 28, udp_len, 17, 64, s_ip.packed, d_ip.packed) + udp


def _mac(ip: str) -> bytes:
    # a stable locally administered MAC per address
    return b"\x02\x00" + ipaddress.ip_address(ip).packed[-4:]


def _frame(p: Packet, linktype: int, ip_id: int | None) -> bytes:
    packet = ip_udp(p.src, p.dst, p.data, ip_id)
    if linktype == LINKTYPE_RAW:
        return packet
    ethertype = 0x0800 if packet[0] >> 4 == 4 else 0x86DD
    return _mac(p.dst[0]) + _mac(p.src[0]) + struct.pack("!H", ethertype) + packet


# ---------------------------------------------------------------- pcapng blocks


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _options(opts: Sequence[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    out = b"".join(struct.pack("<HH", code, len(value)) + _pad(value) for code, value in opts)
    return out + struct.pack("<HH", 0, 0)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def _comment(text: str) -> tuple[int, bytes]:
    return (1, text.encode("utf-8", "replace")[:0xFFFF])


def _linktype(linktype: LinkType) -> int:
    try:
        return _LINKTYPES[linktype]
    except KeyError:
        raise ValueError(f"linktype must be one of {sorted(_LINKTYPES)}, not {linktype!r}") \
            from None


def write_pcapng(path: str | Path | BinaryIO, packets: Iterable[Packet],
                 key_lines: Iterable[str] = (), *, linktype: LinkType = "raw",
                 comment: str | None = None,
                 interface_descriptions: dict[str, str] | None = None) -> int:
    """Write ``packets`` (in the order given) to a pcapng file, with the key
    log lines in a Decryption Secrets Block before the first packet.  One
    interface per distinct ``Packet.interface``.  Returns the packet count."""
    lt = _linktype(linktype)
    packets = list(packets)
    lines = [ln.strip() for ln in key_lines if ln.strip()]
    names: dict[str, int] = {}
    for p in packets:
        names.setdefault(p.interface, len(names))
    if not names:
        names["udp"] = 0
    out = bytearray()
    shb_opts = [(4, b"mbedtls-py")]  # shb_userappl
    if comment:
        shb_opts.insert(0, _comment(comment))
    out += _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(shb_opts))
    descriptions = interface_descriptions or {}
    for name in names:
        opts = [(2, name.encode()), (9, bytes([6]))]  # if_name, if_tsresol = microseconds
        if name in descriptions:
            opts.insert(1, (3, descriptions[name].encode()))
        out += _block(1, struct.pack("<HHI", lt, 0, 0) + _options(opts))
    if lines:
        secrets = ("\n".join(lines) + "\n").encode()
        out += _block(0x0A, struct.pack("<II", SECRETS_TLS_KEYLOG, len(secrets)) + _pad(secrets))
    for i, p in enumerate(packets):
        frame = _frame(p, lt, i + 1)
        ts = int(p.time_us)
        body = struct.pack("<IIIII", names[p.interface], ts >> 32, ts & 0xFFFFFFFF,
                           len(frame), len(frame)) + _pad(frame)
        body += _options([_comment(c) for c in p.comments])
        out += _block(6, body)
    _write(path, bytes(out))
    return len(packets)


def write_pcap(path: str | Path | BinaryIO, packets: Iterable[Packet], *,
               linktype: LinkType = "raw") -> int:
    """Write ``packets`` to a classic pcap file (microseconds; no interfaces,
    comments or keys).  Returns the packet count."""
    lt = _linktype(linktype)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0xFFFF, lt))
    n = 0
    for n, p in enumerate(packets, 1):
        frame = _frame(p, lt, n)
        sec, usec = divmod(int(p.time_us), 1_000_000)
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    _write(path, bytes(out))
    return n


def write_keylog(path: str | Path, key_lines: Iterable[str]) -> int:
    """Write an ``SSLKEYLOGFILE`` (NSS key log format); returns the line count."""
    lines = [ln.strip() for ln in key_lines if ln.strip()]
    Path(path).write_text("".join(ln + "\n" for ln in lines))
    return len(lines)


def read_keylog(path: str | Path) -> list[str]:
    """The key lines of an NSS key log file (comments and blank lines skipped)."""
    return [ln.strip() for ln in Path(path).read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def _write(path: str | Path | BinaryIO, data: bytes) -> None:
    if isinstance(path, (str, Path)):
        Path(path).write_bytes(data)
    else:
        path.write(data)
