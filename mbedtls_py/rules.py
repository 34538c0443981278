"""Impairment rules: which datagrams to touch, and what to do to them.

The same rule language drives the simulated network and the UDP proxy.  A
rule is one line of text::

    [NAME] MATCH: ACTION

for example::

    client->server alert epoch>=1: delay 200ms
    server->client handshake hs=server_hello_done first: drop
    *->server #2: duplicate 3
    client->server appdata: corrupt 2
    [late-close] client->server alert epoch>=1: hold
    server->client: truncate 100
    client->server: replace 15fefd000000000000000000020228

The match and the action are separated by a ``:`` (the last one that is
followed by an action word, so endpoint names such as ``10.0.0.1:4433`` work).
Words are separated by spaces; spaces around ``->`` and around comparison
operators are allowed.  Keywords are case-insensitive; endpoint names are
not.  ``[NAME]`` is optional (followed by a space; no ``[``, ``]`` or ``:``
in it); it names the rule in traces.  The last example replaces the
datagram by a plaintext fatal handshake_failure alert.

MATCH
=====

A list of conditions, all of which must hold.  An empty match (``: drop``)
matches every datagram.

``SRC->DST``
    Direction; if present it must come first.  ``SRC`` and ``DST`` are
    endpoint names (``client``, ``server``, ...); ``*`` matches any
    endpoint.  Without it, datagrams in any direction match.

content type
    ``alert``, ``handshake``, ``application_data`` (or ``appdata``),
    ``change_cipher_spec`` (or ``ccs``), ``heartbeat``, ``tls12_cid`` (or
    ``cid``), ``type=N`` for any other number (or ``type=NAME``), or
    ``any`` (the default).
    The datagram matches when one of its records has this type.

``FIELD OP VALUE``
    A comparison on the *first record of the datagram that has the content
    type* (the first record at all when no content type is given).
    ``OP`` is one of ``==`` (or ``=``), ``!=``, ``>=``, ``<=``, ``>``,
    ``<``; values are decimal or ``0x`` hex.  Fields:

    - ``epoch``: the record's epoch;
    - ``seq``: the record's 48-bit sequence number;
    - ``length`` (or ``len``): the record's length field;
    - ``hs`` (or ``msg_type``): the handshake message type of a plaintext
      (epoch 0) handshake record, by name (``hs=client_hello``,
      ``hs=server_hello_done``, ...) or by number;
    - ``size``: the size of the whole datagram in bytes.

    A comparison on a field the record does not have (``hs`` of an
    encrypted record, for instance) is false, whatever the operator.  So is
    any record comparison when the datagram has no complete record.

``#N`` or ``#OPN``
    The index of the datagram on its direction, counting from 1: ``#3`` is
    the third datagram sent from SRC to DST, ``#>=2`` all but the first.

``first``, ``nth=N``, ``times=N``
    Limits on the datagrams that matched all the conditions above:
    ``first`` acts on the first one only (same as ``times=1``);
    ``nth=N`` acts on the Nth one only; ``times=N`` acts on at most N of
    them (with ``nth``: N of them starting at the Nth).  Without these, a
    rule acts on every matching datagram.

ACTION
======

``delay DURATION``
    Deliver the datagram later; ``DURATION`` is a number with unit ``ms``
    or ``s`` (``delay 200ms``, ``delay 1.5s``).
``drop``
    Do not deliver it.
``duplicate [N] [spacing DURATION]``
    Deliver it and N more copies (default 1), the copies ``spacing`` apart
    (default 0).  N is at most ``MAX_DUPLICATES`` (100): each copy is a
    datagram in flight, so a larger N would only cost memory and time.
``corrupt [BITS]``
    Flip BITS distinct random bits (default 1), with the seeded RNG of the
    network; an empty datagram is left alone.
``replace HEX``
    Deliver these bytes instead (``replace empty`` for an empty datagram).
``inject HEX [before]``
    Deliver a crafted datagram as well, after the matched one (or before).
``hold [TAG]``
    Keep it until the script releases it (by tag, if given).
``truncate SIZE``
    Deliver only its first SIZE bytes.

Invalid text raises :class:`ValueError` whose message quotes the rule,
points at the bad word and lists what is allowed there.

Python API
==========

:func:`parse_rule` turns a line into a :class:`Rule` (a :class:`Match`, an
:class:`Action` and a name); ``str(rule)`` gives the canonical line back
(full content type names, ``=`` for equality, durations in ``ms``), and
``parse_rule(str(rule)) == rule``.  Rules can also be built directly::

    Rule(Match(src="client", dst="server", content_type="alert",
               conditions=["epoch>=1"]), Delay(200))

The network or proxy calls :meth:`Rule.check` once for every datagram, with
its direction, its 1-based index on that direction and its parsed
:class:`~mbedtls_py.records.Datagram`; when it returns true, the network
applies ``rule.action``.  A rule counts what it matched and fired on
(``rule.matched``, ``rule.fired``; ``rule.reset()`` starts over), so a rule
object belongs to one network or proxy.  :meth:`Match.matches` is the same
test without counting and without ``first``/``nth``/``times``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import records
from .records import ContentType, HandshakeType

__all__ = [
    "MAX_DUPLICATES",
    "OPERATORS",
    "FIELDS",
    "Condition",
    "Match",
    "Action",
    "Delay",
    "Drop",
    "Duplicate",
    "Corrupt",
    "Replace",
    "Inject",
    "Hold",
    "Truncate",
    "Rule",
    "RuleSyntaxError",
    "parse_match",
    "parse_action",
    "parse_rule",
    "parse_rules",
]

OPERATORS = ("==", "!=", ">=", "<=", ">", "<")
"""Comparison operators of conditions (``=`` is accepted for ``==``)."""

FIELDS = ("epoch", "seq", "length", "msg_type", "size", "index")
"""Fields a :class:`Condition` can compare."""

_RECORD_FIELDS = frozenset({"epoch", "seq", "length", "msg_type"})

_FIELD_ALIASES = {
    "epoch": "epoch",
    "seq": "seq",
    "length": "length",
    "len": "length",
    "msg_type": "msg_type",
    "hs": "msg_type",
    "size": "size",
    "index": "index",
    "#": "index",
}

_FIELD_SPELLING = {"msg_type": "hs"}

_CONTENT_TYPE_WORDS: dict[str, int | None] = {
    "any": None,
    "alert": ContentType.alert,
    "handshake": ContentType.handshake,
    "application_data": ContentType.application_data,
    "appdata": ContentType.application_data,
    "change_cipher_spec": ContentType.change_cipher_spec,
    "ccs": ContentType.change_cipher_spec,
    "heartbeat": ContentType.heartbeat,
    "tls12_cid": ContentType.tls12_cid,
    "cid": ContentType.tls12_cid,
}

_NAME_RE = re.compile(r"[^\[\]:\n]+")
_TAG_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_ENDPOINT_RE = re.compile(r"[^\s]+")

_ALLOWED_CONDITIONS = (
    "SRC->DST (first word; * for any endpoint); a content type: alert, "
    "handshake, application_data/appdata, change_cipher_spec/ccs, heartbeat, "
    "tls12_cid/cid, type=N, any; a comparison FIELD OP VALUE with FIELD one of "
    "epoch, seq, length/len, hs/msg_type, size and OP one of == = != >= <= > <; "
    "#N or #OPN (datagram index on the direction); first; nth=N; times=N"
)

_ALLOWED_ACTIONS = (
    "delay DURATION (e.g. 200ms, 1.5s); drop; duplicate [N] [spacing DURATION]; "
    "corrupt [BITS]; replace HEX|empty; inject HEX|empty [before]; hold [TAG]; "
    "truncate SIZE"
)


class RuleSyntaxError(ValueError):
    """Raised for invalid rule text: a :class:`ValueError` that quotes the
    rule and points at the offending word.  ``rule``, ``start`` and ``end``
    locate the word; ``reason`` is the bare explanation."""

    def __init__(self, rule: str, start: int, end: int, reason: str, allowed: str) -> None:
        self.rule = rule
        self.start = start
        self.end = end
        self.reason = reason
        self.allowed = allowed
        prefix = "invalid rule: "
        shown = rule.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        caret = " " * (len(prefix) + start) + "^" * max(1, end - start)
        super().__init__(f"{prefix}{shown}\n{caret}\n{reason}\nallowed: {allowed}")


class _Bad(Exception):
    """Internal: a problem with the word at [start, end) of the rule."""

    def __init__(self, start: int, end: int, reason: str, allowed: str) -> None:
        super().__init__(reason)
        self.start = start
        self.end = end
        self.reason = reason
        self.allowed = allowed


def _parse_uint(text: str) -> int:
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        return int(text, 16)
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    raise ValueError(f"{text!r} is not a non-negative integer")


def _parse_duration_ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.eE+\-]+?)\s*(ms|s)", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r} is not a duration; write e.g. 200ms or 1.5s")
    try:
        value = float(m.group(1))
    except ValueError:
        raise ValueError(f"{text!r} is not a duration; write e.g. 200ms or 1.5s") from None
    if m.group(2).lower() == "s":
        value *= 1000.0
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} is not a non-negative finite duration")
    return value


def _format_ms(ms: float) -> str:
    if float(ms).is_integer() and abs(ms) < 1e15:
        return f"{int(ms)}ms"
    return f"{float(ms)!r}ms"


def _parse_hex(text: str) -> bytes:
    if text == "empty":
        return b""
    cleaned = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not hex bytes") from None
    if not data:
        raise ValueError("no bytes given; write hex digits or 'empty'")
    return data


def _format_hex(data: bytes) -> str:
    return data.hex() if data else "empty"


#: The largest N of ``duplicate N``: every copy is a datagram in flight (in the
#: simulated network's queue or the proxy's schedule), so N bounds memory.
MAX_DUPLICATES = 100


def _non_negative_int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    return value


# ---------------------------------------------------------------- conditions


def _condition_value(field_name: str, value: Any) -> Any:
    """Turn the text of a value into an int (handshake names for msg_type)."""
    if not isinstance(value, str):
        return value
    if field_name == "msg_type" and value.lower() in HandshakeType.__members__:
        return int(HandshakeType[value.lower()])
    try:
        return _parse_uint(value)
    except ValueError:
        if field_name == "msg_type":
            raise ValueError(
                f"unknown handshake type {value!r}; allowed: a number or "
                + ", ".join(HandshakeType.__members__)
            ) from None
        raise


@dataclass(frozen=True, slots=True)
class Condition:
    """One comparison ``field op value``.

    ``field`` is one of :data:`FIELDS` (aliases ``len``, ``hs`` and ``#`` are
    accepted), ``op`` one of :data:`OPERATORS` (``=`` is accepted for
    ``==``), ``value`` a non-negative int (a handshake type name is accepted
    for ``msg_type``).  Aliases are normalised, so equal conditions compare
    equal.
    """

    field: str
    op: str
    value: int

    def __post_init__(self) -> None:
        name = _FIELD_ALIASES.get(self.field.lower()) if isinstance(self.field, str) else None
        if name is None:
            raise ValueError(
                f"unknown field {self.field!r}; allowed: epoch, seq, length/len, "
                "hs/msg_type, size, index/#"
            )
        op = "==" if self.op == "=" else self.op
        if op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}; allowed: == = != >= <= > <")
        value = _non_negative_int(f"value of {name}", _condition_value(name, self.value))
        object.__setattr__(self, "field", name)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "value", int(value))

    def test(self, actual: int | None) -> bool:
        """Compare ``actual`` with the value; ``None`` (field absent) is always false."""
        if actual is None:
            return False
        op = self.op
        if op == "==":
            return actual == self.value
        if op == "!=":
            return actual != self.value
        if op == ">=":
            return actual >= self.value
        if op == "<=":
            return actual <= self.value
        if op == ">":
            return actual > self.value
        return actual < self.value

    def __str__(self) -> str:
        op = "=" if self.op == "==" else self.op
        if self.field == "index":
            return f"#{self.value}" if self.op == "==" else f"#{self.op}{self.value}"
        value = str(self.value)
        if self.field == "msg_type":
            try:
                value = HandshakeType(self.value).name
            except ValueError:
                pass
        return f"{_FIELD_SPELLING.get(self.field, self.field)}{op}{value}"


# The tokenizer works on the original text so that errors can point at it.
_DIRECTION_RE = re.compile(r"(?P<src>[^\s]+?)\s*->\s*(?P<dst>[^\s]+)")
_COMPARISON_RE = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*|#)\s*(?P<op>==|!=|>=|<=|=|>|<)\s*(?P<value>[^\s]+)"
)
_INDEX_RE = re.compile(r"#\s*(?P<value>[^\s]+)")
_WORD_RE = re.compile(r"[^\s]+")
_NON_SPACE_RE = re.compile(r"\S")


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


_INDEX_TEXT_RE = re.compile(
    r"(?:#|index)?\s*(?P<op>==|!=|>=|<=|=|>|<)?\s*(?P<value>[^\s]+)", re.IGNORECASE
)


def _to_condition(item: Condition | str | int, *, index: bool) -> Condition:
    if isinstance(item, Condition):
        return item
    if isinstance(item, str):
        text = item.strip()
        if index:
            m = _INDEX_TEXT_RE.fullmatch(text)
            if m is not None:
                op = m.group("op") or "=="
                return Condition("index", op, _condition_value("index", m.group("value")))
        else:
            m = _COMPARISON_RE.fullmatch(text)
            if m is not None:
                name = _FIELD_ALIASES.get(m.group("name").lower(), m.group("name"))
                return Condition(name, m.group("op"), _condition_value(name, m.group("value")))
        example = "'#3' or '>=2'" if index else "'epoch>=1' or 'hs=client_hello'"
        raise ValueError(f"bad condition {item!r}; write e.g. {example}")
    if index and isinstance(item, int) and not isinstance(item, bool):
        return Condition("index", "==", item)
    raise TypeError(f"a condition must be a Condition or a str, not {type(item).__name__}")


@dataclass(frozen=True, slots=True)
class Match:
    """Which datagrams a rule applies to (see the module docstring).

    ``src``/``dst`` are endpoint names, ``None`` (or ``"*"``) for any.
    ``content_type`` is a record content type number or name (``"alert"``,
    ``"appdata"``, ...), ``None`` for any.  ``conditions`` are comparisons
    on the first record of that content type (and ``size`` on the
    datagram), given as :class:`Condition` or strings such as
    ``"epoch>=1"``.  ``index`` holds conditions on the 1-based datagram index
    of the direction: Conditions, strings (``"#>=2"``, ``">=2"``) or a bare
    int for equality.  ``nth``/``times`` limit which matching datagrams the
    rule acts on; ``nth`` alone means ``times=1``.  All inputs are
    normalised, so equal matches compare equal.
    """

    src: str | None = None
    dst: str | None = None
    content_type: int | None = None
    conditions: tuple[Condition, ...] = ()
    index: tuple[Condition, ...] = ()
    nth: int | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        for name in ("src", "dst"):
            value = getattr(self, name)
            if value == "*":
                object.__setattr__(self, name, None)
            elif value is not None:
                if not isinstance(value, str):
                    raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
                if not _ENDPOINT_RE.fullmatch(value) or "->" in value:
                    raise ValueError(f"bad endpoint name {value!r} (no spaces, no '->')")
        ct: Any = self.content_type
        if isinstance(ct, str):
            key = ct.lower()
            if key not in _CONTENT_TYPE_WORDS:
                raise ValueError(
                    f"unknown content type {ct!r}; allowed: "
                    + ", ".join(_CONTENT_TYPE_WORDS)
                )
            ct = _CONTENT_TYPE_WORDS[key]
        if ct is not None:
            ct = _non_negative_int("content_type", ct)
            if ct > 255:
                raise ValueError(f"content_type must be a byte, not {ct}")
            ct = int(ct)
        object.__setattr__(self, "content_type", ct)

        conditions = self.conditions
        if isinstance(conditions, (str, Condition)):
            conditions = (conditions,)
        conds = tuple(_to_condition(c, index=False) for c in conditions)
        if any(c.field == "index" for c in conds):
            raise ValueError("index conditions go in Match.index, not Match.conditions")
        object.__setattr__(self, "conditions", conds)

        index: Any = self.index
        if isinstance(index, (str, int, Condition)):
            index = (index,)
        idx = tuple(_to_condition(c, index=True) for c in index)
        if any(c.field != "index" for c in idx):
            raise ValueError("Match.index only takes index conditions")
        object.__setattr__(self, "index", idx)

        nth = self.nth
        times = self.times
        if nth is not None:
            nth = _non_negative_int("nth", nth, 1)
        if times is not None:
            times = _non_negative_int("times", times, 1)
        if nth is not None and times is None:
            times = 1
        if nth == 1:
            nth = None  # skipping zero datagrams: nth=1 is plain times
        object.__setattr__(self, "nth", nth)
        object.__setattr__(self, "times", times)

    def matches(
        self,
        src: str,
        dst: str,
        index: int,
        datagram: records.Datagram | bytes | bytearray | memoryview,
    ) -> bool:
        """True when a datagram sent from ``src`` to ``dst``, the ``index``-th
        (1-based) on that direction, satisfies every condition.

        Pure: ``nth`` and ``times`` are not considered here (see
        :meth:`Rule.check`).  Raw bytes are parsed without connection IDs.
        """
        if self.src is not None and src != self.src:
            return False
        if self.dst is not None and dst != self.dst:
            return False
        if not all(c.test(index) for c in self.index):
            return False
        if not isinstance(datagram, records.Datagram):
            datagram = records.parse_datagram(datagram)
        record: records.Record | None = None
        if self.content_type is not None or any(
            c.field in _RECORD_FIELDS for c in self.conditions
        ):
            for r in datagram.records:
                if self.content_type is None or r.content_type == self.content_type:
                    record = r
                    break
            else:
                return False
        for cond in self.conditions:
            if cond.field == "size":
                actual: int | None = len(datagram.data)
            else:
                assert record is not None
                if cond.field == "msg_type":
                    hs = record.handshake
                    actual = hs.msg_type if hs is not None else None
                else:
                    actual = getattr(record, cond.field)
            if not cond.test(actual):
                return False
        return True

    def __str__(self) -> str:
        parts = [f"{self.src or '*'}->{self.dst or '*'}"]
        if self.content_type is not None:
            try:
                parts.append(ContentType(self.content_type).name)
            except ValueError:
                parts.append(f"type={self.content_type}")
        parts.extend(str(c) for c in self.conditions)
        parts.extend(str(c) for c in self.index)
        if self.nth is not None:
            parts.append(f"nth={self.nth}")
            if self.times != 1:
                parts.append(f"times={self.times}")
        elif self.times == 1:
            parts.append("first")
        elif self.times is not None:
            parts.append(f"times={self.times}")
        return " ".join(parts)


# ------------------------------------------------------------------- actions


class Action:
    """Base class of the actions a rule can take on a datagram.

    ``str(action)`` is the action's canonical text in the rule language.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Delay(Action):
    """Deliver the datagram ``ms`` milliseconds later than it would have been."""

    ms: float

    def __post_init__(self) -> None:
        if isinstance(self.ms, bool) or not isinstance(self.ms, (int, float)):
            raise TypeError(f"ms must be a number, not {type(self.ms).__name__}")
        if not math.isfinite(self.ms) or self.ms < 0:
            raise ValueError(f"ms must be a non-negative finite number, not {self.ms}")

    def __str__(self) -> str:
        return f"delay {_format_ms(self.ms)}"


