"""A pytest file that replays a schedule found by the search."""

from __future__ import annotations

from .engine import Outcome
from .moves import MoveSchedule, format_schedule

__all__ = ["emit_test", "replay_command"]


def replay_command(case: str, seed: int, schedule: MoveSchedule, policy: str = "none",
                   ssl_opt: str | None = None) -> str:
    """The command that replays ``schedule`` (verdict, reason and digest)."""
    import shlex
    extra = f" --ssl-opt {shlex.quote(ssl_opt)}" if ssl_opt else ""
    if policy != "none":
        extra += f" --server-policy {policy}"
    return (f"python -m mbedtls_py search {shlex.quote(case)} --seed {seed}{extra} "
            f"--replay {shlex.quote(format_schedule(schedule))}")


_TEMPLATE = '''"""Replays a schedule that `mbedtls-py search` found for the ssl-opt case
{case!r}, seed {seed}:

{words}

Found by: {command}
"""

from __future__ import annotations

from mbedtls_py.search import parse_schedule, run_moves
from mbedtls_py.sslopt.parse import load_cases

CASE = {case!r}
SEED = {seed}
SCHEDULE = {text!r}
POLICY = {policy!r}


def _case():  # type: ignore[no-untyped-def]
    return next(c for c in load_cases({ssl_opt!r}) if c.name == CASE)


def test_schedule_fails_the_case_byte_for_byte() -> None:
    """With the schedule, the case's own check fails the same way, same datagrams."""
    out = run_moves(_case(), SEED, parse_schedule(SCHEDULE), POLICY)
    assert (out.verdict, out.reason) == ("FAIL", {reason!r})
    assert out.digest == {digest!r}
    assert out.applied == list(range(len(parse_schedule(SCHEDULE))))


def test_without_the_schedule_the_case_passes() -> None:
    """The moves are what fails it: the same case and seed without them passes."""
    assert run_moves(_case(), SEED, (), POLICY).verdict == "PASS"
'''


def emit_test(case: str, seed: int, schedule: MoveSchedule, failure: Outcome, policy: str = "none",
              ssl_opt: str | None = None) -> str:
    """The source of a pytest module replaying ``schedule`` and asserting
    ``failure`` (verdict, reason, digest)."""
    from .moves import schedule_words
    words = "\n".join(f"- {w}" for w in schedule_words(schedule).split("; "))
    return _TEMPLATE.format(case=case, seed=seed, words=words, text=format_schedule(schedule),
                            policy=policy, reason=failure.reason, digest=failure.digest,
                            ssl_opt=ssl_opt,
                            command=replay_command(case, seed, schedule, policy, ssl_opt))
