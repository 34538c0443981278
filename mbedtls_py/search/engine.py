"""Search the schedules of one ssl-opt case until its own assertions fail.

1. The case runs once with every proxy choice "no" (no drop, delay,
   duplicate or corrupted CID; the deterministic options -- ``mtu``,
   ``delay_ccs``, ``delay_cli``, ``pack``... -- stay, as does
   ``duplicate=1``, which leaves no choice) and no lag, traced: which
   datagrams the proxy received and which choices it was asked about each,
   and which datagrams each leg delivered.
2. The menu: every move that run offers (:mod:`.moves`), in send order.
3. Schedules of 1..K moves on distinct datagrams, in menu order (the explore
   engine's enumeration), up to a budget; each runs on a fresh World and is
   judged by the runner's own check of the case's assertions
   (``run_case``); the first FAIL in enumeration order is the finding.
4. It is shrunk (drop moves, then shorten lags, while the same assertion
   still fails) to a minimal schedule, whose replay gives the same bytes.

Schedules travel to workers in chunks and results come back in order, so a
run on a process pool or a Dask cluster finds the same schedule, with the
same counts, as a serial one.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ..explore.engine import chunked, map_chunks
from ..explore.model import DatagramId
from ..sslopt.options import parse_options
from ..sslopt.parse import Case, client_stages, server_argv
from ..sslopt.runner import Result, run_case
from ..sslopt.world import Addr, World
from .moves import DEFAULT_KINDS, KINDS, TIMED, Hooks, Move, MoveSchedule, format_schedule

__all__ = ["Baseline", "Outcome", "SearchResult", "baseline", "menu", "run_moves", "run_traced",
           "search", "shrink", "instrument", "DEFAULT_LAGS"]

# 1 ms: after everything of the instant it was sent in (programs cost no time);
# 1000 ms: exactly when a retransmission timer first fires (hs_timeout min, 1 s by
# default): the coincidences zero latency makes common; 1500 ms: past that expiry.
DEFAULT_LAGS = (1, 1000, 1500)
CHUNK = 8


@dataclass
class Outcome:
    """A schedule's run: the verdict and reason of the case's own check, the
    datagram digest, which of the schedule's moves took effect, and (when
    asked) the moves this run offers after its last move: the next level."""

    verdict: str
    reason: str
    digest: str
    applied: list[int] = field(default_factory=list)
    offered: list[Move] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"verdict": self.verdict, "reason": self.reason, "digest": self.digest,
                "applied": self.applied}


@dataclass
class Baseline:
    """A run's offer (the run without moves, or any schedule's run): its
    outcome, the proxy's arrivals (with the choices it was asked), the legs'
    deliveries, the lag values, and where each datagram came in the run
    (``pos``: the order of arrivals and deliveries together)."""

    outcome: Outcome
    arrivals: list[tuple[DatagramId, frozenset[str]]]
    deliveries: list[DatagramId]
    lags: tuple[int, ...] = DEFAULT_LAGS
    pos: dict[tuple[str, DatagramId], int] = field(default_factory=dict, repr=False)

    def position(self, m: Move) -> int:
        """When ``m``'s datagram came in this run (-1: it did not)."""
        return self.pos.get(("out" if m.kind in TIMED else "in", m.d), -1)


def _cid_len(case: Case, endpoint: str) -> int:
    try:
        argv = server_argv(case)[1:] if endpoint == "server" else client_stages(case)[0][1:]
        o = parse_options(argv, endpoint)
        return len(bytes.fromhex(o["cid_val"])) if o["cid"] == 1 else 0
    except Exception:  # noqa: BLE001 - unreadable options: keys without CID records
        return 0