@dataclass(frozen=True, slots=True)
class Drop(Action):
    """Do not deliver the datagram."""

    def __str__(self) -> str:
        return "drop"


@dataclass(frozen=True, slots=True)
class Duplicate(Action):
    """Deliver the datagram and ``count`` more copies, ``spacing_ms`` apart."""

    count: int = 1
    spacing_ms: float = 0

    def __post_init__(self) -> None:
        _non_negative_int("count", self.count, 1)
        if self.count > MAX_DUPLICATES:
            raise ValueError(f"count must be at most {MAX_DUPLICATES} (MAX_DUPLICATES), "
                             f"not {self.count}")
        if isinstance(self.spacing_ms, bool) or not isinstance(self.spacing_ms, (int, float)):
            raise TypeError(f"spacing_ms must be a number, not {type(self.spacing_ms).__name__}")
        if not math.isfinite(self.spacing_ms) or self.spacing_ms < 0:
            raise ValueError(f"spacing_ms must be non-negative and finite, not {self.spacing_ms}")

    def __str__(self) -> str:
        text = "duplicate" if self.count == 1 else f"duplicate {self.count}"
        if self.spacing_ms:
            text += f" spacing {_format_ms(self.spacing_ms)}"
        return text


@dataclass(frozen=True, slots=True)
class Corrupt(Action):
    """Flip ``bits`` distinct random bits of the datagram."""

    bits: int = 1

    def __post_init__(self) -> None:
        _non_negative_int("bits", self.bits, 1)

    def apply(self, data: bytes, rng: random.Random) -> bytes:
        """Return ``data`` with ``bits`` distinct bits flipped, chosen with ``rng``.

        An empty datagram is returned unchanged; if it has fewer than
        ``bits`` bits, all of them are flipped.
        """
        if not data:
            return bytes(data)
        out = bytearray(data)
        total = len(out) * 8
        for bit in rng.sample(range(total), min(self.bits, total)):
            out[bit >> 3] ^= 1 << (bit & 7)
        return bytes(out)

    def __str__(self) -> str:
        return "corrupt" if self.bits == 1 else f"corrupt {self.bits}"


