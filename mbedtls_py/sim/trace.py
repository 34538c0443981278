"""The timeline of a simulated network: :class:`TraceEvent` (one datagram or
call), :class:`Trace` (the list, printable and hashable for replay checks) and
the results :meth:`Network.run`/``handshake``/``status`` report
(:class:`RunResult`, :class:`HandshakeResult`, :class:`Stalled`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..bindings.errors import Err, as_err
from ..wire import records as _records

__all__ = ["TraceEvent", "Trace", "RunResult", "HandshakeResult", "Stalled"]


def _rc_text(rc: int | None) -> str:
    if rc is None:
        return "-"
    if isinstance(rc, Err):
        return str(rc)
    rc = as_err(rc)
    return str(rc)


def _call_note(call: str, rc: int | None, data: bytes) -> str:
    """The trace's note of a call: ``read() -> 18 bytes b'GET / ...'`` or ``handshake() -> 0``."""
    if call in ("read", "read_into", "write") and isinstance(rc, int) and rc >= 0:
        shown = repr(data[:32]) + ("..." if len(data) > 32 else "")
        return f"{call}() -> {rc} bytes {shown}"
    return f"{call}() -> {_rc_text(rc) if rc else '0'}"


# --------------------------------------------------------------------- trace


_NO_DATAGRAM = frozenset({"call", "timer", "poll", "end"})


class TraceEvent:
    """One thing that happened on the network, at virtual ``time_ms``.

    ``kind`` is one of: ``send`` (an endpoint sent ``data`` to ``dst``),
    ``deliver`` (it arrived), ``drop`` (the network lost it; ``note`` says
    why), ``hold``/``release`` (a Hold rule caught it; the script let it go),
    ``dup``, ``delay``, ``corrupt``, ``truncate``, ``replace``, ``inject``,
    ``reorder`` (what a rule or a link did; ``data`` is the datagram after the
    change), ``call`` (an endpoint's call and its return code ``rc``),
    ``timer`` (the clock was advanced to a context's retransmission timer),
    ``poll`` (a process was polled at its deadline), ``end`` (a run ended).
    ``records`` is the datagram parsed with :func:`records.parse_datagram`,
    on first use (the network records raw bytes; nothing is parsed unless
    somebody looks).  Events are values: do not change them.
    """

    # A plain slotted class, not a dataclass: the network makes one per
    # datagram and per call, and this is most of what recording costs.
    __slots__ = ("time_ms", "kind", "src", "dst", "data", "_note", "call", "rc", "cid_len",
                 "_parsed")

    def __init__(self, time_ms: int, kind: str, src: str, dst: str = "", data: bytes = b"",
                 note: str | None = "", call: str | None = None, rc: int | None = None,
                 cid_len: int = 0, _parsed: _records.Datagram | None = None) -> None:
        self.time_ms = time_ms
        self.kind = kind
        self.src = src
        self.dst = dst
        self.data = data
        self._note = note  # None: a call's note, written when first read
        self.call = call
        self.rc = rc
        self.cid_len = cid_len
        self._parsed = _parsed

    @property
    def note(self) -> str:
        """What the network says about it (for a call: the call and its code)."""
        if self._note is None:
            self._note = _call_note(self.call or "", self.rc, self.data)
        return self._note

    def __repr__(self) -> str:
        return (f"TraceEvent(time_ms={self.time_ms!r}, kind={self.kind!r}, src={self.src!r}, "
                f"dst={self.dst!r}, data={self.data!r}, note={self.note!r}, "
                f"call={self.call!r}, rc={self.rc!r})")

    @property
    def records(self) -> _records.Datagram | None:
        """The datagram parsed into records (``None`` for events without one)."""
        if self._parsed is None and self.kind not in _NO_DATAGRAM:
            self._parsed = _records.parse_datagram(self.data, self.cid_len)
        return self._parsed

    @property
    def is_datagram(self) -> bool:
        """True for events about a datagram (not calls, timers, polls)."""
        return self.kind not in _NO_DATAGRAM

    def describe(self) -> str:
        """What is in the datagram, e.g. ``[<Alert epoch=1 seq=3 len=26 encrypted>]``."""
        if not self.is_datagram:
            return ""
        dg = self.records
        if dg is None:  # datagram kinds always parse; keeps the type honest
            return ""
        inner = ", ".join(repr(r) for r in dg.records)
        if dg.error is not None:
            inner += (", " if inner else "") + f"unparsed {len(dg.trailing)} B"
        return f"{len(self.data)} B [{inner}]"

    def __str__(self) -> str:
        if self.kind == "call":
            head = f"{self.time_ms:>8} ms  {self.src:<17} call     {self.note}"
            return head
        if self.kind in ("timer", "poll", "end"):
            return f"{self.time_ms:>8} ms  {self.src:<17} {self.kind:<8} {self.note}"
        arrow = f"{self.src}->{self.dst}"
        text = f"{self.time_ms:>8} ms  {arrow:<17} {self.kind:<8} {self.describe()}"
        if self.note:
            text += f"  ({self.note})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (bytes as hex)."""
        out: dict[str, Any] = {"time_ms": self.time_ms, "kind": self.kind, "src": self.src,
                               "dst": self.dst, "note": self.note}
        if self.kind == "call":
            out["call"] = self.call
            out["rc"] = None if self.rc is None else int(self.rc)
            out["rc_name"] = _rc_text(self.rc)
            if self.data:
                out["data"] = self.data.hex()
        elif self.is_datagram:
            out["data"] = self.data.hex()
            dg = self.records
            out["records"] = None if dg is None else dg.to_dict()
        return out


