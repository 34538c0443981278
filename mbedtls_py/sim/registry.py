"""The endpoints of a :class:`~mbedtls_py.sim.network.Network`
(:class:`Endpoints`): by name, the context endpoints in the order they
joined, and the collection of what those contexts sent into the schedule.
One part of the network, owning that state."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..bindings import lib as _lib
from ..bindings.context import Context
from .endpoints import ContextEndpoint, SimSocket, _Endpoint
from .netclock import _NetClock

if TYPE_CHECKING:
    from .network import Network

__all__ = ["Endpoints"]

_datagrams_sent = _lib.mpy_datagrams_sent


class Endpoints:
    """The named endpoints (``by_name``) and context endpoints (``contexts``)
    of a network on ``clock``; ``collect()`` takes what the contexts sent into
    ``send(src, dst, data)``; ``sync`` is given to context endpoints (Mbed
    TLS's time before each call)."""

    def __init__(self, clock: _NetClock, send: Callable[[str, str, bytes], None],
                 sync: Callable[[], None]) -> None:
        self.clock = clock
        self._send = send
        self._sync = sync
        self.by_name: dict[str, _Endpoint] = {}
        self.contexts: list[ContextEndpoint] = []  # the context endpoints, in order
        self._sent_seen = -1  # mpy_datagrams_sent() when collect() last found all queues empty

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name) \
                or "->" in name or name == "*":
            raise ValueError(f"bad endpoint name {name!r}: non-empty, no spaces, no '->', not '*'")
        if name in self.by_name:
            raise ValueError(f"an endpoint named {name!r} is already on the network")

    def _adopt(self, ctx: Context) -> None:
        if ctx.clock is not self.clock:
            ctx.set_clock(self.clock)

    def _attached(self, ctx: Context) -> None:
        """An endpoint was bound to another context (``ContextEndpoint.attach``)."""
        self._adopt(ctx)
        self._sent_seen = -1  # it may hold datagrams sent before

    def add_context(self, net: Network, name: str, ctx: Context,
                    peer: str | None) -> ContextEndpoint:
        """``Network.add``: ``ctx`` as ``name`` on the clock, sending to ``peer``."""
        if not isinstance(ctx, Context):
            raise TypeError(f"ctx must be a Context, not {type(ctx).__name__}")
        self._check_name(name)
        self._adopt(ctx)
        ep = ContextEndpoint(net, name, ctx, peer, sync=self._sync, collect=self.collect,
                             attached=self._attached)
        self.by_name[name] = ep
        self.contexts.append(ep)
        self._sent_seen = -1  # it may hold datagrams sent before it joined
        return ep

    def add_socket(self, net: Network, name: str, max_queue: int) -> SimSocket:
        """``Network.socket``: a socket-like endpoint named ``name``."""
        self._check_name(name)
        sock = SimSocket(net, name, max_queue, send=self._send)
        self.by_name[name] = sock
        return sock

    def lookup(self, name_or_ep: str | _Endpoint) -> _Endpoint:
        """The endpoint with this name (or the endpoint itself)."""
        if isinstance(name_or_ep, _Endpoint):
            return name_or_ep
        try:
            return self.by_name[name_or_ep]
        except KeyError:
            raise KeyError(f"no endpoint named {name_or_ep!r}; have {list(self.by_name)}") \
                from None

    def collect(self) -> int:
        """``Network.collect``: take what every context sent; returns how many."""
        # No context of the process sent anything since the queues were last
        # seen empty: nothing to look at (the common case, several times a step).
        sent = _datagrams_sent()
        if sent == self._sent_seen:
            return 0
        n = 0
        send = self._send
        for ep in self.contexts:
            ctx = ep.ctx
            if ctx.closed or not ctx.pending_out:  # closed, or nothing sent
                continue
            dst = ep.peer_name()  # raises before anything is taken
            for data in ctx.drain():
                send(ep.name, dst, data)
                n += 1
        self._sent_seen = sent  # read before the look: a send since makes it look again
        return n