@dataclass(frozen=True, slots=True)
class Replace(Action):
    """Deliver ``data`` instead of the datagram."""

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(self.data).__name__}")
        object.__setattr__(self, "data", bytes(self.data))

    def __str__(self) -> str:
        return f"replace {_format_hex(self.data)}"


@dataclass(frozen=True, slots=True)
class Inject(Action):
    """Deliver the crafted datagram ``data`` as well: after the matched one,
    or just before it when ``before`` is true."""

    data: bytes
    before: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(self.data).__name__}")
        object.__setattr__(self, "data", bytes(self.data))
        object.__setattr__(self, "before", bool(self.before))

    def __str__(self) -> str:
        return f"inject {_format_hex(self.data)}" + (" before" if self.before else "")


@dataclass(frozen=True, slots=True)
class Hold(Action):
    """Keep the datagram until the script releases it (by ``tag`` if given)."""

    tag: str | None = None

    def __post_init__(self) -> None:
        if self.tag is not None and (
            not isinstance(self.tag, str) or not _TAG_RE.fullmatch(self.tag)
        ):
            raise ValueError(f"bad hold tag {self.tag!r}; allowed: letters, digits, _ . -")

    def __str__(self) -> str:
        return "hold" if self.tag is None else f"hold {self.tag}"


