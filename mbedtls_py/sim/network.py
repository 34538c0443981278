"""A simulated network with virtual time, record-aware rules and random
impairments, deterministic by seed.

A :class:`Network` owns one :class:`~mbedtls_py.bindings.context.VirtualClock` (integer
milliseconds) and a schedule of datagrams in flight.  Endpoints have names:

- ``net.add("client", ctx)`` puts a :class:`~mbedtls_py.bindings.context.Context` on the
  network (its timer reads the network's clock); what it sends goes to its
  peer, what is delivered to ``"client"`` is pushed into its inbound queue;
- ``net.socket("server")`` is a socket-like endpoint (``sendto``/``recvfrom``)
  for code that demultiplexes by source address, as a real DTLS server loop
  does over UDP; ``net.add_process(proc)`` has such code polled.

Every datagram sent passes, in this order, through the **rules**
(:mod:`mbedtls_py.wire.rules`, e.g. ``"client->server alert epoch>=1: hold late"``)
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
(:mod:`mbedtls_py.creds.det`) and ``unix_time`` fixed, the same seed gives the
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

import functools
import itertools
import random
import threading
from typing import Any

from ..bindings.context import Context
from ..bindings.errors import as_err
from ..bindings.rng import seed_bytes
from ..bindings import lib as _lib
from ..bindings.timeutil import fixed_time, set_time
from ..wire import rules as _rules
from .driving import NetworkDriving
from .endpoints import ContextEndpoint, Held, SimSocket, _Endpoint
from .hooks import NetworkHooks
from .sending import NetworkSending
from .links import Link
from .netclock import _derive, _NetClock
from .trace import HandshakeResult, RunResult, Trace, TraceEvent

__all__ = ["Network"]

_fixed_time_raw = _lib.mpy_get_fixed_time

_LINK_OPTIONS = frozenset(f for f in Link.__dataclass_fields__
                          if not f.startswith("_") and f not in ("src", "dst", "rng"))


class Network(NetworkSending, NetworkDriving, NetworkHooks):
    """A simulated network of named endpoints on one virtual clock.

    ``seed`` (int, str or bytes) seeds every impairment; ``seed_for(name)``
    derives a per-endpoint seed for ``Config(seed=...)``.  ``unix_time``:
    the wall-clock time Mbed TLS reads at virtual time 0 (set on the thread
    that drives the network, restored by ``close()``/``with``; see the module
    docstring), ``None`` to leave it alone.  ``trace=False`` keeps
    only the digest, not the events.  ``cid_len``: connection-ID length used
    when parsing records (for rules and the trace).  ``timing``: a timing
    model (``mbedtls_py.timing.get_model(name).bind(seed)``) whose per-leg
    latency and jitter every datagram gets on top of its link; ``None``
    (default): none.
    """

    def __init__(self, seed: int | str | bytes = 0, *, unix_time: int | None = 1_700_000_000,
                 trace: bool = True, cid_len: int = 0, timing: Any = None) -> None:
        self.seed = seed
        self.timing = timing
        self._seed = seed_bytes(seed)
        self.unix_time = unix_time
        self.cid_len = cid_len
        self._time_set: tuple[int, int] | None = None  # (thread, seconds) last set
        self._saved_time: dict[int, int | None] = {}  # thread -> its setting before us
        self._closed = False
        self.clock: _NetClock = _NetClock(self._clock_moved)
        self.trace = Trace(enabled=trace)
        self.endpoints: dict[str, _Endpoint] = {}
        self._contexts: list[ContextEndpoint] = []  # the context endpoints, in order
        self._sent_seen = -1  # mpy_datagrams_sent() when collect() last found all queues empty
        self.links: dict[tuple[str, str], Link] = {}
        self.rules: list[_rules.Rule] = []
        self.held: list[Held] = []
        self.processes: list[Any] = []
        self._polled: dict[str, tuple[Any, ...]] = {}  # endpoint name -> processes to poll
        self._proc_served: dict[int, int] = {}
        self._heap: list[tuple[int, int, str, str, bytes, str]] = []
        self._seq = itertools.count()
        self._index: dict[tuple[str, str], int] = {}
        self._rule_rng: random.Random | None = None  # made when rules first apply
        self._route: dict[tuple[str, str], Link | None] = {}  # _link_for, cached
        self.last_result: RunResult | HandshakeResult | None = None
        self._interceptor = None
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
            time_set = self._time_set
            if time_set is None or time_set[1] != t or time_set[0] != threading.get_ident():
                self._set_time(t)

    def _sync_time(self) -> None:
        if self.unix_time is not None and not self._closed:
            # again: another network on this thread may have moved it (a C
            # read is cheaper than finding out who set it last)
            t = self.unix_time + self.clock._now // 1000
            if _fixed_time_raw() != t or threading.get_ident() not in self._saved_time:
                self._set_time(t)

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
        self._captured(ctx)
        ep = ContextEndpoint(self, name, ctx, peer)
        self.endpoints[name] = ep
        self._contexts.append(ep)
        self._sent_seen = -1  # it may hold datagrams sent before it joined
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
        when the clock reaches ``proc.next_deadline()``.  ``proc.sockets`` is
        read once per destination after each ``add_process`` (the owners of
        a name are looked up once, not on every delivery)."""
        if not callable(getattr(proc, "poll", None)) or \
                not callable(getattr(proc, "next_deadline", None)):
            raise TypeError("a process needs poll() and next_deadline() methods")
        self.processes.append(proc)
        self._polled.clear()

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
        bad = impairments.keys() - _LINK_OPTIONS
        if bad:
            raise TypeError(f"unknown link option(s) {sorted(bad)}")
        # the seed derived when the link first draws (a delay-only link never does)
        link = Link(src, dst, _seed=functools.partial(_derive, self._seed, "link", src, dst),
                    **impairments)
        self.links[(src, dst)] = link
        self._route.clear()
        return link

    def link_both(self, a: str, b: str, **impairments: Any) -> tuple[Link, Link]:
        """The same impairments on ``a -> b`` and ``b -> a`` (separate random streams)."""
        return self.link(a, b, **impairments), self.link(b, a, **impairments)

    def _link_for(self, src: str, dst: str) -> Link | None:
        key = (src, dst)
        try:
            return self._route[key]
        except KeyError:
            pass
        links = self.links
        link = (links.get(key) or links.get((src, "*")) or links.get(("*", dst))
                or links.get(("*", "*"))) if links else None
        if len(self._route) < 4096:  # bounded: names are the caller's
            self._route[key] = link
        return link

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

    def _event(self, kind: str, src: str, dst: str = "", data: bytes = b"", note: str = "",
               call: str | None = None, rc: int | None = None) -> TraceEvent:
        ev = TraceEvent(self.clock._now, kind, src, dst, data, note, call, rc, self.cid_len)
        self.trace._add(ev)
        return ev

    def record_call(self, name: str, call: str, rc: int, data: bytes = b"") -> None:
        """Log a call's return code into the trace (``data``: bytes read/written)."""
        rc = as_err(int(rc))
        now = self.clock._now
        # note=None: the event writes its note when somebody reads it
        self.trace._add(TraceEvent(now, "call", name, "", data, None, call, rc, self.cid_len))
        ep = self.endpoints.get(name)
        if isinstance(ep, ContextEndpoint):
            ep.last_call = (call, rc, now)

    def note(self, name: str, text: str) -> None:
        """Put a free-form line into the trace (kind ``call``, no code)."""
        self._event("call", name, "", b"", text, "note", None)
