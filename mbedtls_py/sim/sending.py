"""Sending on a :class:`~mbedtls_py.sim.network.Network`: taking what contexts
sent, the interceptor, the rules, the link's impairments, the schedule of
datagrams in flight, scripted injections and held datagrams.  A mixin of
``Network``, kept apart so each file stays readable; it uses only the
network's state."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..bindings import lib as _lib
from ..wire import rules as _rules
from ..wire.vtime import LIMIT_MS, check_due, check_ms
from .endpoints import ContextEndpoint, Held
from .links import Link, _flip_bits
from .netclock import _derive, _NetClock
from .trace import Trace, TraceEvent

__all__ = ["NetworkSending"]

_datagrams_sent = _lib.mpy_datagrams_sent
_could_match = _rules.could_match


class _NoDraws(random.Random):
    """The rules' random stream while no rule can draw from it."""

    def random(self) -> float:  # pragma: no cover - a bug if reached
        raise AssertionError("a rule drew from the network's random stream before it was made")

    def getrandbits(self, k: int) -> int:  # pragma: no cover - a bug if reached
        raise AssertionError("a rule drew from the network's random stream before it was made")


_NO_DRAWS = _NoDraws(0)
_UNROUTED: Any = object()  # not in the route cache yet


class NetworkSending:
    """The sending half of :class:`~mbedtls_py.sim.network.Network` (a mixin)."""

    # state owned by Network.__init__
    clock: _NetClock
    cid_len: int
    rules: list[_rules.Rule]
    held: list[Held]
    _seed: bytes
    _contexts: list[ContextEndpoint]
    _sent_seen: int
    _heap: list[tuple[int, int, str, str, bytes, str]]
    _seq: Any
    _index: dict[tuple[str, str], int]
    _rule_rng: random.Random | None
    _route: dict[tuple[str, str], Link | None]
    trace: Trace
    timing: Any  # a mbedtls_py.timing.Timing, or None

    if TYPE_CHECKING:  # defined by Network and its other mixins
        def _event(self, kind: str, src: str, dst: str = "", data: bytes = b"", note: str = "",
                   call: str | None = None, rc: int | None = None) -> TraceEvent: ...

        def _intercepted(self, src: str, dst: str, index: int, data: bytes) -> bool: ...

        def _link_for(self, src: str, dst: str) -> Link | None: ...

        _interceptor: Any

    # -- sending -----------------------------------------------------------------

    def collect(self) -> int:
        """Take every queued outgoing datagram of every context endpoint into
        the network (rules, links, schedule); returns how many."""
        # No context of the process sent anything since the queues were last
        # seen empty: nothing to look at (the common case, several times a step).
        sent = _datagrams_sent()
        if sent == self._sent_seen:
            return 0
        n = 0
        for ep in self._contexts:
            ctx = ep.ctx
            if ctx.closed or not ctx.pending_out:  # closed, or nothing sent
                continue
            dst = ep.peer_name()  # raises before anything is taken
            for data in ctx.drain():
                self._send(ep.name, dst, data)
                n += 1
        self._sent_seen = sent  # read before the look: a send since makes it look again
        return n

    def _send(self, src: str, dst: str, data: bytes) -> None:
        key = (src, dst)
        index = self._index.get(key, 0) + 1
        self._index[key] = index
        now = self.clock._now
        self.trace._add(TraceEvent(now, "send", src, dst, data, "", None, None, self.cid_len))
        if self._interceptor is not None and self._intercepted(src, dst, index, data):
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
            heapq.heappush(self._heap, (t if t > now else now, next(self._seq), src, dst, data, ""))
            return
        for item, extra, note in self._apply_rules(src, dst, index, data):
            self._through_link(src, dst, item, extra, note)

    def _apply_rules(self, src: str, dst: str, index: int,
                     data: bytes) -> list[tuple[bytes, float, str]]:
        rng = self._rule_rng
        if rng is None:
            # Only a corrupt action draws: the stream starts with the first
            # one, wherever the network is made (seeding costs 5 us).
            if any(isinstance(r.action, _rules.Corrupt) for r in self.rules):
                rng = self._rule_rng = random.Random(_derive(self._seed, "rules"))
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
        now = self.clock._now
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
            direction = (src, dst)
            start = max(float(now), link._busy_until.get(direction, 0.0))
            done = start + len(data) * 8 * 1000.0 / link.bandwidth_bps
            link._busy_until[direction] = done
            wait = done - now
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
        now = self.clock._now
        if self.timing is not None:  # a timing model's latency and jitter on every leg
            when += self.timing.net_delay_ms(src, dst)
        if not when < LIMIT_MS:
            check_due(when, f"delivery of a datagram {src} -> {dst}")
        t = math.ceil(when - 1e-9)
        heapq.heappush(self._heap, (t if t > now else now, next(self._seq), src, dst, data, note))

    def inject(self, src: str, dst: str, data: bytes, after_ms: float = 0) -> None:
        """Deliver a crafted datagram from ``src`` to ``dst`` ``after_ms`` from now
        (no rules, no link impairments; ``after_ms`` below 2**62, the virtual
        clock's limit)."""
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
        """Deliver held datagram(s) ``after_ms`` from now, as they were caught
        (no more rules or link impairments): a :class:`Held`, every one with a
        tag, a list, or ``None`` for all.  Returns what was released."""
        check_ms(after_ms, "after_ms")
        chosen = self._select_held(held)
        for h in chosen:
            self.held.remove(h)
            self._event("release", h.src, h.dst, h.data,
                        f"held since {h.time_ms} ms, delivery in {after_ms:g} ms")
            self._schedule(self.clock.now_ms + after_ms, h.src, h.dst, h.data, "released")
        return chosen

    def drop(self, held: Held | str | Iterable[Held] | None = None) -> list[Held]:
        """Discard held datagram(s) (same selection as :meth:`release`)."""
        chosen = self._select_held(held)
        for h in chosen:
            self.held.remove(h)
            self._event("drop", h.src, h.dst, h.data, "held datagram dropped by the script")
        return chosen
