"""Lexical pieces of the rule language shared by its parsers: operators, field
names, content-type words, :class:`RuleSyntaxError` and value parsers."""

from __future__ import annotations

import math
import re
from typing import Any

from ..constants import ContentType
from ..vtime import check_ms

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
    return check_ms(value, f"duration {text!r}")


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


# The tokenizer works on the original text so that errors can point at it.
_DIRECTION_RE = re.compile(r"(?P<src>[^\s]+?)\s*->\s*(?P<dst>[^\s]+)")
_COMPARISON_RE = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*|#)\s*(?P<op>==|!=|>=|<=|=|>|<)\s*(?P<value>[^\s]+)"
)
_INDEX_RE = re.compile(r"#\s*(?P<value>[^\s]+)")
_WORD_RE = re.compile(r"[^\s]+")
_NON_SPACE_RE = re.compile(r"\S")
