"""Proving that a datagram is stale: it belongs to a connection the server
just closed, so dropping it hides nothing (the close_notify race of upstream
Mbed-TLS/mbedtls#9656).

A guess from the datagram's looks (epoch, content type, length, source) is no
proof: anyone can forge a header.  The proof asks Mbed TLS: every record must
authenticate under the closed connection's keys (``mbedtls_ssl_check_record``
on its retained context returns 0), or the datagram must be a byte-identical
copy of one that authenticated while the connection was open (a network
duplicate or a replay, which RFC 6347 says to discard silently).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..bindings import MBEDTLS_VERSION
from ..bindings.context import Context
from ..bindings.errors import Err, error_name, rc_text
from ..wire.records import Datagram, parse_datagram
from .events import Address

__all__ = ["Classification", "ClosedConnection", "FIRST_FLIGHT_REJECTED", "RETAINED_MAX",
           "classify_datagram"]

# What a new connection's handshake returns when its first datagram is a
# record of the connection before (the seed's late close_notify): 3.x's record
# layer rejects it as an unexpected message; 2.x's DTLS server reads the
# ClientHello record itself and rejects it as a bad ClientHello.  Only the
# gate to the proof: garbage gets the same code on 2.x, and fails the proof.
FIRST_FLIGHT_REJECTED: Err = (Err["SSL_BAD_HS_CLIENT_HELLO"] if MBEDTLS_VERSION.startswith("2.")
                              else Err.SSL_UNEXPECTED_MESSAGE)


@dataclass(frozen=True)
class Classification:
    """What a datagram that failed a first flight is, and the proof."""

    stale: bool  # True: proven to belong to a previous connection; safe to drop
    kind: str  # e.g. "encrypted alert (probably close_notify)"
    reason: str
    check_rc: int | None = None  # what check_record said (None: never asked)


_ENCRYPTED_KINDS = {
    21: "encrypted alert (probably close_notify)",
    22: "encrypted handshake (a retransmitted Finished)",
    23: "late application data",
    20: "change_cipher_spec",
    25: "connection-ID record",
}


_ACCEPTED_MAX = 64  # digests of authenticated datagrams kept per connection
RETAINED_MAX = 64  # closed connections kept at once (linger or classify), oldest go first


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class ClosedConnection:
    """A closed connection kept for a while: its context (keys, epoch, replay
    window) and the digests of the datagrams that authenticated under it while
    it was open.  ``until`` is the last clock time (inclusive) it is kept."""

    def __init__(self, ctx: Context, until: float, accepted: Iterable[bytes] = ()) -> None:
        self.ctx = ctx
        self.until = until
        self.accepted = frozenset(accepted)

    def remember(self, data: bytes) -> None:
        """``data`` was consumed by this connection after it closed (a
        lingering read): a byte-identical copy later is its replay, to be
        consumed too, not new input (kept to the same bound as ``accepted``)."""
        if len(self.accepted) < _ACCEPTED_MAX:
            self.accepted = self.accepted | {_digest(data)}

    def prove(self, data: bytes | Datagram) -> tuple[int, str]:
        """(0, why) when ``data`` (bytes, or already parsed) provably belongs to
        this connection, else (the first non-zero ``check_record`` code, why not)."""
        dgram = _parsed(data)
        data = dgram.data
        if dgram.error or not dgram.records:
            return int(Err.SSL_INVALID_RECORD), f"not a well-formed DTLS datagram: {dgram.error}"
        first_rc = 0
        for rec in dgram.records:
            rc = self.ctx.check_record(data[rec.offset:rec.end])
            if rc:
                first_rc = rc
                break
        if first_rc == 0:
            return 0, ("every record authenticates under the closed connection's keys "
                       "(check_record 0)")
        if _digest(data) in self.accepted:
            return 0, (f"check_record {rc_text(first_rc)} (replay) but byte-identical to a datagram "
                       "that authenticated while the connection was open")
        return first_rc, (f"check_record {rc_text(first_rc)} ({error_name(first_rc)}) under the "
                          "closed connection's keys")


def _parsed(data: bytes | Datagram) -> Datagram:
    # Callers that parsed the datagram already pass the Datagram: parsed once.
    return data if isinstance(data, Datagram) else parse_datagram(data)


def classify_datagram(data: bytes | Datagram, src: Address, rc: int,
                      closed: Mapping[Address, ClosedConnection]) -> Classification:
    """Decide whether a datagram that made a new connection's first flight
    fail with ``rc`` is a leftover of the connection just closed with ``src``
    (drop it) or a real error (report it).

    Stale only when proven: ``rc`` is exactly :data:`FIRST_FLIGHT_REJECTED`
    (``SSL_UNEXPECTED_MESSAGE``; ``SSL_BAD_HS_CLIENT_HELLO`` on Mbed TLS 2.x),
    a connection with ``src`` is in ``closed``, and the datagram authenticates
    under it (:meth:`ClosedConnection.prove`).  What it looks like (epoch,
    content type, length) is only the ``kind`` shown in the report.
    """
    dgram = _parsed(data)
    if not dgram.records:
        kind = "not DTLS"
    elif dgram.error:
        kind = "malformed DTLS"
    elif dgram.is_client_hello:
        kind = "ClientHello"
    elif not all(r.encrypted for r in dgram.records):
        kind = f"plaintext {dgram.records[0].type_name}"
    else:
        first = dgram.records[0]
        kind = _ENCRYPTED_KINDS.get(first.content_type, f"encrypted {first.type_name}")
        kind = f"{kind}, epoch {first.epoch} seq {first.seq}"
    if rc != FIRST_FLIGHT_REJECTED:
        return Classification(False, kind, f"the handshake returned {rc_text(rc)} "
                                           f"({error_name(rc)}), not {FIRST_FLIGHT_REJECTED.name}")
    old = closed.get(src)
    if old is None:
        return Classification(False, kind, "no recently closed connection with this address "
                                           "to authenticate it against")
    check_rc, why = old.prove(dgram)
    return Classification(check_rc == 0, kind, why, check_rc)

