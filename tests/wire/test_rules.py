"""Tests of mbedtls_py.wire.rules: the impairment rule language and its matching."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from mbedtls_py.wire import rules as rules_module
from mbedtls_py.wire.records import Datagram, parse_datagram
from mbedtls_py.wire.rules import (
    Action,
    Condition,
    Corrupt,
    Delay,
    Drop,
    Duplicate,
    Hold,
    Inject,
    Match,
    Replace,
    Rule,
    RuleSyntaxError,
    Truncate,
    parse_action,
    parse_match,
    parse_rule,
    parse_rules,
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


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "client->server alert epoch>=1: delay 200ms",
            Rule(Match("client", "server", 21, (Condition("epoch", ">=", 1),)), Delay(200)),
        ),
        (
            "server->client handshake hs=server_hello_done first: drop",
            Rule(
                Match("server", "client", 22, (Condition("msg_type", "==", 14),), times=1),
                Drop(),
            ),
        ),
        (
            "*->server #2: duplicate 3",
            Rule(Match(None, "server", index=2), Duplicate(3)),
        ),
        ("client->server appdata: corrupt 2", Rule(Match("client", "server", 23), Corrupt(2))),
        (
            "client->server alert epoch>=1: hold",
            Rule(Match("client", "server", 21, ("epoch>=1",)), Hold()),
        ),
        ("server->client: truncate 100", Rule(Match("server", "client"), Truncate(100))),
        (
            "client->server: replace 16fefd0000",
            Rule(Match("client", "server"), Replace(bytes.fromhex("16fefd0000"))),
        ),
        ("client->server: delay 1.5s", Rule(Match("client", "server"), Delay(1500))),
    ],
)
def test_documented_examples_parse(text: str, expected: Rule) -> None:
    """Each example rule of the brief parses into the expected Match and action."""
    assert parse_rule(text) == expected


def test_module_docstring_examples_parse_and_round_trip() -> None:
    """Every example rule shown in the module docstring (the user docs) parses and round-trips."""
    doc = rules_module.__doc__
    block = doc.split("for example::", 1)[1].strip("\n").split("\n\n", 1)[0]
    examples = [line.strip() for line in block.splitlines()]
    assert len(examples) >= 7
    for text in examples:
        rule = parse_rule(text)
        assert parse_rule(str(rule)) == rule


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("client->server alert epoch>=1: delay 200ms", "client->server alert epoch>=1: delay 200ms"),
        ("client->server appdata: corrupt 2", "client->server application_data: corrupt 2"),
        ("client->server application_data: corrupt", "client->server application_data: corrupt"),
        ("a->b ccs: drop", "a->b change_cipher_spec: drop"),
        ("a->b cid: drop", "a->b tls12_cid: drop"),
        ("a->b heartbeat: drop", "a->b heartbeat: drop"),
        ("a->b any: drop", "a->b: drop"),
        ("a->b type=22: drop", "a->b handshake: drop"),
        ("a->b type=99: drop", "a->b type=99: drop"),
        ("a->b type=alert: drop", "a->b alert: drop"),
        ("* -> server  epoch == 0 : drop", "*->server epoch=0: drop"),
        ("*->*: drop", "*->*: drop"),
        (": drop", "*->*: drop"),
        ("x->y:drop", "x->y: drop"),
        ("a->b len<5 seq!=0x10 size>3: drop", "a->b length<5 seq!=16 size>3: drop"),
        ("a->b msg_type=1: drop", "a->b hs=client_hello: drop"),
        ("a->b hs=99: drop", "a->b hs=99: drop"),
        ("a->b HANDSHAKE HS=Client_Hello: drop", "a->b handshake hs=client_hello: drop"),
        ("a->b #==2: drop", "a->b #2: drop"),
        ("a->b # 2 #>=1 #!=3: drop", "a->b #2 #>=1 #!=3: drop"),
        ("a->b nth=1: drop", "a->b first: drop"),
        ("a->b times=1: drop", "a->b first: drop"),
        ("a->b first nth=2: drop", "a->b nth=2: drop"),
        ("a->b nth=2 times=3: drop", "a->b nth=2 times=3: drop"),
        ("a->b times=3: drop", "a->b times=3: drop"),
        ("a->b: delay 0.2s", "a->b: delay 200ms"),
        ("a->b: delay 200 ms", "a->b: delay 200ms"),
        ("a->b: delay 0.25ms", "a->b: delay 0.25ms"),
        ("a->b: delay 0ms", "a->b: delay 0ms"),
        ("a->b: DELAY 2S", "a->b: delay 2000ms"),
        ("a->b: duplicate", "a->b: duplicate"),
        ("a->b: duplicate 1", "a->b: duplicate"),
        ("a->b: duplicate 2 spacing 5 ms", "a->b: duplicate 2 spacing 5ms"),
        ("a->b: duplicate spacing 0.01s", "a->b: duplicate spacing 10ms"),
        ("a->b: corrupt 1", "a->b: corrupt"),
        ("a->b: replace 0x16FE FD", "a->b: replace 16fefd"),
        ("a->b: replace empty", "a->b: replace empty"),
        ("a->b: inject 0102", "a->b: inject 0102"),
        ("a->b: inject 0102 before", "a->b: inject 0102 before"),
        ("a->b: inject before 01 02", "a->b: inject 0102 before"),
        ("a->b: inject 0102 after", "a->b: inject 0102"),
        ("a->b: hold", "a->b: hold"),
        ("a->b: hold late-close_1.x", "a->b: hold late-close_1.x"),
        ("a->b: truncate 0", "a->b: truncate 0"),
        ("[late close]  a->b alert: hold", "[late close] a->b alert: hold"),
        ("10.0.0.1:4433->server: drop", "10.0.0.1:4433->server: drop"),
        ("[::1]:4433->[::1]:5000 #1: drop", "[::1]:4433->[::1]:5000 #1: drop"),
    ],
)
def test_canonical_form_round_trips(text: str, canonical: str) -> None:
    """str(rule) is the canonical form, and parsing it gives the same rule back."""
    rule = parse_rule(text)
    assert str(rule) == canonical
    again = parse_rule(canonical)
    assert again == rule
    assert str(again) == canonical


def test_conditions_keep_their_order_and_index_and_limits_come_last() -> None:
    """The canonical form puts direction, type, comparisons, index, then first/nth/times."""
    rule = parse_rule("x->y first #2 hs=finished alert: drop")
    assert str(rule) == "x->y alert hs=finished #2 first: drop"


def test_match_built_in_python_equals_parsed() -> None:
    """Match normalises names, strings, '*' and ints, so built and parsed matches are equal."""
    built = Match(
        src="*",
        dst="server",
        content_type="alert",
        conditions=["epoch>=1", Condition("len", "=", 26)],
        index=">=2",
    )
    assert built == parse_match("*->server alert epoch>=1 length=26 #>=2")
    assert Match(index=3) == parse_match("#3")
    assert Match(index=["#3", "index!=4"]) == parse_match("#3 #!=4")
    assert Match(nth=1) == Match(times=1) == parse_match("first")
    assert Match(nth=2) == parse_match("nth=2")
    assert Match(nth=2).times == 1
    assert Match(content_type="appdata").content_type == 23
    cond = Match(conditions=["hs=client_hello"]).conditions
    assert cond == (Condition("msg_type", "==", 1),)
    assert str(Match()) == "*->*"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"content_type": "alrt"}, ValueError),
        ({"content_type": 256}, ValueError),
        ({"src": "a b"}, ValueError),
        ({"src": "a->b"}, ValueError),
        ({"src": 3}, TypeError),
        ({"conditions": ["epoch"]}, ValueError),
        ({"conditions": ["#2"]}, ValueError),
        ({"conditions": ["epoch>=x"]}, ValueError),
        ({"conditions": ["hs=hello"]}, ValueError),
        ({"conditions": [1]}, TypeError),
        ({"index": ["epoch>=1"]}, ValueError),
        ({"nth": 0}, ValueError),
        ({"times": 0}, ValueError),
        ({"times": True}, TypeError),
    ],
)
def test_match_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    """Match raises on bad names, conditions and limits instead of never matching."""
    with pytest.raises(error):
        Match(**kwargs)


def test_condition_normalises_aliases_and_rejects_bad_values() -> None:
    """Condition accepts aliases and names, and rejects unknown fields, operators and values."""
    assert Condition("len", "=", "0x10") == Condition("length", "==", 16)
    finished = Condition("hs", "!=", "finished")
    assert finished == Condition("msg_type", "!=", 20)
    assert str(Condition("#", ">", 2)) == "#>2"
    for bad in (("colour", "==", 1), ("epoch", "=>", 1), ("epoch", "==", -1),
                ("epoch", "==", "one")):
        with pytest.raises(ValueError):
            Condition(*bad)


def test_actions_are_validated() -> None:
    """Actions reject values the rule language cannot express."""
    for make in (
        lambda: Delay(-1),
        lambda: Delay(float("inf")),
        lambda: Duplicate(0),
        lambda: Duplicate(1, -5),
        lambda: Corrupt(0),
        lambda: Truncate(-1),
        lambda: Hold("two words"),
        lambda: Hold("a:b"),
    ):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(TypeError):
        Replace("16fefd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Delay("200ms")  # type: ignore[arg-type]
    assert all(isinstance(a, Action) for a in (Delay(1), Drop(), Duplicate(), Corrupt(),
                                                 Replace(b""), Inject(b"x"), Hold(), Truncate(1)))


def test_rule_round_trip_of_built_rules() -> None:
    """Rules built in Python print to text that parses back to equal rules."""
    built = [
        Rule(Match("client", "server", 21, ["epoch>=1"]),
             Hold("late"), name="late close"),
        Rule(Match(content_type=99, conditions=["size<=1200"],
                   index=[">=2"], nth=3, times=2),
             Inject(b"\x16\xfe\xfd", before=True)),
        Rule(Match(), Replace(b"")),
        Rule(Match(), Inject(b"")),
        Rule(Match(), Delay(1234567.5)),
        Rule(Match(), Delay(1e-05)),
        Rule(Match(), Duplicate(4, spacing_ms=2.5)),
    ]
    for rule in built:
        assert parse_rule(str(rule)) == rule, str(rule)


def test_rule_name_validation() -> None:
    """Rule names that could not be printed back are refused."""
    for bad in ("a]b", "a:b", "", " padded", "line\nbreak"):
        with pytest.raises(ValueError):
            Rule(Match(), Drop(), name=bad)
    with pytest.raises(TypeError):
        Rule(Match(), "drop")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Rule("a->b", Drop())  # type: ignore[arg-type]


def test_parse_match_and_parse_action() -> None:
    """The two halves of a rule can be parsed on their own."""
    assert parse_match("client->server alert") == Match("client", "server", 21)
    assert parse_action("duplicate 2") == Duplicate(2)
    with pytest.raises(ValueError, match="unknown action 'explode'"):
        parse_action("explode")
    with pytest.raises(ValueError, match="unknown condition 'alrt'"):
        parse_match("alrt")


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "token", "reason"),
    [
        ("client->server alrt: drop", "alrt", "unknown condition 'alrt'"),
        ("client->server alert: dorp", "dorp", "unknown action 'dorp'"),
        ("client->server alert epoch>=x: drop", "epoch>=x", "not a non-negative integer"),
        ("client->server colour=3: drop", "colour=3", "unknown field 'colour'"),
        ("client->server hs=hello: drop", "hs=hello", "unknown handshake type 'hello'"),
        ("client->server epoch: drop", "epoch", "'epoch' needs a comparison"),
        ("alert client->server: drop", "client->server", "must be the first word"),
        ("client->: drop", "client->", "must be the first word"),
        ("a->b->c: drop", "b->c", "bad endpoint name"),
        ("client->server alert handshake: drop", "handshake", "content type given twice"),
        ("client->server alert type=22: drop", "type=22", "content type given twice"),
        ("client->server type=300: drop", "type=300", "not a byte"),
        ("client->server type=foo: drop", "type=foo", "unknown content type 'foo'"),
        ("client->server nth>2: drop", "nth>2", "nth takes '='"),
        ("client->server nth=0: drop", "nth=0", "must be at least 1"),
        ("client->server nth=2 nth=3: drop", "nth=3", "nth given twice"),
        ("client->server first times=2: drop", "times=2", "times given twice"),
        ("client->server first first: drop", "first", "given twice"),
        ("client->server #x: drop", "#x", "bad datagram index"),
        ("client->server: delay 200", "200", "not a duration"),
        ("client->server: delay 200 parsecs", "200", "not a duration"),
        ("client->server: delay -5ms", "-5ms", "non-negative"),
        ("client->server: delay", "delay", "needs a duration"),
        ("client->server: duplicate 0", "0", "at least 1"),
        ("client->server: duplicate many", "many", "must be a number"),
        ("client->server: duplicate 101", "101", "at most 100"),
        ("client->server: duplicate 1000000000", "1000000000", "at most 100"),
        ("client->server: duplicate 2 spacing", "spacing", "needs a duration"),
        ("client->server: corrupt x", "x", "must be a number"),
        ("client->server: corrupt 1 2", "2", "unexpected '2' after corrupt"),
        ("client->server: replace zz", "zz", "not hex bytes"),
        ("client->server: replace", "replace", "needs the datagram as hex"),
        ("client->server: inject before", "inject", "needs the datagram as hex"),
        ("client->server: hold a:b", "a:b", "bad hold tag"),
        ("client->server: hold a b", "b", "unexpected 'b' after hold"),
        ("client->server: truncate", "truncate", "needs a size"),
        ("client->server: truncate -1", "-1", "must be a number"),
        ("client->server: drop now", "now", "unexpected 'now' after drop"),
        ("client->server:", ":", "missing action"),
        ("[] client->server: drop", "[]", "empty rule name"),
    ],
)
def test_bad_rules_point_at_the_bad_word(text: str, token: str, reason: str) -> None:
    """Invalid rules raise ValueError quoting the rule, with a caret under the bad word,
    the reason and the list of what is allowed."""
    with pytest.raises(ValueError) as info:
        parse_rule(text)
    exc = info.value
    assert isinstance(exc, RuleSyntaxError)
    lines = str(exc).splitlines()
    assert lines[0] == f"invalid rule: {text}"
    offset = text.rindex(token) if token in ("first", "b", "2") else text.index(token)
    if token == ":":
        offset += 1  # the missing action is after the colon
        token = " "
    caret = lines[1]
    assert caret.index("^") == len("invalid rule: ") + offset, str(exc)
    assert caret.count("^") == len(token), str(exc)
    assert reason in lines[2], str(exc)
    assert lines[3].startswith("allowed: ")


def test_missing_colon_lists_the_rule_form() -> None:
    """A rule without ':' says that MATCH: ACTION is expected."""
    with pytest.raises(ValueError, match=r"missing ':'(.|\n)*MATCH: ACTION"):
        parse_rule("client->server alert drop")


def test_error_lists_allowed_words() -> None:
    """The error for a bad condition or action names the allowed words."""
    with pytest.raises(ValueError) as info:
        parse_rule("a->b alrt: drop")
    for word in ("alert", "handshake", "appdata", "ccs", "epoch", "seq", "hs", "#N", "first",
                 "nth=N", "times=N"):
        assert word in str(info.value)
    with pytest.raises(ValueError) as info:
        parse_rule("a->b: dorp")
    for word in ("delay", "drop", "duplicate", "corrupt", "replace", "inject", "hold", "truncate"):
        assert word in str(info.value)


def test_non_string_rule_is_a_type_error() -> None:
    """Passing something other than a str is a TypeError, not a syntax error."""
    with pytest.raises(TypeError):
        parse_rule(None)  # type: ignore[arg-type]


def test_parse_rules_list_and_lines() -> None:
    """parse_rules takes an iterable or one string of lines, skips blank ones, and numbers errors."""
    texts = ["client->server alert epoch>=1: hold", "", "server->client: drop"]
    rules = parse_rules(texts)
    assert [str(r) for r in rules] == ["client->server alert epoch>=1: hold", "server->client: drop"]
    assert parse_rules("\n".join(texts)) == rules
    assert parse_rules(iter(texts)) == rules
    assert parse_rules([]) == []
    with pytest.raises(ValueError, match=r"\(rule 3\) unknown action 'dorp'") as info:
        parse_rules(["a->b: drop", "  ", "a->b: dorp"])
    assert str(info.value).splitlines()[0] == "invalid rule: a->b: dorp"


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


def test_action_fields_from_text() -> None:
    """Action words fill the dataclass fields the network reads."""
    # parse_action returns an Action; the isinstance asserts narrow it to the word's class.
    delay = parse_action("delay 0.5s")
    assert isinstance(delay, Delay) and delay.ms == 500
    assert parse_action("duplicate 2 spacing 3ms") == Duplicate(count=2, spacing_ms=3)
    corrupt = parse_action("corrupt 5")
    assert isinstance(corrupt, Corrupt) and corrupt.bits == 5
    replace = parse_action("replace 0102")
    assert isinstance(replace, Replace) and replace.data == b"\x01\x02"
    assert parse_action("inject 0102 before") == Inject(b"\x01\x02", before=True)
    inject = parse_action("inject 0102")
    assert isinstance(inject, Inject) and inject.before is False
    hold, hold_late = parse_action("hold"), parse_action("hold late")
    assert isinstance(hold, Hold) and hold.tag is None
    assert isinstance(hold_late, Hold) and hold_late.tag == "late"
    truncate = parse_action("truncate 100")
    assert isinstance(truncate, Truncate) and truncate.size == 100
    assert parse_action("drop") == Drop()


def test_rule_error_message_is_readable() -> None:
    """The full error text looks as documented: rule, caret line, reason, allowed list."""
    with pytest.raises(ValueError) as info:
        parse_rule("client->server alrt: drop")
    assert re.fullmatch(
        r"invalid rule: client->server alrt: drop\n {29}\^{4}\nunknown condition 'alrt'\n"
        r"allowed: .*",
        str(info.value),
    )


def test_fuzz_rule_text_only_raises_value_error() -> None:
    """Random rule-like text either parses into a rule that round-trips or raises ValueError."""
    rng = random.Random(2024)
    directions = ["client->server", "*->*", "a -> b", "*->server", "", "x->"]
    conditions = [
        "alert", "appdata", "ccs", "any", "type=25", "type=200", "epoch>=1", "seq!=3", "len<9",
        "hs=finished", "hs=99", "size>0", "#2", "#>=3", "# 4", "first", "nth=2", "times=3",
        "epoch >= 0x2",
    ]
    actions = [
        "delay 200ms", "delay 1.5 s", "drop", "duplicate", "duplicate 2 spacing 3ms", "corrupt",
        "corrupt 4", "replace 16fefd", "replace empty", "inject 00 01 before", "hold", "hold t-1",
        "truncate 7",
    ]
    noise = ["->", ":", "=", ">=", "#", "-1", "nth=0", "\t", "é", "[", "]", "spacing", "ms", "0x"]
    parsed = 0
    for _ in range(5000):
        parts = [rng.choice(directions)]
        parts += rng.sample(conditions, rng.randrange(0, 4))
        text = " ".join(parts) + ": " + rng.choice(actions)
        if rng.random() < 0.1:
            text = "[rule " + str(rng.randrange(9)) + "] " + text
        if rng.random() < 0.5:
            pos = rng.randrange(len(text) + 1)
            text = text[:pos] + rng.choice(noise) + text[pos:]
        try:
            rule = parse_rule(text)
        except ValueError as exc:
            assert str(exc).startswith("invalid rule: ")
            continue
        parsed += 1
        assert parse_rule(str(rule)) == rule, (text, str(rule))
        assert str(parse_rule(str(rule))) == str(rule)
    assert parsed > 500  # the generator does produce valid rules


def test_duplicate_count_is_bounded() -> None:
    """`duplicate N` is bounded (MAX_DUPLICATES): 10^6 or 10^9 copies are refused with a
    clear error instead of queueing that many datagrams."""
    from mbedtls_py.wire.rules import MAX_DUPLICATES

    assert MAX_DUPLICATES == 100
    assert Duplicate(MAX_DUPLICATES).count == MAX_DUPLICATES
    for n in (MAX_DUPLICATES + 1, 10**6, 10**9):
        with pytest.raises(ValueError, match="at most 100"):
            Duplicate(n)


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
