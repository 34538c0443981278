"""The actions of the rule language (delay, drop, duplicate, corrupt, replace,
inject, hold, truncate) and their parser; :func:`~mbedtls_py.wire.rules.apply.apply`
interprets them."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..vtime import check_ms
from .grammar import _WORD_RE
from .grammar import (
    _ALLOWED_ACTIONS,
    _TAG_RE,
    MAX_DUPLICATES,
    _Bad,
    _format_hex,
    _format_ms,
    _non_negative_int,
    _parse_duration_ms,
    _parse_hex,
    _parse_uint,
)

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
        check_ms(self.ms, "delay")

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
        check_ms(self.spacing_ms, "spacing_ms")

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
