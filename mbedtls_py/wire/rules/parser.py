"""Parsing rule text (``[NAME] MATCH: ACTION``) into :class:`~mbedtls_py.wire.rules.rule.Rule` objects;
the language itself is documented in :mod:`mbedtls_py.wire.rules`."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from .actions import Action, _parse_action_at
from .conditions import Match
from .match_parser import _parse_match_at
from .grammar import RuleSyntaxError, _Bad
from .rule import Rule

_ACTION_VERBS = ("delay", "drop", "duplicate", "corrupt", "replace", "inject", "hold", "truncate")
_COLON_VERB_RE = re.compile(r":(?=\s*(?:" + "|".join(_ACTION_VERBS) + r")(?:\s|$))", re.IGNORECASE)
_NAME_PREFIX_RE = re.compile(r"\s*\[(?P<name>[^\[\]:\n]*)\](?=\s)")


def _split(text: str) -> tuple[str | None, int, int, int]:
    """Return (name, match start, colon position, action start) positions."""
    name = None
    start = 0
    m = _NAME_PREFIX_RE.match(text)
    if m:
        name = m.group("name").strip()
        if not name:
            raise _Bad(m.start("name") - 1, m.end("name") + 1, "empty rule name",
                       "[NAME] with letters, digits, spaces, _ . -")
        start = m.end()
    # Endpoint names may contain ':' (host:port) and so may bad action
    # words, so take the last ':' that is followed by an action verb, and
    # fall back to the last ':' so that the error points at the action.
    colon = -1
    for m in _COLON_VERB_RE.finditer(text, start):
        colon = m.start()
    if colon < 0:
        colon = text.rfind(":")
    if colon < start:
        raise _Bad(start, max(start + 1, len(text)),
                   "missing ':' between the match and the action",
                   "MATCH: ACTION, e.g. 'client->server alert epoch>=1: delay 200ms'")
    return name, start, colon, colon + 1


def _parse_part(text: str, what: str, parse: Callable[[str, int], Any]) -> Any:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    try:
        return parse(text, 0)
    except _Bad as bad:
        raise RuleSyntaxError(text, bad.start, bad.end, bad.reason, bad.allowed) from None


def parse_match(text: str) -> Match:
    """Parse the match part of a rule (the text before ``:``) into a :class:`Match`."""
    match: Match = _parse_part(text, "a match", _parse_match_at)
    return match


def parse_action(text: str) -> Action:
    """Parse the action part of a rule (the text after ``:``) into an :class:`Action`."""
    action: Action = _parse_part(text, "an action", _parse_action_at)
    return action


def parse_rule(text: str) -> Rule:
    """Parse one rule written in the rule language (see the module docstring).

    Raises :class:`RuleSyntaxError` (a :class:`ValueError`) for invalid text.
    """
    if not isinstance(text, str):
        raise TypeError(f"a rule must be a str, not {type(text).__name__}")
    # A fresh Rule (its own counters) around the shared, frozen match and action.
    return Rule(*_parse_rule_parts(text))


@functools.lru_cache(maxsize=1024)  # sweeps parse the same texts run after run (repro: ~440)
def _parse_rule_parts(text: str) -> tuple[Match, Action, str | None]:
    try:
        name, start, colon, action_start = _split(text)
        match = _parse_match_at(text[start:colon], start)
        action = _parse_action_at(text[action_start:], action_start)
    except _Bad as bad:
        raise RuleSyntaxError(text, bad.start, bad.end, bad.reason, bad.allowed) from None
    return match, action, name


def parse_rules(texts: Iterable[str] | str) -> list[Rule]:
    """Parse several rules, skipping blank entries.

    ``texts`` is an iterable of rule strings, or one string with a rule per
    line.  The error for an invalid rule says which one it was (1-based).
    """
    if isinstance(texts, str):
        texts = texts.splitlines()
    rules = []
    for number, text in enumerate(texts, 1):
        if not isinstance(text, str):
            raise TypeError(f"rule {number} is not a str but {type(text).__name__}")
        if not text.strip():
            continue
        try:
            rules.append(parse_rule(text))
        except RuleSyntaxError as exc:
            raise RuleSyntaxError(exc.rule, exc.start, exc.end,
                                  f"(rule {number}) {exc.reason}", exc.allowed) from None
    return rules
