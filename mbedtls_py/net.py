"""A simulated network with virtual time, record-aware rules and random
impairments, deterministic by seed.

A :class:`Network` owns one :class:`~mbedtls_py.context.VirtualClock` (integer
milliseconds) and a schedule of datagrams in flight.  Endpoints have names:

- ``net.add("client", ctx)`` puts a :class:`~mbedtls_py.context.Context` on the
  network (its timer reads the network's clock); what it sends goes to its
  peer, what is delivered to ``"client"`` is pushed into its inbound queue;
- ``net.socket("server")`` is a socket-like endpoint (``sendto``/``recvfrom``)
  for code that demultiplexes by source address, as a real DTLS server loop
  does over UDP; ``net.add_process(proc)`` has such code polled.

Every datagram sent passes, in this order, through the **rules**
(:mod:`mbedtls_py.rules`, e.g. ``"client->server alert epoch>=1: hold late"``)
and then the **link** of its direction (``net.link("client", "server",
loss=0.1, delay_ms=20, ...)``), and is scheduled for delivery.  Nothing moves
by itself: ``deliver_next()``, ``step()``, ``run()`` and ``handshake()`` move
the clock to the next event.  Contexts are called only by the caller (or by
``handshake()``), never behind its back, so a script reads like a timeline::

    net = Network(seed=7)
    cli = net.add("client", Context(client_config))
    srv = net.add("server", Context(server_config))
    net.rule("client->server alert epoch>=1: hold late")
    assert net.handshake(cli, srv) == (0, 0)
    ...
    print(net.trace)          # the timeline: every datagram and every call's code

Determinism: the impairments draw from :class:`random.Random` instances
seeded from the network seed (one per link, one for rules); with contexts
seeded by ``net.seed_for(name)``, a deterministic PKI
(:mod:`mbedtls_py.pki_det`) and ``unix_time`` fixed, the same seed gives the
same bytes: ``net.trace.digest()`` is equal across runs and processes.

``unix_time``: the wall-clock time Mbed TLS reads (Hello randoms, cookies,
certificate validity) is set with :func:`mbedtls_py.set_time` to
``unix_time + clock // 1000`` whenever the clock moves and before every call
the network makes or proxies.  That setting is **per thread** (the glue's
``mbedtls_time`` reads a thread-local value on the thread that called Mbed
TLS), so networks run on different threads do not disturb each other.  Use
the network as a context manager (``with Network(...) as net:``) or call
``net.close()`` when done: the thread's previous setting is restored.

Virtual time has a resolution of 1 ms: delays with fractions (jitter,
bandwidth) are rounded up to the next millisecond when scheduled.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from . import records as _records
from . import rules as _rules
from .context import Context, VirtualClock
from .errors import Err, as_err
from .rng import seed_bytes
from .timeutil import fixed_time, set_time

__all__ = [
    "Network",
    "Link",
    "ContextEndpoint",
    "SimSocket",
    "Held",
    "TraceEvent",
    "Trace",
    "RunResult",
    "HandshakeResult",
    "Stalled",
    "Process",
    "SOFT_CODES",
]

Interceptor = Callable[[str, str, int, bytes], "tuple[str, str] | None"]
"""What ``Network.intercept`` takes."""

SOFT_CODES = frozenset({Err.SSL_WANT_READ, Err.SSL_WANT_WRITE, Err.SSL_ASYNC_IN_PROGRESS,
                        Err.SSL_CRYPTO_IN_PROGRESS})
"""Codes that mean "call again later", not a failure."""


def _rc_text(rc: int | None) -> str:
    if rc is None:
        return "-"
    if isinstance(rc, Err):
        return str(rc)
    rc = as_err(rc)
    return str(rc)


def _derive(seed: bytes, *parts: str) -> bytes:
    h = hashlib.sha256(b"mbedtls-py/net")
    for p in (seed, *(x.encode() for x in parts)):
        h.update(len(p).to_bytes(4, "big"))
        h.update(p)
    return h.digest()


# --------------------------------------------------------------------- trace


@dataclass(eq=False)
class TraceEvent:
    """One thing that happened on the network, at virtual ``time_ms``.

    ``kind`` is one of: ``send`` (an endpoint sent ``data`` to ``dst``),
    ``deliver`` (it arrived), ``drop`` (the network lost it; ``note`` says
    why), ``hold``/``release`` (a Hold rule caught it; the script let it go),
    ``dup``, ``delay``, ``corrupt``, ``truncate``, ``replace``, ``inject``,
    ``reorder`` (what a rule or a link did; ``data`` is the datagram after the
    change), ``call`` (an endpoint's call and its return code ``rc``),
    ``timer`` (the clock was advanced to a context's retransmission timer),
    ``poll`` (a process was polled at its deadline), ``end`` (a run ended).
    ``records`` is the datagram parsed with :func:`records.parse_datagram`.
    """

    time_ms: int
    kind: str
    src: str
    dst: str = ""
    data: bytes = b""
    note: str = ""
    call: str | None = None
    rc: int | None = None
    cid_len: int = field(default=0, repr=False)
    _parsed: _records.Datagram | None = field(default=None, repr=False)

    @property
    def records(self) -> _records.Datagram | None:
        """The datagram parsed into records (``None`` for events without one)."""
        if self._parsed is None and self.kind not in ("call", "timer", "poll", "end"):
            self._parsed = _records.parse_datagram(self.data, self.cid_len)
        return self._parsed

    @property
    def is_datagram(self) -> bool:
        """True for events about a datagram (not calls, timers, polls)."""
        return self.kind not in ("call", "timer", "poll", "end")

    def describe(self) -> str:
        """What is in the datagram, e.g. ``[<Alert epoch=1 seq=3 len=26 encrypted>]``."""
        if not self.is_datagram:
            return ""
        dg = self.records
        inner = ", ".join(repr(r) for r in dg.records)
        if dg.error is not None:
            inner += (", " if inner else "") + f"unparsed {len(dg.trailing)} B"
        return f"{len(self.data)} B [{inner}]"

    def __str__(self) -> str:
        if self.kind == "call":
            head = f"{self.time_ms:>8} ms  {self.src:<17} call     {self.note}"
            return head
        if self.kind in ("timer", "poll", "end"):
            return f"{self.time_ms:>8} ms  {self.src:<17} {self.kind:<8} {self.note}"
        arrow = f"{self.src}->{self.dst}"
        text = f"{self.time_ms:>8} ms  {arrow:<17} {self.kind:<8} {self.describe()}"
        if self.note:
            text += f"  ({self.note})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (bytes as hex)."""
        out: dict[str, Any] = {"time_ms": self.time_ms, "kind": self.kind, "src": self.src,
                               "dst": self.dst, "note": self.note}
        if self.kind == "call":
            out["call"] = self.call
            out["rc"] = None if self.rc is None else int(self.rc)
            out["rc_name"] = _rc_text(self.rc)
            if self.data:
                out["data"] = self.data.hex()
        elif self.is_datagram:
            out["data"] = self.data.hex()
            out["records"] = self.records.to_dict()
        return out


class Trace(list):
    """The list of :class:`TraceEvent` of a network, in order.

    ``str(trace)`` is a readable timeline; ``to_json()`` a JSON array;
    ``digest()`` a SHA-256 over every event (time, kind, endpoints, the bytes
    of every datagram, calls and their codes), for determinism checks.  The
    digest is kept even when the network was made with ``trace=False`` (then
    the list stays empty).
    """

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self._hash = hashlib.sha256()
        self.count = 0

    def _add(self, event: TraceEvent) -> None:
        h = self._hash
        h.update(f"{event.time_ms}|{event.kind}|{event.src}|{event.dst}|{event.call}|"
                 f"{None if event.rc is None else int(event.rc)}|{len(event.data)}|".encode())
        h.update(event.data)
        self.count += 1
        if self.enabled:
            self.append(event)

    def digest(self) -> str:
        """Hex SHA-256 over every event so far (same seed, same digest)."""
        return self._hash.copy().hexdigest()

    def datagrams(self, kind: str | None = None, src: str | None = None,
                  dst: str | None = None) -> list[TraceEvent]:
        """Datagram events, optionally only of one ``kind`` and direction."""
        return [e for e in self if e.is_datagram and (kind is None or e.kind == kind)
                and (src is None or e.src == src) and (dst is None or e.dst == dst)]

    def calls(self, name: str | None = None, call: str | None = None) -> list[TraceEvent]:
        """Call events, optionally of one endpoint and one call name."""
        return [e for e in self if e.kind == "call" and (name is None or e.src == name)
                and (call is None or e.call == call)]

    def to_json(self, **kwargs: Any) -> str:
        """The events as a JSON array of objects (see :meth:`TraceEvent.to_dict`)."""
        return json.dumps([e.to_dict() for e in self], **kwargs)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self)

    def to_pcapng(self, path: Any, key_lines: Iterable[str] = (), **options: Any) -> int:
        """Write the datagrams as a capture with ``key_lines`` (NSS key log)
        embedded; see :func:`mbedtls_py.capture.save_trace`.  Returns the packet count."""
        from .capture import save_trace
        return save_trace(self, path, key_lines, **options)

    def __repr__(self) -> str:
        return f"<Trace {self.count} events digest={self.digest()[:16]}>"


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
    overtake it.  Attributes may be changed at any time.
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
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _busy_until: dict[tuple[str, str], float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], not {p}")
        for name in ("delay_ms", "jitter_ms", "reorder_delay_ms"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {v}")
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

    def _deliver(self, data: bytes, src: str) -> str | None:  # pragma: no cover - abstract
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
    keeping a finished side responsive, so nothing is lost.
    """

    kind = "context"

    def __init__(self, net: Network, name: str, ctx: Context, peer: str | None) -> None:
        super().__init__(net, name)
        self.ctx = ctx
        self.peer = peer
        self.inbox: list[bytes] = []
        self.last_call: tuple[str, int, int] | None = None  # (call, rc, time_ms)

    def attach(self, ctx: Context) -> ContextEndpoint:
        """Bind this name to another context (put on the network's clock)."""
        if not isinstance(ctx, Context):
            raise TypeError(f"ctx must be a Context, not {type(ctx).__name__}")
        self.net._adopt(ctx)
        self.ctx = ctx
        return self

    def peer_name(self) -> str:
        """Where this endpoint's datagrams go."""
        if self.peer is not None:
            return self.peer
        others = [n for n in self.net.endpoints if n != self.name]
        if len(others) != 1:
            raise ValueError(f"{self.name!r} has {len(others)} other endpoints on the network; "
                             f"give its peer: net.add({self.name!r}, ctx, peer=...)")
        return others[0]

    def _deliver(self, data: bytes, src: str) -> str | None:
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
        self.net.collect()
        return rc

    def handshake(self) -> int:
        """``Context.handshake()``, traced; returns the code."""
        self.net._sync_time()
        return self._after("handshake", self.ctx.handshake())

    def handshake_step(self) -> int:
        """``Context.handshake_step()``, traced; returns the code."""
        self.net._sync_time()
        return self._after("handshake_step", self.ctx.handshake_step())

    def read(self, n: int = 16384) -> bytes | int:
        """``mbedtls_ssl_read`` of up to ``n`` bytes, traced: the bytes read
        (``b""`` at EOF), or the code (``Err``) when it is negative."""
        if not isinstance(n, int) or n <= 0:
            raise ValueError("n must be a positive int")
        self.net._sync_time()
        buf = bytearray(n)
        rc = self.ctx.read_into(buf)
        if rc >= 0:
            data = bytes(buf[:rc])
            self._after("read", rc, data)
            return data
        return self._after("read", rc)

    def read_into(self, buffer: bytearray | memoryview) -> int:
        """``Context.read_into()``, traced; returns the code or byte count."""
        self.net._sync_time()
        rc = self.ctx.read_into(buffer)
        return self._after("read", rc, bytes(buffer[:rc]) if rc > 0 else b"")

    def write(self, data: bytes) -> int:
        """``Context.write()``, traced; returns bytes written or the code."""
        self.net._sync_time()
        return self._after("write", self.ctx.write(data), bytes(data))

    def close_notify(self) -> int:
        """``Context.close_notify()``, traced."""
        self.net._sync_time()
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
    for contexts the owner of this socket creates.
    """

    kind = "socket"

    def __init__(self, net: Network, name: str, max_queue: int = 1024) -> None:
        super().__init__(net, name)
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
        self.net._send(self.name, dst, bytes(data))

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

    def _deliver(self, data: bytes, src: str) -> str | None:
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


# ------------------------------------------------------------ results/reports


@dataclass
class Stalled:
    """Why nothing more can happen: who waits for what, at which virtual time."""

    time_ms: int
    lines: list[str]

    def __str__(self) -> str:
        return f"stalled at {self.time_ms} ms:\n" + "\n".join(f"  - {x}" for x in self.lines)


@dataclass
class RunResult:
    """How ``Network.run`` ended.

    ``reason``: ``"until"`` (the predicate became true), ``"idle"`` (nothing
    scheduled: see ``stalled``), ``"deadline"`` (the virtual deadline came
    first; the clock stands at it), ``"max_steps"``.
    """

    reason: str
    steps: int
    start_ms: int
    end_ms: int
    real_seconds: float
    stalled: Stalled | None = None

    @property
    def ok(self) -> bool:
        """True when the predicate was met."""
        return self.reason == "until"

    @property
    def elapsed_ms(self) -> int:
        """Virtual milliseconds the run took."""
        return self.end_ms - self.start_ms

    def __str__(self) -> str:
        text = (f"run ended ({self.reason}) at {self.end_ms} ms after {self.steps} steps, "
                f"{self.elapsed_ms} virtual ms, {self.real_seconds * 1000:.1f} real ms")
        if self.stalled is not None:
            text += "\n" + str(self.stalled)
        return text


class HandshakeResult(tuple):
    """``(client_rc, server_rc)`` of ``Network.handshake``, with details.

    Unpacks and compares as a 2-tuple (``assert net.handshake(c, s) == (0, 0)``).
    ``reason``: ``"done"`` (both 0), ``"error"`` (a side returned a hard
    error), ``"deadline"``, ``"idle"`` (nothing could happen any more:
    ``stalled`` says why) or ``"max_steps"``; ``start_ms``/``end_ms``/
    ``elapsed_ms`` in virtual time; ``real_seconds``.
    """

    client_rc: int
    server_rc: int
    reason: str
    start_ms: int
    end_ms: int
    real_seconds: float
    steps: int
    stalled: Stalled | None

    def __new__(cls, client_rc: int, server_rc: int, **info: Any) -> HandshakeResult:
        self = super().__new__(cls, (client_rc, server_rc))
        self.client_rc, self.server_rc = client_rc, server_rc
        self.__dict__.update(info)
        return self

    @property
    def ok(self) -> bool:
        """Both sides completed."""
        return self.client_rc == 0 and self.server_rc == 0

    @property
    def elapsed_ms(self) -> int:
        """Virtual milliseconds from the call to the end."""
        return self.end_ms - self.start_ms

    def __str__(self) -> str:
        text = (f"handshake {self.reason}: client {_rc_text(self.client_rc)}, server "
                f"{_rc_text(self.server_rc)} at {self.end_ms} ms ({self.elapsed_ms} virtual ms,"
                f" {self.real_seconds * 1000:.1f} real ms)")
        if self.stalled is not None:
            text += "\n" + str(self.stalled)
        return text


# ------------------------------------------------------------------- network


class _NetClock(VirtualClock):
    """The network's clock: a VirtualClock that tells the network when it moves."""

    def __init__(self, on_change: Callable[[int], None]) -> None:
        self._on_change: Callable[[int], None] | None = None
        super().__init__(0)
        self._on_change = on_change

    @property
    def now_ms(self) -> int:
        """The current virtual time in milliseconds."""
        return self._ptr.now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        VirtualClock.now_ms.fset(self, value)  # type: ignore[attr-defined]
        if self._on_change is not None:
            self._on_change(value)


class Network:
    """A simulated network of named endpoints on one virtual clock.

    ``seed`` (int, str or bytes) seeds every impairment; ``seed_for(name)``
    derives a per-endpoint seed for ``Config(seed=...)``.  ``unix_time``:
    the wall-clock time Mbed TLS reads at virtual time 0 (set on the thread
    that drives the network, restored by ``close()``/``with``; see the module
    docstring), ``None`` to leave it alone.  ``trace=False`` keeps
    only the digest, not the events.  ``cid_len``: connection-ID length used
    when parsing records (for rules and the trace).
    """

    def __init__(self, seed: int | str | bytes = 0, *, unix_time: int | None = 1_700_000_000,
                 trace: bool = True, cid_len: int = 0) -> None:
        self.seed = seed
        self._seed = seed_bytes(seed)
        self.unix_time = unix_time
        self.cid_len = cid_len
        self._time_set: tuple[int, int] | None = None  # (thread, seconds) last set
        self._saved_time: dict[int, int | None] = {}  # thread -> its setting before us
        self._closed = False
        self.clock: VirtualClock = _NetClock(self._clock_moved)
        self.trace = Trace(enabled=trace)
        self.endpoints: dict[str, _Endpoint] = {}
        self.links: dict[tuple[str, str], Link] = {}
        self.rules: list[_rules.Rule] = []
        self.held: list[Held] = []
        self.processes: list[Any] = []
        self._proc_served: dict[int, int] = {}
        self._heap: list[tuple[int, int, str, str, bytes, str]] = []
        self._seq = itertools.count()
        self._index: dict[tuple[str, str], int] = {}
        self._rule_rng = random.Random(_derive(self._seed, "rules"))
        self.last_result: RunResult | HandshakeResult | None = None
        self._interceptor: Interceptor | None = None
        self._sync_time()

    # -- time --------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The virtual time (``clock.now_ms``)."""
        return self.clock.now_ms

    def _set_time(self, t: int) -> None:
        tid = threading.get_ident()
        if tid not in self._saved_time:
            self._saved_time[tid] = fixed_time()  # restored by close()
        set_time(t)
        self._time_set = (tid, t)

    def _clock_moved(self, now: int) -> None:
        if self.unix_time is not None and not self._closed:
            t = self.unix_time + now // 1000
            if (threading.get_ident(), t) != self._time_set:
                self._set_time(t)

    def _sync_time(self) -> None:
        if self.unix_time is not None and not self._closed:
            # again: another network on this thread may have moved it
            self._set_time(self.unix_time + self.clock.now_ms // 1000)

    def close(self) -> None:
        """Stop setting Mbed TLS's time and restore this thread's previous
        setting (idempotent).  Contexts stay open: they belong to the caller.
        A thread other than the closing one that drove this network keeps
        the network's last time until it sets its own."""
        self._closed = True
        tid = threading.get_ident()
        if tid in self._saved_time:
            set_time(self._saved_time.pop(tid))
        self._time_set = None

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, ms: int) -> int:
        """Move the clock forward by ``ms`` without delivering anything (events
        that fall due meanwhile are delivered later, late).  Returns the time."""
        return self.clock.advance(ms)

    # -- seeds -------------------------------------------------------------------

    def seed_for(self, name: str) -> bytes:
        """A per-endpoint seed derived from the network seed (for ``Config(seed=...)``)."""
        return _derive(self._seed, "endpoint", name)

    # -- endpoints -------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name) \
                or "->" in name or name == "*":
            raise ValueError(f"bad endpoint name {name!r}: non-empty, no spaces, no '->', not '*'")
        if name in self.endpoints:
            raise ValueError(f"an endpoint named {name!r} is already on the network")

    def _adopt(self, ctx: Context) -> None:
        if ctx.clock is not self.clock:
            ctx.set_clock(self.clock)

    def add(self, name: str, ctx: Context, peer: str | None = None) -> ContextEndpoint:
        """Put ``ctx`` on the network as ``name``; it sends to ``peer`` (default:
        the only other endpoint, looked up when it first sends).  The context's
        timer is moved to the network's clock (``ctx.set_clock``); its RNG is
        left alone (seed its config with ``seed_for(name)``)."""
        if not isinstance(ctx, Context):
            raise TypeError(f"ctx must be a Context, not {type(ctx).__name__}")
        self._check_name(name)
        self._adopt(ctx)
        if getattr(self, "_capture", None) is not None:
            self._capture.adopt(ctx)  # key export on while a capture runs
        ep = ContextEndpoint(self, name, ctx, peer)
        self.endpoints[name] = ep
        return ep

    def socket(self, name: str, *, max_queue: int = 1024) -> SimSocket:
        """A socket-like endpoint named ``name`` (see :class:`SimSocket`)."""
        self._check_name(name)
        sock = SimSocket(self, name, max_queue)
        self.endpoints[name] = sock
        return sock

    def add_process(self, proc: Any) -> None:
        """Have ``proc`` polled: after every delivery to one of ``proc.sockets``
        (endpoints or names; without that attribute: after every delivery), and
        when the clock reaches ``proc.next_deadline()``."""
        if not callable(getattr(proc, "poll", None)) or \
                not callable(getattr(proc, "next_deadline", None)):
            raise TypeError("a process needs poll() and next_deadline() methods")
        self.processes.append(proc)

    def endpoint(self, name_or_ep: str | _Endpoint) -> _Endpoint:
        """The endpoint with this name (or the endpoint itself)."""
        if isinstance(name_or_ep, _Endpoint):
            return name_or_ep
        try:
            return self.endpoints[name_or_ep]
        except KeyError:
            raise KeyError(f"no endpoint named {name_or_ep!r}; have {list(self.endpoints)}") \
                from None

    def __getitem__(self, name: str) -> _Endpoint:
        return self.endpoint(name)

    # -- links and rules ----------------------------------------------------------

    def link(self, src: str, dst: str, **impairments: Any) -> Link:
        """Set the impairments of direction ``src -> dst`` (``*`` for any);
        see :class:`Link` for the keywords.  Replaces an earlier link of the
        same direction.  The most specific link applies to a datagram:
        ``a->b``, then ``a->*``, ``*->b``, ``*->*``."""
        bad = set(impairments) - {f for f in Link.__dataclass_fields__
                                  if not f.startswith("_") and f not in ("src", "dst", "rng")}
        if bad:
            raise TypeError(f"unknown link option(s) {sorted(bad)}")
        link = Link(src, dst, rng=random.Random(_derive(self._seed, "link", src, dst)),
                    **impairments)
        self.links[(src, dst)] = link
        return link

    def link_both(self, a: str, b: str, **impairments: Any) -> tuple[Link, Link]:
        """The same impairments on ``a -> b`` and ``b -> a`` (separate random streams)."""
        return self.link(a, b, **impairments), self.link(b, a, **impairments)

    def _link_for(self, src: str, dst: str) -> Link | None:
        links = self.links
        if not links:
            return None
        return (links.get((src, dst)) or links.get((src, "*")) or links.get(("*", dst))
                or links.get(("*", "*")))

    def rule(self, rule: str | _rules.Rule) -> _rules.Rule:
        """Add a record-aware rule (text or :class:`rules.Rule`); returns it.

        Rules see each datagram as sent, before the link's impairments, in the
        order they were added.  Every rule that fires applies its action:
        ``delay`` adds up, ``corrupt``/``replace``/``truncate`` change the
        bytes, ``duplicate`` and ``inject`` add datagrams (each of which then
        passes the link on its own); ``drop`` and ``hold`` end the list (later
        rules do not see that datagram).
        """
        if isinstance(rule, str):
            rule = _rules.parse_rule(rule)
        if not isinstance(rule, _rules.Rule):
            raise TypeError(f"rule must be a str or rules.Rule, not {type(rule).__name__}")
        self.rules.append(rule)
        return rule

    def remove_rule(self, rule: _rules.Rule) -> None:
        """Stop applying ``rule``."""
        self.rules.remove(rule)

    # -- trace -------------------------------------------------------------------

    def capture(self, path: Any = None, **options: Any) -> Any:
        """Start a capture of this network (a :class:`mbedtls_py.capture.Capture`):
        key export on for its contexts, events kept; ``save()`` or leaving a
        ``with net.capture("race.pcapng"):`` block writes pcapng with the keys."""
        from .capture import Capture
        self._capture = Capture(self, path, **options)
        return self._capture

    def _event(self, kind: str, src: str, dst: str = "", data: bytes = b"", note: str = "",
               call: str | None = None, rc: int | None = None) -> TraceEvent:
        ev = TraceEvent(self.clock.now_ms, kind, src, dst, data, note, call, rc, self.cid_len)
        self.trace._add(ev)
        return ev

    def record_call(self, name: str, call: str, rc: int, data: bytes = b"") -> None:
        """Log a call's return code into the trace (``data``: bytes read/written)."""
        rc = as_err(int(rc))
        if call in ("read", "write") and isinstance(rc, int) and rc >= 0:
            shown = repr(data[:32]) + ("..." if len(data) > 32 else "")
            note = f"{call}() -> {rc} bytes {shown}"
        else:
            note = f"{call}() -> {_rc_text(rc) if rc else '0'}"
        self._event("call", name, "", data, note, call, rc)
        ep = self.endpoints.get(name)
        if isinstance(ep, ContextEndpoint):
            ep.last_call = (call, rc, self.clock.now_ms)

    def note(self, name: str, text: str) -> None:
        """Put a free-form line into the trace (kind ``call``, no code)."""
        self._event("call", name, "", b"", text, "note", None)

    # -- sending -----------------------------------------------------------------

    def collect(self) -> int:
        """Take every queued outgoing datagram of every context endpoint into
        the network (rules, links, schedule); returns how many."""
        n = 0
        for ep in list(self.endpoints.values()):
            if isinstance(ep, ContextEndpoint) and not ep.ctx.closed:
                ctx = ep.ctx
                if not ctx.pending_out:
                    continue
                dst = ep.peer_name()  # raises before anything is taken
                while (data := ctx.pop()) is not None:
                    self._send(ep.name, dst, data)
                    n += 1
        return n

    def _send(self, src: str, dst: str, data: bytes) -> None:
        key = (src, dst)
        index = self._index.get(key, 0) + 1
        self._index[key] = index
        self._event("send", src, dst, data)
        if self._interceptor is not None:
            taken = self._interceptor(src, dst, index, data)
            if taken is not None:
                action, note = taken
                if action not in ("drop", "hold"):
                    raise ValueError(f"an interceptor returns None, ('drop', note) or "
                                     f"('hold', tag), not {taken!r}")
                if action == "hold":
                    self.held.append(Held(self.clock.now_ms, src, dst, data, note, None))
                self._event(action, src, dst, data, f"interceptor: {note}")
                return
        if self.rules:
            parsed = _records.parse_datagram(data, self.cid_len)
            items = self._apply_rules(src, dst, index, data, parsed)
        else:
            items = [(data, 0.0, "")]
        for item, extra, note in items:
            self._through_link(src, dst, item, extra, note)

    def _apply_rules(self, src: str, dst: str, index: int, data: bytes,
                     parsed: _records.Datagram) -> list[tuple[bytes, float, str]]:
        cur, extra = data, 0.0
        before: list[bytes] = []
        after: list[bytes] = []
        copies: list[float] = []
        for rule in self.rules:
            if not rule.check(src, dst, index, parsed):
                continue
            action = rule.action
            label = f"rule {rule.name or str(rule)}"
            if isinstance(action, _rules.Drop):
                self._event("drop", src, dst, cur, label)
                return []
            if isinstance(action, _rules.Hold):
                self.held.append(Held(self.clock.now_ms, src, dst, cur, action.tag, rule))
                self._event("hold", src, dst, cur, label)
                return []
            if isinstance(action, _rules.Delay):
                extra += action.ms
                self._event("delay", src, dst, cur, f"{label}: +{action.ms:g} ms")
            elif isinstance(action, _rules.Duplicate):
                copies.extend(action.spacing_ms * (i + 1) for i in range(action.count))
                self._event("dup", src, dst, cur, f"{label}: {action.count} more")
            elif isinstance(action, _rules.Corrupt):
                cur = action.apply(cur, self._rule_rng)
                self._event("corrupt", src, dst, cur, label)
            elif isinstance(action, _rules.Replace):
                cur = action.data
                self._event("replace", src, dst, cur, label)
            elif isinstance(action, _rules.Truncate):
                cur = action.apply(cur)
                self._event("truncate", src, dst, cur, label)
            elif isinstance(action, _rules.Inject):
                (before if action.before else after).append(action.data)
                self._event("inject", src, dst, action.data,
                            label + (" (before)" if action.before else ""))
            else:  # pragma: no cover - a new action kind
                raise TypeError(f"the network cannot apply {type(action).__name__}")
        items = [(d, extra, "injected") for d in before]
        items.append((cur, extra, ""))
        items.extend((cur, extra + s, "duplicate") for s in copies)
        items.extend((d, extra, "injected") for d in after)
        return items

    def _through_link(self, src: str, dst: str, data: bytes, extra_ms: float,
                      note: str) -> None:
        now = self.clock.now_ms
        link = self._link_for(src, dst)
        if link is None:
            self._schedule(now + extra_ms, src, dst, data, note)
            return
        rng = link.rng
        if link.mtu is not None and len(data) > link.mtu:
            if link.mtu_mode == "drop":
                self._event("drop", src, dst, data, f"mtu: {len(data)} B > {link.mtu}")
                return
            data = data[:link.mtu]
            self._event("truncate", src, dst, data, f"mtu {link.mtu}")
        wait = 0.0
        if link.bandwidth_bps:
            direction = (src, dst)
            start = max(float(now), link._busy_until.get(direction, 0.0))
            done = start + len(data) * 8 * 1000.0 / link.bandwidth_bps
            link._busy_until[direction] = done
            wait = done - now
        if link.loss and rng.random() < link.loss:
            self._event("drop", src, dst, data, f"loss {link.loss:g}")
            return
        if link.corrupt and rng.random() < link.corrupt:
            data = _flip_bits(data, link.corrupt_bits, rng, link.corrupt_scope == "payload",
                              self.cid_len)
            self._event("corrupt", src, dst, data, f"link: {link.corrupt_bits} bit(s)")
        n = 2 if link.duplicate and rng.random() < link.duplicate else 1
        if n == 2:
            self._event("dup", src, dst, data, f"link duplicate {link.duplicate:g}")
        for i in range(n):
            delay = link.delay_ms
            if link.jitter_ms:
                delay = max(0.0, delay + rng.uniform(-link.jitter_ms, link.jitter_ms))
            copy_note = note if i == 0 else "duplicate"
            if link.reorder and rng.random() < link.reorder:
                delay += link.reorder_delay_ms
                self._event("reorder", src, dst, data,
                            f"held back {link.reorder_delay_ms:g} ms")
            self._schedule(now + wait + delay + extra_ms, src, dst, data, copy_note)

    def _schedule(self, when: float, src: str, dst: str, data: bytes, note: str) -> None:
        t = max(self.clock.now_ms, math.ceil(when - 1e-9))
        heapq.heappush(self._heap, (t, next(self._seq), src, dst, data, note))

    def intercept(self, fn: Interceptor | None) -> None:
        """Have ``fn(src, dst, index, data)`` see every datagram as it is sent,
        before the rules (``index``: its 1-based number on that direction).
        It returns ``None`` (pass it on), ``("drop", note)`` or ``("hold",
        tag)`` (release or drop it later by tag).  One per network; ``None``
        removes it.  The schedule explorer uses it for its faults."""
        if fn is not None and not callable(fn):
            raise TypeError("fn must be callable or None")
        self._interceptor = fn

    def inject(self, src: str, dst: str, data: bytes, after_ms: float = 0) -> None:
        """Deliver a crafted datagram from ``src`` to ``dst`` ``after_ms`` from now
        (no rules, no link impairments)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes-like")
        if after_ms < 0:
            raise ValueError("after_ms must be >= 0")
        data = bytes(data)
        self._event("inject", src, dst, data, f"scripted, in {after_ms:g} ms")
        self._schedule(self.clock.now_ms + after_ms, src, dst, data, "injected")

    # -- held datagrams -------------------------------------------------------------

    def _select_held(self, which: Held | str | Iterable[Held] | None) -> list[Held]:
        if which is None:
            return list(self.held)
        if isinstance(which, Held):
            if which not in self.held:
                raise ValueError(f"{which!r} is not held (released or dropped already?)")
            return [which]
        if isinstance(which, str):
            found = [h for h in self.held if h.tag == which]
            if not found:
                raise ValueError(f"no held datagram with tag {which!r}; "
                                 f"held: {[h.tag for h in self.held]}")
            return found
        return [h for w in which for h in self._select_held(w)]

    def release(self, held: Held | str | Iterable[Held] | None = None,
                after_ms: float = 0) -> list[Held]:
        """Deliver held datagram(s) ``after_ms`` from now, as they were caught
        (no more rules or link impairments): a :class:`Held`, every one with a
        tag, a list, or ``None`` for all.  Returns what was released."""
        if after_ms < 0:
            raise ValueError("after_ms must be >= 0")
        chosen = self._select_held(held)
        for h in chosen:
            self.held.remove(h)
            self._event("release", h.src, h.dst, h.data,
                        f"held since {h.time_ms} ms, delivery in {after_ms:g} ms")
            self._schedule(self.clock.now_ms + after_ms, h.src, h.dst, h.data, "released")
        return chosen

    def drop(self, held: Held | str | Iterable[Held] | None = None) -> list[Held]:
        """Discard held datagram(s) (same selection as :meth:`release`)."""
        chosen = self._select_held(held)
        for h in chosen:
            self.held.remove(h)
            self._event("drop", h.src, h.dst, h.data, "held datagram dropped by the script")
        return chosen

    # -- driving -------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Datagrams scheduled for delivery."""
        return len(self._heap)

    def next_delivery_ms(self) -> int | None:
        """When the next scheduled datagram arrives, or ``None``."""
        return self._heap[0][0] if self._heap else None

    def deliver_next(self) -> TraceEvent | None:
        """Deliver the earliest scheduled datagram (moving the clock to its
        time) and poll the processes that own its destination.  Returns the
        ``deliver`` (or ``drop``) event, ``None`` when nothing is scheduled."""
        if not self._heap:
            return None
        when, _, src, dst, data, note = heapq.heappop(self._heap)
        if when > self.clock.now_ms:
            self.clock.now_ms = when
        ep = self.endpoints.get(dst)
        if ep is None:
            return self._event("drop", src, dst, data, f"no endpoint named {dst!r}")
        problem = ep._deliver(data, src)
        if problem is not None:
            return self._event("drop", src, dst, data, problem)
        ev = self._event("deliver", src, dst, data, note)
        for proc in list(self.processes):
            socks = getattr(proc, "sockets", None)
            if socks is None or any((s if isinstance(s, str) else s.name) == dst for s in socks):
                proc.poll()
        return ev

    def _timer_deadline(self) -> tuple[int, ContextEndpoint] | None:
        now = self.clock.now_ms
        best: tuple[int, ContextEndpoint] | None = None
        for ep in self.endpoints.values():
            if isinstance(ep, ContextEndpoint) and not ep.ctx.closed:
                d = ep.ctx.timer_deadline()
                if d is not None and d > now and (best is None or d < best[0]):
                    best = (d, ep)
        return best

    def _process_deadline(self) -> tuple[int, Any] | None:
        best: tuple[int, Any] | None = None
        for proc in self.processes:
            d = proc.next_deadline()
            if d is None:
                continue
            served = self._proc_served.get(id(proc))
            if served is not None and d <= served:
                continue  # already polled for it; do not spin on a stale deadline
            due = max(d, self.clock.now_ms)
            if best is None or due < best[0]:
                best = (due, proc)
        return best

    def next_event_ms(self) -> int | None:
        """The virtual time of the next thing ``step()`` would do, or ``None``
        (after collecting what contexts have sent)."""
        self.collect()
        times = [t for t in (self.next_delivery_ms(),
                             (self._timer_deadline() or (None,))[0],
                             (self._process_deadline() or (None,))[0]) if t is not None]
        return min(times) if times else None

    def step(self) -> bool:
        """Collect what contexts sent; then do the earliest of: deliver a
        datagram, advance the clock to a context's timer deadline (the context
        is not called: call it, e.g. ``handshake()``, to let it retransmit), or
        poll a process at its deadline.  Returns False when nothing is
        scheduled."""
        self.collect()
        delivery = self.next_delivery_ms()
        timer = self._timer_deadline()
        proc = self._process_deadline()
        options = []
        if delivery is not None:
            options.append((delivery, 0))
        if proc is not None:
            options.append((proc[0], 1))
        if timer is not None:
            options.append((timer[0], 2))
        if not options:
            return False
        when, which = min(options)
        if which == 0:
            self.deliver_next()
        elif which == 1:
            if when > self.clock.now_ms:
                self.clock.now_ms = when
            self._proc_served[id(proc[1])] = self.clock.now_ms
            self._event("poll", type(proc[1]).__name__, "", b"", "deadline reached")
            proc[1].poll()
        else:
            self.clock.now_ms = when
            self._event("timer", timer[1].name, "", b"",
                        "retransmission/read timer expired")
        self.collect()
        return True

    def _limit(self, deadline_ms: int | None, within_ms: int | None) -> int | None:
        limits = []
        if deadline_ms is not None:
            limits.append(int(deadline_ms))
        if within_ms is not None:
            if within_ms < 0:
                raise ValueError("within_ms must be >= 0")
            limits.append(self.clock.now_ms + int(within_ms))
        return min(limits) if limits else None

    def run(self, until: Callable[[], bool] | None = None, *, deadline_ms: int | None = None,
            within_ms: int | None = None, max_steps: int = 100_000) -> RunResult:
        """Step until ``until()`` is true, nothing is scheduled (idle), the
        next event lies after the virtual deadline (the clock is then set to
        the deadline), or ``max_steps`` steps.

        ``deadline_ms`` is a time on the network's clock (absolute, like
        ``net.clock.now_ms + 5000``); ``within_ms`` is relative to now; with
        both, the earlier counts.  Never waits in real time.  The result (also
        ``last_result``) says why it ended and, when idle, who waits for what."""
        start = self.clock.now_ms
        limit = self._limit(deadline_ms, within_ms)
        t0 = time.perf_counter()
        steps = 0
        reason = "max_steps"
        stalled = None
        while steps < max_steps:
            if until is not None and until():
                reason = "until"
                break
            t = self.next_event_ms()
            if t is None:
                reason, stalled = "idle", self.status()
                break
            if limit is not None and t > limit:
                if limit > self.clock.now_ms:
                    self.clock.now_ms = limit
                reason = "deadline"
                break
            self.step()
            steps += 1
        else:
            if until is not None and until():
                reason = "until"
        result = RunResult(reason, steps, start, self.clock.now_ms,
                           time.perf_counter() - t0, stalled)
        self.last_result = result
        return result

    def handshake(self, client: ContextEndpoint | str, server: ContextEndpoint | str, *,
                  deadline_ms: int | None = None, within_ms: int = 120_000,
                  max_steps: int = 100_000) -> HandshakeResult:
        """Drive both contexts' ``handshake()`` and the network until both
        return 0, one returns a hard error, or the virtual deadline passes:
        ``deadline_ms`` (a time on the clock) or ``within_ms`` from now
        (default 120 s), whichever is earlier.

        A side is called when a datagram was delivered to it or its timer
        expired (the clock jumps to the next delivery or timer deadline, so
        lost flights are retransmitted in no real time).  A server that
        answers ``SSL_HELLO_VERIFY_REQUIRED`` is reset and given the client's
        name as transport id, as the ``dtls_server`` sample does (the transport
        id is set too whenever the server's config has cookies on).  A side
        that finished keeps reading while the other has not, so it answers
        retransmissions (application data it reads goes to its ``inbox``).
        Returns a :class:`HandshakeResult`: ``(client_rc, server_rc)``.
        """
        c = self.endpoint(client)
        s = self.endpoint(server)
        if not isinstance(c, ContextEndpoint) or not isinstance(s, ContextEndpoint):
            raise TypeError("handshake() needs two context endpoints")
        self._sync_time()
        start = self.clock.now_ms
        limit = self._limit(deadline_ms, within_ms)
        assert limit is not None
        t0 = time.perf_counter()
        cookies = bool(getattr(s.ctx.config, "cookies", False))
        transport_id = c.name.encode()
        if cookies:
            s.ctx.set_client_transport_id(transport_id)
        rc: dict[str, int | None] = {"c": None, "s": None}
        seen = {"c": -1, "s": -1}
        called_at = {"c": -1, "s": -1}
        sides = (("c", c), ("s", s))
        steps = 0
        reason = "max_steps"
        stalled = None

        def hard(r: int | None) -> bool:
            return r is not None and r != 0 and r not in SOFT_CODES

        while steps < max_steps:
            for key, ep in sides:
                now = self.clock.now_ms
                deadline = ep.ctx.timer_deadline()
                due = (rc[key] is None or ep.delivered != seen[key]
                       or (deadline is not None and deadline <= now and called_at[key] != now))
                if not due:
                    continue
                seen[key] = ep.delivered
                called_at[key] = now
                if rc[key] == 0:
                    if ep.ctx.pending_in:
                        r = ep.read()
                        if isinstance(r, bytes):
                            if r:
                                ep.inbox.append(r)
                        elif hard(r) and r != Err.SSL_TIMEOUT:
                            rc[key] = r
                    continue
                r = ep.handshake()
                if key == "s" and r == Err.SSL_HELLO_VERIFY_REQUIRED:
                    ep.session_reset()
                    ep.ctx.set_client_transport_id(transport_id)
                    r = Err.SSL_WANT_READ
                    if ep.ctx.pending_in:
                        seen[key] = -1  # a datagram is already waiting: call again
                rc[key] = r
            if rc["c"] == 0 and rc["s"] == 0:
                reason = "done"
                break
            if hard(rc["c"]) or hard(rc["s"]):
                reason = "error"
                break
            t = self.next_event_ms()
            if t is None:
                if any(ep.delivered != seen[k] for k, ep in sides):
                    continue  # a side has input it has not been called for yet
                reason, stalled = "idle", self.status()
                break
            if t > limit:
                if limit > self.clock.now_ms:
                    self.clock.now_ms = limit
                reason = "deadline"
                stalled = self.status()
                break
            self.step()
            steps += 1
        result = HandshakeResult(
            Err.SSL_WANT_READ if rc["c"] is None else rc["c"],
            Err.SSL_WANT_READ if rc["s"] is None else rc["s"],
            reason=reason, start_ms=start, end_ms=self.clock.now_ms,
            real_seconds=time.perf_counter() - t0, steps=steps, stalled=stalled)
        # (no real time in the trace: it must replay byte for byte)
        self._event("end", "handshake", "", b"",
                    f"handshake {reason}: client {_rc_text(result.client_rc)}, server "
                    f"{_rc_text(result.server_rc)}, {result.elapsed_ms} virtual ms")
        self.last_result = result
        return result

    # -- reports -------------------------------------------------------------------

    def status(self) -> Stalled:
        """Who waits for what right now (used when a run cannot progress)."""
        now = self.clock.now_ms
        lines: list[str] = []
        for ep in self.endpoints.values():
            if isinstance(ep, ContextEndpoint):
                ctx = ep.ctx
                if ctx.closed:
                    lines.append(f"{ep.name}: context closed")
                    continue
                last = ""
                if ep.last_call is not None:
                    call, rc, at = ep.last_call
                    last = f"; last call {call}() -> {_rc_text(rc) if rc else '0'} at {at} ms"
                d = ctx.timer_deadline()
                if d is None:
                    timer = "no timer running"
                elif d <= now:
                    timer = (f"timer expired at {d} ms: call it (handshake()/read()) so that "
                             "Mbed TLS retransmits or times out")
                else:
                    timer = f"timer expires at {d} ms"
                if ctx.pending_in:
                    waits = f"has {ctx.pending_in} unread datagram(s): call it"
                elif ctx.handshake_over:
                    waits = "handshake over; waits for application data or a close"
                else:
                    try:
                        peer = ep.peer_name()
                    except ValueError:
                        peer = "its peer"
                    waits = f"waits for a datagram from {peer}"
                lines.append(f"{ep.name} ({ctx.state}): {waits}; {timer}{last}")
            elif isinstance(ep, SimSocket):
                lines.append(f"{ep.name} (socket): {ep.pending()} datagram(s) not received")
        if self._heap:
            lines.append(f"{len(self._heap)} datagram(s) in flight, next at {self._heap[0][0]} ms")
        else:
            lines.append("no datagram in flight")
        for h in self.held:
            lines.append(f"held since {h.time_ms} ms: {h.src}->{h.dst} "
                         f"{h.records!r} (net.release() to deliver it)")
        for proc in self.processes:
            lines.append(f"process {type(proc).__name__}: next deadline {proc.next_deadline()}")
        return Stalled(now, lines)

    def __repr__(self) -> str:
        return (f"<Network seed={self.seed!r} t={self.clock.now_ms} ms "
                f"endpoints={list(self.endpoints)} in_flight={len(self._heap)} "
                f"held={len(self.held)}>")

