"""The ``DTLSServer`` serve loop over a real UDP transport.

:func:`serve` drives a :class:`~mbedtls_py.server.server.DTLSServer` over a
:class:`~mbedtls_py.udp.transport.UDPTransport`, bounded by ``max_seconds`` and
``max_clients``; :class:`ServerThread` runs it in a thread.  It serves one
client after another on one socket, as upstream's ``programs/ssl/dtls_server.c``
does (cookies on, client transport id set from the peer's address).

The sample's sockets
--------------------
``mbedtls_net_accept()`` connects the listening UDP socket to the client and
binds a fresh listening socket, and ``mbedtls_net_free()`` at the sample's
``reset:`` closes the connected one: datagrams the old client sent that reached
the server *before* the reset die with that socket; only those arriving *after*
it reach the next ``mbedtls_ssl_handshake()``.  With one socket, Python sees
both kinds.  :func:`serve` with ``per_client_socket=True`` (the default) does
what the sample's sockets do: on a :class:`~mbedtls_py.udp.sample_sockets.SampleSockets`
the server connects the client's socket at accept and frees it the moment the
connection is over (before any event, as the sample's ``goto reset`` ->
``mbedtls_net_free``); what it still held is reported afterwards (a ``discard``
event per sender, with an exact ``count``).  On a plain socket the old peer's
queued datagrams are taken out at the reset event (the older emulation).
``per_client_socket=False`` hands them to the server instead.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..server.events import Address, DatagramTransport, Event, SocketHook
from ..server.server import DTLSServer
from .transport import UDPTransport

__all__ = ["serve", "ServeResult", "ServerThread"]

_PENDING_MAX = 4096  # events held for the sink within one poll (then delivered at once)


@runtime_checkable
class ServedTransport(DatagramTransport, Protocol):
    """What :func:`serve` needs beyond the server's transport (a
    :class:`UDPTransport`, or a wrapper of one such as a capture)."""

    def wait(self, deadline_ms: float | None, max_wait_ms: float = 1000.0) -> bool: ...

    def discard_from(self, peer: Any) -> list[bytes]: ...


@runtime_checkable
class PerClientSockets(SocketHook, Protocol):
    """The sample's per-client sockets (:class:`~mbedtls_py.udp.sample_sockets.SampleSockets`)."""



@dataclass
class ServeResult:
    """How a :func:`serve` loop ended."""

    served: int
    errors: int
    dropped: int
    discarded: int
    seconds: float
    reason: str  # "max_clients" | "max_seconds" | "stopped"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return dict(self.__dict__)