@dataclass(frozen=True, slots=True)
class Truncate(Action):
    """Deliver only the first ``size`` bytes of the datagram."""

    size: int

    def __post_init__(self) -> None:
        _non_negative_int("size", self.size)

    def apply(self, data: bytes) -> bytes:
        """Return the first ``size`` bytes of ``data``."""
        return bytes(data[: self.size])

    def __str__(self) -> str:
        return f"truncate {self.size}"


def _parse_action_at(text: str, base: int) -> Action:
    """Parse the action part ``text``, which starts at ``base`` in the rule."""
    words = [(m.group(), base + m.start(), base + m.end()) for m in _WORD_RE.finditer(text)]
    if not words:
        raise _Bad(base, base + len(text), "missing action after ':'", _ALLOWED_ACTIONS)
    verb, vstart, vend = words[0]
    verb_l = verb.lower()
    args = words[1:]

    def bad(i: int, reason: str) -> _Bad:
        _, s, e = args[i] if i < len(args) else words[-1]
        return _Bad(s, e, reason, _ALLOWED_ACTIONS)

    def no_more(i: int) -> None:
        if len(args) > i:
            raise _Bad(args[i][1], args[-1][2], f"unexpected {args[i][0]!r} after {verb}",
                       _ALLOWED_ACTIONS)

    def joined(i: int, j: int) -> tuple[str, int, int]:
        chunk = args[i:j]
        return "".join(w for w, _, _ in chunk), chunk[0][1], chunk[-1][2]

    def duration(i: int) -> tuple[float, int]:
        # "200ms" or "200 ms"
        if i >= len(args):
            raise bad(i, f"{verb} needs a duration, e.g. 200ms or 1.5s")
        n = 2 if i + 1 < len(args) and args[i + 1][0].lower() in ("ms", "s") else 1
        word, s, e = joined(i, i + n)
        try:
            return _parse_duration_ms(word), i + n
        except ValueError as exc:
            raise _Bad(s, e, str(exc), _ALLOWED_ACTIONS) from None

    def uint(i: int, what: str, minimum: int) -> int:
        word, s, e = args[i]
        try:
            value = _parse_uint(word)
        except ValueError:
            raise _Bad(s, e, f"{what} must be a number, not {word!r}", _ALLOWED_ACTIONS) from None
        if value < minimum:
            raise _Bad(s, e, f"{what} must be at least {minimum}", _ALLOWED_ACTIONS)
        return value

    if verb_l == "delay":
        ms, i = duration(0)
        no_more(i)
        return Delay(ms)
    if verb_l == "drop":
        no_more(0)
        return Drop()
    if verb_l == "duplicate":
        count, spacing, i = 1, 0.0, 0
        if i < len(args) and args[i][0].lower() != "spacing":
            count = uint(i, "the number of copies", 1)
            if count > MAX_DUPLICATES:
                word, ws, we = args[i]
                raise _Bad(ws, we, f"the number of copies must be at most {MAX_DUPLICATES}",
                           _ALLOWED_ACTIONS)
            i += 1
        if i < len(args) and args[i][0].lower() == "spacing":
            spacing, i = duration(i + 1)
        no_more(i)
        return Duplicate(count, spacing)
    if verb_l == "corrupt":
        bits = 1
        if args:
            bits = uint(0, "the number of bits", 1)
        no_more(1)
        return Corrupt(bits)
    if verb_l in ("replace", "inject"):
        before = False
        hex_words = []
        for word, s, e in args:
            if verb_l == "inject" and word.lower() in ("before", "after"):
                before = word.lower() == "before"
            else:
                hex_words.append((word, s, e))
        if not hex_words:
            raise _Bad(vstart, vend, f"{verb} needs the datagram as hex bytes (or 'empty')",
                       _ALLOWED_ACTIONS)
        word = "".join(w for w, _, _ in hex_words)
        try:
            data = _parse_hex(word)
        except ValueError as exc:
            raise _Bad(hex_words[0][1], hex_words[-1][2], str(exc), _ALLOWED_ACTIONS) from None
        return Replace(data) if verb_l == "replace" else Inject(data, before)
    if verb_l == "hold":
        tag = None
        if args:
            tag = args[0][0]
            if not _TAG_RE.fullmatch(tag):
                raise bad(0, f"bad hold tag {tag!r}; allowed: letters, digits, _ . -")
        no_more(1)
        return Hold(tag)
    if verb_l == "truncate":
        if not args:
            raise _Bad(vstart, vend, "truncate needs a size in bytes", _ALLOWED_ACTIONS)
        size = uint(0, "the size", 0)
        no_more(1)
        return Truncate(size)
    raise _Bad(vstart, vend, f"unknown action {verb!r}", _ALLOWED_ACTIONS)