class _Instrument:
    """Names the datagrams of one run and applies a schedule's hooks."""

    def __init__(self, case: Case, schedule: Sequence[Move], hooks: Hooks) -> None:
        self.schedule, self.hooks = schedule, hooks
        self.cid = {"server": _cid_len(case, "server"), "client": _cid_len(case, "client")}
        self.arrivals: list[tuple[DatagramId, set[str]]] = []
        self.deliveries: list[DatagramId] = []
        self.pos: dict[tuple[str, DatagramId], int] = {}
        self.applied: set[int] = set()
        self._count: Counter[tuple[str, str, str]] = Counter()
        self._leg_free: dict[tuple[str, str], int] = {}
        self.world: World | None = None

    def _name(self, src: str, dst: str, data: bytes, leg: str) -> DatagramId:
        probe = DatagramId.of(src, dst, data, 1, self.cid[dst])
        n = self._count[(leg, f"{src}>{dst}", probe.key)] = \
            self._count[(leg, f"{src}>{dst}", probe.key)] + 1
        return DatagramId(src, dst, probe.key, n, probe.words)

    def _mark(self, kind: str, d: DatagramId) -> None:
        for i, m in enumerate(self.schedule):
            if m.kind == kind and m.d == d:
                self.applied.add(i)

    def setup(self, world: World) -> None:
        self.world = world
        world.link_delay = self._lag
        if world.proxy is not None:
            world.proxy.observe = self._observe
            world.proxy.chooser = self._choose
        for hook in self.hooks.world:
            hook(world)

    def _observe(self, p: Any) -> None:
        src, dst = ("client", "server") if p.way == "S <- C" else ("server", "client")
        d = self._name(src, dst, p.data, "in")
        p.tag = (len(self.arrivals), d)
        self.arrivals.append((d, set()))
        self.pos[("in", d)] = len(self.pos)

    def _choose(self, kind: str, n: int, p: Any) -> bool | None:
        if n == 1:
            return None  # rand() % 1 == 0: no choice (duplicate=1 duplicates every datagram)
        index, d = p.tag
        self.arrivals[index][1].add(kind)
        if (kind, d) in self.hooks.choices:
            self._mark(kind, d)
            return True
        return False

    def _lag(self, src: Addr, dst: Addr, data: bytes) -> int:
        w = self.world
        assert w is not None
        if w.proxy is not None:
            if src not in (w.proxy_listen, w.proxy_upstream):
                return 0  # program -> proxy: the proxy's own choices act there
            names = ("client", "server") if src == w.proxy_upstream else ("server", "client")
        else:
            names = ("client", "server") if dst == w.server_addr else ("server", "client")
        d = self._name(names[0], names[1], data, "out")
        self.deliveries.append(d)
        self.pos[("out", d)] = len(self.pos)
        ms = self.hooks.lags.get(d, 0)
        if d in self.hooks.overtaken:
            self._mark("reorder", d)
            return ms
        if ms:
            self._mark("lag", d)
        # A leg is FIFO (one socket pair on loopback never reorders): a late
        # datagram holds back the ones sent after it on the same leg.
        now = w.clock.now_ms
        at = max(now + ms, self._leg_free.get(names, 0))
        self._leg_free[names] = at
        return at - now


def instrument(case: Case, schedule: Sequence[Move]) -> _Instrument:
    """The hooks of ``schedule`` for one run of ``case``: pass its ``setup``
    to ``run_case(..., setup=...)`` (what ``--pcap`` does)."""
    hooks = Hooks()
    for name, kind in KINDS.items():
        mine = [m for m in schedule if m.kind == name]
        if mine:
            kind.install(hooks, mine)
    return _Instrument(case, schedule, hooks)


def _run(case: Case, seed: int, schedule: Sequence[Move], *, keys: Callable[[str], None]
         | None = None, policy: str = "none") -> tuple[Result, _Instrument]:
    inst = instrument(case, schedule)
    if keys is not None:
        from ..bindings.context import export_keys_to
        with export_keys_to(keys):
            return run_case(case, seed, setup=inst.setup, server_policy=policy), inst
    return run_case(case, seed, setup=inst.setup, server_policy=policy), inst


def _offer(inst: _Instrument, out: Outcome, lags: Sequence[int]) -> Baseline:
    return Baseline(out, [(d, frozenset(a)) for d, a in inst.arrivals], inst.deliveries,
                    tuple(lags), inst.pos)


def run_moves(case: Case, seed: int, schedule: Sequence[Move], policy: str = "none",
              offer: Sequence[int] | None = None, kinds: Sequence[str] = DEFAULT_KINDS
              ) -> Outcome:
    """Run ``case`` with ``seed`` under ``schedule``; its outcome.  With
    ``offer`` (the lag values), also the moves of ``kinds`` this run offers
    on datagrams after the schedule's last move (none if it did not apply):
    the schedules one move longer."""
    r, inst = _run(case, seed, schedule, policy=policy)
    out = Outcome(r.verdict, r.reason, r.digest() if r.trace else "", sorted(inst.applied))
    if offer is not None and schedule and len(schedule) - 1 in inst.applied:
        run = _offer(inst, out, offer)
        last = run.position(schedule[-1])
        taken = {m.d for m in schedule}
        out.offered = [m for m in menu(run, kinds) if run.position(m) > last
                       and m.d not in taken]
    return out


def run_traced(case: Case, seed: int, schedule: Sequence[Move], policy: str = "none",
               keys: Callable[[str], None] | None = None) -> Result:
    """The full :class:`~mbedtls_py.sslopt.runner.Result` (outputs, datagrams)
    of one schedule, for ``--trace``, ``--pcap`` and emitted tests."""
    return _run(case, seed, schedule, keys=keys, policy=policy)[0]


def baseline(case: Case, seed: int = 1, lags: Sequence[int] = DEFAULT_LAGS,
             policy: str = "none") -> Baseline:
    """Run ``case`` without moves and record what the menu needs."""
    r, inst = _run(case, seed, (), policy=policy)
    return _offer(inst, Outcome(r.verdict, r.reason, r.digest() if r.trace else ""), lags)


def menu(base: Baseline, kinds: Sequence[str] = DEFAULT_KINDS) -> list[Move]:
    """Every move of ``kinds`` the run offers, in the order its datagrams
    came (then in the order of :data:`~.moves.KINDS`)."""
    order = {k: i for i, k in enumerate(KINDS)}
    moves = [m for k in kinds for m in KINDS[k].menu(base)]
    return sorted(moves, key=lambda m: (base.position(m), order[m.kind], m.arg))


