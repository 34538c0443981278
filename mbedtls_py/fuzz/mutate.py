"""Mutations of real datagrams: what a hostile or broken network can deliver.

Every operator takes a ``random.Random`` and a corpus (the datagrams of a
recorded seeded handshake) and returns one datagram, so a case is fixed by its
seed alone.  Record-level edits go through ``mbedtls_py.wire`` so they hit
real record boundaries.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ..wire import RECORD_HEADER_LEN, parse_datagram

__all__ = ["MUTATIONS", "mutate", "split_records"]

_SEQS = (0, 1, 2, 3, 63, 64, 65, 1 << 16, 1 << 32, 1 << 40, (1 << 48) - 1)


def split_records(data: bytes) -> tuple[list[bytes], bytes]:
    """The raw bytes of each whole record of ``data``, and what follows them."""
    d = parse_datagram(data)
    return [data[r.offset:r.end] for r in d.records], d.trailing


def _pick(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    return corpus[rng.randrange(len(corpus))]


def _with_records(rng: random.Random, data: bytes,
                  edit: Callable[[bytearray], None]) -> bytes:
    """Apply ``edit`` to the header+body bytes of one random record (or to the
    whole datagram when no record parses)."""
    recs, tail = split_records(data)
    if not recs:
        buf = bytearray(data)
        edit(buf)
        return bytes(buf)
    i = rng.randrange(len(recs))
    buf = bytearray(recs[i])
    edit(buf)
    recs[i] = bytes(buf)
    return b"".join(recs) + tail


def m_random(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """Random bytes; half the time behind a plausible DTLS 1.2 record header."""
    body = rng.randbytes(rng.randint(1, 64))
    if rng.random() < 0.5:
        return body
    return (bytes([rng.choice((20, 21, 22, 23, 24, 25, rng.randrange(256)))]) + b"\xfe\xfd"
            + rng.choice((0, 1, 2)).to_bytes(2, "big") + rng.choice(_SEQS).to_bytes(6, "big")
            + len(body).to_bytes(2, "big") + body)


def m_bitflip(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """1-8 flipped bits anywhere in a real datagram."""
    buf = bytearray(_pick(rng, corpus))
    for _ in range(rng.randint(1, 8)):
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    return bytes(buf)


def m_truncate(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """A real datagram cut short (at least one byte kept)."""
    data = _pick(rng, corpus)
    return data[:rng.randint(1, max(1, len(data) - 1))]


def m_length(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """A record whose length field lies (0, off by a little, huge)."""
    def edit(buf: bytearray) -> None:
        if len(buf) < RECORD_HEADER_LEN:
            return
        n = int.from_bytes(buf[11:13], "big")
        n = rng.choice((0, 1, max(0, n - rng.randint(1, 16)), n + rng.randint(1, 16), 0xFFFF,
                        rng.randrange(0x10000)))
        buf[11:13] = (n & 0xFFFF).to_bytes(2, "big")
    return _with_records(rng, _pick(rng, corpus), edit)


def m_epoch_seq(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """A record moved to another epoch and/or sequence number."""
    def edit(buf: bytearray) -> None:
        if len(buf) < RECORD_HEADER_LEN:
            return
        if rng.random() < 0.5:
            buf[3:5] = rng.choice((0, 1, 2, 0xFFFF, rng.randrange(0x10000))).to_bytes(2, "big")
        if rng.random() < 0.7:
            seq = int.from_bytes(buf[5:11], "big")
            seq = rng.choice((*_SEQS, seq + 1, max(0, seq - 1), seq + 64, rng.randrange(1 << 48)))
            buf[5:11] = (seq % (1 << 48)).to_bytes(6, "big")
    return _with_records(rng, _pick(rng, corpus), edit)


def m_type_version(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """A record with another content type or protocol version."""
    def edit(buf: bytearray) -> None:
        if rng.random() < 0.6:
            buf[0] = rng.choice((20, 21, 22, 23, 24, 25, 0, 255, rng.randrange(256)))
        elif len(buf) >= 3:
            buf[1:3] = rng.choice((b"\xfe\xff", b"\x03\x03", b"\x00\x00", b"\xfe\xfc",
                                   rng.randbytes(2)))
    return _with_records(rng, _pick(rng, corpus), edit)


def m_splice(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """Records of two real datagrams in one, or a prefix of one and a suffix of another."""
    a, b = _pick(rng, corpus), _pick(rng, corpus)
    if rng.random() < 0.5:
        ra, _ = split_records(a)
        rb, _ = split_records(b)
        recs = ra + rb
        rng.shuffle(recs)
        out = b"".join(recs[:rng.randint(1, max(1, len(recs)))])
        return out or a
    return a[:rng.randint(1, len(a))] + b[rng.randrange(len(b)):]


def m_trailing(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """A real datagram followed by stray bytes (1-20)."""
    n = rng.randint(1, 20)
    tail = bytes(n) if rng.random() < 0.3 else rng.randbytes(n)
    return _pick(rng, corpus) + tail


def m_duplicate(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """A real datagram, unchanged: a duplicate, early or late."""
    return _pick(rng, corpus)


def m_reorder(rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """The records of a real datagram in another order (or a duplicate when it
    has only one)."""
    data = _pick(rng, corpus)
    recs, tail = split_records(data)
    if len(recs) < 2:
        return data
    rng.shuffle(recs)
    return b"".join(recs) + tail


MUTATIONS: dict[str, Callable[[random.Random, Sequence[bytes]], bytes]] = {
    "random": m_random, "bitflip": m_bitflip, "truncate": m_truncate, "length": m_length,
    "epoch-seq": m_epoch_seq, "type-version": m_type_version, "splice": m_splice,
    "trailing": m_trailing, "duplicate": m_duplicate, "reorder": m_reorder,
}


def mutate(rng: random.Random, corpus: Sequence[bytes]) -> tuple[str, bytes]:
    """One hostile datagram: a random operator (sometimes two in a row, the
    second applied to the first's output).  Returns (operator names, datagram)."""
    name = rng.choice(list(MUTATIONS))
    data = MUTATIONS[name](rng, corpus)
    if rng.random() < 0.2:
        second = rng.choice(list(MUTATIONS))
        data = MUTATIONS[second](rng, [data]) or data
        name = f"{name}+{second}"
    if not data:
        data = b"\x00"
    return name, data[:65507]
