"""Enumerate fault schedules, run them (serially or on any executor), and
group the outcomes into classes.

1. The scenario runs once without faults, traced: the datagrams it sends,
   the step in which each is delivered, and the parties' events, grouped by
   network step (events of one step are equivalent release points: a held
   datagram released after any of them arrives at the same moment).
2. The menu of single faults, in order: for each datagram d in send order,
   ``drop d``, ``swap d`` (when a later datagram goes the same way), ``hold
   d`` until after each later event step, ``dup d`` after each later event
   step.  A schedule is up to K faults on distinct datagrams, in menu order.
3. Every schedule runs on a fresh network; its outcome (codes, completion,
   delivery, server events by kind) picks its class.  A class keeps its
   first schedule in enumeration order (fewest faults, earliest) as its
   representative; it is a failure when a party reported an error code that
   the fault-free run did not.

Schedules travel to workers in chunks; results come back in order, so a run
on a process pool or a Dask cluster gives the same JSON as a serial one.
"""

from __future__ import annotations

import functools
import itertools
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .._progress import LINE_INTERVAL_S
from .model import DatagramId, EventId, Fault, Schedule, event_words, schedule_to_json, \
    schedule_words
from .probe import Outcome, Probe, code_name
from .scenarios import run_scenario

__all__ = ["Baseline", "OutcomeClass", "Exploration", "baseline", "menu", "schedules",
           "run_schedule", "explore", "map_chunks", "chunked", "CHUNK"]

CHUNK = 64  # schedules per task sent to an executor


@dataclass
class Baseline:
    """The fault-free run: its outcome, datagrams (with the step each was
    delivered in) and event steps (last event of each step)."""

    outcome: Outcome
    datagrams: list[tuple[DatagramId, int]]
    event_steps: list[tuple[int, EventId]]
    trace: str


def baseline(spec: str, policy: str, timing: str | None = None) -> Baseline:
    """Run ``spec`` once without faults and record what the menu needs."""
    probe = run_scenario(spec, policy, Probe(trace=True, timing=timing))
    assert probe.net is not None
    trace = probe.net.trace
    sends = iter([x for kind, x in probe.timeline if kind == "send"])
    events = iter([x for kind, x in probe.timeline if kind == "event"])
    step = 0
    sent: list[tuple[DatagramId, bytes, str, str]] = []
    delivered: dict[int, int] = {}
    by_step: dict[int, EventId] = {}
    last_kind: dict[str, str] = {}
    for ev in trace:
        if ev.kind in ("deliver", "poll", "timer"):
            step += 1
        if ev.kind == "send":
            sent.append((next(sends), ev.data, ev.src, ev.dst))
        elif ev.kind == "deliver":
            for i, (_, data, src, dst) in enumerate(sent):
                if i not in delivered and (src, dst, data) == (ev.src, ev.dst, ev.data):
                    delivered[i] = step
                    break
        elif ev.kind == "call" and ev.call == "note" and ev.src != "explore" \
                and ev.note.startswith("** "):
            eid = next(events)
            words = event_words(eid.party, eid.kind, eid.peer, last_kind.get(eid.party))
            last_kind[eid.party] = eid.kind
            by_step[step] = EventId(eid.party, eid.kind, eid.peer, eid.nth, words)
    send_steps = []
    step = 0
    for ev in trace:  # the step in which each datagram was sent (if never delivered)
        if ev.kind in ("deliver", "poll", "timer"):
            step += 1
        if ev.kind == "send":
            send_steps.append(step)
    datagrams = [(d, delivered.get(i, send_steps[i])) for i, (d, *_) in enumerate(sent)]
    return Baseline(probe.outcome(), datagrams, sorted(by_step.items()), str(trace))


def menu(base: Baseline) -> list[Fault]:
    """Every single fault, in menu order (see the module docstring)."""
    out: list[Fault] = []
    for i, (d, step) in enumerate(base.datagrams):
        out.append(Fault("drop", d))
        if any((o.src, o.dst) == (d.src, d.dst) for o, _ in base.datagrams[i + 1:]):
            out.append(Fault("swap", d))
        later = [e for s, e in base.event_steps if s > step]
        out.extend(Fault("hold", d, e) for e in later)
        out.extend(Fault("dup", d, e) for e in later)
    return out


class _OnDatagram(Protocol):
    @property
    def d(self) -> DatagramId: ...


F = TypeVar("F", bound=_OnDatagram)


def schedules(faults: Sequence[F], k: int) -> Iterator[tuple[F, ...]]:
    """The empty schedule, then every schedule of 1..k faults on distinct
    datagrams, in menu order (any move with a datagram ``d``: explore's
    faults, the ssl-opt search's moves)."""
    yield ()
    for n in range(1, k + 1):
        for combo in itertools.combinations(faults, n):
            if len({f.d for f in combo}) == n:
                yield combo


def count_schedules(faults: Sequence[_OnDatagram], k: int) -> int:
    """How many schedules :func:`schedules` yields (without building them)."""
    return sum(1 for _ in schedules(faults, k))


def run_schedule(spec: str, policy: str, schedule: Schedule, *, trace: bool = False,
                 timing: str | None = None) -> Probe:
    """Run one schedule; the probe holds the outcome (and the trace).
    ``timing``: a timing model's name (``mbedtls_py.timing``)."""
    return run_scenario(spec, policy, Probe(schedule, trace=trace, timing=timing))


def _run_chunk(spec: str, policy: str, chunk: list[Schedule],
               timing: str | None = None) -> list[dict[str, Any]]:
    return [run_schedule(spec, policy, s, timing=timing).outcome().to_json() for s in chunk]


