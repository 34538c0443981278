"""Links of a simulated network: per-direction loss, delay, jitter, reordering,
duplication, corruption, bandwidth and MTU, each drawing from its own seeded RNG."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..wire import records as _records
from ..wire.vtime import check_ms

__all__ = ["Link"]

# --------------------------------------------------------------------- links


@dataclass(eq=False)
class Link:
    """Random impairments of one direction ``src -> dst`` (``*`` for any).

    Applied in this order to each datagram that passed the rules:
    ``mtu`` (larger datagrams are dropped, or truncated with
    ``mtu_mode="truncate"``), ``bandwidth_bps`` (the datagram waits until the
    link is free and then takes ``size*8/bandwidth`` to send; one queue per
    actual direction), ``loss`` (probability it is lost), ``corrupt``
    (probability that ``corrupt_bits`` random bits are flipped; with
    ``corrupt_scope="payload"`` only bits of record payloads, never record
    headers, so that the record reaches the MAC check), ``duplicate``
    (probability of one more copy), then for each copy ``delay_ms`` plus a
    uniform jitter in ``[-jitter_ms, +jitter_ms]`` (never below 0) and, with
    probability ``reorder``, ``reorder_delay_ms`` more so that later datagrams
    overtake it.  Delays are below 2**62 ms (``wire.vtime``, the virtual
    clock's limit).  Attributes may be changed at any time.  ``rng`` is the
    link's random stream; a network's links make theirs from the network seed
    when they first draw (``random_stream()``), so ``rng`` is ``None`` until then.
    """

    src: str
    dst: str
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay_ms: float = 10.0
    corrupt: float = 0.0
    corrupt_bits: int = 1
    corrupt_scope: Literal["datagram", "payload"] = "datagram"
    mtu: int | None = None
    mtu_mode: Literal["drop", "truncate"] = "drop"
    bandwidth_bps: float | None = None
    # The random stream: made on first use from ``_seed`` (a network derives
    # one per link; seeding costs more than a delay-only link ever draws).
    rng: random.Random | None = field(default=None, repr=False)
    _seed: bytes | Callable[[], bytes] | None = field(default=None, repr=False)
    _busy_until: dict[tuple[str, str], float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], not {p}")
        for name in ("delay_ms", "jitter_ms", "reorder_delay_ms"):
            check_ms(getattr(self, name), name)
        if self.mtu is not None and self.mtu < 0:
            raise ValueError("mtu must be >= 0 or None")
        if self.mtu_mode not in ("drop", "truncate"):
            raise ValueError("mtu_mode must be 'drop' or 'truncate'")
        if self.corrupt_scope not in ("datagram", "payload"):
            raise ValueError("corrupt_scope must be 'datagram' or 'payload'")
        if self.corrupt_bits < 1:
            raise ValueError("corrupt_bits must be >= 1")
        if self.bandwidth_bps is not None and not self.bandwidth_bps > 0:
            raise ValueError("bandwidth_bps must be > 0 or None")

    def plain(self) -> bool:
        """Only a delay: nothing to draw, drop, cut or queue."""
        return not (self.loss or self.jitter_ms or self.duplicate or self.reorder or self.corrupt
                    or self.bandwidth_bps or self.mtu is not None)

    def random_stream(self) -> random.Random:
        """The link's random stream (``rng``; made from the link's seed, or
        unseeded, on first use)."""
        if self.rng is None:
            seed = self._seed() if callable(self._seed) else self._seed
            self.rng = random.Random(seed) if seed is not None else random.Random()
        return self.rng

    def bandwidth_wait(self, direction: tuple[str, str], now: int, size: int) -> float:
        """Queue ``size`` bytes on this link's ``direction`` (the datagram's
        actual ``(src, dst)``) at ``now``; the ms until they are sent.  Needs
        ``bandwidth_bps``."""
        assert self.bandwidth_bps
        start = max(float(now), self._busy_until.get(direction, 0.0))
        done = start + size * 8 * 1000.0 / self.bandwidth_bps
        self._busy_until[direction] = done
        return done - now

    def __str__(self) -> str:
        parts = []
        for name in ("delay_ms", "jitter_ms", "loss", "duplicate", "reorder", "corrupt",
                     "mtu", "bandwidth_bps"):
            v = getattr(self, name)
            if v:
                parts.append(f"{name}={v}")
        return f"{self.src}->{self.dst} " + (" ".join(parts) or "perfect")


def _flip_bits(data: bytes, bits: int, rng: random.Random, payload_only: bool,
               cid_len: int) -> bytes:
    if not data:
        return data
    positions: list[int] | range
    if payload_only:
        positions = []
        for r in _records.parse_datagram(data, cid_len).records:
            start = r.offset + r.header_length
            positions.extend(range(start * 8, (start + len(r.payload)) * 8))
        if not positions:
            positions = range(len(data) * 8)
    else:
        positions = range(len(data) * 8)
    out = bytearray(data)
    for bit in rng.sample(positions, min(bits, len(positions))):
        out[bit >> 3] ^= 1 << (bit & 7)
    return bytes(out)
