"""Captures of the simulated network: a ``Trace`` as packets, and ``Capture``.

Every datagram the network delivered becomes one packet at its delivery time
(a real epoch plus the virtual milliseconds), on one interface per direction
(``client->server``); datagrams it dropped, and held ones never released,
become packets at the time that happened.  Each endpoint gets a stable address
(``192.0.2.N`` or ``2001:db8::N``, in order of first appearance) and port
(4433 for names containing ``server``, else 50000 + N).

Comments say what the network did to a packet (``delayed 120 ms by rule
'...'``, ``held by rule '...' at 300 ms``, ``released at 420 ms``,
``dropped by rule '...'``, ``duplicate``, ``corrupted by ...``) and what the
endpoints did around it: the calls and notes of the trace go on the packet
they followed at the same virtual time (``then server: error rc=-0x7700``),
else on the next packet that endpoint received (``before this arrived, at
370 ms server: reset rc=0``); what is left, on the last packet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..bindings.context import Context, export_keys_to
from .pcapng import LinkType, Packet, write_keylog, write_pcap, write_pcapng

if TYPE_CHECKING:
    from ..sim import Network, TraceEvent

__all__ = ["packets_from_trace", "save_trace", "Capture", "DEFAULT_EPOCH"]

DEFAULT_EPOCH = 1_700_000_000  # the Network's default unix_time
Family = Literal["ipv4", "ipv6"]

_ACTIONS = ("delay", "dup", "corrupt", "replace", "truncate", "reorder", "hold", "drop")


@dataclass
class _Flight:
    """One datagram from send (or inject) to its delivery(ies)."""

    data: set[bytes]
    notes: list[str] = field(default_factory=list)
    deliveries_left: int = 1
    held: bool = False


class _Addresses:
    def __init__(self, family: Family) -> None:
        if family not in ("ipv4", "ipv6"):
            raise ValueError("family must be 'ipv4' or 'ipv6'")
        self.family = family
        self.table: dict[str, tuple[str, int]] = {}

    def __call__(self, name: str) -> tuple[str, int]:
        addr = self.table.get(name)
        if addr is None:
            n = len(self.table) + 1
            ip = f"192.0.2.{n}" if self.family == "ipv4" else f"2001:db8::{n:x}"
            if n > 254 and self.family == "ipv4":
                ip = str(ipaddress.ip_address("198.18.0.0") + n)
            port = 4433 if "server" in name else 50000 + n
            addr = self.table[name] = (ip, port)
        return addr


def _describe_action(ev: TraceEvent) -> str:
    note = ev.note
    if note.startswith("rule "):
        note = "rule '" + note[5:].split(": +")[0] + "'"
    if ev.kind == "delay":
        extra = ev.note.rsplit(": +", 1)[-1] if ": +" in ev.note else ""
        return f"delayed {extra} by {note}".replace("  ", " ")
    if ev.kind == "dup":
        base, _, more = ev.note.rpartition(": ")
        if base.startswith("rule ") and more.endswith("more"):
            return f"duplicated ({more}) by rule '{base[5:]}'"
        return f"duplicated by {note}"
    if ev.kind == "corrupt":
        return f"corrupted by {note}"
    if ev.kind == "replace":
        return f"replaced by {note}"
    if ev.kind == "truncate":
        return f"truncated by {note}"
    if ev.kind == "reorder":
        return f"reordered: {note}"
    if ev.kind == "hold":
        return f"held by {note} at {ev.time_ms} ms"
    return f"dropped by {note}"


def packets_from_trace(trace: Iterable[TraceEvent], *, epoch: int = DEFAULT_EPOCH,
                       family: Family = "ipv4") -> tuple[list[Packet], dict[str, tuple[str, int]]]:
    """The packets of a trace (see the module docstring) and the address of
    every endpoint.  The trace must have kept its events (``trace=True``)."""
    addr = _Addresses(family)
    base_us = int(epoch) * 1_000_000
    packets: list[Packet] = []
    flights: dict[tuple[str, str], list[_Flight]] = {}
    chain: tuple[str, str] | None = None  # the direction whose send is being processed
    last: _Flight | None = None
    pending: dict[str, list[str]] = {}  # an endpoint's steps since it last received

    def emit(ev: TraceEvent, comments: list[str]) -> None:
        src, dst = addr(ev.src), addr(ev.dst)
        if ev.kind == "deliver" and ev.dst in pending:
            comments = comments + [f"before this arrived, {c}" for c in pending.pop(ev.dst)]
        packets.append(Packet(base_us + ev.time_ms * 1000, src, dst, ev.data,
                              f"{ev.src}->{ev.dst}", comments))

    def find(key: tuple[str, str], data: bytes, held: bool | None = None) -> _Flight | None:
        for f in flights.get(key, []):
            if data in f.data and (held is None or f.held == held):
                return f
        return None

    def gone(key: tuple[str, str], f: _Flight) -> None:
        # one copy of f left the network (delivered or dropped); forget it after the last
        f.deliveries_left -= 1
        if f.deliveries_left <= 0:
            flights[key].remove(f)

    for ev in trace:
        kind = ev.kind
        key = (ev.src, ev.dst)
        if kind == "send":
            last = _Flight({ev.data})
            flights.setdefault(key, []).append(last)
            chain = key
            continue
        if kind == "inject":
            flights.setdefault(key, []).append(_Flight({ev.data}, [f"injected ({ev.note})"]))
            continue
        if kind in _ACTIONS and chain == key and last is not None:
            text = _describe_action(ev)
            last.notes.append(text)
            last.data.add(ev.data)
            if kind == "dup":
                words = ev.note.split(": ")[-1].split()
                more = int(words[0]) if words and words[0].isdigit() else 1
                last.deliveries_left += more
            elif kind == "hold":
                last.held = True
            elif kind == "drop":
                emit(ev, list(last.notes))
                gone(key, last)
            continue
        chain = None
        if kind == "release":
            found = find(key, ev.data, held=True)
            if found is not None:
                found.held = False
                found.notes.append(f"released at {ev.time_ms} ms")
            continue
        if kind in ("drop", "deliver"):  # drop: a held datagram, or one nobody could receive
            f = find(key, ev.data)
            notes = list(f.notes) if f else []
            if kind == "drop":
                notes.append(f"dropped: {ev.note}")
            elif ev.note in ("duplicate", "injected") and ev.note not in " ".join(notes):
                notes.append(ev.note)
            elif ev.note == "duplicate":
                notes.append("this copy: the duplicate")
            emit(ev, notes)
            if f is not None:
                gone(key, f)
            continue
        if kind in ("call", "timer", "end"):
            text = _call_text(ev)
            if packets and packets[-1].time_us == base_us + ev.time_ms * 1000:
                packets[-1].comments.append(f"then {text}")
            else:
                pending.setdefault(ev.src, []).append(f"at {ev.time_ms} ms {text}")
    # still held at the end: never delivered
    for (src, dst), fl in flights.items():
        for f in fl:
            if f.held:
                data = next(iter(f.data))
                packets.append(Packet(packets[-1].time_us if packets else base_us, addr(src),
                                      addr(dst), data, f"{src}->{dst}",
                                      f.notes + ["still held when the capture was saved; "
                                                 "never delivered"]))
    if packets:
        packets[-1].comments.extend(f"after this: {c}" for cs in pending.values() for c in cs)
    return packets, dict(addr.table)


def _call_text(ev: TraceEvent) -> str:
    if ev.kind == "call":
        note = ev.note[3:] if ev.note.startswith("** ") else ev.note
        return f"{ev.src}: {note}".rstrip()
    return f"{ev.src}: {ev.kind} {ev.note}".rstrip()


def save_trace(trace: Iterable[TraceEvent], path: str | Path | None = None,
               key_lines: Iterable[str] = (), *, keylog: str | Path | None = None,
               epoch: int = DEFAULT_EPOCH, family: Family = "ipv4",
               linktype: LinkType = "raw", comment: str | None = None) -> int:
    """Write a trace as a capture: pcapng with the keys embedded (or classic
    pcap when ``path`` ends in ``.pcap``), and/or the keys as an
    ``SSLKEYLOGFILE`` at ``keylog``.  Returns the packet count.

    This is the one call other runners need: a ``Trace`` and key lines in,
    files out."""
    lines = list(key_lines)
    packets, table = packets_from_trace(trace, epoch=epoch, family=family)
    if path is not None:
        if str(path).endswith(".pcap"):
            write_pcap(path, packets, linktype=linktype)
        else:
            names = ", ".join(f"{n} = {ip} port {port}" for n, (ip, port) in table.items())
            head = "mbedtls-py simulated network; virtual time from the epoch; " + names
            write_pcapng(path, packets, lines, linktype=linktype,
                         comment=head + (f"; {comment}" if comment else ""))
    if keylog is not None:
        write_keylog(keylog, lines)
    return len(packets)


class Capture:
    """A capture of a :class:`~mbedtls_py.sim.Network` (``net.capture(path)``).

    From its start it keeps the network's trace events and turns key export on
    for the network's contexts (those on the network now and added later, and,
    inside ``with``, every context created in the block: servers' and
    scenarios' own contexts).  ``save()`` (or leaving the ``with``) writes
    ``path``: pcapng with the keys embedded, or classic pcap for ``.pcap``;
    ``keylog`` also writes an ``SSLKEYLOGFILE``.  Keys of handshakes that
    finished before the capture started are not in it.

    It uses only the network's public API (``trace``, ``contexts()``,
    ``unix_time``, ``seed``); the network calls :meth:`adopt` for each
    context that joins while the capture runs.
    """

    def __init__(self, net: Network, path: str | Path | None = None, *,
                 keylog: str | Path | None = None, family: Family = "ipv4",
                 linktype: LinkType = "raw") -> None:
        self.net, self.path, self.keylog_path = net, path, keylog
        self.family, self.linktype = family, linktype
        self.key_lines: list[str] = []
        self.start_index = len(net.trace)
        net.trace.enabled = True
        self._scope: Any = None
        for ctx in net.contexts():
            self.adopt(ctx)

    def add_key(self, line: str) -> None:
        """Keep one NSS key log line (the ``keylog`` callable given to contexts)."""
        if line not in self.key_lines:
            self.key_lines.append(line)

    def adopt(self, ctx: Context) -> None:
        """Turn key export on for ``ctx`` (keys it already exports elsewhere go
        there too)."""
        if ctx.closed:
            return
        other = ctx.keylog
        if other is None:
            ctx.keylog = self.add_key
        elif other != self.add_key and not isinstance(other, _Both):
            ctx.keylog = _Both(other, self.add_key)

    @property
    def events(self) -> list[TraceEvent]:
        """The trace events since the capture started."""
        return list(self.net.trace[self.start_index:])

    def packets(self) -> list[Packet]:
        """The packets so far (see :func:`packets_from_trace`)."""
        epoch = self.net.unix_time if self.net.unix_time is not None else DEFAULT_EPOCH
        return packets_from_trace(self.events, epoch=epoch, family=self.family)[0]

    def save(self, path: str | Path | None = None, *, keylog: str | Path | None = None) -> int:
        """Write the capture (and key log); returns the packet count."""
        path = path if path is not None else self.path
        keylog = keylog if keylog is not None else self.keylog_path
        if path is None and keylog is None:
            raise ValueError("nothing to write: give a path or keylog")
        epoch = self.net.unix_time if self.net.unix_time is not None else DEFAULT_EPOCH
        return save_trace(self.events, path, self.key_lines, keylog=keylog, epoch=epoch,
                          family=self.family, linktype=self.linktype,
                          comment=f"network seed {self.net.seed!r}")

    def __enter__(self) -> Capture:
        self._scope = export_keys_to(self.add_key)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        scope, self._scope = self._scope, None
        if scope is not None:
            scope.__exit__(None, None, None)
        if self.path is not None or self.keylog_path is not None:
            self.save()


class _Both:
    """Two keylogs in one: the context's own, and the capture's."""

    def __init__(self, first: Callable[[str], object], second: Callable[[str], object]) -> None:
        self.first, self.second = first, second

    def __call__(self, line: str) -> None:
        self.first(line)
        self.second(line)