@dataclass
class OutcomeClass:
    """Schedules with the same outcome."""

    id: int
    outcome: Outcome
    representative: Schedule
    failure: bool
    count: int = 0
    new_errors: list[tuple[str, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Codes as ints and names, count, representative, failure flag."""
        o = self.outcome.to_json()
        return {
            "id": self.id, "count": self.count, "failure": self.failure,
            "codes": {s["name"]: [{"code": c, "name": n} for c, n in
                                  zip(s["codes"], s["code_names"])] for s in o["sides"]},
            "new_errors": [{"party": p, "code": c, "name": code_name(c)}
                           for p, c in self.new_errors],
            "outcome": o,
            "representative": {"words": schedule_words(self.representative),
                               "faults": schedule_to_json(self.representative)},
        }


@dataclass
class Exploration:
    """The result: classes in order of first appearance (class 0: fault-free)."""

    scenario: str
    policy: str
    faults: int
    menu_size: int
    schedules: int
    classes: list[OutcomeClass]
    baseline: Baseline
    seconds: float = 0.0
    # The class of every schedule, in enumeration order (not in the JSON).
    assignments: list[int] = field(default_factory=list, repr=False)
    timing: str | None = None  # the timing model every schedule ran with

    @property
    def failures(self) -> list[OutcomeClass]:
        """The failure classes."""
        return [c for c in self.classes if c.failure]

    def to_json(self) -> dict[str, Any]:
        """The JSON output (no timing: equal for equal inputs)."""
        return {"scenario": self.scenario, "policy": self.policy, "faults": self.faults,
                "menu": self.menu_size, "schedules": self.schedules,
                "baseline": self.baseline.outcome.to_json(),
                "classes": [c.to_json() for c in self.classes],
                "failure_classes": len(self.failures),
                **({"timing": self.timing} if self.timing else {})}


T = TypeVar("T")
R = TypeVar("R")


def map_chunks(fn: Callable[[list[T]], R], chunks: Iterable[list[T]],
               executor: Executor | None = None, in_flight: int = 16
               ) -> Generator[tuple[list[T], R], None, None]:
    """``(chunk, fn(chunk))`` for every chunk, in order: serially, or on
    ``executor`` with at most ``in_flight`` chunks submitted ahead.  Closing
    the iterator early cancels what has not started (a search that stops at
    its first failure)."""
    if executor is None:
        for c in chunks:
            yield c, fn(c)
        return
    pending: list[tuple[list[T], Any]] = []
    try:
        for c in chunks:
            pending.append((c, executor.submit(fn, c)))
            if len(pending) >= in_flight:
                first, fut = pending.pop(0)
                yield first, fut.result()
        while pending:
            first, fut = pending.pop(0)
            yield first, fut.result()
    finally:
        for _, fut in pending:
            fut.cancel()


def chunked(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    while True:
        chunk = list(itertools.islice(items, size))
        if not chunk:
            return
        yield chunk


def explore(spec: str, policy: str = "none", faults: int = 1, *,
            executor: Executor | None = None, chunk: int = CHUNK,
            progress: Callable[[int, int], None] | None = None,
            timing: str | None = None) -> Exploration:
    """Explore every schedule of up to ``faults`` faults of scenario ``spec``
    under ``policy``; on ``executor`` (any ``concurrent.futures.Executor``,
    e.g. a Dask client's ``get_executor()``) or serially.  ``progress(done,
    total)`` is called with ``done=0`` once the schedules are counted
    (after the faultless run, before any schedule runs: it may raise to stop
    there), then after each chunk.  ``timing``: a timing model's name for
    every run (baseline included)."""
    if faults < 0:
        raise ValueError("faults must be >= 0")
    t0 = time.perf_counter()
    base = baseline(spec, policy, timing)
    items = menu(base)
    total = count_schedules(items, faults)
    if progress is not None:
        progress(0, total)
    chunks = chunked(schedules(items, faults), chunk)
    results = map_chunks(functools.partial(_run_chunk, spec, policy, timing=timing), chunks,
                         executor)
    base_errors = set(base.outcome.errors)
    classes: dict[str, OutcomeClass] = {}
    assignments: list[int] = []
    done = 0
    for chunk_schedules, outcomes in results:
        for schedule, oj in zip(chunk_schedules, outcomes):
            outcome = Outcome.from_json(oj)
            key = outcome.key()
            cls = classes.get(key)
            if cls is None:
                new = [e for e in outcome.errors if e not in base_errors]
                cls = OutcomeClass(len(classes), outcome, schedule, bool(new), 0,
                                   sorted(set(new)))
                classes[key] = cls
            cls.count += 1
            assignments.append(cls.id)
        done += len(chunk_schedules)
        if progress is not None:
            progress(done, total)
    return Exploration(spec, policy, faults, len(items), done, list(classes.values()), base,
                       time.perf_counter() - t0, assignments, timing)


def stderr_progress(label: str) -> Callable[[int, int], None]:
    """A progress callback writing ``label: done/total`` to stderr: rewritten in
    place every second on a terminal, else a line every ``LINE_INTERVAL_S``."""
    last = [0.0]
    tty = sys.stderr.isatty()
    interval = 1.0 if tty else LINE_INTERVAL_S

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > interval:
            last[0] = now
            print(f"\r{label}: {done}/{total} schedules" if tty else
                  f"{label}: {done}/{total} schedules",
                  end="\n" if done == total or not tty else "", file=sys.stderr, flush=True)
    return report
