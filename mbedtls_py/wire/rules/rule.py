"""A :class:`Rule`: a match and an action, with its own count of matches."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from .. import records
from .actions import Action
from .conditions import Match
from .grammar import _NAME_RE

# --------------------------------------------------------------------- rules


@functools.lru_cache(maxsize=1024)  # the network labels every action it takes with it
def _text(match: Match, action: Action) -> str:
    return f"{match}: {action}"


@dataclass(slots=True)
class Rule:
    """A :class:`Match`, the :class:`Action` to take, and an optional name.

    ``matched`` counts the datagrams that satisfied the match and ``fired``
    those the action was taken on (both only through :meth:`check`; they do
    not take part in equality).
    """

    match: Match
    action: Action
    name: str | None = None
    matched: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.match, Match):
            raise TypeError(f"match must be a Match, not {type(self.match).__name__}")
        if not isinstance(self.action, Action):
            raise TypeError(f"action must be an Action, not {type(self.action).__name__}")
        if self.name is not None and (
                not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name.strip())
                or self.name != self.name.strip()):
            raise ValueError(
                f"bad rule name {self.name!r}: no '[', ']', ':', newlines or "
                "leading/trailing spaces"
            )

    def check(
        self,
        src: str,
        dst: str,
        index: int,
        datagram: records.Datagram | bytes | bytearray | memoryview,
    ) -> bool:
        """Decide whether to act on this datagram, and count it.

        Call once per datagram; ``index`` is its 1-based position on the
        ``src``->``dst`` direction.  Returns true when the match holds and
        ``nth``/``times`` allow it, in which case the caller applies
        :attr:`action`.
        """
        if not self.match.matches(src, dst, index, datagram):
            return False
        self.matched += 1
        nth = self.match.nth
        if nth is not None and self.matched < nth:
            return False
        if self.exhausted:
            return False
        self.fired += 1
        return True

    @property
    def exhausted(self) -> bool:
        """True when the rule has fired as many times as ``times`` allows."""
        return self.match.times is not None and self.fired >= self.match.times

    def reset(self) -> None:
        """Set the ``matched`` and ``fired`` counters back to zero."""
        self.matched = 0
        self.fired = 0

    def __str__(self) -> str:
        prefix = f"[{self.name}] " if self.name is not None else ""
        try:
            text = _text(self.match, self.action)
        except TypeError:  # an unhashable action of the caller's: not cached
            text = f"{self.match}: {self.action}"
        return prefix + text

    def __repr__(self) -> str:
        return f"Rule({str(self)!r}, matched={self.matched}, fired={self.fired})"
