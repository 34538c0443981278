"""The schedule of a :class:`~mbedtls_py.sim.network.Network`: the datagrams in
flight and what decides them on their way in (the interceptor, the rules, the
links' impairments), scripted injections and held datagrams.  One part of the
network, owning that state; the network hands it what contexts sent and the
driver (:mod:`.driving`) takes from its ``heap``."""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import random
from collections.abc import Iterable
from typing import Any, Protocol

from ..wire import rules as _rules
from ..wire.vtime import LIMIT_MS, check_due, check_ms
from .endpoints import Held
from .hooks import Hooks
from .links import Link, _flip_bits
from .netclock import derive_seed, _NetClock
from .trace import Trace, TraceEvent

__all__ = ["Schedule", "EventFn"]

_could_match = _rules.could_match


class EventFn(Protocol):
    """The network's ``event``: record one trace event at the current time."""

    def __call__(self, kind: str, src: str, dst: str = "", data: bytes = b"", note: str = "",
                 call: str | None = None, rc: int | None = None) -> TraceEvent: ...


_LINK_OPTIONS = frozenset(f for f in Link.__dataclass_fields__
                          if not f.startswith("_") and f not in ("src", "dst", "rng"))


class _NoDraws(random.Random):
    """The rules' random stream while no rule can draw from it."""

    def random(self) -> float:  # pragma: no cover - a bug if reached
        raise AssertionError("a rule drew from the network's random stream before it was made")

    def getrandbits(self, k: int) -> int:  # pragma: no cover - a bug if reached
        raise AssertionError("a rule drew from the network's random stream before it was made")


_NO_DRAWS = _NoDraws(0)
_UNROUTED: Any = object()  # not in the route cache yet