# --------------------------------------------------------------------- rules


@dataclass(slots=True)
class Rule:
    """A :class:`Match`, the :class:`Action` to take, and an optional name.

    ``matched`` counts the datagrams that satisfied the match and ``fired``
    those the action was taken on (both only through :meth:`check`; they do
    not take part in equality).
    """

    match: Match
    action: Action
    name: str | None = None
    matched: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.match, Match):
            raise TypeError(f"match must be a Match, not {type(self.match).__name__}")
        if not isinstance(self.action, Action):
            raise TypeError(f"action must be an Action, not {type(self.action).__name__}")
        if self.name is not None:
            if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name.strip()) \
                    or self.name != self.name.strip():
                raise ValueError(
                    f"bad rule name {self.name!r}: no '[', ']', ':', newlines or "
                    "leading/trailing spaces"
                )

    def check(
        self,
        src: str,
        dst: str,
        index: int,
        datagram: records.Datagram | bytes | bytearray | memoryview,
    ) -> bool:
        """Decide whether to act on this datagram, and count it.

        Call once per datagram; ``index`` is its 1-based position on the
        ``src``->``dst`` direction.  Returns true when the match holds and
        ``nth``/``times`` allow it, in which case the caller applies
        :attr:`action`.
        """
        if not self.match.matches(src, dst, index, datagram):
            return False
        self.matched += 1
        nth = self.match.nth
        if nth is not None and self.matched < nth:
            return False
        if self.exhausted:
            return False
        self.fired += 1
        return True

    @property
    def exhausted(self) -> bool:
        """True when the rule has fired as many times as ``times`` allows."""
        return self.match.times is not None and self.fired >= self.match.times

    def reset(self) -> None:
        """Set the ``matched`` and ``fired`` counters back to zero."""
        self.matched = 0
        self.fired = 0

    def __str__(self) -> str:
        prefix = f"[{self.name}] " if self.name is not None else ""
        return f"{prefix}{self.match}: {self.action}"

    def __repr__(self) -> str:
        return f"Rule({str(self)!r}, matched={self.matched}, fired={self.fired})"


