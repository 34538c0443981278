"""What can sit on a simulated network: a :class:`ContextEndpoint` (an Mbed TLS
context whose calls the network proxies and records), a :class:`SimSocket`
(``sendto``/``recvfrom`` for server loops that demultiplex by address), the
:class:`Process` protocol they are polled through, and :class:`Held` datagrams."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..bindings.context import Context
from ..wire import records as _records, rules as _rules

if TYPE_CHECKING:
    from .network import Network

__all__ = ["Process", "ContextEndpoint", "SimSocket", "Held"]

# ----------------------------------------------------------------- endpoints


class Process(Protocol):
    """What ``Network.add_process`` accepts."""

    def poll(self) -> None:
        """Handle everything available now; never block."""

    def next_deadline(self) -> int | None:
        """The virtual ms at which to be polled again, or ``None``."""


class _Endpoint:
    kind = "endpoint"

    def __init__(self, net: Network, name: str) -> None:
        self.net = net
        self.name = name
        self.delivered = 0  # datagrams delivered to this endpoint so far

    def deliver(self, data: bytes, src: str) -> str | None:  # pragma: no cover - abstract
        """Take a datagram from ``src`` (the network delivers it); ``None``, or
        why it was dropped."""
        raise NotImplementedError


class ContextEndpoint(_Endpoint):
    """A :class:`Context` at a name on the network.

    The protocol calls (``handshake``, ``read``, ``read_into``, ``write``,
    ``close_notify``, ``session_reset``, ``handshake_step``) are proxied to the
    context: each call's return code goes into the trace, and what the
    context sent is taken into the network at once (sent at the current
    virtual time).  Any other attribute is the context's (``ep.state``,
    ``ep.set_mtu(...)``, ``ep.pending_in``).

    ``peer`` is where its datagrams go (``None``: the only other endpoint).
    ``inbox`` collects application data that ``Network.handshake`` read while
    keeping a finished side responsive, so nothing is lost.  The network gives
    ``sync`` (set Mbed TLS's time before a call), ``collect`` (take what was
    sent, after a call) and ``attached`` (a context was attached: put it on
    the clock, look at its queue).
    """

    kind = "context"

    def __init__(self, net: Network, name: str, ctx: Context, peer: str | None, *,
                 sync: Callable[[], None], collect: Callable[[], int],
                 attached: Callable[[Context], None]) -> None:
        super().__init__(net, name)
        self._sync_time = sync
        self._collect = collect
        self._attached = attached
        self.ctx = ctx
        self.peer = peer
        self.inbox: list[bytes] = []
        self.last_call: tuple[str, int, int] | None = None  # (call, rc, time_ms)
        self._only_other: str | None = None  # peer_name() when there are two endpoints

    def attach(self, ctx: Context) -> ContextEndpoint:
        """Bind this name to another context (put on the network's clock)."""
        if not isinstance(ctx, Context):
            raise TypeError(f"ctx must be a Context, not {type(ctx).__name__}")
        self._attached(ctx)
        self.ctx = ctx
        return self

    def peer_name(self) -> str:
        """Where this endpoint's datagrams go."""
        if self.peer is not None:
            return self.peer
        endpoints = self.net.endpoints
        if self._only_other is not None and len(endpoints) == 2:
            return self._only_other  # endpoints are never removed: still the same one
        others = [n for n in endpoints if n != self.name]
        if len(others) != 1:
            raise ValueError(f"{self.name!r} has {len(others)} other endpoints on the network; "
                             f"give its peer: net.add({self.name!r}, ctx, peer=...)")
        self._only_other = others[0]
        return others[0]

    def deliver(self, data: bytes, src: str) -> str | None:
        """Push the datagram into the context's inbound queue."""
        try:
            self.ctx.push(data)
        except BufferError:
            return "inbound queue full"
        except ValueError as e:
            return str(e)
        self.delivered += 1
        return None

    # -- proxied calls ----------------------------------------------------------

    def _after(self, call: str, rc: int, data: bytes = b"") -> int:
        self.net.record_call(self.name, call, rc, data)
        self._collect()
        return rc

    def handshake(self) -> int:
        """``Context.handshake()``, traced; returns the code."""
        self._sync_time()
        return self._after("handshake", self.ctx.handshake())

    def handshake_step(self) -> int:
        """``Context.handshake_step()``, traced; returns the code."""
        self._sync_time()
        return self._after("handshake_step", self.ctx.handshake_step())

    def read(self, n: int = 16384) -> bytes | int:
        """``mbedtls_ssl_read`` of up to ``n`` bytes, traced: the bytes read
        (``b""`` at EOF), or the code (``Err``) when it is negative."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError("n must be a positive int")
        self._sync_time()
        buf = bytearray(n)
        rc = self.ctx.read_into(buf)
        if rc >= 0:
            data = bytes(buf[:rc])
            self._after("read", rc, data)
            return data
        return self._after("read", rc)

    def read_into(self, buffer: bytearray | memoryview) -> int:
        """``Context.read_into()``, traced; returns the code or byte count."""
        self._sync_time()
        rc = self.ctx.read_into(buffer)
        return self._after("read_into", rc, bytes(buffer[:rc]) if rc > 0 else b"")

    def write(self, data: bytes) -> int:
        """``Context.write()``, traced; returns bytes written or the code."""
        self._sync_time()
        return self._after("write", self.ctx.write(data), bytes(data))

    def close_notify(self) -> int:
        """``Context.close_notify()``, traced."""
        self._sync_time()
        return self._after("close_notify", self.ctx.close_notify())

    def session_reset(self) -> int:
        """``Context.session_reset()``, traced (the endpoint keeps its name)."""
        return self._after("session_reset", self.ctx.session_reset())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "ctx":
            raise AttributeError(name)
        return getattr(self.ctx, name)

    def __repr__(self) -> str:
        return f"<ContextEndpoint {self.name} -> {self.peer or '?'} {self.ctx!r}>"


class SimSocket(_Endpoint):
    """A socket-like endpoint: datagrams in, datagrams out, by name.

    ``sendto(data, dst)`` sends at once (through rules and links);
    ``recvfrom()`` returns ``(data, src)`` or ``None`` (never blocks);
    ``pending()`` counts what is waiting; ``clock`` is the network's clock,
    for contexts the owner of this socket creates.  ``send(src, dst, data)``
    is how the network takes a datagram (given by the network).
    """

    kind = "socket"

    def __init__(self, net: Network, name: str, max_queue: int = 1024, *,
                 send: Callable[[str, str, bytes], None]) -> None:
        super().__init__(net, name)
        self._send = send
        self.clock = net.clock
        self.max_queue = max_queue
        self._queue: deque[tuple[bytes, str]] = deque()
        self.closed = False

    def sendto(self, data: bytes, dst: str) -> None:
        """Send one datagram to the endpoint named ``dst``."""
        if self.closed:
            raise OSError(f"socket {self.name!r} is closed")
        if not isinstance(dst, str):
            raise TypeError(f"dst must be an endpoint name (str), not {type(dst).__name__}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        self._send(self.name, dst, bytes(data))

    def recvfrom(self) -> tuple[bytes, str] | None:
        """The next datagram and its sender's name, or ``None``."""
        return self._queue.popleft() if self._queue else None

    def pending(self) -> int:
        """Datagrams waiting to be received."""
        return len(self._queue)

    def close(self) -> None:
        """Stop receiving (later deliveries are dropped) and sending."""
        self.closed = True
        self._queue.clear()

    def deliver(self, data: bytes, src: str) -> str | None:
        """Queue the datagram for ``recvfrom()``."""
        if self.closed:
            return "socket closed"
        if len(self._queue) >= self.max_queue:
            return "socket receive queue full"
        self._queue.append((data, src))
        self.delivered += 1
        return None

    def __repr__(self) -> str:
        return f"<SimSocket {self.name} pending={len(self._queue)}>"


@dataclass(eq=False)
class Held:
    """A datagram caught by a Hold rule, waiting for ``release`` or ``drop``."""

    time_ms: int
    src: str
    dst: str
    data: bytes
    tag: str | None
    rule: _rules.Rule | None

    @property
    def records(self) -> _records.Datagram:
        """The datagram parsed into records."""
        return _records.parse_datagram(self.data)

    def __repr__(self) -> str:
        tag = f" tag={self.tag}" if self.tag else ""
        return (f"<Held {self.src}->{self.dst} at {self.time_ms} ms{tag} "
                f"{self.records!r}>")
