"""DTLS records and handshake messages built by hand from RFC 6347, for the
``test_records_*`` tests of mbedtls_py.wire.records."""

from __future__ import annotations

import random

from mbedtls_py.wire.constants import DTLS1_2


def record(
    content_type: int,
    epoch: int,
    seq: int,
    body: bytes,
    version: int = DTLS1_2,
    cid: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """A DTLS record: type(1) version(2) epoch(2) seq(6) [cid] length(2) body."""
    return (
        bytes([content_type])
        + version.to_bytes(2, "big")
        + epoch.to_bytes(2, "big")
        + seq.to_bytes(6, "big")
        + (cid or b"")
        + (len(body) if length is None else length).to_bytes(2, "big")
        + body
    )


def handshake(
    msg_type: int,
    body: bytes,
    message_seq: int = 0,
    fragment_offset: int = 0,
    total_length: int | None = None,
) -> bytes:
    """A DTLS handshake message: type(1) length(3) msg_seq(2) frag_off(3) frag_len(3) body."""
    return (
        bytes([msg_type])
        + (len(body) if total_length is None else total_length).to_bytes(3, "big")
        + message_seq.to_bytes(2, "big")
        + fragment_offset.to_bytes(3, "big")
        + len(body).to_bytes(3, "big")
        + body
    )


def client_hello_body() -> bytes:
    """A DTLS 1.2 ClientHello body (RFC 6347 4.2.1), 108 bytes long."""
    extensions = (
        # supported_groups: secp256r1
        b"\x00\x0a\x00\x04\x00\x02\x00\x17"
        # ec_point_formats: uncompressed
        + b"\x00\x0b\x00\x02\x01\x00"
        # signature_algorithms: ecdsa_secp256r1_sha256, rsa_pkcs1_sha256
        + b"\x00\x0d\x00\x06\x00\x04\x04\x03\x04\x01"
        # extended_master_secret, encrypt_then_mac
        + b"\x00\x17\x00\x00\x00\x16\x00\x00"
        # padding to reach a round size
        + b"\x00\x15\x00\x1a" + bytes(26)
    )
    body = (
        b"\xfe\xfd"  # client_version
        + bytes(range(32))  # random
        + b"\x00"  # session_id
        + b"\x00"  # cookie
        + b"\x00\x04\xc0\x2b\xc0\xae"  # cipher_suites
        + b"\x01\x00"  # compression_methods: null
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    assert len(body) == 108
    return body


CLIENT_HELLO = record(22, 0, 0, handshake(1, client_hello_body()))


def encrypted_alert(seq: int = 3, size: int = 16, epoch: int = 1) -> bytes:
    """An epoch-1 alert record whose body is random bytes (ciphertext)."""
    rng = random.Random(seq)
    return record(21, epoch, seq, bytes(rng.randrange(256) for _ in range(size)))