class Trace(list[TraceEvent]):
    """The list of :class:`TraceEvent` of a network, in order.

    ``str(trace)`` is a readable timeline; ``to_json()`` a JSON array;
    ``digest()`` a SHA-256 over every event (time, kind, endpoints, the bytes
    of every datagram, calls and their codes), for determinism checks.  The
    digest covers every event, also with ``enabled=False`` (then the list
    stays empty) and also events taken out of the list by ``clear()``.
    ``count`` is the number of events seen; ``add(event)`` records one (what
    the network calls; ``append`` would bypass ``enabled``).
    """

    # The hash is brought up to date when asked for (digest(), clear(), a
    # change of `enabled`), not per event: recording stays an append.
    _UNKEPT_BATCH = 512

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self._enabled = enabled
        self._hash = hashlib.sha256()
        self._hashed = 0  # events of the list already in the hash
        self._unkept: list[TraceEvent] = []  # seen while disabled, not hashed yet
        self._gone = 0  # events seen but not in the list (disabled, or cleared)
        # add(event): how the network records, the list's own append while
        # enabled (one C call per event), else the unkept list's.  Rebound when
        # `enabled` changes, so callers look it up per event.
        self.add: Callable[[TraceEvent], None] = self.append if enabled else self._add_unkept

    @property
    def enabled(self) -> bool:
        """Whether events are kept in the list (the digest counts them either way)."""
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._bring_hash_up_to_date()
        self._enabled = bool(value)
        self.add = self.append if self._enabled else self._add_unkept

    @property
    def count(self) -> int:  # type: ignore[override]  # shadows list.count since 0.1
        """The number of events seen (also those not kept)."""
        return len(self) + self._gone + len(self._unkept)

    def _add_unkept(self, event: TraceEvent) -> None:
        self._unkept.append(event)
        if len(self._unkept) >= self._UNKEPT_BATCH:
            self._bring_hash_up_to_date()

    def _bring_hash_up_to_date(self) -> None:
        h = self._hash
        for events in (self[self._hashed:], self._unkept):
            for e in events:
                h.update(f"{e.time_ms}|{e.kind}|{e.src}|{e.dst}|{e.call}|"
                         f"{None if e.rc is None else int(e.rc)}|{len(e.data)}|".encode())
                h.update(e.data)
        self._hashed = len(self)
        self._gone += len(self._unkept)
        self._unkept.clear()

    def clear(self) -> None:
        """Empty the list (the digest and ``count`` still cover what it held)."""
        self._bring_hash_up_to_date()
        self._gone += len(self)
        super().clear()
        self._hashed = 0

    def digest(self) -> str:
        """Hex SHA-256 over every event so far (same seed, same digest)."""
        self._bring_hash_up_to_date()
        return self._hash.copy().hexdigest()

    def datagrams(self, kind: str | None = None, src: str | None = None,
                  dst: str | None = None) -> list[TraceEvent]:
        """Datagram events, optionally only of one ``kind`` and direction."""
        return [e for e in self if e.is_datagram and (kind is None or e.kind == kind)
                and (src is None or e.src == src) and (dst is None or e.dst == dst)]

    def calls(self, name: str | None = None, call: str | None = None) -> list[TraceEvent]:
        """Call events, optionally of one endpoint and one call name."""
        return [e for e in self if e.kind == "call" and (name is None or e.src == name)
                and (call is None or e.call == call)]

    def to_json(self, **kwargs: Any) -> str:
        """The events as a JSON array of objects (see :meth:`TraceEvent.to_dict`)."""
        return json.dumps([e.to_dict() for e in self], **kwargs)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self)

    def to_pcapng(self, path: Any, key_lines: Iterable[str] = (), **options: Any) -> int:
        """Write the datagrams as a capture with ``key_lines`` (NSS key log)
        embedded; see :func:`mbedtls_py.capture.save_trace`.  Returns the packet count."""
        from ..capture import save_trace
        return save_trace(self, path, key_lines, **options)

    def __repr__(self) -> str:
        return f"<Trace {self.count} events digest={self.digest()[:16]}>"



