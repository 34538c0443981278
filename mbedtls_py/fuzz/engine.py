"""The fuzzing loop, its oracle and the reproducers.

Oracle (RFC 6347 §4.1.2.7): after one hostile datagram, the legitimate peer's
next flight or record must still be accepted.  Handshake states: the
handshake must complete at the same virtual time as without the datagram
(``ok``); later is ``delayed`` (a legitimate flight was rejected, a
retransmission recovered), never is ``failed`` (an error code) or ``stalled``
(timeout).  A server waiting for a ClientHello may reject the datagram with an
error, as upstream designed: it is reset (as the dtls_server sample does) and
must then serve the client.  Established states: the peer's next record must
be read, and neither side may fail.

Every violation is confirmed alone on a fresh state, shrunk, run once more
with the Mbed TLS debug trace, and classified (``mbedtls_py.fuzz.classify``).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..attacks.duo import DebugCapture, Duo, Kind
from ..attacks.result import code_name, summarize_debug
from ..timeutil import set_time
from .classify import classify, hints
from .mutate import mutate
from .states import KINDS, STATES, State, build, control_ms, corpus

__all__ = ["Case", "Outcome", "Fuzzer", "make_case", "run_alone", "shrink"]

_RENEW_AFTER = 1000   # cases on one established connection before a fresh one


@dataclass(frozen=True)
class Case:
    """One hostile datagram, fully determined by (seed, index)."""

    seed: str
    index: int
    state: str
    kind: Kind
    cookies: bool
    op: str
    datagram: bytes

    def replay_command(self) -> str:
        """The command that runs this case alone again."""
        return f"python -m mbedtls_py fuzz --seed {self.seed} --replay {self.index}"


@dataclass(frozen=True)
class Outcome:
    """What happened after the datagram: ``ok``, ``delayed``, ``failed``, ``stalled``."""

    verdict: str
    codes: tuple[str, ...] = ()
    first_rc: str = "-"
    late_ms: int = 0

    @property
    def ok(self) -> bool:
        """The RFC's promise held."""
        return self.verdict == "ok"


def make_case(seed: str, index: int, states: list[str]) -> Case:
    """Case ``index`` of the run seeded ``seed`` (independent of every other case)."""
    rng = random.Random(f"mbedtls-py/fuzz/{seed}/{index}")
    state = rng.choice(states)
    kind = rng.choice(KINDS)
    cookies = rng.random() < 0.5
    op, data = mutate(rng, corpus(kind, cookies))
    return Case(seed, index, state, kind, cookies, op, data)


def _codes(duo: Duo) -> tuple[str, ...]:
    found = {code_name(rc) for rc in duo.failed.values()} | {code_name(rc) for rc in duo.resets}
    return tuple(sorted(found))


def _handshake_outcome(duo: Duo, case: Case, first: int | None) -> Outcome:
    ok = duo.handshake()
    late = duo.clock.now_ms - control_ms(case.state, case.kind, case.cookies)
    first_rc = code_name(first)
    if ok and late <= 0:
        return Outcome("ok", _codes(duo), first_rc)
    if ok:
        return Outcome("delayed", _codes(duo), first_rc, late)
    return Outcome("failed" if duo.failed else "stalled", _codes(duo), first_rc)


def _established_outcome(duo: Duo, state: State, case: Case, first: int | None) -> Outcome:
    target = state.target
    peer = duo.peer(target)
    msg = b"legit record %d" % case.index
    duo.received[target].clear()
    if duo.failed or duo.write(peer, msg) < 0:
        return Outcome("failed", _codes(duo), code_name(first))
    delivered = duo.run(lambda: msg in duo.received[target] or bool(duo.failed),
                        max_rounds=8, max_ms=10_000)
    if delivered and not duo.failed and msg in duo.received[target]:
        return Outcome("ok", (), code_name(first))
    return Outcome("failed" if duo.failed else "stalled", _codes(duo), code_name(first))


def run_alone(case: Case, datagram: bytes | None = None, *,
              debug: bool = False) -> tuple[Outcome, list[str]]:
    """Run one case (or another datagram in its state) on a freshly built state.
    With ``debug``, also return the Mbed TLS debug trace (level 1) from the
    injection on."""
    state = STATES[case.state]
    duo = build(state, case.kind, case.cookies)
    data = case.datagram if datagram is None else datagram
    lines: list[str] = []
    if debug:
        with DebugCapture(duo, 1) as cap:
            out = _inject_and_judge(duo, state, case, data)
        lines = cap.lines
    else:
        out = _inject_and_judge(duo, state, case, data)
    return out, lines


def _inject_and_judge(duo: Duo, state: State, case: Case, data: bytes) -> Outcome:
    first = duo.inject(state.target, data)
    if state.established:
        return _established_outcome(duo, state, case, first)
    return _handshake_outcome(duo, case, first)


