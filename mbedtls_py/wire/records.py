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

import struct
from dataclasses import dataclass
from typing import Any

from .constants import (
    DTLS1_0,
    DTLS1_2,
    RECORD_HEADER_LEN,
    ContentType,
    HandshakeType,
    content_type_name,
    version_name,
)
from .messages import AlertMessage, HandshakeHeader, _parse_handshakes, _uint

__all__ = [
    "HandshakeHeader",
    "AlertMessage",
    "Record",
    "Datagram",
    "parse_datagram",
    "record_types",
    "looks_like_dtls",
]


# content_type(1) version(2) epoch(2) sequence_number(6, as 2 + 4) [cid] length(2)
_HEADER = struct.Struct(">BHHHIH")
_HEAD = struct.Struct(">BHHHI")
_LENGTH = struct.Struct(">H")

_MAX_CID_LEN = 255  # RFC 9146: the CID length is carried in one byte


_CID_TYPE = int(ContentType.tls12_cid)
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
    if type(data) is not bytes:
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
        if cid_size:
            _, version, epoch, seq_hi, seq_lo = _HEAD.unpack_from(data, pos)
            length = _LENGTH.unpack_from(data, pos + header_len - 2)[0]
        else:
            _, version, epoch, seq_hi, seq_lo, length = _HEADER.unpack_from(data, pos)
        if available - header_len < length:
            error = (
                f"record at offset {pos} declares length {length} but only "
                f"{available - header_len} bytes follow its header"
            )
            break
        payload = data[pos + header_len : pos + header_len + length]
        handshakes: tuple[HandshakeHeader, ...] = ()
        alert: AlertMessage | None = None
        if epoch == 0:
            if content_type == ContentType.handshake:
                handshakes = _parse_handshakes(payload)
            elif content_type == ContentType.alert and length >= 2:
                alert = AlertMessage(payload[0], payload[1])
        records.append(
            Record(content_type, version, epoch, seq_hi << 32 | seq_lo, length, payload, pos,
                   data[pos + 11 : pos + 11 + cid_size]
                   if content_type == ContentType.tls12_cid else None,
                   handshakes, alert)
        )
        pos += header_len + length
    return Datagram(records=records, trailing=data[pos:], error=error, data=data)


def record_types(data: bytes, cid_len: int = 0) -> bytes:
    """The content types of the records :func:`parse_datagram` would find in
    ``data`` (one byte each, in order), read from the record headers alone:
    whether a rule on a content type can match, without parsing the records.
    ``cid_len`` is trusted here (the callers checked it)."""
    types = bytearray()
    pos = 0
    size = len(data)
    cid_type = _CID_TYPE
    while size - pos >= RECORD_HEADER_LEN:
        content_type = data[pos]
        header_len = RECORD_HEADER_LEN + (cid_len if content_type == cid_type else 0)
        if size - pos < header_len:
            break
        end = pos + header_len + (data[pos + header_len - 2] << 8 | data[pos + header_len - 1])
        if end > size:
            break
        types.append(content_type)
        pos = end
    return bytes(types)


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
