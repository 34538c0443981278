"""Forged DTLS 1.2 records: what an off-path attacker can send without any key.

Every function returns the bytes of one plaintext record (13-byte header and
body); concatenate them (and stray bytes) to build a datagram.
"""

from __future__ import annotations

__all__ = ["record", "ccs", "alert", "app_data", "DTLS12", "SEQ_MAX"]

DTLS12 = 0xFEFD
SEQ_MAX = (1 << 48) - 1


def record(content_type: int, body: bytes, *, epoch: int = 0, seq: int = 0,
           version: int = DTLS12, length: int | None = None) -> bytes:
    """One record: type, version, epoch, 48-bit sequence number, length, body.
    ``length`` overrides the length field (to forge an inconsistent header)."""
    if not 0 <= content_type <= 0xFF:
        raise ValueError("content type must be 0 .. 255")
    if not 0 <= epoch <= 0xFFFF:
        raise ValueError("epoch must be 0 .. 65535")
    if not 0 <= seq <= SEQ_MAX:
        raise ValueError("sequence number must be 0 .. 2**48-1")
    n = len(body) if length is None else length
    if not 0 <= n <= 0xFFFF:
        raise ValueError("length must be 0 .. 65535")
    return (bytes([content_type]) + version.to_bytes(2, "big") + epoch.to_bytes(2, "big")
            + seq.to_bytes(6, "big") + n.to_bytes(2, "big") + body)


def ccs(*, epoch: int = 0, seq: int = 0) -> bytes:
    """A ChangeCipherSpec record (14 bytes in plaintext)."""
    return record(20, b"\x01", epoch=epoch, seq=seq)


def alert(level: int = 1, description: int = 0, *, epoch: int = 0, seq: int = 0) -> bytes:
    """An alert record (default: warning close_notify)."""
    return record(21, bytes([level, description]), epoch=epoch, seq=seq)


def app_data(body: bytes = b"x", *, epoch: int = 0, seq: int = 0) -> bytes:
    """An application_data record (plaintext: invalid in every state)."""
    return record(23, body, epoch=epoch, seq=seq)
