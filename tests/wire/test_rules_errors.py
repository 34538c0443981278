"""Tests of mbedtls_py.wire.rules' syntax errors: a bad rule's message quotes it, puts a
caret under the bad word, gives the reason and what is allowed; ``parse_rules`` numbers them."""

from __future__ import annotations

import re

import pytest

from mbedtls_py.wire.rules import (
    RuleSyntaxError,
    parse_rule,
    parse_rules,
)


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


def test_rule_error_message_is_readable() -> None:
    """The full error text looks as documented: rule, caret line, reason, allowed list."""
    with pytest.raises(ValueError) as info:
        parse_rule("client->server alrt: drop")
    assert re.fullmatch(
        r"invalid rule: client->server alrt: drop\n {29}\^{4}\nunknown condition 'alrt'\n"
        r"allowed: .*",
        str(info.value),
    )
