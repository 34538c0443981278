"""Tests of mbedtls_py.wire.rules applied to datagrams: what a match matches (direction,
content type, comparisons, index), how first/nth/times count, what the actions do to
the bytes, and ``could_match``, the send path's pre-filter."""

from __future__ import annotations

import random

import pytest

from mbedtls_py.wire import rules as rules_module
from mbedtls_py.wire.records import Datagram, parse_datagram
from mbedtls_py.wire.rules import (
    Corrupt,
    Duplicate,
    Truncate,
    parse_match,
    parse_rule,
)


def record(content_type: int, epoch: int, seq: int, body: bytes, version: int = 0xFEFD) -> bytes:
    """A DTLS record: type(1) version(2) epoch(2) seq(6) length(2) body."""
    return (
        bytes([content_type])
        + version.to_bytes(2, "big")
        + epoch.to_bytes(2, "big")
        + seq.to_bytes(6, "big")
        + len(body).to_bytes(2, "big")
        + body
    )


def handshake(msg_type: int, body: bytes, message_seq: int = 0) -> bytes:
    """An unfragmented DTLS handshake message."""
    n = len(body).to_bytes(3, "big")
    return bytes([msg_type]) + n + message_seq.to_bytes(2, "big") + bytes(3) + n + body


CLIENT_HELLO = parse_datagram(record(22, 0, 0, handshake(1, bytes(60))))
SERVER_HELLO_DONE = parse_datagram(record(22, 0, 4, handshake(14, b"", message_seq=4)))
ENCRYPTED_ALERT = parse_datagram(record(21, 1, 3, random.Random(1).randbytes(26)))
PLAIN_ALERT = parse_datagram(record(21, 0, 2, b"\x02\x28"))
APPDATA = parse_datagram(record(23, 1, 1, bytes(45)))
FINISHED_FLIGHT = parse_datagram(
    record(20, 0, 5, b"\x01") + record(22, 1, 0, bytes(40))
)
GARBAGE = parse_datagram(b"\x00\x01\x02 not dtls")


# ---------------------------------------------------------------- matching


def test_direction_and_wildcards() -> None:
    """SRC->DST must match both ends; '*' and an omitted direction match any endpoint."""
    dg = APPDATA
    assert parse_match("client->server").matches("client", "server", 1, dg)
    assert not parse_match("client->server").matches("server", "client", 1, dg)
    assert parse_match("*->server").matches("other", "server", 1, dg)
    assert not parse_match("*->server").matches("server", "client", 1, dg)
    assert parse_match("client->*").matches("client", "x", 1, dg)
    assert parse_match("").matches("anyone", "anywhere", 99, dg)


def test_empty_match_matches_everything_even_garbage() -> None:
    """A rule without record conditions matches garbage and empty datagrams too."""
    match = parse_rule("server->client: truncate 100").match
    for dg in (GARBAGE, parse_datagram(b""), CLIENT_HELLO):
        assert match.matches("server", "client", 1, dg)


def test_record_conditions_never_match_garbage() -> None:
    """Content types and record comparisons need a complete record; size does not."""
    for text in ("alert", "epoch=0", "epoch!=0", "seq>=0", "hs!=client_hello", "any epoch>=0"):
        assert not parse_match(text).matches("a", "b", 1, GARBAGE), text
    assert parse_match(f"size={len(GARBAGE.data)}").matches("a", "b", 1, GARBAGE)


def test_content_type_selects_first_record_of_that_type() -> None:
    """Comparisons apply to the first record of the requested type, wherever it is."""
    mixed = parse_datagram(record(23, 1, 7, bytes(10)) + record(21, 1, 8, bytes(26)))
    assert parse_match("alert epoch>=1 seq=8").matches("c", "s", 1, mixed)
    assert not parse_match("alert seq=7").matches("c", "s", 1, mixed)
    assert parse_match("seq=7").matches("c", "s", 1, mixed)  # no type: first record
    # Only the first alert is examined, not any alert.
    two_alerts = parse_datagram(record(21, 0, 1, b"\x01\x00") + record(21, 1, 2, bytes(26)))
    assert not parse_match("alert epoch>=1").matches("c", "s", 1, two_alerts)
    assert not parse_match("handshake").matches("c", "s", 1, two_alerts)