# ------------------------------------------------------------ results/reports


@dataclass
class Stalled:
    """Why nothing more can happen: who waits for what, at which virtual time."""

    time_ms: int
    lines: list[str]

    def __str__(self) -> str:
        return f"stalled at {self.time_ms} ms:\n" + "\n".join(f"  - {x}" for x in self.lines)


@dataclass
class RunResult:
    """How ``Network.run`` ended.

    ``reason``: ``"until"`` (the predicate became true), ``"idle"`` (nothing
    scheduled: see ``stalled``), ``"deadline"`` (the virtual deadline came
    first; the clock stands at it), ``"max_steps"``.
    """

    reason: str
    steps: int
    start_ms: int
    end_ms: int
    real_seconds: float
    stalled: Stalled | None = None

    @property
    def ok(self) -> bool:
        """True when the predicate was met."""
        return self.reason == "until"

    @property
    def elapsed_ms(self) -> int:
        """Virtual milliseconds the run took."""
        return self.end_ms - self.start_ms

    def __str__(self) -> str:
        text = (f"run ended ({self.reason}) at {self.end_ms} ms after {self.steps} steps, "
                f"{self.elapsed_ms} virtual ms, {self.real_seconds * 1000:.1f} real ms")
        if self.stalled is not None:
            text += "\n" + str(self.stalled)
        return text


class HandshakeResult(tuple[int, int]):
    """``(client_rc, server_rc)`` of ``Network.handshake``, with details.

    Unpacks and compares as a 2-tuple (``assert net.handshake(c, s) == (0, 0)``).
    ``reason``: ``"done"`` (both 0), ``"error"`` (a side returned a hard
    error), ``"deadline"``, ``"idle"`` (nothing could happen any more:
    ``stalled`` says why) or ``"max_steps"``; ``start_ms``/``end_ms``/
    ``elapsed_ms`` in virtual time; ``real_seconds``.
    """

    client_rc: int
    server_rc: int
    reason: str
    start_ms: int
    end_ms: int
    real_seconds: float
    steps: int
    stalled: Stalled | None

    def __new__(cls, client_rc: int, server_rc: int, **info: Any) -> HandshakeResult:
        self = super().__new__(cls, (client_rc, server_rc))
        self.client_rc, self.server_rc = client_rc, server_rc
        self.__dict__.update(info)
        return self

    @property
    def ok(self) -> bool:
        """Both sides completed."""
        return self.client_rc == 0 and self.server_rc == 0

    @property
    def elapsed_ms(self) -> int:
        """Virtual milliseconds from the call to the end."""
        return self.end_ms - self.start_ms

    def __str__(self) -> str:
        text = (f"handshake {self.reason}: client {_rc_text(self.client_rc)}, server "
                f"{_rc_text(self.server_rc)} at {self.end_ms} ms ({self.elapsed_ms} virtual ms,"
                f" {self.real_seconds * 1000:.1f} real ms)")
        if self.stalled is not None:
            text += "\n" + str(self.stalled)
        return text


