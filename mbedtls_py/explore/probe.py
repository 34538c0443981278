"""One run of a scenario under one schedule: the network's interceptor that
applies the faults, the event watcher that fires them, and the outcome.

A scenario is a function ``fn(probe, policy)`` that builds its network with
``probe.network(...)``, hands its parties to ``probe.watch(party)`` and
drives the network to the end; afterwards ``probe.outcome()`` says how it
ended.  Faults act on the datagram path through :meth:`Network.intercept`:

- ``drop d``: d is taken out as it is sent;
- ``hold d`` until after e: d is held as it is sent and released (delivered
  at once) when e happens; if e happened before d was sent, d passes;
- ``dup d`` after e: a copy of d is injected (delivered at once) when e
  happens, or just after d itself if e came first;
- ``swap d``: d is held until the next datagram on its direction is sent,
  then delivered 1 ms after that one.

A held datagram whose event never comes stays held (lost).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..bindings.errors import Err, as_err, rc_text
from ..sim import Network
from ..wire import parse_datagram
from .model import DatagramId, EventId, Fault, Schedule, datagram_key, datagram_words
from ..parties import party_outcome

__all__ = ["Probe", "Outcome", "code_name", "link_delay_ms"]


def code_name(code: int) -> str:
    """``OK`` for 0, else the Mbed TLS error name (e.g. ``SSL_UNEXPECTED_MESSAGE``)."""
    if code == 0:
        return "OK"
    err = as_err(code)
    return err.name if isinstance(err, Err) else rc_text(code)


def link_delay_ms(net: Network, src: str, dst: str) -> float:
    """The fixed delay of the link ``src -> dst`` (most specific link first)."""
    for key in ((src, dst), (src, "*"), ("*", dst), ("*", "*")):
        link = net.links.get(key)
        if link is not None:
            return float(link.delay_ms)
    return 0.0


@dataclass(frozen=True)
class Outcome:
    """How a run ended: per party ``(name, codes, completed, delivered)``, the
    server's events by kind (name, ((kind, count), ...)), and the errors
    reported ``((party, code), ...)``."""

    sides: tuple[tuple[str, tuple[int, ...], bool | None, bool | None], ...]
    events: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    errors: tuple[tuple[str, int], ...]

    def key(self) -> str:
        """A canonical string: equal outcomes, equal keys."""
        return repr((self.sides, self.events))

    def to_json(self) -> dict[str, Any]:
        """Codes as ints and names, completion, delivery, events by kind."""
        return {
            "sides": [{"name": n, "codes": list(c), "code_names": [code_name(x) for x in c],
                       "completed": comp, "delivered": dl} for n, c, comp, dl in self.sides],
            "server_events": {n: dict(k) for n, k in self.events},
            "errors": [{"party": p, "code": c, "name": code_name(c)} for p, c in self.errors],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Outcome:
        """The inverse of :meth:`to_json`."""
        sides = tuple((s["name"], tuple(s["codes"]), s["completed"], s["delivered"])
                      for s in d["sides"])
        events = tuple((n, tuple(sorted(k.items()))) for n, k in d["server_events"].items())
        errors = tuple((e["party"], e["code"]) for e in d["errors"])
        return cls(sides, events, errors)

    def codes_words(self) -> str:
        """E.g. ``server SSL_UNEXPECTED_MESSAGE, client OK, client2 OK``."""
        parts = []
        for name, codes, comp, dl in self.sides:
            text = "/".join(code_name(c) for c in codes)
            if comp is not None and (not comp or not dl):
                text += " (" + ("no handshake" if not comp else "data not delivered") + ")"
            parts.append(f"{name} {text}")
        return ", ".join(parts)


class Probe:
    """The explorer's side of one run (see the module docstring)."""

    def __init__(self, schedule: Schedule = (), *, trace: bool = False,
                 timing: str | None = None) -> None:
        self.schedule = schedule
        self.trace = trace
        self.timing = timing  # a timing model's name: its legs' latency on the network
        self.net: Network | None = None
        self.parties: list[tuple[Any, bool]] = []  # (party, is_server)
        self._sent: dict[tuple[str, str, str], int] = defaultdict(int)
        self._events: dict[tuple[str, str, str], int] = defaultdict(int)
        self._happened: set[EventId] = set()
        self._last_kind: dict[str, str] = {}
        self.timeline: list[tuple[str, Any]] = []  # ("send", DatagramId) / ("event", EventId)
        # What each fault did, in order, with link indices and triggers (the
        # emitted regression test replays these).
        self.actions: list[dict[str, Any]] = []
        self._on_d: dict[DatagramId, list[Fault]] = defaultdict(list)
        for f in schedule:
            self._on_d[f.d].append(f)
        self._on_e: dict[EventId, list[tuple[Fault, Any]]] = defaultdict(list)
        self._swaps: dict[tuple[str, str], tuple[Fault, str]] = {}
        self.finished: Any = None  # a built-in scenario leaves its Setup here

    # -- what a scenario calls -------------------------------------------------

    def network(self, seed: int | str | bytes = 0, **kwargs: Any) -> Network:
        """A :class:`Network` with the faults' interceptor on it (one per run)."""
        if self.net is not None:
            raise RuntimeError("a probe makes one network per run")
        if self.timing and "timing" not in kwargs:
            from ..timing import get_model
            kwargs["timing"] = get_model(self.timing).bind(repr(seed))
        net = Network(seed=seed, trace=self.trace, **kwargs)
        net.intercept(self._on_send)
        self.net = net
        return net

    def watch(self, party: Any, *, server: bool = False) -> Any:
        """Follow a party's events (chained onto its ``on_event``) and count it
        in the outcome; ``server=True`` for a server (its events by kind)."""
        if not hasattr(party, "events") or not hasattr(party, "name"):
            raise TypeError("a party needs .name and .events (and .on_event)")
        previous = getattr(party, "on_event", None)

        def on_event(ev: Any) -> None:
            if previous is not None:
                previous(ev)
            self._on_event(party.name, ev)

        party.on_event = on_event
        self.parties.append((party, server))
        return party

    # -- faults ----------------------------------------------------------------

    def _note(self, text: str) -> None:
        if self.net is not None and self.trace:
            self.net.note("explore", text)

    def _on_send(self, src: str, dst: str, index: int, data: bytes) -> tuple[str, str] | None:
        net = self.net
        assert net is not None
        dg = parse_datagram(data, net.cid_len)
        key = datagram_key(dg)
        self._sent[(src, dst, key)] += 1
        # Words only when traced (the baseline): identities compare without them.
        did = DatagramId(src, dst, key, self._sent[(src, dst, key)],
                         datagram_words(dg) if self.trace else "")
        self.timeline.append(("send", did))
        taken: tuple[str, str] | None = None
        for f in self._on_d.get(did, ()):
            tag = f"f{self.schedule.index(f) + 1}"
            act = {"fault": tag, "kind": f.kind, "src": src, "dst": dst, "index": index,
                   "key": did.key}
            if f.kind == "drop":
                taken = ("drop", f"{tag} {f.describe()}")
                self.actions.append({**act, "do": "drop"})
            elif f.kind == "swap":
                self._swaps[(src, dst)] = (f, tag)
                taken = ("hold", tag)
                self.actions.append({**act, "do": "hold"})
            elif f.e is not None and f.e in self._happened:
                if f.kind == "dup":  # the event came first: the copy follows d
                    after = link_delay_ms(net, src, dst) + 1
                    net.inject(src, dst, data, after)
                    self.actions.append({**act, "do": "inject", "after_ms": after,
                                         "when": {"sent": [src, dst, index]}})
                self._note(f"{tag}: {f.e.describe()} already happened")
            elif f.kind == "hold":
                self._on_e[f.e].append((f, (tag, act)))  # type: ignore[index]
                taken = ("hold", tag)
                self.actions.append({**act, "do": "hold"})
            else:
                self._on_e[f.e].append((f, (src, dst, data, act)))  # type: ignore[index]
            if taken is not None:
                break
        if taken is None:
            swap = self._swaps.pop((src, dst), None)
            if swap is not None:  # this one overtakes the held one
                after = link_delay_ms(net, src, dst) + 1
                net.release(swap[1], after_ms=after)
                self.actions.append({"fault": swap[1], "kind": "swap", "do": "release",
                                     "after_ms": after, "when": {"sent": [src, dst, index]}})
        return taken

    def _on_event(self, party: str, ev: Any) -> None:
        peer = "" if ev.peer is None else str(ev.peer)
        k = (party, ev.event, peer)
        self._events[k] += 1
        eid = EventId(party, ev.event, peer, self._events[k])
        self._last_kind[party] = ev.event
        self._happened.add(eid)
        self.timeline.append(("event", eid))
        if self.trace and self.net is not None:
            rc = "" if ev.rc is None else f" rc={code_name(int(ev.rc)) if ev.rc < 0 else ev.rc}"
            self.net.note(party, f"** {ev.event} {peer}{rc} {ev.note}".rstrip())
        when = {"event": [party, ev.event, peer, eid.nth]}
        for f, what in self._on_e.pop(eid, ()):
            net = self.net
            assert net is not None
            if f.kind == "hold":
                tag, act = what
                net.release(tag)
                self.actions.append({**act, "do": "release", "after_ms": 0, "when": when})
            else:
                src, dst, data, act = what
                net.inject(src, dst, data)
                self.actions.append({**act, "do": "inject", "after_ms": 0, "when": when})

    # -- result ----------------------------------------------------------------

    def outcome(self) -> Outcome:
        """How the run ended (after the scenario returned)."""
        sides: list[tuple[str, tuple[int, ...], bool | None, bool | None]] = []
        events: list[tuple[str, tuple[tuple[str, int], ...]]] = []
        errors: list[tuple[str, int]] = []
        for party, server in self.parties:
            o = party_outcome(party)
            codes = tuple(int(c) for c in o["codes"])
            sides.append((party.name, codes, o.get("completed"), o.get("delivered")))
            # SSL_WANT_READ: still waiting at the end, which is not a reported error.
            errors.extend((party.name, c) for c in codes if c < 0 and c != Err.SSL_WANT_READ)
            if server:
                counts: dict[str, int] = defaultdict(int)
                for e in party.events:
                    counts[e.event] += 1
                events.append((party.name, tuple(sorted(counts.items()))))
        return Outcome(tuple(sides), tuple(events), tuple(errors))