class Schedule:
    """The datagrams in flight (``heap``: ``(when, seq, src, dst, data, note)``
    tuples, a :mod:`heapq`) and the ``rules``, ``links`` and ``held``
    datagrams of a network.  ``send()`` takes a datagram through the
    interceptor (of ``hooks``), the rules and the link into the heap; it
    records its events through ``event`` and ``trace``."""

    def __init__(self, clock: _NetClock, trace: Trace, event: EventFn, hooks: Hooks, *,
                 seed: bytes, cid_len: int, timing: Any) -> None:
        self.clock = clock
        self.trace = trace
        self._event = event
        self._hooks = hooks
        self._seed = seed
        self.cid_len = cid_len
        self.timing = timing  # a mbedtls_py.timing.Timing, or None
        self.links: dict[tuple[str, str], Link] = {}
        self.rules: list[_rules.Rule] = []
        self.held: list[Held] = []
        self.heap: list[tuple[int, int, str, str, bytes, str]] = []
        self._seq = itertools.count()
        self._index: dict[tuple[str, str], int] = {}
        self._rule_rng: random.Random | None = None  # made when rules first apply
        self._route: dict[tuple[str, str], Link | None] = {}  # _link_for, cached

    @property
    def in_flight(self) -> int:
        """Datagrams scheduled for delivery."""
        return len(self.heap)

    def next_delivery_ms(self) -> int | None:
        """When the next scheduled datagram arrives, or ``None``."""
        return self.heap[0][0] if self.heap else None

    # -- sending -----------------------------------------------------------------

    def send(self, src: str, dst: str, data: bytes) -> None:
        """Take one datagram sent now into the network."""
        key = (src, dst)
        index = self._index.get(key, 0) + 1
        self._index[key] = index
        now = self.clock.now
        self.trace.add(TraceEvent(now, "send", src, dst, data, "", None, None, self.cid_len))
        if self._hooks.interceptor is not None and self._intercepted(src, dst, index, data):
            return
        if not self.rules or not _could_match(self.rules, src, dst, index, data,
                                              cid_len=self.cid_len):
            # no rule can match (direction, index, content types): straight to the link
            link = self._route.get(key, _UNROUTED)
            if self.timing is not None or (link is not None
                                           and (link is _UNROUTED or not link.plain())):
                self._through_link(src, dst, data, 0.0, "")
                return
            # no link, or only a delay: _through_link's first cases, inline (the common case)
            t = now if link is None else math.ceil(now + link.delay_ms - 1e-9)
            heapq.heappush(self.heap, (t if t > now else now, next(self._seq), src, dst, data, ""))
            return
        for item, extra, note in self._apply_rules(src, dst, index, data):
            self._through_link(src, dst, item, extra, note)

    def _intercepted(self, src: str, dst: str, index: int, data: bytes) -> bool:
        """Run the interceptor on a datagram being sent; True if it took it."""
        taken = self._hooks.intercepted(src, dst, index, data)
        if taken is None:
            return False
        action, note = taken
        if action == "hold":
            self.held.append(Held(self.clock.now_ms, src, dst, data, note, None))
        self._event(action, src, dst, data, f"interceptor: {note}")
        return True

    def _apply_rules(self, src: str, dst: str, index: int,
                     data: bytes) -> list[tuple[bytes, float, str]]:
        rng = self._rule_rng
        if rng is None:
            # Only a corrupt action draws: the stream starts with the first
            # one, wherever the network is made (seeding costs 5 us).
            if any(isinstance(r.action, _rules.Corrupt) for r in self.rules):
                rng = self._rule_rng = random.Random(derive_seed(self._seed, "rules"))
            else:
                rng = _NO_DRAWS
        verdict = _rules.apply(self.rules, src, dst, index, None, data, rng,
                               cid_len=self.cid_len)
        for step in verdict.steps:
            label = f"rule {step.rule.name or str(step.rule)}"
            action = step.rule.action
            if isinstance(action, _rules.Delay):
                label += f": +{action.ms:g} ms"
            elif isinstance(action, _rules.Duplicate):
                label += f": {action.count} more"
            elif isinstance(action, _rules.Inject) and action.before:
                label += " (before)"
            self._event("dup" if step.kind == "duplicate" else step.kind, src, dst, step.data, label)
        if verdict.hold is not None and verdict.rule is not None:
            self.held.append(Held(self.clock.now_ms, src, dst, verdict.data, verdict.hold.tag,
                                  verdict.rule))
        notes = {"datagram": "", "duplicate": "duplicate", "inject": "injected"}
        return [(d, extra, notes[role]) for d, extra, role in verdict.out]

    def _through_link(self, src: str, dst: str, data: bytes, extra_ms: float,
                      note: str) -> None:
        now = self.clock.now
        link = self._link_for(src, dst)
        if link is None:
            self._schedule(now + extra_ms, src, dst, data, note)
            return
        if link.plain():
            # only a delay: what the general path below does, without its draws
            self._schedule(now + link.delay_ms + extra_ms, src, dst, data, note)
            return
        rng = link.random_stream()
        if link.mtu is not None and len(data) > link.mtu:
            if link.mtu_mode == "drop":
                self._event("drop", src, dst, data, f"mtu: {len(data)} B > {link.mtu}")
                return
            data = data[:link.mtu]
            self._event("truncate", src, dst, data, f"mtu {link.mtu}")
        wait = 0.0
        if link.bandwidth_bps:
            wait = link.bandwidth_wait((src, dst), now, len(data))
        if link.loss and rng.random() < link.loss:
            self._event("drop", src, dst, data, f"loss {link.loss:g}")
            return
        if link.corrupt and rng.random() < link.corrupt:
            data = _flip_bits(data, link.corrupt_bits, rng, link.corrupt_scope == "payload",
                              self.cid_len)
            self._event("corrupt", src, dst, data, f"link: {link.corrupt_bits} bit(s)")
        n = 2 if link.duplicate and rng.random() < link.duplicate else 1
        if n == 2:
            self._event("dup", src, dst, data, f"link duplicate {link.duplicate:g}")
        for i in range(n):
            delay = link.delay_ms
            if link.jitter_ms:
                delay = max(0.0, delay + rng.uniform(-link.jitter_ms, link.jitter_ms))
            copy_note = note if i == 0 else "duplicate"
            if link.reorder and rng.random() < link.reorder:
                delay += link.reorder_delay_ms
                self._event("reorder", src, dst, data,
                            f"held back {link.reorder_delay_ms:g} ms")
            self._schedule(now + wait + delay + extra_ms, src, dst, data, copy_note)

    def _schedule(self, when: float, src: str, dst: str, data: bytes, note: str) -> None:
        now = self.clock.now
        if self.timing is not None:  # a timing model's latency and jitter on every leg
            when += self.timing.net_delay_ms(src, dst)
        if not when < LIMIT_MS:
            check_due(when, f"delivery of a datagram {src} -> {dst}")
        t = math.ceil(when - 1e-9)
        heapq.heappush(self.heap, (t if t > now else now, next(self._seq), src, dst, data, note))

    def inject(self, src: str, dst: str, data: bytes, after_ms: float = 0) -> None:
        """``Network.inject``: schedule a crafted datagram, no rules or link."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes-like")
        check_ms(after_ms, "after_ms")
        data = bytes(data)
        self._event("inject", src, dst, data, f"scripted, in {after_ms:g} ms")
        self._schedule(self.clock.now_ms + after_ms, src, dst, data, "injected")

    # -- held datagrams -------------------------------------------------------------

    def _select_held(self, which: Held | str | Iterable[Held] | None) -> list[Held]:
        if which is None:
            return list(self.held)
        if isinstance(which, Held):
            if which not in self.held:
                raise ValueError(f"{which!r} is not held (released or dropped already?)")
            return [which]
        if isinstance(which, str):
            found = [h for h in self.held if h.tag == which]
            if not found:
                raise ValueError(f"no held datagram with tag {which!r}; "
                                 f"held: {[h.tag for h in self.held]}")
            return found
        return [h for w in which for h in self._select_held(w)]

    def release(self, held: Held | str | Iterable[Held] | None = None,
                after_ms: float = 0) -> list[Held]:
        """``Network.release``: schedule held datagram(s) for delivery."""
        check_ms(after_ms, "after_ms")
        chosen = self._select_held(held)
        for h in chosen:
            self.held.remove(h)
            self._event("release", h.src, h.dst, h.data,
                        f"held since {h.time_ms} ms, delivery in {after_ms:g} ms")
            self._schedule(self.clock.now_ms + after_ms, h.src, h.dst, h.data, "released")
        return chosen

    def drop(self, held: Held | str | Iterable[Held] | None = None) -> list[Held]:
        """``Network.drop``: discard held datagram(s)."""
        chosen = self._select_held(held)
        for h in chosen:
            self.held.remove(h)
            self._event("drop", h.src, h.dst, h.data, "held datagram dropped by the script")
        return chosen

    # -- links and rules ----------------------------------------------------------

    def link(self, src: str, dst: str, **impairments: Any) -> Link:
        """``Network.link``: set the impairments of direction ``src -> dst``."""
        bad = impairments.keys() - _LINK_OPTIONS
        if bad:
            raise TypeError(f"unknown link option(s) {sorted(bad)}")
        # the seed derived when the link first draws (a delay-only link never does)
        link = Link(src, dst, _seed=functools.partial(derive_seed, self._seed, "link", src, dst),
                    **impairments)
        self.links[(src, dst)] = link
        self._route.clear()
        return link

    def _link_for(self, src: str, dst: str) -> Link | None:
        key = (src, dst)
        try:
            return self._route[key]
        except KeyError:
            pass
        links = self.links
        link = (links.get(key) or links.get((src, "*")) or links.get(("*", dst))
                or links.get(("*", "*"))) if links else None
        if len(self._route) < 4096:  # bounded: names are the caller's
            self._route[key] = link
        return link

    def rule(self, rule: str | _rules.Rule) -> _rules.Rule:
        """``Network.rule``: add a record-aware rule; returns it."""
        if isinstance(rule, str):
            rule = _rules.parse_rule(rule)
        if not isinstance(rule, _rules.Rule):
            raise TypeError(f"rule must be a str or rules.Rule, not {type(rule).__name__}")
        self.rules.append(rule)
        return rule
