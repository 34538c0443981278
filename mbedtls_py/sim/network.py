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

The class is a facade over its parts, each in its own module and owning its
state: the :class:`~.netclock.TimeKeeper` (Mbed TLS's time), the
:class:`~.schedule.Schedule` (datagrams in flight, rules, links, held), the
:class:`~.driving.Driver` (deliveries, timers, processes, ``run`` and
``handshake``) and the :class:`~.hooks.Hooks` (interceptor, capture).  The
network itself keeps the endpoints and collects what contexts sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..bindings.context import Context
from ..bindings.errors import as_err
from ..bindings.rng import seed_bytes
from ..wire import rules as _rules
from .driving import Driver
from .endpoints import ContextEndpoint, Held, SimSocket, _Endpoint
from .hooks import Hooks, Interceptor
from .links import Link
from .netclock import TimeKeeper, derive_seed
from .registry import Endpoints
from .schedule import Schedule
from .trace import HandshakeResult, RunResult, Stalled, Trace, TraceEvent

if TYPE_CHECKING:
    from ..capture import Capture

__all__ = ["Network"]


class Network:
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
        self._seed = seed_bytes(seed)
        self._time = TimeKeeper(unix_time)
        self.clock = self._time.make_clock()
        self.trace = Trace(enabled=trace)
        self._cid_len = cid_len
        self._hooks = Hooks()
        self._schedule = Schedule(self.clock, self.trace, self._event, self._hooks,
                                  seed=self._seed, cid_len=cid_len, timing=timing)
        self._endpoints = Endpoints(self.clock, self._schedule.send, self._time.sync)
        self.endpoints: dict[str, _Endpoint] = self._endpoints.by_name  # the same dict
        self._driver = Driver(self.clock, self._schedule, self.endpoints,
                              self._endpoints.contexts, self.trace, event=self._event,
                              collect=self._endpoints.collect, sync=self._time.sync,
                              endpoint=self._endpoints.lookup, cid_len=cid_len)

    # -- the parts' state, read here -------------------------------------------

    @property
    def unix_time(self) -> int | None:
        """The wall-clock time Mbed TLS reads at virtual time 0 (``None``: not set)."""
        return self._time.unix_time

    @unix_time.setter
    def unix_time(self, value: int | None) -> None:
        self._time.unix_time = value

    @property
    def cid_len(self) -> int:
        """The connection-ID length used when parsing records."""
        return self._cid_len

    @cid_len.setter
    def cid_len(self, value: int) -> None:
        self._cid_len = self._schedule.cid_len = self._driver.cid_len = value

    @property
    def timing(self) -> Any:
        """The timing model every datagram's delay gets (or ``None``)."""
        return self._schedule.timing

    @timing.setter
    def timing(self, value: Any) -> None:
        self._schedule.timing = value

    @property
    def links(self) -> dict[tuple[str, str], Link]:
        """The links by direction ``(src, dst)`` (set with :meth:`link`)."""
        return self._schedule.links

    @property
    def rules(self) -> list[_rules.Rule]:
        """The rules, in the order they apply (added with :meth:`rule`)."""
        return self._schedule.rules

    @property
    def held(self) -> list[Held]:
        """The datagrams held by rules or the interceptor."""
        return self._schedule.held

    @property
    def processes(self) -> list[Any]:
        """The processes polled (added with :meth:`add_process`)."""
        return self._driver.processes

    @property
    def last_result(self) -> RunResult | HandshakeResult | None:
        """The result of the last :meth:`run` or :meth:`handshake`."""
        return self._driver.last_result

    @property
    def capturing(self) -> Capture | None:
        """The capture started by :meth:`capture`, or ``None``."""
        return self._hooks.capture

    def contexts(self) -> list[Context]:
        """The contexts on the network now, in the order their endpoints joined."""
        return [ep.ctx for ep in self._endpoints.contexts]

    # -- time --------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The virtual time (``clock.now_ms``)."""
        return self.clock.now_ms

    def close(self) -> None:
        """Stop setting Mbed TLS's time and restore this thread's previous
        setting (idempotent).  Contexts stay open: they belong to the caller.
        A thread other than the closing one that drove this network keeps
        the network's last time until it sets its own."""
        self._time.close()

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
        return derive_seed(self._seed, "endpoint", name)

    # -- endpoints -------------------------------------------------------------

    def add(self, name: str, ctx: Context, peer: str | None = None) -> ContextEndpoint:
        """Put ``ctx`` on the network as ``name``; it sends to ``peer`` (default:
        the only other endpoint, looked up when it first sends).  The context's
        timer is moved to the network's clock (``ctx.set_clock``); its RNG is
        left alone (seed its config with ``seed_for(name)``)."""
        ep = self._endpoints.add_context(self, name, ctx, peer)
        self._hooks.adopt(ctx)  # key export on while a capture runs
        return ep

    def socket(self, name: str, *, max_queue: int = 1024) -> SimSocket:
        """A socket-like endpoint named ``name`` (see :class:`SimSocket`)."""
        return self._endpoints.add_socket(self, name, max_queue)

    def add_process(self, proc: Any) -> None:
        """Have ``proc`` polled: after every delivery to one of ``proc.sockets``
        (endpoints or names; without that attribute: after every delivery), and
        when the clock reaches ``proc.next_deadline()``.  ``proc.sockets`` is
        read once per destination after each ``add_process`` (the owners of
        a name are looked up once, not on every delivery)."""
        self._driver.add_process(proc)

    def endpoint(self, name_or_ep: str | _Endpoint) -> _Endpoint:
        """The endpoint with this name (or the endpoint itself)."""
        return self._endpoints.lookup(name_or_ep)

    def __getitem__(self, name: str) -> _Endpoint:
        return self.endpoint(name)

    # -- links and rules ----------------------------------------------------------

    def link(self, src: str, dst: str, **impairments: Any) -> Link:
        """Set the impairments of direction ``src -> dst`` (``*`` for any);
        see :class:`Link` for the keywords.  Replaces an earlier link of the
        same direction.  The most specific link applies to a datagram:
        ``a->b``, then ``a->*``, ``*->b``, ``*->*``."""
        return self._schedule.link(src, dst, **impairments)

    def link_both(self, a: str, b: str, **impairments: Any) -> tuple[Link, Link]:
        """The same impairments on ``a -> b`` and ``b -> a`` (separate random streams)."""
        return self.link(a, b, **impairments), self.link(b, a, **impairments)

    def rule(self, rule: str | _rules.Rule) -> _rules.Rule:
        """Add a record-aware rule (text or :class:`rules.Rule`); returns it.

        Rules see each datagram as sent, before the link's impairments, in the
        order they were added.  Every rule that fires applies its action:
        ``delay`` adds up, ``corrupt``/``replace``/``truncate`` change the
        bytes, ``duplicate`` and ``inject`` add datagrams (each of which then
        passes the link on its own); ``drop`` and ``hold`` end the list (later
        rules do not see that datagram).
        """
        return self._schedule.rule(rule)

    def remove_rule(self, rule: _rules.Rule) -> None:
        """Stop applying ``rule``."""
        self.rules.remove(rule)

    # -- trace -------------------------------------------------------------------

    def _event(self, kind: str, src: str, dst: str = "", data: bytes = b"", note: str = "",
               call: str | None = None, rc: int | None = None) -> TraceEvent:
        ev = TraceEvent(self.clock.now, kind, src, dst, data, note, call, rc, self._cid_len)
        self.trace.add(ev)
        return ev

    def record_call(self, name: str, call: str, rc: int, data: bytes = b"") -> None:
        """Log a call's return code into the trace (``data``: bytes read/written)."""
        rc = as_err(int(rc))
        now = self.clock.now
        # note=None: the event writes its note when somebody reads it
        self.trace.add(TraceEvent(now, "call", name, "", data, None, call, rc, self._cid_len))
        ep = self.endpoints.get(name)
        if isinstance(ep, ContextEndpoint):
            ep.last_call = (call, rc, now)

    def note(self, name: str, text: str) -> None:
        """Put a free-form line into the trace (kind ``call``, no code)."""
        self._event("call", name, "", b"", text, "note", None)

    # -- sending (the schedule) -------------------------------------------------

    def collect(self) -> int:
        """Take every queued outgoing datagram of every context endpoint into
        the network (rules, links, schedule); returns how many."""
        return self._endpoints.collect()

    def inject(self, src: str, dst: str, data: bytes, after_ms: float = 0) -> None:
        """Deliver a crafted datagram from ``src`` to ``dst`` ``after_ms`` from now
        (no rules, no link impairments; ``after_ms`` below 2**62, the virtual
        clock's limit)."""
        self._schedule.inject(src, dst, data, after_ms)

    def release(self, held: Held | str | Iterable[Held] | None = None,
                after_ms: float = 0) -> list[Held]:
        """Deliver held datagram(s) ``after_ms`` from now, as they were caught
        (no more rules or link impairments): a :class:`Held`, every one with a
        tag, a list, or ``None`` for all.  Returns what was released."""
        return self._schedule.release(held, after_ms)

    def drop(self, held: Held | str | Iterable[Held] | None = None) -> list[Held]:
        """Discard held datagram(s) (same selection as :meth:`release`)."""
        return self._schedule.drop(held)

    @property
    def in_flight(self) -> int:
        """Datagrams scheduled for delivery."""
        return len(self._schedule.heap)

    def next_delivery_ms(self) -> int | None:
        """When the next scheduled datagram arrives, or ``None``."""
        return self._schedule.next_delivery_ms()

    # -- hooks -------------------------------------------------------------------

    def intercept(self, fn: Interceptor | None) -> None:
        """Have ``fn(src, dst, index, data)`` see every datagram as it is sent,
        before the rules (``index``: its 1-based number on that direction).
        It returns ``None`` (pass it on), ``("drop", note)`` or ``("hold",
        tag)`` (release or drop it later by tag).  One per network; ``None``
        removes it.  The schedule explorer uses it for its faults."""
        self._hooks.intercept(fn)

    def capture(self, path: Any = None, **options: Any) -> Capture:
        """Start a capture of this network (a :class:`mbedtls_py.capture.Capture`):
        key export on for its contexts, events kept; ``save()`` or leaving a
        ``with net.capture("race.pcapng"):`` block writes pcapng with the keys."""
        return self._hooks.start_capture(self, path, **options)

    # -- driving (the driver) ------------------------------------------------------

    def deliver_next(self) -> TraceEvent | None:
        """Deliver the earliest scheduled datagram (moving the clock to its
        time) and poll the processes that own its destination.  Returns the
        ``deliver`` (or ``drop``) event, ``None`` when nothing is scheduled."""
        return self._driver.deliver_next()

    def next_event_ms(self) -> int | None:
        """The virtual time of the next thing ``step()`` would do, or ``None``
        (after collecting what contexts have sent)."""
        return self._driver.next_event_ms()

    def step(self) -> bool:
        """Collect what contexts sent; then do the earliest of: deliver a
        datagram, advance the clock to a context's timer deadline (the context
        is not called: call it, e.g. ``handshake()``, to let it retransmit), or
        poll a process at its deadline.  Returns False when nothing is
        scheduled."""
        return self._driver.step()

    def run(self, until: Callable[[], bool] | None = None, *, deadline_ms: int | None = None,
            within_ms: int | None = None, max_steps: int = 100_000) -> RunResult:
        """Step until ``until()`` is true, nothing is scheduled (idle), the
        next event lies after the virtual deadline (the clock is then set to
        the deadline), or ``max_steps`` steps.

        ``deadline_ms`` is a time on the network's clock (absolute, like
        ``net.clock.now_ms + 5000``); ``within_ms`` is relative to now; with
        both, the earlier counts.  Never waits in real time.  The result (also
        ``last_result``) says why it ended and, when idle, who waits for what."""
        return self._driver.run(until, deadline_ms=deadline_ms, within_ms=within_ms,
                                max_steps=max_steps)

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
        return self._driver.handshake(client, server, deadline_ms=deadline_ms,
                                      within_ms=within_ms, max_steps=max_steps)

    def status(self) -> Stalled:
        """Who waits for what right now (used when a run cannot progress)."""
        return self._driver.status()

    def __repr__(self) -> str:
        return (f"<Network seed={self.seed!r} t={self.clock.now_ms} ms "
                f"endpoints={list(self.endpoints)} in_flight={len(self._schedule.heap)} "
                f"held={len(self._schedule.held)}>")
