"""What a schedule is made of: datagram and event identities, faults, and
the words that describe them.

A datagram is identified by *what it is*, not by when it was sent: its
sender and receiver, a key naming its first record (``alert epoch=1``,
``handshake epoch=0 hs=client_hello``; the same words as the rule language
of :mod:`mbedtls_py.wire.rules`) and its occurrence among the datagrams with that
key on that direction.  An event is identified by who emitted it, its kind,
its peer and its occurrence.  So "the client's 1st encrypted alert (epoch
1), held until after the server's 2nd session_reset for client" keeps its
meaning when an earlier fault changes what is sent later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..wire import Datagram, handshake_type_name, parse_datagram

__all__ = ["DatagramId", "EventId", "Fault", "Schedule", "datagram_key", "datagram_words",
           "ordinal", "FAULT_KINDS", "schedule_words", "schedule_to_json",
           "schedule_from_json"]

FAULT_KINDS = ("drop", "swap", "hold", "dup")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``11th``..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _camel(name: str) -> str:
    return "".join(w.capitalize() for w in name.split("_"))


def _has_cookie(payload: bytes) -> bool:
    # ClientHello body after the 12-byte DTLS handshake header: version(2),
    # random(32), session id (1 + n), cookie (1 + n).
    body = payload[12:]
    if len(body) < 35:
        return False
    sid = body[34]
    return len(body) > 35 + sid and body[35 + sid] > 0


def datagram_key(dg: Datagram) -> str:
    """The rule-language match naming a datagram by its first record."""
    if not dg.records:
        return "any"
    r = dg.records[0]
    key = f"{r.type_name} epoch={r.epoch}"
    if r.handshake is not None and r.handshake.msg_type is not None:
        key += f" hs={handshake_type_name(r.handshake.msg_type)}"
    return key


def datagram_words(dg: Datagram) -> str:
    """What a datagram carries, e.g. ``encrypted alert (epoch 1)`` or
    ``ClientHello with cookie``."""
    if not dg.records:
        return "a datagram that is not DTLS"
    parts: list[str] = []
    for r in dg.records:
        if r.encrypted:
            kind = r.type_name.replace("_", " ")
            parts.append(f"encrypted {kind} (epoch {r.epoch})")
        elif r.handshake is not None:
            name = _camel(r.handshake.type_name)
            if r.handshake.msg_type == 1:
                name += " with cookie" if _has_cookie(r.payload) else " without cookie"
            parts.extend([name] + [_camel(h.type_name) for h in r.handshakes[1:]])
        else:
            parts.append(_camel(r.type_name) if r.type_name != "alert" else "plaintext alert")
    words = " + ".join(parts)
    return words + (" (+ trailing bytes)" if dg.error else "")


@dataclass(frozen=True, order=True)
class DatagramId:
    """A datagram by what it is: direction, key, occurrence (1-based)."""

    src: str
    dst: str
    key: str
    nth: int
    words: str = field(default="", compare=False)

    def describe(self) -> str:
        """E.g. ``the client's encrypted alert (epoch 1)``."""
        nth = f"{ordinal(self.nth)} " if self.nth > 1 else ""
        return f"{self.src}'s {nth}{self.words or self.key}"

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"src": self.src, "dst": self.dst, "key": self.key, "nth": self.nth,
                "words": self.words}

    @classmethod
    def of(cls, src: str, dst: str, data: bytes, nth: int, cid_len: int = 0) -> DatagramId:
        """The identity of ``data`` sent ``src -> dst`` as the ``nth`` of its key."""
        dg = parse_datagram(data, cid_len)
        return cls(src, dst, datagram_key(dg), nth, datagram_words(dg))


_EVENT_WORDS = {
    "accept": "{party} accepting {peer}",
    "hello_verify": "{party}'s HelloVerifyRequest to {peer}",
    "handshake": "{party}'s handshake with {peer} completing",
    "read": "{party} reading {peer}'s request",
    "write": "{party}'s echo to {peer}",
    "close_notify": "{party}'s close_notify to {peer}",
    "error": "{party}'s error on {peer}",
    "start": "{party}'s first flight (a new client arriving)",
    "done": "{party} reading the server's close_notify",
}


@dataclass(frozen=True, order=True)
class EventId:
    """An event by who emitted it, its kind, its peer and its occurrence."""

    party: str
    kind: str
    peer: str
    nth: int
    words: str = field(default="", compare=False)

    def describe(self) -> str:
        """E.g. ``the server's session_reset after client's connection``."""
        if self.words:
            return self.words
        template = _EVENT_WORDS.get(self.kind, "{party}'s {kind} ({peer})")
        text = template.format(party=self.party, peer=self.peer or "-", kind=self.kind)
        return f"the {text}"

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"party": self.party, "kind": self.kind, "peer": self.peer, "nth": self.nth,
                "words": self.describe()}


def event_words(party: str, kind: str, peer: str, previous_kind: str | None) -> str:
    """Words for an event, knowing the kind of the party's previous event
    (a reset after a HelloVerifyRequest is not the end of a connection)."""
    if kind == "reset":
        why = ("its HelloVerifyRequest to " if previous_kind == "hello_verify"
               else "closing ") + (peer or "-")
        return f"the {party}'s session_reset after {why}"
    return EventId(party, kind, peer, 1).describe()


@dataclass(frozen=True, order=True)
class Fault:
    """One fault: ``drop`` d; ``swap`` d with the next datagram on its
    direction; ``hold`` d until after event e; ``dup`` (duplicate) d after e."""

    kind: str
    d: DatagramId
    e: EventId | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {self.kind!r}")
        if (self.e is None) != (self.kind in ("drop", "swap")):
            raise ValueError(f"a {self.kind} fault {'needs' if self.e is None else 'takes no'} "
                             "event")

    def describe(self) -> str:
        """The fault in words."""
        d = self.d.describe()
        if self.kind == "drop":
            return f"{d} dropped"
        if self.kind == "swap":
            return f"{d} swapped with the next datagram {self.d.src}->{self.d.dst}"
        assert self.e is not None
        verb = "held until after" if self.kind == "hold" else "duplicated after"
        return f"{d} {verb} {self.e.describe()}"

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        out: dict[str, Any] = {"kind": self.kind, "datagram": self.d.to_json()}
        if self.e is not None:
            out["event"] = self.e.to_json()
        out["words"] = self.describe()
        return out


Schedule = tuple[Fault, ...]


def schedule_words(schedule: Schedule) -> str:
    """A schedule in words (``no fault`` when empty)."""
    return "; ".join(f.describe() for f in schedule) or "no fault"


def schedule_to_json(schedule: Schedule) -> list[dict[str, Any]]:
    """A schedule as a JSON-able list."""
    return [f.to_json() for f in schedule]


def schedule_from_json(items: list[dict[str, Any]]) -> Schedule:
    """The inverse of :func:`schedule_to_json`."""
    out = []
    for it in items:
        d = it["datagram"]
        did = DatagramId(d["src"], d["dst"], d["key"], int(d["nth"]), d.get("words", ""))
        eid = None
        if "event" in it:
            e = it["event"]
            eid = EventId(e["party"], e["kind"], e["peer"], int(e["nth"]), e.get("words", ""))
        out.append(Fault(it["kind"], did, eid))
    return tuple(out)
