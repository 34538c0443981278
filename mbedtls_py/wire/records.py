"""Read-only parser of DTLS 1.0/1.2 datagrams (RFC 6347 record layer).

One UDP datagram carries one or more DTLS records, back to back.  Each record
starts with a 13-byte header::

    content_type(1) version(2) epoch(2) sequence_number(6) length(2)

Records of content type ``tls12_cid`` (25, RFC 9146) carry the connection ID
between the sequence number and the length; its size is not on the wire, so
it must be given as ``cid_len``.

For plaintext (epoch 0) handshake records the 12-byte handshake header is
decoded too::

    msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3)

and for plaintext alert records the two alert bytes (level, description).
Records of epoch 1 and above are encrypted; only their header is decoded.

:func:`parse_datagram` never raises on any input bytes: whatever cannot be
parsed ends up in :attr:`Datagram.trailing`, explained by
:attr:`Datagram.error`.  Nothing here validates cryptography or semantics; it
only describes what is on the wire, for rules, classifiers and traces.

Example (a late encrypted close_notify)::

    dg = parse_datagram(data)
    repr(dg)            # '<Datagram [<Alert epoch=1 seq=3 len=26 encrypted>]>'
    dg.max_epoch        # 1
    dg.is_client_hello  # False
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "RECORD_HEADER_LEN",
    "HANDSHAKE_HEADER_LEN",
    "DTLS1_0",
    "DTLS1_2",
    "ContentType",
    "HandshakeType",
    "AlertLevel",
    "AlertDescription",
    "content_type_name",
    "handshake_type_name",
    "alert_level_name",
    "alert_description_name",
    "version_name",
    "HandshakeHeader",
    "AlertMessage",
    "Record",
    "Datagram",
    "parse_datagram",
    "looks_like_dtls",
]

RECORD_HEADER_LEN = 13
"""Size of a DTLS record header without a connection ID."""

HANDSHAKE_HEADER_LEN = 12
"""Size of a DTLS handshake message header."""

DTLS1_0 = 0xFEFF
"""Wire value of the DTLS 1.0 record version."""

DTLS1_2 = 0xFEFD
"""Wire value of the DTLS 1.2 record version."""

_MAX_CID_LEN = 255  # RFC 9146: the CID length is carried in one byte


class ContentType(enum.IntEnum):
    """Record content types (RFC 5246, RFC 6520, RFC 9146)."""

    change_cipher_spec = 20
    alert = 21
    handshake = 22
    application_data = 23
    heartbeat = 24
    tls12_cid = 25


class HandshakeType(enum.IntEnum):
    """Handshake message types used by (D)TLS 1.2 (RFC 5246, RFC 6347, RFC 5077)."""

    hello_request = 0
    client_hello = 1
    server_hello = 2
    hello_verify_request = 3
    new_session_ticket = 4
    certificate = 11
    server_key_exchange = 12
    certificate_request = 13
    server_hello_done = 14
    certificate_verify = 15
    client_key_exchange = 16
    finished = 20


class AlertLevel(enum.IntEnum):
    """Alert levels (RFC 5246 section 7.2)."""

    warning = 1
    fatal = 2


class AlertDescription(enum.IntEnum):
    """Alert descriptions (RFC 5246 section 7.2 and later additions)."""

    close_notify = 0
    unexpected_message = 10
    bad_record_mac = 20
    decryption_failed = 21
    record_overflow = 22
    decompression_failure = 30
    handshake_failure = 40
    no_certificate = 41
    bad_certificate = 42
    unsupported_certificate = 43
    certificate_revoked = 44
    certificate_expired = 45
    certificate_unknown = 46
    illegal_parameter = 47
    unknown_ca = 48
    access_denied = 49
    decode_error = 50
    decrypt_error = 51
    export_restriction = 60
    protocol_version = 70
    insufficient_security = 71
    internal_error = 80
    inappropriate_fallback = 86
    user_canceled = 90
    no_renegotiation = 100
    missing_extension = 109
    unsupported_extension = 110
    unrecognized_name = 112
    bad_certificate_status_response = 113
    unknown_psk_identity = 115
    certificate_required = 116
    no_application_protocol = 120


def _enum_name(enum_cls: type[enum.IntEnum], value: int) -> str:
    try:
        return enum_cls(value).name
    except ValueError:
        return f"unknown({value})"


def content_type_name(content_type: int) -> str:
    """Return the RFC name of a record content type, or ``'unknown(N)'``."""
    return _enum_name(ContentType, content_type)


def handshake_type_name(msg_type: int) -> str:
    """Return the RFC name of a handshake message type, or ``'unknown(N)'``."""
    return _enum_name(HandshakeType, msg_type)


def alert_level_name(level: int) -> str:
    """Return ``'warning'``, ``'fatal'`` or ``'unknown(N)'`` for an alert level."""
    return _enum_name(AlertLevel, level)


def alert_description_name(description: int) -> str:
    """Return the RFC name of an alert description, or ``'unknown(N)'``."""
    return _enum_name(AlertDescription, description)


def version_name(version: int) -> str:
    """Return ``'DTLS1.2'``, ``'DTLS1.0'`` or the version in hex (``'0x0303'``)."""
    if version == DTLS1_2:
        return "DTLS1.2"
    if version == DTLS1_0:
        return "DTLS1.0"
    return f"0x{version:04x}"


_KNOWN_CONTENT_TYPES = frozenset(int(t) for t in ContentType)

_RECORD_CLASS_NAMES: dict[int, str] = {
    ContentType.change_cipher_spec: "ChangeCipherSpec",
    ContentType.alert: "Alert",
    ContentType.handshake: "Handshake",
    ContentType.application_data: "ApplicationData",
    ContentType.heartbeat: "Heartbeat",
    ContentType.tls12_cid: "TLS12CID",
}


@dataclass(frozen=True, slots=True)
class HandshakeHeader:
    """The 12-byte header of a DTLS handshake message (RFC 6347 section 4.2.2).

    When the record ends inside the header, ``truncated`` is true and the
    fields that were not (completely) present are ``None``; ``msg_type`` is
    ``None`` only for an empty handshake record.  ``fragment_truncated`` is
    true when fewer than ``fragment_length`` bytes of body follow the header.
    """

    msg_type: int | None
    length: int | None = None
    message_seq: int | None = None
    fragment_offset: int | None = None
    fragment_length: int | None = None
    truncated: bool = False
    fragment_truncated: bool = False

    @property
    def type_name(self) -> str:
        """RFC name of ``msg_type`` (``'missing'`` when there is no type byte)."""
        if self.msg_type is None:
            return "missing"
        return handshake_type_name(self.msg_type)

    @property
    def is_fragment(self) -> bool:
        """True when this message is only part of a larger handshake message."""
        return not self.truncated and (
            self.fragment_offset != 0 or self.fragment_length != self.length
        )

    def __str__(self) -> str:
        if self.truncated:
            if self.msg_type is None:
                return "header-truncated"
            return f"{self.type_name} header-truncated"
        text = (
            f"{self.type_name} msg_seq={self.message_seq} "
            f"frag={self.fragment_offset}+{self.fragment_length}/{self.length}"
        )
        if self.fragment_truncated:
            text += " fragment-truncated"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict of the header fields and names."""
        return {
            "msg_type": self.msg_type,
            "type_name": self.type_name,
            "length": self.length,
            "message_seq": self.message_seq,
            "fragment_offset": self.fragment_offset,
            "fragment_length": self.fragment_length,
            "truncated": self.truncated,
            "fragment_truncated": self.fragment_truncated,
        }


