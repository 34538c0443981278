"""The states a hostile datagram is injected into, and the real flights it is
made from.

There is no way to serialise a handshake in progress, so a state is rebuilt
by replaying the seeded handshake up to its cut point (the same seed gives the
same bytes, so the recorded corpus and the rebuilt state belong together).
Established states are kept alive across cases while they survive.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from ..attacks.duo import Duo, Kind
from ..attacks.scenarios import to_server_hello

__all__ = ["State", "STATES", "corpus", "corpus_wire", "control_ms", "build", "KINDS"]

KINDS: tuple[Kind, ...] = ("psk", "ecdsa")


def _nothing(duo: Duo) -> None:
    """A fresh server waiting for its first ClientHello."""


def _after_reset(duo: Duo) -> None:
    """A server that served one client (handshake, data, close_notify) and was
    reset, waiting for the next ClientHello; the next client is fresh."""
    duo.handshake()
    duo.exchange("client", b"GET / HTTP/1.0\r\n\r\n")
    duo.server.close_notify()
    duo.server.drain()  # the old client is gone
    duo.reset_server()
    duo.new_client()


def _server_mid(duo: Duo) -> None:
    """The server answered the ClientHello; its flight is queued, not delivered."""
    to_server_hello(duo)
    duo.step("server")


def _client_mid(duo: Duo) -> None:
    """The client sent its ClientHello and waits for the server's first flight."""
    to_server_hello(duo)


def _client_end(duo: Duo) -> None:
    """The client sent its key exchange and Finished; it waits for the server's."""
    to_server_hello(duo)
    duo.step("server")
    duo.flush()
    duo.step("client")


def _established(duo: Duo) -> None:
    """Both handshakes completed."""
    duo.handshake()


@dataclass(frozen=True)
class State:
    """Where a hostile datagram goes: ``target`` after ``prepare`` ran."""

    name: str
    target: str
    prepare: Callable[[Duo], None]
    established: bool = False

    @property
    def doc(self) -> str:
        """One line describing the state."""
        first = (self.prepare.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(first.split()).rstrip(".")


STATES: dict[str, State] = {s.name: s for s in (
    State("server-hello", "server", _nothing),
    State("server-reset", "server", _after_reset),
    State("server-mid", "server", _server_mid),
    State("server-established", "server", _established, True),
    State("client-mid", "client", _client_mid),
    State("client-end", "client", _client_end),
    State("client-established", "client", _established, True),
)}


def build(state: State, kind: Kind, cookies: bool) -> Duo:
    """A fresh seeded Duo driven to ``state`` (the server resets after a
    handshake error, as the dtls_server sample does)."""
    duo = Duo(kind, cookies=cookies, seed="fuzz", log_calls=False, reset_on_error=True)
    state.prepare(duo)
    return duo


@functools.cache
def control_ms(state_name: str, kind: Kind, cookies: bool) -> int:
    """Virtual time at which the handshake completes from ``state`` with no
    hostile datagram (the oracle's baseline); raises if it does not."""
    duo = build(STATES[state_name], kind, cookies)
    if not duo.handshake():
        raise RuntimeError(f"control run of {state_name}/{kind}/cookies={cookies} failed: "
                           f"{duo.failed}")
    return duo.clock.now_ms


def corpus(kind: Kind, cookies: bool) -> tuple[bytes, ...]:
    """The datagrams of ``corpus_wire`` without their senders."""
    return _datagrams(kind, cookies)


@functools.cache
def _datagrams(kind: Kind, cookies: bool) -> tuple[bytes, ...]:
    return tuple(d for _, d in corpus_wire(kind, cookies))


@functools.cache
def corpus_wire(kind: Kind, cookies: bool) -> tuple[tuple[str, bytes], ...]:
    """Every datagram of the seeded handshake of this configuration (both
    directions, cookie exchange included), an application record each way,
    and the client's close_notify: the material mutations start from."""
    duo = Duo(kind, cookies=cookies, seed="fuzz", log_calls=False, record_wire=True)
    if not duo.handshake() or not duo.exchange("client", b"ping") or \
            not duo.exchange("server", b"pong"):
        raise RuntimeError(f"could not record a {kind} handshake (cookies={cookies})")
    duo.client.close_notify()
    duo.flush()
    return tuple(duo.wire)
