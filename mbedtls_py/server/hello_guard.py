"""Tell a duplicated ClientHello from a client reconnect, from the datagram itself.

With ``MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE`` (on in the pinned build), a
server whose handshake is over takes an epoch-0 ClientHello with a valid
cookie for the client reconnecting from the same port: Mbed TLS resets the
live context and returns ``SSL_CLIENT_RECONNECT`` (``ssl_msg.c``,
``ssl_check_client_reconnect`` -> ``ssl_handle_possible_reconnect``).  A
network that duplicates or holds datagrams can deliver, after the
handshake, a copy of the very ClientHello that opened the connection: the
server then drops a live connection ("Connection ID, 3D" cases of
ssl-opt.sh).

A reconnecting client runs a new handshake, with a new ClientHello.random.
:class:`ReconnectGuard` remembers the randoms of the epoch-0 ClientHellos
its connection was handed during its initial handshake, and after that
handshake removes from a datagram every epoch-0 ClientHello record with a
cookie that carries one of them (a copy, not a reconnect), before Mbed TLS
sees it (a copy without a cookie is harmless: Mbed TLS answers it with a
HelloVerifyRequest and discards it, as ssl-opt's "attacker-injected" case
checks).
Any other ClientHello (a real reconnect: a new random) passes unchanged.
The same rule as ``patches/0003-dtls-tell-duplicate-clienthello-from-reconnect.patch``,
applied by the application instead of the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..wire import parse_datagram
from ..wire.records import Record

__all__ = ["ReconnectGuard", "client_hello_random"]

_RANDOMS_MAX = 8  # a handshake sees one random; a few more cost nothing and bound memory


def _has_cookie(record: Record) -> bool:
    body = record.payload[12:]  # client_version 2, random 32, session_id 1+n, cookie 1+n
    return len(body) > 35 and len(body) > 35 + body[34] and body[35 + body[34]] > 0


def client_hello_random(record: Record) -> bytes | None:
    """The 32-byte random of an epoch-0 ClientHello record whose first
    fragment holds it (handshake header 12, client_version 2, random 32);
    ``None`` for any other record."""
    hs = record.handshake
    if record.epoch != 0 or record.content_type != 22 or hs is None or hs.msg_type != 1:
        return None
    if hs.fragment_offset != 0 or len(record.payload) < 12 + 2 + 32:
        return None
    return record.payload[14:46]


@dataclass
class ReconnectGuard:
    """The ``reconnect-guard`` server policy for one connection (reset it with
    the connection)."""

    cid_len: int = 0
    randoms: list[bytes] = field(default_factory=list)
    dropped: int = 0
    _fresh: bytes | None = None  # the last new random let through after the handshake

    def reset(self) -> None:
        """A new connection: forget the previous one's randoms."""
        self.randoms.clear()
        self._fresh = None

    def reconnected(self) -> None:
        """Mbed TLS took a ClientHello for a reconnect (``SSL_CLIENT_RECONNECT``):
        the new handshake is the one that ClientHello (a new random) opened."""
        fresh = self._fresh
        self.reset()
        if fresh is not None:
            self.randoms.append(fresh)

    def admit(self, data: bytes, handshake_over: bool) -> bytes | None:
        """What to hand the connection's context: ``data``, ``data`` without
        its copies of the initial handshake's ClientHello, or ``None`` when
        nothing is left."""
        dg = parse_datagram(data, self.cid_len)
        hellos = [(r, client_hello_random(r)) for r in dg.records]
        if not handshake_over:
            for _, rnd in hellos:
                if rnd is not None and rnd not in self.randoms \
                        and len(self.randoms) < _RANDOMS_MAX:
                    self.randoms.append(rnd)
            return data
        # Only a copy WITH a cookie resets the connection; without one, Mbed TLS
        # answers a HelloVerifyRequest and discards it: leave that to the library.
        copies = [r for r, rnd in hellos if rnd is not None and rnd in self.randoms
                  and _has_cookie(r)]
        self._fresh = next((rnd for _, rnd in hellos
                            if rnd is not None and rnd not in self.randoms), self._fresh)
        if not copies:
            return data
        self.dropped += len(copies)
        gone = {id(r) for r in copies}
        kept = b"".join(data[r.offset:r.end] for r in dg.records if id(r) not in gone)
        rest = kept + dg.trailing
        return rest or None