def serve(server: DTLSServer, transport: DatagramTransport | None = None, *,
          max_seconds: float = 60.0, max_clients: int | None = None,
          stop: threading.Event | None = None, per_client_socket: bool = True,
          settle_ms: float = 0.0, tick_ms: float = 50.0,
          sink: Callable[[Event], None] | None = None) -> ServeResult:
    """Run ``server`` over ``transport`` (default: ``server.transport``) until
    ``max_clients`` connections were served (and nothing is lingering), ``stop``
    is set, or ``max_seconds`` pass.

    ``settle_ms``: after the last client, keep serving that long for late
    datagrams.  ``per_client_socket``: the sample's connected per-client
    sockets: real ones when ``transport`` is a
    :class:`~mbedtls_py.udp.sample_sockets.SampleSockets` (connected on accept,
    freed the moment the connection is over, before any event: the server's
    ``socket_hook``), else the older emulation (see the module docstring; it
    decides at the Python reset event which datagrams die, a bias the real
    sockets do not have).  ``tick_ms`` bounds each wait, so a ``stop`` is seen
    within that time.

    ``sink``: where event I/O goes (JSON lines, prints).  It is called with
    every event once the server has handled what is readable (after each
    ``poll``), never between a send and the release of a socket: a write to
    a file or terminal there would widen the window in which the client's
    next datagram reaches a socket about to be freed.  The server's own
    ``on_event`` is still called as each event happens; keep it cheap.
    """
    given = transport if transport is not None else server.transport
    if not isinstance(given, ServedTransport):  # hasattr checks: wrappers pass
        raise TypeError("serve needs a transport with wait() and discard_from() "
                        f"(a UDPTransport), not {type(given).__name__}")
    transport = given
    if not isinstance(max_seconds, (int, float)) or not math.isfinite(max_seconds) \
            or max_seconds <= 0:
        raise ValueError("max_seconds must be a positive finite number")
    if max_clients is not None and max_clients < 1:
        raise ValueError("max_clients must be >= 1")
    clock = transport.clock
    start = time.monotonic()
    end_ms = clock.now_ms + max_seconds * 1000.0
    discarded = 0
    user_cb = server.on_event
    last_kind: dict[Address, str] = {}  # emulation only; one entry per peer
    pending: list[Event] = []

    # hasattr semantics: a wrapper (capture) forwarding to SampleSockets counts
    sockets = transport if per_client_socket and isinstance(transport, PerClientSockets) \
        else None
    hook_before = server.socket_hook
    if sockets is not None:
        server.socket_hook = sockets

    def deliver() -> None:
        if pending and sink is not None:
            batch = pending[:]
            pending.clear()
            for ev in batch:
                sink(ev)

    def on_event(ev: Event) -> None:
        nonlocal discarded
        if user_cb is not None:
            user_cb(ev)
        if sink is not None:
            pending.append(ev)
            if len(pending) >= _PENDING_MAX:  # a flood within one poll: bounded memory
                deliver()
        if sockets is not None or not per_client_socket or ev.peer is None:
            return
        if len(last_kind) > 4096:  # bounded under a flood of addresses
            last_kind.clear()
        previous = last_kind.get(ev.peer)
        last_kind[ev.peer] = ev.event
        # The end of a connection (not the cookie round, not a lingering one).
        if ev.event == "reset" and previous not in ("hello_verify", "linger", None):
            for data in transport.discard_from(ev.peer):
                discarded += 1  # parsed once, by the server's cache, for its event
                server.emit_discard(ev.peer, data, "arrived before the reset; freed with the "
                                    "connection's socket (emulated)")

    server.on_event = on_event
    reason = "max_seconds"
    settle_until: float | None = None
    try:
        while True:
            server.poll()
            deliver()
            now = clock.now_ms
            if stop is not None and stop.is_set():
                reason = "stopped"
                break
            if max_clients is not None and server.served >= max_clients \
                    and server.next_deadline() is None:
                if settle_until is None:
                    settle_until = now + settle_ms
                if now >= settle_until:
                    reason = "max_clients"
                    break
            if now >= end_ms:
                break
            deadline = server.next_deadline()
            target = end_ms if deadline is None else min(deadline, end_ms)
            if settle_until is not None:
                target = min(target, settle_until)
            transport.wait(target, max_wait_ms=tick_ms)
    finally:
        server.on_event = user_cb
        server.socket_hook = hook_before
        deliver()
    return ServeResult(server.served, server.errors.total, server.dropped.total,
                       discarded + server.discarded, time.monotonic() - start, reason)


class ServerThread:
    """:func:`serve` in a background thread: ``start()``, then ``stop()`` (or use
    it as a context manager).  ``result`` is the :class:`ServeResult` once the
    loop ended; an exception in the loop is re-raised by ``stop()``."""

    def __init__(self, server: DTLSServer, transport: UDPTransport | None = None,
                 **serve_args: Any) -> None:
        self.server = server
        self.transport: DatagramTransport = \
            transport if transport is not None else server.transport
        self._args = serve_args
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: ServeResult | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.result = serve(self.server, self.transport, stop=self._stop, **self._args)
        except BaseException as exc:  # noqa: BLE001 - handed to stop()
            self.error = exc

    def start(self) -> ServerThread:
        """Start the loop."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="dtls-serve", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the loop still runs."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> ServeResult | None:
        """Wait for the loop to end by itself (``max_clients``/``max_seconds``)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    def stop(self, timeout: float = 5.0) -> ServeResult | None:
        """Ask the loop to stop, wait for it, re-raise its exception if it had one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the server loop did not stop")
        if self.error is not None:
            raise self.error
        return self.result

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
