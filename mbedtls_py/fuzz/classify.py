"""Which violations are already known, which the protocol allows, which are new.

A violation is classified from the reproducer's evidence: the return codes,
the Mbed TLS debug trace (level 1) and the datagram's structure, in order:

- ``known:<name>``: an upstream behaviour listed in ``KNOWN`` (the ones
  ``mbedtls_py.attacks`` pins, and this fuzzer's findings), recognised by its
  codes and trace;
- ``documented:client-reconnect``: a ClientHello with a valid cookie ends an
  established connection (``SSL_CLIENT_RECONNECT``, the documented effect of
  ``MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE``; the cookie makes it a replay of the
  real client's ClientHello, not an off-path forgery);
- ``authentic`` (established states only): the datagram carries an unmodified
  encrypted record of the real peer; a valid record is outside the RFC's promise;
- ``inherent``: the target was still in its unauthenticated epoch-0 handshake
  and the datagram holds a plaintext handshake or alert record Mbed TLS
  accepted: DTLS 1.2 authenticates the handshake only at Finished;
- ``new``: anything else.
"""

from __future__ import annotations

import functools

from ..bindings.errors import Err
from ..wire import parse_datagram
from .states import State, corpus_wire

__all__ = ["KNOWN", "classify", "NOT_NEW", "strip_authentic"]

KNOWN = {
    "trailing-bytes": "(attacks) a record Mbed TLS drops before decryption followed by 1-12 "
                      "stray bytes: SSL_INTERNAL_ERROR on every later read "
                      "(mbedtls_ssl_fetch_input, in_left != 0, 'should never happen')",
    "malformed-ccs": "(attacks) a 14-byte plaintext ChangeCipherSpec with content != 1 during "
                     "the handshake: SSL_INVALID_RECORD, fatal",
    "replay-window": "(attacks) an epoch-0 record (no MAC) with a sequence number ahead of the "
                     "peer's moves the anti-replay window: the peer's later epoch-0 records, "
                     "retransmissions included, are 'replayed'",
    "malformed-alert": "(this fuzzer) a plaintext alert whose body is not 2 bytes during the "
                       "handshake: SSL_INVALID_RECORD, fatal",
    "reconnect-parse-error": "(this fuzzer) an unparsable epoch-0 'ClientHello' to an "
                             "established server with cookies: the client-reconnect check "
                             "returns its parse error (e.g. SSL_DECODE_ERROR), fatal",
    "ccs-bad-mac": "(this fuzzer) an epoch-1 record that fails to decrypt while the target "
                   "waits for Finished (reached early through a forged ChangeCipherSpec): "
                   "SSL_INVALID_MAC, fatal",
}
NOT_NEW = ("documented:client-reconnect", "authentic", "inherent")

_INTERNAL = str(Err.SSL_INTERNAL_ERROR)
_INVALID_RECORD = str(Err.SSL_INVALID_RECORD)
_INVALID_MAC = str(Err.SSL_INVALID_MAC)
_RECONNECT = str(Err.SSL_CLIENT_RECONNECT)
_TIMEOUT = str(Err.SSL_TIMEOUT)
_UNEXPECTED = str(Err.SSL_UNEXPECTED_MESSAGE)


def strip_authentic(data: bytes, kind: str, cookies: bool, peer: str) -> bytes:
    """``data`` without the unmodified encrypted records sent by ``peer``."""
    real = _encrypted_records(kind, cookies, peer)
    d = parse_datagram(data)
    keep = [data[r.offset:r.end] for r in d.records if data[r.offset:r.end] not in real]
    return b"".join(keep) + d.trailing


def _authentic(data: bytes, kind: str, cookies: bool, peer: str) -> bool:
    real = _encrypted_records(kind, cookies, peer)
    d = parse_datagram(data)
    return any(data[r.offset:r.end] in real for r in d.records if r.epoch >= 1)


@functools.cache
def _encrypted_records(kind: str, cookies: bool, peer: str) -> frozenset[bytes]:
    out: list[bytes] = []
    for src, dgram in corpus_wire(kind, cookies):  # type: ignore[arg-type, unused-ignore]
        if src != peer:
            continue
        d = parse_datagram(dgram)
        out += [dgram[r.offset:r.end] for r in d.records if r.epoch >= 1]
    return frozenset(out)


def classify(state: State, data: bytes, outcome: object, lines: list[str], *,
             kind: str = "psk", cookies: bool = False) -> tuple[str, str]:
    """(category, reason) for a violation; see the module docstring."""
    text = "\n".join(lines)
    codes = set(getattr(outcome, "codes", ()))
    if _INTERNAL in codes and "should never happen" in text and "fetch_input" in text:
        return "known:trailing-bytes", KNOWN["trailing-bytes"]
    if _INVALID_RECORD in codes and "invalid CCS message" in text:
        return "known:malformed-ccs", KNOWN["malformed-ccs"]
    if _INVALID_RECORD in codes and "invalid alert message" in text:
        return "known:malformed-alert", KNOWN["malformed-alert"]
    if "possible client reconnect" in text and _RECONNECT not in codes:
        return "known:reconnect-parse-error", KNOWN["reconnect-parse-error"]
    if _RECONNECT in codes:
        return "documented:client-reconnect", ("a ClientHello with a valid cookie ends the "
                                               "established connection (client port reuse)")
    peer = "client" if state.target == "server" else "server"
    if state.established and _authentic(data, kind, cookies, peer):
        # Established only: the recorded connection and the live one share keys
        # but not their records, so a recorded record can be one the peer has
        # not sent yet in this connection.  In handshake states the recorded
        # flights are exactly the peer's, so an early one is a true reordering
        # the RFC requires to be tolerated: no exemption there.
        return "authentic", "carries an unmodified encrypted record of the real peer"
    if _INVALID_MAC in codes and "ssl_decrypt_buf" in text and any(
            r.content_type == 20 and r.epoch == 0 for r in parse_datagram(data).records):
        return "known:ccs-bad-mac", KNOWN["ccs-bad-mac"]
    # the legitimate records were lost as replays (a server waiting for a
    # ClientHello reports the replayed one as unexpected and is reset)
    if "replayed record" in text and codes <= {_TIMEOUT, _UNEXPECTED}:
        return "known:replay-window", KNOWN["replay-window"]
    if not state.established:
        plain = [r for r in parse_datagram(data).records
                 if r.epoch == 0 and r.content_type in (21, 22)]
        if plain:
            kinds = sorted({r.type_name for r in plain})
            return "inherent", (f"plaintext {'/'.join(kinds)} record accepted during the "
                                "unauthenticated epoch-0 handshake")
    return "new", "not explained by a known upstream behaviour or by the protocol"
