"""The simplest transport: an in-memory, lossless link between two contexts on
one virtual clock (no impairments; for those use :mod:`mbedtls_py.sim.network`).

``Pair`` is the one driver of such a link: it steps each side (``handshake``
until done, then ``read``), moves the datagrams, resets the server after a
HelloVerifyRequest and, when nothing is in flight, moves the clock to the next
DTLS timer.  ``handshake_pair`` and ``attacks.Duo`` are both a ``Pair``.

Not a ``Pair``, because they are other ideas: ``Network.handshake`` is a
discrete-event schedule over links that delay, lose and reorder, which calls
a side only when something reached it or its timer fired, and records the
trace; ``sslopt.World`` schedules ssl-opt's program generators (which make
their own Mbed TLS calls) over socket models, not two contexts.
"""

from __future__ import annotations

from collections.abc import Callable

from ..bindings.config import Config
from ..bindings.context import Context, VirtualClock, reset_after_hello_verify
from ..bindings.errors import Err
from ..bindings.timeutil import time_fixed_at

__all__ = ["pump", "Pair", "handshake_pair", "new_pair"]

_FLOW = (int(Err.SSL_WANT_READ), int(Err.SSL_WANT_WRITE))
_HVR = int(Err.SSL_HELLO_VERIFY_REQUIRED)
_SIDES = ("client", "server")


def pump(src: Context, dst: Context) -> int:
    """Move every queued datagram from ``src`` to ``dst``; return how many."""
    n = 0
    while src.move_to(dst):
        n += 1
    return n