class AlertMessage(NamedTuple):
    """A plaintext alert: ``(level, description)`` with their names as properties."""

    level: int
    description: int

    @property
    def level_name(self) -> str:
        """``'warning'``, ``'fatal'`` or ``'unknown(N)'``."""
        return alert_level_name(self.level)

    @property
    def description_name(self) -> str:
        """RFC name of the description, e.g. ``'close_notify'``."""
        return alert_description_name(self.description)

    def __str__(self) -> str:
        return f"{self.level_name} {self.description_name}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict of the alert fields and names."""
        return {
            "level": self.level,
            "level_name": self.level_name,
            "description": self.description,
            "description_name": self.description_name,
        }


@dataclass(frozen=True, slots=True)
class Record:
    """One DTLS record of a datagram, as found on the wire.

    ``version`` is the raw 16-bit wire value (``0xfefd`` for DTLS 1.2);
    ``seq`` is the 48-bit sequence number; ``length`` is the length field of
    the header (always equal to ``len(payload)`` for parsed records);
    ``offset`` is where the record starts in its datagram; ``cid`` is the
    connection ID of ``tls12_cid`` records and ``None`` for other types.

    ``handshakes`` holds the headers of the handshake messages of a
    plaintext (epoch 0) handshake record, normally exactly one; ``alert`` is
    set for plaintext alert records with at least two bytes of payload.
    """

    content_type: int
    version: int
    epoch: int
    seq: int
    length: int
    payload: bytes
    offset: int = 0
    cid: bytes | None = None
    handshakes: tuple[HandshakeHeader, ...] = ()
    alert: AlertMessage | None = None

    @property
    def type_name(self) -> str:
        """RFC name of the content type, e.g. ``'alert'``, or ``'unknown(N)'``."""
        return content_type_name(self.content_type)

    @property
    def version_name(self) -> str:
        """``'DTLS1.2'``, ``'DTLS1.0'`` or the raw version in hex."""
        return version_name(self.version)

    @property
    def encrypted(self) -> bool:
        """True when the record is protected, i.e. its epoch is 1 or more."""
        return self.epoch >= 1

    @property
    def handshake(self) -> HandshakeHeader | None:
        """The first handshake header of a plaintext handshake record, else ``None``."""
        return self.handshakes[0] if self.handshakes else None

    @property
    def header_length(self) -> int:
        """Size of this record's header on the wire (13, plus the CID if any)."""
        return RECORD_HEADER_LEN + (len(self.cid) if self.cid is not None else 0)

    @property
    def size(self) -> int:
        """Bytes this record occupies in the datagram (header and payload)."""
        return self.header_length + len(self.payload)

    @property
    def end(self) -> int:
        """Offset just past this record in its datagram."""
        return self.offset + self.size

    def __repr__(self) -> str:
        cls = _RECORD_CLASS_NAMES.get(self.content_type)
        if cls is None:
            cls = f"Unknown({self.content_type})"
        parts = [f"<{cls} epoch={self.epoch} seq={self.seq} len={self.length}"]
        if self.version not in (DTLS1_0, DTLS1_2):
            parts.append(f"version={self.version_name}")
        if self.cid is not None:
            parts.append(f"cid={self.cid.hex()}")
        if self.handshakes:
            parts.append(", ".join(str(h) for h in self.handshakes))
        elif self.alert is not None:
            parts.append(str(self.alert))
        elif self.content_type == ContentType.alert and not self.encrypted:
            parts.append("alert-truncated")
        if self.encrypted:
            parts.append("encrypted")
        return " ".join(parts) + ">"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (bytes as hex strings) for traces."""
        handshake = self.handshake
        return {
            "offset": self.offset,
            "content_type": self.content_type,
            "type_name": self.type_name,
            "version": self.version,
            "version_name": self.version_name,
            "epoch": self.epoch,
            "seq": self.seq,
            "length": self.length,
            "cid": self.cid.hex() if self.cid is not None else None,
            "encrypted": self.encrypted,
            "handshake": handshake.to_dict() if handshake is not None else None,
            "handshakes": [h.to_dict() for h in self.handshakes],
            "alert": self.alert.to_dict() if self.alert is not None else None,
            "payload": self.payload.hex(),
        }


@dataclass(slots=True)
class Datagram:
    """A parsed datagram: its records, and what could not be parsed.

    ``records`` are the complete records in wire order.  ``trailing`` holds
    the bytes after the last complete record, and ``error`` says why they
    could not be parsed (``None`` when the whole datagram was parsed; an
    empty datagram has no records and no error).  ``data`` is the whole
    datagram as given.
    """

    records: list[Record]
    trailing: bytes = b""
    error: str | None = None
    data: bytes = b""

    @property
    def first(self) -> Record | None:
        """The first record, or ``None`` when there is none."""
        return self.records[0] if self.records else None

    @property
    def max_epoch(self) -> int | None:
        """The highest epoch of any record, or ``None`` when there is no record."""
        return max((r.epoch for r in self.records), default=None)

    @property
    def is_client_hello(self) -> bool:
        """True when the first record is an epoch-0 handshake record whose
        (complete) handshake header says client_hello."""
        first = self.first
        if first is None or first.content_type != ContentType.handshake or first.epoch != 0:
            return False
        hs = first.handshake
        return hs is not None and not hs.truncated and hs.msg_type == HandshakeType.client_hello

    @property
    def ok(self) -> bool:
        """True when every byte of the datagram was parsed into records."""
        return self.error is None

    @property
    def size(self) -> int:
        """Length of the datagram in bytes."""
        return len(self.data)

    def __repr__(self) -> str:
        text = "<Datagram [" + ", ".join(repr(r) for r in self.records) + "]"
        if self.error is not None:
            text += f" error={self.error!r}"
        return text + ">"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (bytes as hex strings) for traces."""
        return {
            "size": self.size,
            "records": [r.to_dict() for r in self.records],
            "trailing": self.trailing.hex(),
            "error": self.error,
        }


