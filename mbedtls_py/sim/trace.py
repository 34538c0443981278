"""The timeline of a simulated network: :class:`TraceEvent` (one datagram or
call), :class:`Trace` (the list, printable and hashable for replay checks) and
the results :meth:`Network.run`/``handshake``/``status`` report
(:class:`RunResult`, :class:`HandshakeResult`, :class:`Stalled`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Err, as_err
from ..wire import records as _records

__all__ = ["TraceEvent", "Trace", "RunResult", "HandshakeResult", "Stalled"]


def _rc_text(rc: int | None) -> str:
    if rc is None:
        return "-"
    if isinstance(rc, Err):
        return str(rc)
    rc = as_err(rc)
    return str(rc)


# --------------------------------------------------------------------- trace


@dataclass(eq=False)
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
    ``records`` is the datagram parsed with :func:`records.parse_datagram`.
    """

    time_ms: int
    kind: str
    src: str
    dst: str = ""
    data: bytes = b""
    note: str = ""
    call: str | None = None
    rc: int | None = None
    cid_len: int = field(default=0, repr=False)
    _parsed: _records.Datagram | None = field(default=None, repr=False)

    @property
    def records(self) -> _records.Datagram | None:
        """The datagram parsed into records (``None`` for events without one)."""
        if self._parsed is None and self.kind not in ("call", "timer", "poll", "end"):
            self._parsed = _records.parse_datagram(self.data, self.cid_len)
        return self._parsed

    @property
    def is_datagram(self) -> bool:
        """True for events about a datagram (not calls, timers, polls)."""
        return self.kind not in ("call", "timer", "poll", "end")

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
    digest is kept even when the network was made with ``trace=False`` (then
    the list stays empty).
    """

    # The number of events seen (also with trace=False).  It shadows
    # list.count on purpose (public since the first release).
    count: int  # type: ignore[assignment]

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self._hash = hashlib.sha256()
        self.count = 0

    def _add(self, event: TraceEvent) -> None:
        h = self._hash
        h.update(f"{event.time_ms}|{event.kind}|{event.src}|{event.dst}|{event.call}|"
                 f"{None if event.rc is None else int(event.rc)}|{len(event.data)}|".encode())
        h.update(event.data)
        self.count += 1
        if self.enabled:
            self.append(event)

    def digest(self) -> str:
        """Hex SHA-256 over every event so far (same seed, same digest)."""
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