class Pair:
    """A client and a server context over a lossless in-memory link.

    ``step(who)`` lets one side act: ``handshake()`` until it completes, then
    (with ``read_when_done``) ``read_into``, whose data goes to ``received``,
    so a finished side still answers its peer's retransmissions.  On
    ``SSL_HELLO_VERIFY_REQUIRED`` (and, with ``reset_on_error``, any other
    handshake error of the server, kept in ``resets``) the server is reset as
    upstream's ``dtls_server`` sample does.  A side that returns another code
    has failed (``failed``) and is not called again.

    ``on_call(who, call, rc)`` sees every call's code; ``tap(who, datagram)``
    every datagram moved (then moved by ``pop``/``push``, else ``move_to``);
    ``unix_time`` is what Mbed TLS reads as "now" during a step (the thread's
    own setting is back afterwards).
    """

    def __init__(self, client: Context, server: Context, *, transport_id: bytes,
                 read_when_done: bool = True, reset_on_error: bool = False,
                 on_call: Callable[[str, str, int], None] | None = None,
                 tap: Callable[[str, bytes], None] | None = None,
                 unix_time: int | None = None) -> None:
        self.client = client
        self.server = server
        self.transport_id = transport_id
        self.read_when_done = read_when_done
        self.reset_on_error = reset_on_error
        self.on_call = on_call
        self.tap = tap
        self.unix_time = unix_time
        #: each side's last handshake code (``SSL_WANT_READ`` before its first call)
        self.codes: dict[str, int] = {}
        self.done: dict[str, bool] = {}
        self.received: dict[str, bytearray] = {}
        self.failed: dict[str, int] = {}
        self.resets: list[int] = []
        self._buf = bytearray(4096)
        for who in _SIDES:
            self.forget(who)
        server.set_client_transport_id(transport_id)

    def ctx(self, who: str) -> Context:
        """The context named ``who`` (``client`` or ``server``)."""
        if who == "client":
            return self.client
        if who == "server":
            return self.server
        raise ValueError(f"who must be 'client' or 'server', not {who!r}")

    @staticmethod
    def peer(who: str) -> str:
        """The other side's name."""
        return "server" if who == "client" else "client"

    def forget(self, who: str) -> None:
        """Start ``who`` over: not done, nothing received, not failed (after
        its context was replaced or reset)."""
        self.codes[who] = Err.SSL_WANT_READ
        self.done[who] = False
        self.received[who] = bytearray()
        self.failed.pop(who, None)

    def established(self) -> bool:
        """Both handshakes completed."""
        return self.done["client"] and self.done["server"]

    # -- one side, the link ---------------------------------------------------------

    def step(self, who: str) -> int | None:
        """Let ``who`` act once; returns the code, or ``None`` when it has
        failed (or is done and does not read)."""
        if self.unix_time is None:
            return self._step(who)
        with time_fixed_at(self.unix_time):
            return self._step(who)

    def _step(self, who: str) -> int | None:
        if who in self.failed:
            return None
        ctx = self.ctx(who)
        if not self.done[who]:
            rc = ctx.handshake()
            if self.on_call is not None:
                self.on_call(who, "handshake", rc)
            if rc == _HVR or (self.reset_on_error and who == "server" and rc < 0
                              and rc not in _FLOW):
                # as the dtls_server sample does: reset, same client address
                # (with ``reset_on_error``: after any handshake error, too)
                reset_after_hello_verify(ctx, self.transport_id)
                if rc != _HVR:
                    self.resets.append(int(rc))
                self.codes[who] = Err.SSL_WANT_READ  # waits for the next ClientHello
                return rc
            self.codes[who] = rc
            if rc == 0:
                self.done[who] = True
            elif rc not in _FLOW:
                self.failed[who] = int(rc)
            return rc
        if not self.read_when_done:
            return None
        rc = ctx.read_into(self._buf)
        if self.on_call is not None:
            self.on_call(who, "read", rc)
        if rc > 0:
            self.received[who] += self._buf[:rc]
        elif rc not in _FLOW:
            self.failed[who] = int(rc)
        return rc

    def deliver(self, who: str) -> int:
        """Move every datagram ``who`` has queued to its peer; return how many."""
        src, dst = self.ctx(who), self.ctx(self.peer(who))
        tap = self.tap
        if tap is None:
            return pump(src, dst)
        n = 0
        while (d := src.pop()) is not None:
            tap(who, d)
            dst.push(d)
            n += 1
        return n

    def flush(self) -> int:
        """Deliver the client's datagrams, then the server's; return how many."""
        return self.deliver("client") + self.deliver("server")

    # -- driving ----------------------------------------------------------------------

    def run(self, until: Callable[[], bool] | None = None, *, max_rounds: int = 400,
            max_ms: int = 120_000, same_round: bool = False, stop_on_error: bool = False,
            advance: bool = True) -> bool:
        """Rounds of: the client steps, the server steps, the datagrams move,
        until ``until()`` (default: both established) holds (``True``).

        ``same_round`` delivers each side's datagrams right after it stepped
        (the server reads the client's flight in the same round).  ``False``
        when both sides failed, or one failed (with ``stop_on_error``: at
        once; else once nothing moves, so the peer reads its alert), or
        neither the timers nor the link can make progress, or a bound ran
        out.  When nothing moved, the clock jumps to the next timer deadline
        (not beyond ``max_ms`` from now); without ``advance`` it stays and
        the round is simply repeated.
        """
        until = until or self.established
        clock = self.client.clock
        deadline = clock.now_ms + max_ms
        for _ in range(max_rounds):
            if same_round:
                self.step("client")
                moved = self.deliver("client")
                self.step("server")
                moved += self.deliver("server")
            else:
                self.step("client")
                self.step("server")
                moved = self.flush()
            if until():
                return True
            if self.failed and (stop_on_error or len(self.failed) == 2 or not moved):
                return False
            if moved or not advance:
                continue
            nxt = [d for who in _SIDES
                   if who not in self.failed and (d := self.ctx(who).timer_deadline()) is not None]
            due = min(nxt) if nxt else None
            if due is None or due > deadline:
                return False
            if due > clock.now_ms:
                if not isinstance(clock, VirtualClock):
                    raise TypeError("advancing the clock needs a VirtualClock")
                clock.now_ms = due
        return False


def handshake_pair(client: Context, server: Context, *, max_rounds: int = 32,
                   transport_id: bytes = b"127.0.0.1:4433",
                   tap: Callable[[str, bytes], None] | None = None) -> tuple[int, int]:
    """Handshake two contexts over a lossless in-memory link.

    Handles the cookie exchange as the upstream ``dtls_server`` sample does
    (``HELLO_VERIFY_REQUIRED``: reset, set the transport id again, go on).
    Each round the client, then the server, calls ``handshake()`` and its
    datagrams go to the other at once; the clock does not move, and the first
    error ends it.  ``tap(who, datagram)`` sees every datagram moved.
    Returns the final (client, server) codes: ``(0, 0)`` on success.
    """
    pair = Pair(client, server, transport_id=transport_id, read_when_done=False, tap=tap)
    pair.run(max_rounds=max_rounds, same_round=True, stop_on_error=True, advance=False)
    return pair.codes["client"], pair.codes["server"]


def new_pair(client_config: Config, server_config: Config, *,
             clock: VirtualClock | None = None,
             hostname: str | None = "localhost") -> tuple[Context, Context, VirtualClock]:
    """A (client, server) pair of contexts on one virtual clock."""
    clock = clock or VirtualClock()
    client = Context(client_config, clock=clock, name="client")
    server = Context(server_config, clock=clock, name="server")
    if hostname:
        client.set_hostname(hostname)
    return client, server, clock