def _uint(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "big")


def _parse_handshakes(payload: bytes) -> tuple[HandshakeHeader, ...]:
    headers: list[HandshakeHeader] = []
    pos = 0
    while True:
        rest = len(payload) - pos
        if rest < HANDSHAKE_HEADER_LEN:
            # Keep whichever fields are complete, so a short record still
            # shows what it claimed to be.
            headers.append(
                HandshakeHeader(
                    msg_type=payload[pos] if rest >= 1 else None,
                    length=_uint(payload, pos + 1, 3) if rest >= 4 else None,
                    message_seq=_uint(payload, pos + 4, 2) if rest >= 6 else None,
                    fragment_offset=_uint(payload, pos + 6, 3) if rest >= 9 else None,
                    truncated=True,
                )
            )
            break
        fragment_length = _uint(payload, pos + 9, 3)
        fragment_truncated = fragment_length > rest - HANDSHAKE_HEADER_LEN
        headers.append(
            HandshakeHeader(
                msg_type=payload[pos],
                length=_uint(payload, pos + 1, 3),
                message_seq=_uint(payload, pos + 4, 2),
                fragment_offset=_uint(payload, pos + 6, 3),
                fragment_length=fragment_length,
                fragment_truncated=fragment_truncated,
            )
        )
        pos += HANDSHAKE_HEADER_LEN + fragment_length
        if fragment_truncated or pos >= len(payload):
            break
    return tuple(headers)


