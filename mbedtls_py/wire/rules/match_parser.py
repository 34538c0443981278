"""The parser of a rule's match text (``client->server alert epoch>=1 first``)
into a :class:`~.conditions.Match`, pointing at the offending word on error."""

from __future__ import annotations

from .conditions import Condition, Match, _condition_value
from .grammar import (
    _ALLOWED_CONDITIONS,
    _COMPARISON_RE,
    _CONTENT_TYPE_WORDS,
    _DIRECTION_RE,
    _FIELD_ALIASES,
    _INDEX_RE,
    _NON_SPACE_RE,
    _WORD_RE,
    _Bad,
    _parse_uint,
)

__all__: list[str] = []


class _MatchBuilder:
    """Collects the conditions of a match part, word by word."""

    def __init__(self) -> None:
        self.src: str | None = None
        self.dst: str | None = None
        self.content_type: int | None = None
        self.content_type_seen = False
        self.conditions: list[Condition] = []
        self.index: list[Condition] = []
        self.nth: int | None = None
        self.times: int | None = None

    def set_content_type(self, value: int | None, start: int, end: int) -> None:
        if self.content_type_seen:
            raise _Bad(start, end, "content type given twice", _ALLOWED_CONDITIONS)
        self.content_type_seen = True
        self.content_type = value

    def set_nth(self, value: int, start: int, end: int) -> None:
        if self.nth is not None:
            raise _Bad(start, end, "nth given twice", _ALLOWED_CONDITIONS)
        self.nth = value

    def set_times(self, value: int, start: int, end: int) -> None:
        if self.times is not None:
            raise _Bad(start, end, "times given twice (first means times=1)", _ALLOWED_CONDITIONS)
        self.times = value

    def add_comparison(self, name: str, op: str, value: str, start: int, end: int) -> None:
        if name == "type":
            if op not in ("=", "=="):
                raise _Bad(start, end, f"type takes '=', not {op!r}", _ALLOWED_CONDITIONS)
            self.set_content_type(_content_type_value(value, start, end), start, end)
        elif name in ("nth", "times"):
            if op not in ("=", "=="):
                raise _Bad(start, end, f"{name} takes '=', not {op!r}", _ALLOWED_CONDITIONS)
            try:
                number = _parse_uint(value)
            except ValueError as exc:
                raise _Bad(start, end, f"bad {name}: {exc}", _ALLOWED_CONDITIONS) from None
            if number < 1:
                raise _Bad(start, end, f"{name} must be at least 1", _ALLOWED_CONDITIONS)
            (self.set_nth if name == "nth" else self.set_times)(number, start, end)
        else:
            field_name = _FIELD_ALIASES.get(name)
            if field_name is None:
                raise _Bad(start, end, f"unknown field {name!r}", _ALLOWED_CONDITIONS)
            try:
                cond = Condition(field_name, op, _condition_value(field_name, value))
            except ValueError as exc:
                what = "bad datagram index" if field_name == "index" else "bad comparison"
                raise _Bad(start, end, f"{what}: {exc}", _ALLOWED_CONDITIONS) from None
            (self.index if field_name == "index" else self.conditions).append(cond)

    def add_word(self, word: str, start: int, end: int) -> None:
        lword = word.lower()
        if lword in _CONTENT_TYPE_WORDS:
            self.set_content_type(_CONTENT_TYPE_WORDS[lword], start, end)
        elif lword == "first":
            self.set_times(1, start, end)
        elif "->" in word:
            raise _Bad(start, end, "the direction SRC->DST must be the first word and "
                       "name both ends (use * for any)", _ALLOWED_CONDITIONS)
        elif lword in _FIELD_ALIASES or lword in ("nth", "times", "type"):
            raise _Bad(start, end, f"{word!r} needs a comparison, e.g. {lword}>=1",
                       _ALLOWED_CONDITIONS)
        else:
            raise _Bad(start, end, f"unknown condition {word!r}", _ALLOWED_CONDITIONS)

    def build(self) -> Match:
        return Match(src=self.src, dst=self.dst, content_type=self.content_type,
                     conditions=tuple(self.conditions), index=tuple(self.index),
                     nth=self.nth, times=self.times)


def _content_type_value(text: str, start: int, end: int) -> int | None:
    if text.lower() in _CONTENT_TYPE_WORDS:
        return _CONTENT_TYPE_WORDS[text.lower()]
    try:
        value = _parse_uint(text)
    except ValueError:
        raise _Bad(start, end, f"unknown content type {text!r}", _ALLOWED_CONDITIONS) from None
    if value > 255:
        raise _Bad(start, end, f"content type {value} is not a byte", _ALLOWED_CONDITIONS)
    return value


def _parse_match_at(text: str, base: int) -> Match:
    """Parse the match part ``text``, which starts at offset ``base`` of the rule."""
    builder = _MatchBuilder()
    pos = 0
    first_word = True
    while True:
        next_word = _NON_SPACE_RE.search(text, pos)
        if next_word is None:
            break
        pos = next_word.start()
        start = base + pos
        if first_word and (m := _DIRECTION_RE.match(text, pos)) is not None:
            for group in ("src", "dst"):
                if "->" in m.group(group):
                    raise _Bad(base + m.start(group), base + m.end(group),
                               f"bad endpoint name {m.group(group)!r}", _ALLOWED_CONDITIONS)
            builder.src, builder.dst = m.group("src"), m.group("dst")
        elif (m := _COMPARISON_RE.match(text, pos)) is not None:
            name, op, value = m.group("name", "op", "value")
            builder.add_comparison(name.lower(), op, value, start, base + m.end())
        elif (m := _INDEX_RE.match(text, pos)) is not None:
            builder.add_comparison("#", "==", m.group("value"), start, base + m.end())
        else:
            m = _WORD_RE.match(text, pos)
            assert m is not None  # pos is at a non-space character
            builder.add_word(m.group(), start, base + m.end())
        pos = m.end()
        first_word = False
    try:
        return builder.build()
    except (ValueError, TypeError) as exc:
        raise _Bad(base, base + len(text), str(exc), _ALLOWED_CONDITIONS) from None
