"""Captures of two contexts driven by hand (no ``Network``): ``TappedContext``.

A test that moves datagrams itself (``pump``, ``move_to``, ``pop``/``push``)
leaves no trace; a ``TappedContext`` records every datagram that leaves it
(``pop``, ``move_to``) and every one pushed into it that no tapped context
sent (crafted by the test), with the virtual time of its clock.  The pytest
plugin uses it for ``dtls_pair`` under ``--dtls-capture``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..bindings.context import Context
from .pcapng import Packet, write_keylog, write_pcap, write_pcapng
from .sim import DEFAULT_EPOCH, _Addresses

__all__ = ["PairTap", "TappedContext"]


class PairTap:
    """The packets and keys of a set of tapped contexts."""

    def __init__(self, epoch: int = DEFAULT_EPOCH) -> None:
        self.epoch = epoch
        self.packets: list[Packet] = []
        self.key_lines: list[str] = []
        self.addresses = _Addresses("ipv4")
        self.contexts: list[TappedContext] = []
        self._sent: dict[bytes, int] = {}

    def add_key(self, line: str) -> None:
        """Keep one NSS key log line."""
        if line not in self.key_lines:
            self.key_lines.append(line)

    def _partner(self, ctx: Context) -> str:
        others = [c.name for c in self.contexts if c is not ctx]
        return others[0] if len(others) == 1 else "peer"

    def record(self, ctx: Context, src: str, dst: str, data: bytes, note: str = "") -> None:
        """One datagram at ``ctx``'s virtual time."""
        t = self.epoch * 1_000_000 + ctx.clock.now_ms * 1000
        self.packets.append(Packet(t, self.addresses(src), self.addresses(dst), data,
                                   f"{src}->{dst}", [note] if note else []))

    def save(self, path: str | Path, keylog: str | Path | None = None) -> int:
        """Write pcapng (keys embedded) or classic pcap; returns the packet count."""
        if str(path).endswith(".pcap"):
            write_pcap(path, self.packets)
        else:
            write_pcapng(path, self.packets, self.key_lines,
                         comment="mbedtls-py: contexts driven by hand; virtual time")
        if keylog is not None:
            write_keylog(keylog, self.key_lines)
        return len(self.packets)


class TappedContext(Context):
    """A ``Context`` whose datagrams are recorded into ``tap`` (key export on)."""

    def __init__(self, config: Any, *, tap: PairTap, **kwargs: Any) -> None:
        kwargs.setdefault("keylog", tap.add_key)
        super().__init__(config, **kwargs)
        self.tap = tap
        tap.contexts.append(self)

    def pop(self) -> bytes | None:
        """``Context.pop``, recorded."""
        data = super().pop()
        if data is not None:
            self.tap._sent[data] = self.tap._sent.get(data, 0) + 1
            self.tap.record(self, self.name, self.tap._partner(self), data)
        return data

    def move_to(self, peer: Context) -> int:
        """``Context.move_to``, recorded (a copy is taken first)."""
        data = self.peek()
        n = super().move_to(peer)
        if n and data is not None:
            self.tap.record(self, self.name, peer.name, data)
        return n

    def push(self, datagram: bytes) -> None:
        """``Context.push``; recorded when no tapped context sent these bytes."""
        super().push(datagram)
        data = bytes(datagram)
        if self.tap._sent.get(data):
            self.tap._sent[data] -= 1
        else:
            self.tap.record(self, "test", self.name, data, "pushed by the test (crafted)")