def shrink(case: Case, outcome: Outcome, budget: int = 120) -> bytes:
    """A smaller datagram giving the same outcome and codes in the same state:
    whole records dropped, then the tail cut, then chunks removed, then bytes
    zeroed (at most ``budget`` runs)."""
    from .mutate import split_records

    best = case.datagram
    runs = 0

    def same(data: bytes) -> bool:
        nonlocal runs
        runs += 1
        out, _ = run_alone(case, data)
        return out.verdict == outcome.verdict and out.codes == outcome.codes

    recs, tail = split_records(best)
    for i in reversed(range(len(recs))):
        if runs >= budget or len(recs) < 2:
            break
        cand = b"".join(recs[:i] + recs[i + 1:]) + tail
        if cand and same(cand):
            recs, best = recs[:i] + recs[i + 1:], cand
    chunk = max(1, len(best) // 2)
    while chunk >= 1 and runs < budget:
        pos, changed = 0, False
        while pos < len(best) and runs < budget:
            cand = best[:pos] + best[pos + chunk:]
            if cand and same(cand):
                best, changed = cand, True
            else:
                pos += chunk
        if not changed:
            chunk //= 2
    for pos in range(len(best)):
        if runs >= budget:
            break
        if best[pos] != 0:
            cand = best[:pos] + b"\x00" + best[pos + 1:]
            if same(cand):
                best = cand
    return best


@dataclass
class Finding:
    """A group of violations with one signature; the first is shrunk and classified."""

    signature: tuple[Any, ...]
    case: Case
    outcome: Outcome
    shrunk: bytes
    category: str         # known:<name>, inherent, interaction, or new
    reason: str
    evidence: list[str]
    count: int = 1
    indices: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        c = self.case
        return {"category": self.category, "reason": self.reason, "count": self.count,
                "state": c.state, "kind": c.kind, "cookies": c.cookies, "op": c.op,
                "outcome": self.outcome.verdict, "codes": list(self.outcome.codes),
                "first_rc": self.outcome.first_rc, "late_ms": self.outcome.late_ms,
                "index": c.index, "replay": c.replay_command(),
                "datagram": c.datagram.hex(), "shrunk": self.shrunk.hex(),
                "evidence": self.evidence, "more_indices": self.indices[:20]}


class Fuzzer:
    """Runs ``iterations`` cases seeded by ``seed`` over ``states``; see the
    module docstring for the oracle.  ``progress``: seconds between progress
    lines on stderr (0: none)."""

    def __init__(self, seed: str = "0", states: Iterable[str] | None = None,
                 progress: float = 2.0, shrink_budget: int = 120) -> None:
        self.seed = str(seed)
        self.states = sorted(states or STATES, key=list(STATES).index)
        self.progress = progress
        self.shrink_budget = shrink_budget
        self.counts: dict[str, dict[str, int]] = {s: {} for s in self.states}
        self.findings: dict[tuple[Any, ...], Finding] = {}
        self.done = 0
        self.elapsed = 0.0
        self._live: dict[tuple[str, Kind, bool], tuple[Duo, int]] = {}

    def _established(self, case: Case, state: State) -> Outcome:
        key = (case.state, case.kind, case.cookies)
        duo, used = self._live.get(key, (None, 0))
        if duo is None or used >= _RENEW_AFTER:
            duo, used = build(state, case.kind, case.cookies), 0
        out = _inject_and_judge(duo, state, case, case.datagram)
        if out.ok:
            self._live[key] = (duo, used + 1)
        else:
            self._live.pop(key, None)
        return out

    def run_case(self, case: Case) -> Outcome:
        """Run one case (reusing a live established connection where possible)."""
        state = STATES[case.state]
        if state.established:
            return self._established(case, state)
        return run_alone(case)[0]

    def _record(self, case: Case, out: Outcome) -> None:
        tally = self.counts[case.state]
        tally[out.verdict] = tally.get(out.verdict, 0) + 1
        if out.ok:
            return
        sig = (case.state, out.verdict, out.codes, hints(case.datagram))
        found = self.findings.get(sig)
        if found is not None:
            found.count += 1
            found.indices.append(case.index)
            return
        alone, _ = run_alone(case)
        if alone.ok:  # only together with earlier datagrams on that connection
            self.findings[sig] = Finding(sig, case, out, case.datagram, "interaction",
                                         "fails only after earlier cases on the same "
                                         "connection", [])
            return
        small = shrink(case, alone, self.shrink_budget)
        final, lines = run_alone(case, small, debug=True)
        category, reason = classify(STATES[case.state], small, final, lines)
        self.findings[sig] = Finding(sig, case, alone, small, category, reason,
                                     summarize_debug(lines, 8))

    def run(self, iterations: int, start: int = 0) -> None:
        """Run cases ``start`` .. ``start + iterations - 1``."""
        t0 = last = time.monotonic()
        try:
            for i in range(start, start + iterations):
                case = make_case(self.seed, i, self.states)
                self._record(case, self.run_case(case))
                self.done += 1
                now = time.monotonic()
                if self.progress and now - last >= self.progress:
                    last = now
                    self._progress(now - t0, iterations)
        finally:
            self.elapsed += time.monotonic() - t0
            set_time(None)
        if self.progress:
            self._progress(time.monotonic() - t0, iterations, final=True)

    def _progress(self, elapsed: float, total: int, final: bool = False) -> None:
        cats = self.category_counts()
        rate = self.done / elapsed if elapsed else 0.0
        print(f"fuzz: {self.done}/{total} datagrams, {rate:.0f}/s, violations: "
              + ", ".join(f"{k} {v}" for k, v in sorted(cats.items())) + (" (done)" if final else ""),
              file=sys.stderr, flush=True)

    def category_counts(self) -> dict[str, int]:
        """Violations per category (``known:*``, ``inherent``, ``interaction``, ``new``)."""
        out: dict[str, int] = {}
        for f in self.findings.values():
            out[f.category] = out.get(f.category, 0) + f.count
        return out

    @property
    def new(self) -> list[Finding]:
        """Findings not explained by a known upstream behaviour or by the protocol."""
        return [f for f in self.findings.values() if f.category in ("new", "interaction")]
