"""The match side of a rule: :class:`Condition` (one comparison) and :class:`Match`
(direction, content type, comparisons, index, first/nth/times).  Their text
parser is :mod:`.match_parser`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import records
from ..constants import ContentType, HandshakeType
from .grammar import (
    _COMPARISON_RE,
    _CONTENT_TYPE_WORDS,
    _ENDPOINT_RE,
    _FIELD_ALIASES,
    _FIELD_SPELLING,
    _RECORD_FIELDS,
    OPERATORS,
    _non_negative_int,
    _parse_uint,
)

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

    if TYPE_CHECKING:  # what __post_init__ accepts; the fields hold it normalised
        def __init__(self, field: str, op: str, value: int | str) -> None: ...

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

    if TYPE_CHECKING:  # what __post_init__ accepts; the fields hold it normalised
        def __init__(
            self, src: str | None = None, dst: str | None = None,
            content_type: int | str | None = None,
            conditions: Condition | str | Iterable[Condition | str] = (),
            index: Condition | str | int | Iterable[Condition | str | int] = (),
            nth: int | None = None, times: int | None = None,
        ) -> None: ...

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

    def addressed(self, src: str, dst: str, index: int) -> bool:
        """The part of :meth:`matches` that needs no parsing: direction and index."""
        return ((self.src is None or src == self.src) and (self.dst is None or dst == self.dst)
                and (not self.index or all(c.test(index) for c in self.index)))

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
        if self.index and not all(c.test(index) for c in self.index):
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
