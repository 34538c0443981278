"""Tests of mbedtls_py.wire.rules, the language: rules, matches, conditions and actions
parsed from text or built in Python, their canonical form and round trip, and the
validation of each part (bad rule text and its messages: ``test_rules_errors.py``)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mbedtls_py.wire import rules as rules_module
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
    Truncate,
    parse_action,
    parse_match,
    parse_rule,
)


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


def test_duplicate_count_is_bounded() -> None:
    """`duplicate N` is bounded (MAX_DUPLICATES): 10^6 or 10^9 copies are refused with a
    clear error instead of queueing that many datagrams."""
    from mbedtls_py.wire.rules import MAX_DUPLICATES

    assert MAX_DUPLICATES == 100
    assert Duplicate(MAX_DUPLICATES).count == MAX_DUPLICATES
    for n in (MAX_DUPLICATES + 1, 10**6, 10**9):
        with pytest.raises(ValueError, match="at most 100"):
            Duplicate(n)


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
