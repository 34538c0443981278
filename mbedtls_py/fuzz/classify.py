"""Which violations are already known, which the protocol allows, which are new.

A violation is classified from the shrunk reproducer's evidence: the return
codes, the Mbed TLS debug trace (level 1) and the datagram's structure.

- ``known:<name>``: an upstream behaviour listed in ``KNOWN`` (issue 9,
  ``mbedtls_py.attacks``), recognised by its trace;
- ``inherent``: the target was still in its unauthenticated epoch-0 handshake
  and the datagram holds a well-formed plaintext handshake or alert record.
  DTLS 1.2 authenticates the handshake only at Finished, so such a record is a
  valid record the RFC's promise does not cover (listed, not counted as new);
- ``new``: anything else.
"""

from __future__ import annotations

from ..errors import Err
from ..records import parse_datagram
from .states import State

__all__ = ["KNOWN", "classify", "hints"]

KNOWN = {
    "trailing-bytes": "a record Mbed TLS drops before decryption followed by 1-12 stray bytes: "
                      "SSL_INTERNAL_ERROR on every later read (mbedtls_ssl_fetch_input, "
                      "in_left != 0, 'should never happen')",
    "early-ccs": "a plaintext ChangeCipherSpec before the ServerHello is remembered and moves "
                 "the epoch-0 replay window: the server's real records are 'replayed'",
    "replay-window": "an epoch-0 record (no MAC) with a sequence number ahead of the peer's "
                     "moves the anti-replay window: the peer's later epoch-0 records, "
                     "retransmissions included, are 'replayed'",
}

_INTERNAL = str(Err.SSL_INTERNAL_ERROR)


def hints(data: bytes) -> tuple[object, ...]:
    """Structural features used to group violations before classifying them:
    stray bytes after the records (1-12), epoch-0 content types, an epoch-0
    sequence number beyond the replay window of a fresh handshake (>= 64)."""
    d = parse_datagram(data)
    stray = 0 < len(d.trailing) < 13
    types = tuple(sorted({r.content_type for r in d.records if r.epoch == 0}))
    far = any(r.epoch == 0 and r.seq >= 64 for r in d.records)
    return (stray, types, far)


def classify(state: State, data: bytes, outcome: object, lines: list[str]) -> tuple[str, str]:
    """(category, reason) for a violation; see the module docstring."""
    text = "\n".join(lines)
    codes = getattr(outcome, "codes", ())
    if _INTERNAL in codes and "should never happen" in text and "fetch_input" in text:
        return "known:trailing-bytes", KNOWN["trailing-bytes"]
    if "replayed record" in text:
        if "out-of-order ChangeCipherSpec" in text:
            return "known:early-ccs", KNOWN["early-ccs"]
        return "known:replay-window", KNOWN["replay-window"]
    if not state.established:
        d = parse_datagram(data)
        plain = [r for r in d.records if r.epoch == 0 and r.content_type in (21, 22)
                 and r.version in (0xFEFD, 0xFEFF)]
        if plain:
            kinds = sorted({r.type_name for r in plain})
            return "inherent", (f"well-formed plaintext {'/'.join(kinds)} record during the "
                                "unauthenticated epoch-0 handshake")
    return "new", "not explained by a known upstream behaviour or by the protocol"