_ACTION_VERBS = ("delay", "drop", "duplicate", "corrupt", "replace", "inject", "hold", "truncate")
_COLON_VERB_RE = re.compile(r":(?=\s*(?:%s)(?:\s|$))" % "|".join(_ACTION_VERBS), re.IGNORECASE)
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


def parse_match(text: str) -> Match:
    """Parse the match part of a rule (the text before ``:``) into a :class:`Match`."""
    if not isinstance(text, str):
        raise TypeError(f"a match must be a str, not {type(text).__name__}")
    try:
        return _parse_match_at(text, 0)
    except _Bad as bad:
        raise RuleSyntaxError(text, bad.start, bad.end, bad.reason, bad.allowed) from None


def parse_action(text: str) -> Action:
    """Parse the action part of a rule (the text after ``:``) into an :class:`Action`."""
    if not isinstance(text, str):
        raise TypeError(f"an action must be a str, not {type(text).__name__}")
    try:
        return _parse_action_at(text, 0)
    except _Bad as bad:
        raise RuleSyntaxError(text, bad.start, bad.end, bad.reason, bad.allowed) from None


def parse_rule(text: str) -> Rule:
    """Parse one rule written in the rule language (see the module docstring).

    Raises :class:`RuleSyntaxError` (a :class:`ValueError`) for invalid text.
    """
    if not isinstance(text, str):
        raise TypeError(f"a rule must be a str, not {type(text).__name__}")
    try:
        name, start, colon, action_start = _split(text)
        match = _parse_match_at(text[start:colon], start)
        action = _parse_action_at(text[action_start:], action_start)
    except _Bad as bad:
        raise RuleSyntaxError(text, bad.start, bad.end, bad.reason, bad.allowed) from None
    return Rule(match, action, name)


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
