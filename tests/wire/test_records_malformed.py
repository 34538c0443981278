"""Tests of mbedtls_py.wire.records on malformed datagrams: truncated record headers,
lengths past the end, empty input, ``looks_like_dtls``, and random and mutated
datagrams (and Hypothesis's) that must never make the parser raise."""

from __future__ import annotations

import json
import random

import pytest

from mbedtls_py.wire.records import Datagram, looks_like_dtls, parse_datagram, record_types
from _records import CLIENT_HELLO, encrypted_alert, handshake, record

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is optional
    HAVE_HYPOTHESIS = False
else:
    HAVE_HYPOTHESIS = True


def test_truncated_record_header() -> None:
    """A datagram ending inside a record header keeps the good records and reports the rest."""
    data = CLIENT_HELLO + b"\x15\xfe\xfd\x00"
    dg = parse_datagram(data)
    assert len(dg.records) == 1
    assert dg.trailing == b"\x15\xfe\xfd\x00"
    assert dg.error == f"record header truncated at offset {len(CLIENT_HELLO)}: 4 of 13 bytes"
    assert not dg.ok
    assert "error='record header truncated" in repr(dg)


def test_length_past_end() -> None:
    """A record whose length runs past the end of the datagram is not a record."""
    data = record(23, 1, 1, bytes(10), length=300)
    dg = parse_datagram(data)
    assert dg.records == []
    assert dg.trailing == data
    assert dg.error == "record at offset 0 declares length 300 but only 10 bytes follow its header"
    assert dg.first is None and dg.max_epoch is None and not dg.is_client_hello


def test_empty_datagram() -> None:
    """An empty datagram has no records, no trailing bytes and no error."""
    dg = parse_datagram(b"")
    assert dg == Datagram(records=[], trailing=b"", error=None, data=b"")
    assert repr(dg) == "<Datagram []>"
    assert dg.first is None and dg.max_epoch is None and not dg.is_client_hello
    assert not looks_like_dtls(b"")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (CLIENT_HELLO, True),
        (record(23, 1, 1, bytes(45)) + b"junk after", True),
        (record(22, 0, 0, bytes(5), version=0x0303), False),  # TLS, not DTLS
        (record(99, 0, 0, bytes(5)), False),  # unknown content type
        (record(23, 1, 1, bytes(5), length=6), False),  # length past end
        (CLIENT_HELLO[:12], False),  # header truncated
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (record(25, 1, 1, bytes(5), cid=b"ab"), False),  # cid_len not given
    ],
)
def test_looks_like_dtls(data: bytes, expected: bool) -> None:
    """looks_like_dtls accepts a plausible first record header and rejects the rest."""
    assert looks_like_dtls(data) is expected


def _check_invariants(data: bytes, cid_len: int) -> None:
    dg = parse_datagram(data, cid_len)
    assert isinstance(dg, Datagram)
    assert dg.data == data
    assert sum(r.size for r in dg.records) + len(dg.trailing) == len(data)
    assert (dg.error is None) == (dg.trailing == b"")
    pos = 0
    for rec in dg.records:
        assert rec.offset == pos and rec.length == len(rec.payload)
        pos = rec.end
    assert data.endswith(dg.trailing)
    # the header walk the rules use to skip parsing finds the same records
    assert record_types(data, cid_len) == bytes(r.content_type for r in dg.records)
    repr(dg)
    json.dumps(dg.to_dict())
    _ = (dg.is_client_hello, dg.max_epoch, dg.first, looks_like_dtls(data, cid_len))


def test_fuzz_random_bytes_never_raise() -> None:
    """20,000 random datagrams, and mutations of valid ones, never make the parser raise."""
    rng = random.Random(6347)
    seeds = [
        CLIENT_HELLO,
        encrypted_alert(),
        record(20, 0, 5, b"\x01") + record(22, 1, 0, bytes(40)),
        record(25, 1, 7, bytes(30), cid=b"\x01\x02\x03\x04"),
        record(22, 0, 1, handshake(2, bytes(10)) + handshake(14, b"")),
    ]
    for i in range(20_000):
        cid_len = rng.choice((0, 0, 1, 4, 8))
        kind = i % 4
        if kind == 0:
            data = rng.randbytes(rng.randrange(0, 80))
        elif kind == 1:
            # Plausible headers make the parser go deeper than pure noise.
            data = bytes([rng.choice((20, 21, 22, 23, 24, 25)), 0xFE, rng.choice((0xFD, 0xFF))])
            data += rng.randbytes(rng.randrange(0, 120))
        else:
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 6)):
                op = rng.randrange(3)
                if op == 0 and buf:
                    buf[rng.randrange(len(buf))] = rng.randrange(256)
                elif op == 1:
                    buf = buf[: rng.randrange(len(buf) + 1)]
                else:
                    buf += rng.randbytes(rng.randrange(1, 20))
            data = bytes(buf)
        _check_invariants(data, cid_len)


if HAVE_HYPOTHESIS:

    @settings(max_examples=500, deadline=None)
    @given(st.binary(max_size=200), st.integers(min_value=0, max_value=16))
    def test_hypothesis_never_raises(data: bytes, cid_len: int) -> None:
        """Hypothesis-generated datagrams never make the parser raise and keep its invariants."""
        _check_invariants(data, cid_len)