def test_close_notify_race_rule() -> None:
    """The seed scenario's rule catches the late encrypted close_notify and nothing else."""
    match = parse_rule("client->server alert epoch>=1: delay 200ms").match
    assert match.matches("client", "server", 7, ENCRYPTED_ALERT)
    assert not match.matches("server", "client", 7, ENCRYPTED_ALERT)
    assert not match.matches("client", "server", 1, PLAIN_ALERT)
    assert not match.matches("client", "server", 1, CLIENT_HELLO)
    assert not match.matches("client", "server", 5, APPDATA)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("epoch=1", True),
        ("epoch==1", True),
        ("epoch!=1", False),
        ("epoch>=1", True),
        ("epoch<=1", True),
        ("epoch>1", False),
        ("epoch<1", False),
        ("epoch<2", True),
        ("seq=3", True),
        ("length=26", True),
        ("len>26", False),
        ("size=39", True),
        ("size<39", False),
    ],
)
def test_comparison_operators(condition: str, expected: bool) -> None:
    """Each operator compares the record field (or datagram size) with the value."""
    assert parse_match(f"alert {condition}").matches("c", "s", 1, ENCRYPTED_ALERT) is expected


def test_handshake_type_condition() -> None:
    """hs= compares the plaintext handshake type by name or number; absent types never match."""
    assert parse_match("handshake hs=client_hello").matches("c", "s", 1, CLIENT_HELLO)
    assert parse_match("hs=1").matches("c", "s", 1, CLIENT_HELLO)
    assert not parse_match("hs=server_hello").matches("c", "s", 1, CLIENT_HELLO)
    assert parse_match("hs=server_hello_done").matches("s", "c", 1, SERVER_HELLO_DONE)
    assert parse_match("hs!=client_hello").matches("s", "c", 1, SERVER_HELLO_DONE)
    # The encrypted Finished has no readable type: neither = nor != holds.
    assert not parse_match("handshake hs=finished").matches("c", "s", 1, FINISHED_FLIGHT)
    assert not parse_match("handshake hs!=finished").matches("c", "s", 1, FINISHED_FLIGHT)
    assert parse_match("handshake epoch=1").matches("c", "s", 1, FINISHED_FLIGHT)


def test_index_conditions() -> None:
    """#N and #OPN compare the datagram's 1-based index on its direction."""
    dg = APPDATA
    assert [i for i in range(1, 6) if parse_match("#3").matches("c", "s", i, dg)] == [3]
    assert [i for i in range(1, 6) if parse_match("#>=2").matches("c", "s", i, dg)] == [2, 3, 4, 5]
    assert [i for i in range(1, 6) if parse_match("#>1 #<4").matches("c", "s", i, dg)] == [2, 3]
    assert [i for i in range(1, 6) if parse_match("#!=2").matches("c", "s", i, dg)] == [1, 3, 4, 5]


def test_matches_accepts_raw_bytes() -> None:
    """Match.matches parses raw bytes itself."""
    assert parse_match("alert epoch>=1").matches("c", "s", 1, ENCRYPTED_ALERT.data)
    assert parse_match("alert epoch>=1").matches("c", "s", 1, bytearray(ENCRYPTED_ALERT.data))


def test_matches_is_pure_and_ignores_limits() -> None:
    """Match.matches does not count and does not apply first/nth/times."""
    rule = parse_rule("c->s first: drop")
    for _ in range(3):
        assert rule.match.matches("c", "s", 1, APPDATA)
    assert rule.matched == 0 and rule.fired == 0


# ---------------------------------------------------------------- counting


def _fire_pattern(text: str, datagrams: list[Datagram], src: str = "c",
                  dst: str = "s") -> list[bool]:
    rule = parse_rule(text)
    return [rule.check(src, dst, i, dg) for i, dg in enumerate(datagrams, 1)]


def test_unlimited_rule_fires_on_every_match() -> None:
    """Without first/nth/times a rule fires on every matching datagram and counts them."""
    rule = parse_rule("c->s alert: drop")
    stream = [ENCRYPTED_ALERT, APPDATA, ENCRYPTED_ALERT, ENCRYPTED_ALERT]
    assert [rule.check("c", "s", i, dg) for i, dg in enumerate(stream, 1)] == [
        True, False, True, True,
    ]
    assert rule.matched == 3 and rule.fired == 3 and not rule.exhausted


def test_first_fires_once() -> None:
    """'first' fires on the first matching datagram only."""
    stream = [APPDATA, ENCRYPTED_ALERT, ENCRYPTED_ALERT]
    assert _fire_pattern("c->s alert first: drop", stream) == [False, True, False]


def test_nth_fires_on_the_nth_match_only() -> None:
    """nth=N skips N-1 matching datagrams (non-matching ones do not count) and fires once."""
    stream = [ENCRYPTED_ALERT, APPDATA, ENCRYPTED_ALERT, ENCRYPTED_ALERT, ENCRYPTED_ALERT]
    assert _fire_pattern("c->s alert nth=2: drop", stream) == [False, False, True, False, False]


def test_times_limits_and_combines_with_nth() -> None:
    """times=N fires at most N times; with nth it fires N times starting at the Nth match."""
    stream = [ENCRYPTED_ALERT] * 6
    assert _fire_pattern("c->s times=2: drop", stream) == [True, True, False, False, False, False]
    assert _fire_pattern("c->s nth=2 times=3: drop", stream) == [
        False, True, True, True, False, False,
    ]


