"""The one interpreter of the rule language: :func:`apply` runs a datagram
through a list of rules and returns a :class:`Verdict` (what each action did,
and what to send when).  The simulated network and the UDP proxy both use it
and only translate the verdict into their own log and scheduler."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..records import Datagram, parse_datagram, record_types
from .actions import Corrupt, Delay, Drop, Duplicate, Hold, Inject, Replace, Truncate
from .conditions import Match
from .rule import Rule

__all__ = ["Step", "Verdict", "apply", "could_match"]

Role = Literal["datagram", "duplicate", "inject"]


@dataclass(frozen=True)
class Step:
    """One action that applied: ``kind`` is the action's verb (``drop``,
    ``hold``, ``delay``, ``duplicate``, ``corrupt``, ``replace``, ``truncate``,
    ``inject``); ``data`` the datagram after it (for ``inject``: the injected
    bytes)."""

    kind: str
    rule: Rule
    data: bytes


@dataclass
class Verdict:
    """What the rules decided for one datagram.

    ``steps`` lists every action that applied, in order.  ``dropped`` or
    ``held`` (with ``hold``, the :class:`Hold` action and ``rule`` the rule)
    end the datagram's way: ``out`` is then empty and ``data`` is what was
    caught.  Otherwise ``out`` is what to send, in order: ``(bytes,
    extra_delay_ms, role)`` with role ``inject`` (injected before), ``datagram``
    (the datagram as modified), ``duplicate`` (each copy, with its spacing
    added), ``inject`` (injected after).
    """

    data: bytes
    steps: list[Step] = field(default_factory=list)
    dropped: bool = False
    hold: Hold | None = None
    rule: Rule | None = None
    extra_ms: float = 0.0
    out: list[tuple[bytes, float, Role]] = field(default_factory=list)

    @property
    def held(self) -> bool:
        """Whether a ``hold`` action caught the datagram."""
        return self.hold is not None


def _may_match(match: Match, src: str, dst: str, index: int, data: bytes, cid_len: int,
               types: list[bytes]) -> bool:
    """Whether ``match`` can match ``data``, from its direction, its index and
    its record headers alone (``types``: the record types once read, kept for
    the next rule)."""
    if not match.addressed(src, dst, index):
        return False
    if match.content_type is None:
        return True
    if not types:
        types.append(record_types(data, cid_len))
    return match.content_type in types[0]


def could_match(rules: Iterable[Rule], src: str, dst: str, index: int, data: bytes, *,
                cid_len: int = 0) -> bool:
    """Whether any of ``rules`` can match ``data`` (the ``index``-th datagram
    from ``src`` to ``dst``), judged without parsing it: when not,
    :func:`apply` would neither act nor count a match."""
    types: list[bytes] = []
    return any(_may_match(rule.match, src, dst, index, data, cid_len, types) for rule in rules)


def apply(rules: Iterable[Rule], src: str, dst: str, index: int, parsed: Datagram | None,
          data: bytes, rng: random.Random, *, cid_len: int = 0) -> Verdict:
    """Run ``data`` (parsed as ``parsed``; the ``index``-th datagram from ``src``
    to ``dst``) through ``rules`` in order; ``rng`` draws the corrupted bits.
    Each matching rule counts the match (``Rule.check``).  A ``drop`` or
    ``hold`` stops the chain.  ``parsed=None``: ``data`` is parsed (with
    ``cid_len``) only if a rule for its direction and index, and for a content
    type the datagram has records of, needs the records.

    Every rule sees the datagram as sent (the match is on the original
    records, whatever an earlier rule did to the bytes)."""
    v = Verdict(data)
    cur, extra = data, 0.0
    before: list[bytes] = []
    after: list[bytes] = []
    copies: list[float] = []
    types: list[bytes] = []
    for rule in rules:
        if parsed is None:
            if not _may_match(rule.match, src, dst, index, data, cid_len, types):
                continue  # cannot match: no need to parse for it
            parsed = parse_datagram(data, cid_len)
        if not rule.check(src, dst, index, parsed):
            continue
        action = rule.action
        if isinstance(action, (Drop, Hold)):
            v.steps.append(Step("drop" if isinstance(action, Drop) else "hold", rule, cur))
            v.data, v.rule = cur, rule
            if isinstance(action, Drop):
                v.dropped = True
            else:
                v.hold = action
            return v
        if isinstance(action, Delay):
            extra += action.ms
            kind = "delay"
        elif isinstance(action, Duplicate):
            copies.extend(action.spacing_ms * (i + 1) for i in range(action.count))
            kind = "duplicate"
        elif isinstance(action, Corrupt):
            cur = action.apply(cur, rng)
            kind = "corrupt"
        elif isinstance(action, Replace):
            cur = action.data
            kind = "replace"
        elif isinstance(action, Truncate):
            cur = action.apply(cur)
            kind = "truncate"
        elif isinstance(action, Inject):
            (before if action.before else after).append(action.data)
            v.steps.append(Step("inject", rule, action.data))
            continue
        else:  # pragma: no cover - a new action kind
            raise TypeError(f"no interpretation for {type(action).__name__}")
        v.steps.append(Step(kind, rule, cur))
    v.data, v.extra_ms = cur, extra
    v.out = [(d, extra, "inject") for d in before]
    v.out.append((cur, extra, "datagram"))
    v.out.extend((cur, extra + s, "duplicate") for s in copies)
    v.out.extend((d, extra, "inject") for d in after)
    return v