def _run_chunk(case: Case, seed: int, policy: str, offer: tuple[int, ...], kinds: tuple[str, ...],
               faults: int, chunk: list[MoveSchedule]) -> list[Outcome]:
    return [run_moves(case, seed, s, policy, offer if len(s) < faults else None, kinds)
            for s in chunk]


@dataclass
class SearchResult:
    """What a search found: the counts, the first failing schedule in
    enumeration order and its shrunk form."""

    case: str
    seed: int
    faults: int
    menu: int
    schedules: int
    baseline: Outcome
    outcomes: Counter[str]
    found: MoveSchedule | None = None
    minimal: MoveSchedule | None = None
    failure: Outcome | None = None
    shrink_runs: int = 0
    cpu_s: float = 0.0
    exhausted: bool = True

    def to_json(self) -> dict[str, Any]:
        """The JSON output (no timing: equal for equal inputs)."""
        def sched(s: MoveSchedule | None) -> Any:
            return None if s is None else {"text": format_schedule(s),
                                           "moves": [m.to_json() for m in s]}
        return {"case": self.case, "seed": self.seed, "faults": self.faults, "menu": self.menu,
                "schedules": self.schedules, "exhausted": self.exhausted,
                "baseline": self.baseline.to_json(),
                "outcomes": dict(sorted(self.outcomes.items())),
                "found": sched(self.found), "minimal": sched(self.minimal),
                "failure": None if self.failure is None else self.failure.to_json(),
                "shrink_runs": self.shrink_runs}


def _key(o: Outcome) -> str:
    return f"{o.verdict}: {o.reason}" if o.reason else o.verdict


def shrink(case: Case, seed: int, schedule: MoveSchedule, reason: str, lags: Sequence[int],
           policy: str = "none") -> tuple[MoveSchedule, Outcome, int]:
    """A 1-minimal sub-schedule (no move can be removed, no lag shortened to
    a smaller menu value) that still fails with ``reason``; its outcome and
    how many runs it took."""
    cur = tuple(schedule)
    best = run_moves(case, seed, cur, policy)
    runs = 1
    changed = True
    while changed:
        changed = False
        candidates = [cur[:i] + cur[i + 1:] for i in range(len(cur))]
        candidates += [cur[:i] + (Move(m.kind, m.d, ms),) + cur[i + 1:]
                       for i, m in enumerate(cur) if m.kind in TIMED
                       for ms in sorted(lags) if ms < m.arg]
        for cand in candidates:
            out = run_moves(case, seed, cand, policy)
            runs += 1
            if out.verdict == "FAIL" and out.reason == reason:
                cur, best, changed = cand, out, True
                break
    return cur, best, runs


def search(case: Case, *, seed: int = 1, faults: int = 2, max_schedules: int = 2000,
           kinds: Sequence[str] = DEFAULT_KINDS, lags: Sequence[int] = DEFAULT_LAGS,
           policy: str = "none", executor: Executor | None = None, chunk: int = CHUNK,
           progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Search ``case``'s schedules of up to ``faults`` moves (at most
    ``max_schedules``, level by level) for one that fails its assertions;
    serially or on ``executor`` (the same result: runs come back in order)."""
    if faults < 1 or max_schedules < 1:
        raise ValueError("faults and max_schedules must be >= 1")
    t0 = time.process_time()
    base = baseline(case, seed, lags, policy)
    items = menu(base, kinds)
    result = SearchResult(case.name, seed, faults, len(items), 0, base.outcome, Counter())
    if base.outcome.verdict != "PASS":
        result.exhausted = False
        result.cpu_s = time.process_time() - t0
        return result
    work = functools.partial(_run_chunk, case, seed, policy, tuple(lags), tuple(kinds), faults)
    level: list[MoveSchedule] = [(m,) for m in items]
    result.exhausted = True  # every schedule up to ``faults`` moves ran (none failed)
    for _level in range(1, faults + 1):
        # level k+1 extends each level-k schedule by the moves its own run
        # offered, so a level runs to its end before the next is drawn
        room = max_schedules - result.schedules
        if len(level) > room:
            level, result.exhausted = level[:room], False
        offered: dict[MoveSchedule, list[Move]] = {}
        results = map_chunks(work, chunked(iter(level), chunk), executor)
        try:
            for batch, outs in results:
                for sched, out in zip(batch, outs):
                    result.schedules += 1
                    result.outcomes[_key(out)] += 1
                    offered[sched] = out.offered
                    if out.verdict == "FAIL":
                        result.found = sched
                        break
                if progress is not None:
                    progress(result.schedules, max_schedules)
                if result.found is not None:
                    break
        finally:
            results.close()
        if result.found is not None:
            break
        level = [sch + (m,) for sch in level for m in offered.get(sch, [])]
    if result.found is not None:
        result.exhausted = False
        reason = run_moves(case, seed, result.found, policy).reason
        result.minimal, result.failure, result.shrink_runs = shrink(
            case, seed, result.found, reason, lags, policy)
    result.cpu_s = time.process_time() - t0
    return result
