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

The evidence for a violation is its Mbed TLS debug trace (level 1): kept from
the run itself in handshake states, from a rerun on a rebuilt connection
(after the cases that shared it, if needed) in established ones.  Violations
are classified (``mbedtls_py.fuzz.classify``) and grouped by (category, state,
outcome); the first of each category, and every new one, is shrunk to a
minimal reproducer; each group keeps its replay command.
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
from ..bindings.timeutil import set_time
from .classify import classify, strip_authentic
from .mutate import mutate
from .states import KINDS, STATES, State, build, control_ms, corpus

__all__ = ["Case", "Outcome", "Fuzzer", "make_case", "run_alone", "shrink"]

# A certificate handshake costs ~30 PSK ones (~40 under ASan): one case in ten.
ECDSA_SHARE = 0.1
_RENEW_AFTER = 100    # cases on one established connection before a fresh one


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
    states: tuple[str, ...] = tuple(STATES)
    ecdsa_share: float = ECDSA_SHARE

    def replay_command(self, history_from: int | None = None) -> str:
        """The command that runs this case again (after the cases that shared its
        established connection, from ``history_from`` on, when given)."""
        cmd = f"python -m mbedtls_py fuzz --seed {self.seed} --replay {self.index}"
        if tuple(self.states) != tuple(STATES):
            cmd += "".join(f" --state {s}" for s in self.states)
        if self.ecdsa_share != ECDSA_SHARE:
            cmd += f" --ecdsa-share {self.ecdsa_share}"
        if history_from is not None:
            cmd += f" --history-from {history_from}"
        return cmd


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


def make_case(seed: str, index: int, states: list[str],
              ecdsa_share: float = ECDSA_SHARE) -> Case:
    """Case ``index`` of the run seeded ``seed`` (independent of every other case)."""
    rng = random.Random(f"mbedtls-py/fuzz/{seed}/{index}")
    state = rng.choice(states)
    kind: Kind = KINDS[1] if rng.random() < ecdsa_share else KINDS[0]
    cookies = rng.random() < 0.5
    op, data = mutate(rng, corpus(kind, cookies))
    return Case(seed, index, state, kind, cookies, op, data, tuple(states), ecdsa_share)


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


def run_alone(case: Case, datagram: bytes | None = None, *, debug: bool = False,
              history_from: int | None = None) -> tuple[Outcome, list[str]]:
    """Run one case (or another datagram in its state) on a freshly built state.
    ``history_from``: first replay, on the same established connection, the
    cases from that index on that shared it in the fuzzing run.  With
    ``debug``, also return the Mbed TLS debug trace (level 1) of the case."""
    state = STATES[case.state]
    duo = build(state, case.kind, case.cookies)
    if history_from is not None:
        for j in range(history_from, case.index):
            old = make_case(case.seed, j, list(case.states), case.ecdsa_share)
            if (old.state, old.kind, old.cookies) == (case.state, case.kind, case.cookies):
                _inject_and_judge(duo, state, old, old.datagram)
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


def shrink(case: Case, outcome: Outcome, budget: int = 80,
           history_from: int | None = None) -> bytes:
    """A smaller datagram giving the same outcome and codes in the same state:
    whole records dropped, then the tail cut, then chunks removed, then bytes
    zeroed (at most ``budget`` runs)."""
    from .mutate import split_records

    best = case.datagram
    runs = 0

    def same(data: bytes) -> bool:
        nonlocal runs
        runs += 1
        out, _ = run_alone(case, data, history_from=history_from)
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
    history_from: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        c = self.case
        return {"category": self.category, "reason": self.reason, "count": self.count,
                "state": c.state, "kind": c.kind, "cookies": c.cookies, "op": c.op,
                "outcome": self.outcome.verdict, "codes": list(self.outcome.codes),
                "first_rc": self.outcome.first_rc, "late_ms": self.outcome.late_ms,
                "index": c.index, "replay": c.replay_command(self.history_from),
                "history_from": self.history_from,
                "datagram": c.datagram.hex(), "shrunk": self.shrunk.hex(),
                "evidence": self.evidence, "more_indices": self.indices[:20]}


