"""The moves a schedule search makes in one ssl-opt case, and their text form.

A move acts on one datagram, named as the explore engine names it
(:class:`~mbedtls_py.explore.model.DatagramId`: direction, first record,
occurrence), so it keeps its meaning when an earlier move changes what is
sent later.  Kinds, each a :class:`MoveKind`:

- ``drop``, ``delay``, ``duplicate``, ``bad_cid``: a choice of the case's own
  ``udp_proxy``, offered only where its options let it choose (``drop=N``,
  ``delay=N``, ``duplicate=N``, ``bad_cid=N`` with N > 1; never on a
  datagram the proxy protects).  The datagram is the one the proxy received
  (the n-th on that direction with that key).  The search runs the proxy
  with every such choice "no", except the schedule's.
- ``reorder`` (opt-in): a lag that later datagrams on the leg overtake, as
  a network with several paths reorders (loopback does not).
- ``lag``: the datagram's delivery (proxy -> program, or program -> program
  without a proxy) takes ``arg`` ms more; the datagram is the n-th sent on
  that leg.  A leg stays FIFO (datagrams sent after it wait behind it), as
  one socket pair on loopback is.  The only timing the World has: links are
  otherwise instant.

A new kind (a timing model's perturbation: a CPU cost, a scheduling choice)
is a :class:`MoveKind` registered in :data:`KINDS`: it says which moves the
fault-free run offers (``menu``) and installs a schedule's moves of its kind
on a run (``install``, through :class:`Hooks`).

Text form (the replay command): ``KIND:FROM>TO:KEY#N`` (``=MS`` for a lag),
spaces in the key as commas, moves separated by spaces, e.g.
``delay:client>server:handshake,epoch=0,hs=client_hello#3``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..explore.model import DatagramId

if TYPE_CHECKING:
    from ..sslopt.world import World
    from .engine import Baseline

__all__ = ["Move", "MoveKind", "Hooks", "KINDS", "DEFAULT_KINDS", "PROXY_CHOICES", "TIMED",
           "format_schedule", "parse_schedule", "schedule_words", "MoveSchedule"]

PROXY_CHOICES = ("drop", "delay", "duplicate", "bad_cid")
TIMED = ("lag", "reorder")  # kinds that act on a leg's delivery and take =MS


@dataclass(frozen=True, order=True)
class Move:
    """One move: ``kind`` on datagram ``d`` (``arg``: a lag's milliseconds)."""

    kind: str
    d: DatagramId
    arg: int = 0

    def text(self) -> str:
        """The move in the replay command's form."""
        tail = f"={self.arg}" if self.kind in TIMED else ""
        return f"{self.kind}:{self.d.src}>{self.d.dst}:{self.d.key.replace(' ', ',')}" \
               f"#{self.d.nth}{tail}"

    def describe(self) -> str:
        """The move in words."""
        d = self.d.describe()
        if self.kind == "lag":
            return f"{d} delivered {self.arg} ms late"
        if self.kind == "reorder":
            return f"{d} delivered {self.arg} ms late, overtaken by later datagrams"
        verb = {"drop": "dropped", "delay": "delayed (held until the next forwarded datagram)",
                "duplicate": "duplicated", "bad_cid": "sent first with a corrupted CID"}
        return f"{d} {verb.get(self.kind, self.kind)} by the proxy"

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"kind": self.kind, "datagram": self.d.to_json(), "arg": self.arg,
                "text": self.text(), "words": self.describe()}


MoveSchedule = tuple[Move, ...]

_TEXT = re.compile(r"([a-z_]+):([a-z]+)>([a-z]+):([^#\s]+)#(\d+)(?:=(\d+))?")


def format_schedule(schedule: Sequence[Move]) -> str:
    """A schedule in the replay command's form."""
    return " ".join(m.text() for m in schedule)


def parse_schedule(text: str) -> MoveSchedule:
    """The inverse of :func:`format_schedule`; ValueError names a bad move."""
    out = []
    for word in text.split():
        m = _TEXT.fullmatch(word)
        if m is None or m.group(1) not in KINDS:
            raise ValueError(f"not a move: {word!r} (KIND:FROM>TO:KEY#N[=MS], KIND one of "
                             f"{', '.join(KINDS)})")
        kind, src, dst, key, nth, arg = m.groups()
        if (kind in TIMED) != (arg is not None):
            raise ValueError(f"{word!r}: {'/'.join(TIMED)} take =MS, other moves do not")
        out.append(Move(kind, DatagramId(src, dst, key.replace(",", " "), int(nth)),
                        int(arg or 0)))
    return tuple(out)


def schedule_words(schedule: Sequence[Move]) -> str:
    """A schedule in words (``no move`` when empty)."""
    return "; ".join(m.describe() for m in schedule) or "no move"


@dataclass
class Hooks:
    """What a run's moves set: forced proxy choices, lags, and further
    ``world`` hooks (a timing kind's place to plug in)."""

    choices: set[tuple[str, DatagramId]] = field(default_factory=set)
    lags: dict[DatagramId, int] = field(default_factory=dict)
    overtaken: set[DatagramId] = field(default_factory=set)  # lags that do not hold the leg
    world: list[Callable[[World], None]] = field(default_factory=list)


class MoveKind(Protocol):
    """A kind of move: what the fault-free run offers, and how to apply it."""

    name: str

    def menu(self, base: Baseline) -> list[Move]:
        """The moves of this kind the baseline run offers, in send order."""
        ...

    def install(self, hooks: Hooks, moves: Sequence[Move]) -> None:
        """Apply this kind's ``moves`` of a schedule to a run's hooks."""
        ...


@dataclass
class ProxyChoice:
    """``drop``/``delay``/``duplicate``/``bad_cid``: the proxy says yes once."""

    name: str

    def menu(self, base: Baseline) -> list[Move]:
        """Every datagram on which the proxy was asked this choice."""
        return [Move(self.name, d) for d, asked in base.arrivals if self.name in asked]

    def install(self, hooks: Hooks, moves: Sequence[Move]) -> None:
        """The chooser answers yes for these datagrams."""
        hooks.choices.update((m.kind, m.d) for m in moves)


@dataclass
class LinkLag:
    """``lag``: one datagram's delivery is late by each of ``base.lags`` ms."""

    name: str = "lag"

    def menu(self, base: Baseline) -> list[Move]:
        """Every datagram delivered, once per lag value."""
        return [Move("lag", d, ms) for d in base.deliveries for ms in base.lags]

    def install(self, hooks: Hooks, moves: Sequence[Move]) -> None:
        """The World delivers these datagrams late."""
        hooks.lags.update((m.d, m.arg) for m in moves)


@dataclass
class LinkReorder(LinkLag):
    """``reorder``: a lag that later datagrams on the leg overtake.  Not
    loopback (one socket pair never reorders): opt in with ``--kinds``."""

    name: str = "reorder"

    def menu(self, base: Baseline) -> list[Move]:
        """Every datagram delivered, once per lag value."""
        return [Move("reorder", d, ms) for d in base.deliveries for ms in base.lags]

    def install(self, hooks: Hooks, moves: Sequence[Move]) -> None:
        """Late, without holding back the leg."""
        super().install(hooks, moves)
        hooks.overtaken.update(m.d for m in moves)


KINDS: dict[str, MoveKind] = {k: ProxyChoice(k) for k in PROXY_CHOICES}
KINDS["lag"] = LinkLag()
KINDS["reorder"] = LinkReorder()
DEFAULT_KINDS = tuple(k for k in KINDS if k != "reorder")