def test_counters_exhausted_and_reset() -> None:
    """check counts matched/fired, exhausted reports the limit and reset starts over."""
    rule = parse_rule("c->s alert first: hold")
    assert rule.check("c", "s", 1, ENCRYPTED_ALERT)
    assert not rule.check("c", "s", 2, ENCRYPTED_ALERT)
    assert not rule.check("s", "c", 1, ENCRYPTED_ALERT)  # other direction: not even matched
    assert (rule.matched, rule.fired, rule.exhausted) == (2, 1, True)
    assert repr(rule) == "Rule('c->s alert first: hold', matched=2, fired=1)"
    rule.reset()
    assert (rule.matched, rule.fired, rule.exhausted) == (0, 0, False)
    assert rule.check("c", "s", 3, ENCRYPTED_ALERT)


def test_rule_equality_ignores_counters() -> None:
    """Two rules with the same text are equal whatever their counters."""
    a, b = parse_rule("c->s: drop"), parse_rule("c->s: drop")
    a.check("c", "s", 1, APPDATA)
    assert a == b and a.fired == 1 and b.fired == 0
    assert parse_rule("[x] c->s: drop") != b


def test_index_rule_uses_the_callers_direction_count() -> None:
    """'*->server #2' fires on the second datagram of each direction towards the server."""
    rule = parse_rule("*->server #2: duplicate 3")
    assert not rule.check("client", "server", 1, CLIENT_HELLO)
    assert rule.check("client", "server", 2, CLIENT_HELLO)
    assert rule.check("other", "server", 2, CLIENT_HELLO)
    assert not rule.check("server", "client", 2, CLIENT_HELLO)
    assert rule.action == Duplicate(count=3, spacing_ms=0)


# ----------------------------------------------------------------- actions


def _bit_difference(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b))


def test_corrupt_flips_exactly_n_bits_deterministically() -> None:
    """Corrupt.apply flips exactly `bits` distinct bits, the same ones for the same seed."""
    data = ENCRYPTED_ALERT.data
    for bits in (1, 2, 7, 64):
        out = Corrupt(bits).apply(data, random.Random(42))
        assert len(out) == len(data)
        assert _bit_difference(data, out) == bits
        assert out == Corrupt(bits).apply(data, random.Random(42))
    assert Corrupt(3).apply(data, random.Random(1)) != Corrupt(3).apply(data, random.Random(2))


def test_corrupt_leaves_empty_datagram_alone_and_caps_at_size() -> None:
    """An empty datagram is not corrupted; more bits than the datagram has flips them all."""
    rng = random.Random(0)
    state = rng.getstate()
    assert Corrupt(5).apply(b"", rng) == b""
    assert rng.getstate() == state  # no randomness consumed for nothing
    assert Corrupt(100).apply(b"\x0f\x00", random.Random(0)) == b"\xf0\xff"


def test_truncate_apply() -> None:
    """Truncate.apply keeps the first `size` bytes."""
    assert Truncate(3).apply(b"abcdef") == b"abc"
    assert Truncate(10).apply(b"abc") == b"abc"
    assert Truncate(0).apply(b"abc") == b""


def test_could_match_never_rules_out_a_datagram_a_rule_matches() -> None:
    """``could_match`` (direction, index, record headers; no parsing) is never
    false for a datagram that a rule's full match accepts, on random and
    mutated datagrams, with and without connection IDs."""
    texts = ["client->server alert epoch>=1: drop", "*->server handshake hs=client_hello: drop",
             "client->* appdata len>=20: drop", "server->client #2: drop",
             "*->* type=25 epoch=1: drop", "client->server size>40: drop"]
    rng = random.Random(41)
    seeds = [bytes.fromhex("15fefd0001000000000002001a") + bytes(26),
             bytes.fromhex("16fefd000000000000000000200100001400000000000014") + bytes(20),
             bytes.fromhex("17fefd00010000000000050014") + bytes(20)]
    hits = 0
    for _ in range(5_000):
        data = bytearray(rng.choice(seeds) * rng.randrange(1, 3))
        for _ in range(rng.randrange(0, 4)):
            data[rng.randrange(len(data))] = rng.choice((20, 21, 22, 23, 25, 0, 1, rng.randrange(256)))
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data) + 1)]
        cid_len = rng.choice((0, 4))
        src, dst = rng.choice((("client", "server"), ("server", "client")))
        index = rng.randrange(1, 4)
        for text in texts:
            rule = parse_rule(text)
            if rule.match.matches(src, dst, index, parse_datagram(bytes(data), cid_len)):
                hits += 1
                assert rules_module.could_match([rule], src, dst, index, bytes(data),
                                                cid_len=cid_len), (text, bytes(data).hex())
    assert hits > 1_000  # the datagrams do reach every kind of rule