class Fuzzer:
    """Runs ``iterations`` cases seeded by ``seed`` over ``states``; see the
    module docstring for the oracle.  ``progress``: seconds between progress
    lines on stderr (0: none)."""

    def __init__(self, seed: str = "0", states: Iterable[str] | None = None,
                 progress: float = 2.0, shrink_budget: int = 80,
                 ecdsa_share: float = ECDSA_SHARE) -> None:
        if not 0.0 <= ecdsa_share <= 1.0:
            raise ValueError("ecdsa_share must be between 0 and 1")
        self.ecdsa_share = ecdsa_share
        self.seed = str(seed)
        self.states = sorted(states or STATES, key=list(STATES).index)
        self.progress = progress
        self.shrink_budget = shrink_budget
        self.counts: dict[str, dict[str, int]] = {s: {} for s in self.states}
        self.findings: dict[tuple[Any, ...], Finding] = {}
        self.done = 0
        self.elapsed = 0.0
        # established connections kept across cases: (duo, first case index, cases)
        self._live: dict[tuple[str, Kind, bool], tuple[Duo, int, int]] = {}
        self._first: int | None = None
        self._shrunk: set[str] = set()
        self._lines: list[str] | None = None

    def _established(self, case: Case, state: State) -> Outcome:
        key = (case.state, case.kind, case.cookies)
        duo, first, used = self._live.get(key, (None, case.index, 0))
        if duo is None or used >= _RENEW_AFTER:
            duo, first, used = build(state, case.kind, case.cookies), case.index, 0
        self._first = first
        out = _inject_and_judge(duo, state, case, case.datagram)
        if out.ok:
            self._live[key] = (duo, first, used + 1)
        else:
            self._live.pop(key, None)
        return out

    def run_case(self, case: Case) -> Outcome:
        """Run one case (reusing a live established connection where possible)."""
        state = STATES[case.state]
        self._first = None
        self._lines = None
        if state.established:
            return self._established(case, state)
        # a handshake state is rebuilt for every case: keep its trace, no rerun
        out, self._lines = run_alone(case, debug=True)
        return out

    def _record(self, case: Case, out: Outcome) -> None:
        tally = self.counts[case.state]
        tally[out.verdict] = tally.get(out.verdict, 0) + 1
        if out.ok:
            return
        # Evidence: the case again on a rebuilt state, with the debug trace;
        # for an established connection, with the cases it had already taken.
        history = None
        if self._lines is not None:
            again, lines = out, self._lines
        else:
            again, lines = run_alone(case, debug=True)
        if again.ok and self._first is not None and self._first < case.index:
            history = self._first
            again, lines = run_alone(case, debug=True, history_from=history)
        if again.ok:
            category, reason = "unreproduced", "did not fail again on a rebuilt state"
        else:
            category, reason = classify(STATES[case.state], case.datagram, again, lines,
                                        kind=case.kind, cookies=case.cookies)
            if category == "authentic":
                # Is the real record the cause?  Without it, does the rest still fail?
                peer = "client" if STATES[case.state].target == "server" else "server"
                rest = strip_authentic(case.datagram, case.kind, case.cookies, peer)
                if rest:
                    out2, lines2 = run_alone(case, rest, debug=True, history_from=history)
                    if not out2.ok:
                        category, reason = classify(STATES[case.state], rest, out2, lines2,
                                                    kind=case.kind, cookies=case.cookies)
        sig = (category, case.state, again.verdict)
        found = self.findings.get(sig)
        if found is not None:
            found.count += 1
            found.indices.append(case.index)
            return
        small, evidence = case.datagram, lines
        # Shrink the first example of each category (and every new one).
        if not again.ok and (category in ("new",) or category not in self._shrunk):
            self._shrunk.add(category)
            small = shrink(case, again, self.shrink_budget, history)
            _, evidence = run_alone(case, small, debug=True, history_from=history)
        self.findings[sig] = Finding(sig, case, again, small, category, reason,
                                     summarize_debug(evidence, 8), history_from=history)

    def run(self, iterations: int, start: int = 0) -> None:
        """Run cases ``start`` .. ``start + iterations - 1``."""
        t0 = last = time.monotonic()
        try:
            for i in range(start, start + iterations):
                case = make_case(self.seed, i, self.states, self.ecdsa_share)
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
        """Violations per category (``known:*``, ``documented:*``, ``authentic``,
        ``inherent``, ``unreproduced``, ``new``)."""
        out: dict[str, int] = {}
        for f in self.findings.values():
            out[f.category] = out.get(f.category, 0) + f.count
        return out

    @property
    def new(self) -> list[Finding]:
        """Findings not explained by a known upstream behaviour or by the protocol."""
        return [f for f in self.findings.values() if f.category in ("new", "unreproduced")]