def _check_cid_len(cid_len: int) -> None:
    if isinstance(cid_len, bool) or not isinstance(cid_len, int):
        raise TypeError(f"cid_len must be an int, not {type(cid_len).__name__}")
    if not 0 <= cid_len <= _MAX_CID_LEN:
        raise ValueError(f"cid_len must be between 0 and {_MAX_CID_LEN}, not {cid_len}")


def parse_datagram(data: bytes | bytearray | memoryview, cid_len: int = 0) -> Datagram:
    """Parse one UDP datagram into its DTLS records.

    ``cid_len`` is the length of the connection ID carried by ``tls12_cid``
    (content type 25) records.  Any byte string is accepted: parsing stops
    at the first record whose header is truncated or whose length runs past
    the end of the datagram, and the rest is returned as ``trailing`` with an
    ``error`` message.  Only a bad ``cid_len`` raises (``TypeError`` /
    ``ValueError``).
    """
    _check_cid_len(cid_len)
    data = bytes(data)
    records: list[Record] = []
    error: str | None = None
    pos = 0
    size = len(data)
    while pos < size:
        content_type = data[pos]
        cid_size = cid_len if content_type == ContentType.tls12_cid else 0
        header_len = RECORD_HEADER_LEN + cid_size
        available = size - pos
        if available < header_len:
            error = (
                f"record header truncated at offset {pos}: "
                f"{available} of {header_len} bytes"
            )
            break
        length = _uint(data, pos + header_len - 2, 2)
        if available - header_len < length:
            error = (
                f"record at offset {pos} declares length {length} but only "
                f"{available - header_len} bytes follow its header"
            )
            break
        epoch = _uint(data, pos + 3, 2)
        payload = data[pos + header_len : pos + header_len + length]
        handshakes: tuple[HandshakeHeader, ...] = ()
        alert: AlertMessage | None = None
        if epoch == 0:
            if content_type == ContentType.handshake:
                handshakes = _parse_handshakes(payload)
            elif content_type == ContentType.alert and length >= 2:
                alert = AlertMessage(payload[0], payload[1])
        records.append(
            Record(
                content_type=content_type,
                version=_uint(data, pos + 1, 2),
                epoch=epoch,
                seq=_uint(data, pos + 5, 6),
                length=length,
                payload=payload,
                offset=pos,
                cid=(
                    data[pos + 11 : pos + 11 + cid_size]
                    if content_type == ContentType.tls12_cid
                    else None
                ),
                handshakes=handshakes,
                alert=alert,
            )
        )
        pos += header_len + length
    return Datagram(records=records, trailing=data[pos:], error=error, data=data)


def looks_like_dtls(data: bytes | bytearray | memoryview, cid_len: int = 0) -> bool:
    """Return True when the first record header of ``data`` is plausible DTLS.

    Plausible means: a known content type, a version whose major byte is
    0xfe, and a length that fits in the datagram.  Only the first record is
    checked.  Never raises on any byte string.
    """
    _check_cid_len(cid_len)
    data = bytes(data)
    if len(data) < RECORD_HEADER_LEN:
        return False
    content_type = data[0]
    if content_type not in _KNOWN_CONTENT_TYPES:
        return False
    if data[1] != 0xFE:
        return False
    header_len = RECORD_HEADER_LEN + (cid_len if content_type == ContentType.tls12_cid else 0)
    if len(data) < header_len:
        return False
    return header_len + _uint(data, header_len - 2, 2) <= len(data)
