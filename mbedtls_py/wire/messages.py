"""The messages inside DTLS records that the parser decodes: handshake headers
(:class:`HandshakeHeader`) and alerts (:class:`AlertMessage`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

from .constants import HANDSHAKE_HEADER_LEN, alert_description_name, alert_level_name, handshake_type_name

__all__ = ["HandshakeHeader", "AlertMessage"]


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


def _uint(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start : start + size], "big")


# msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3),
# the 3-byte fields as a byte and a short
_HEADER = struct.Struct(">BBHHBHBH")


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
        msg_type, len_hi, len_lo, message_seq, off_hi, off_lo, frag_hi, frag_lo = \
            _HEADER.unpack_from(payload, pos)
        fragment_length = frag_hi << 16 | frag_lo
        fragment_truncated = fragment_length > rest - HANDSHAKE_HEADER_LEN
        headers.append(HandshakeHeader(msg_type, len_hi << 16 | len_lo, message_seq,
                                       off_hi << 16 | off_lo, fragment_length, False,
                                       fragment_truncated))
        pos += HANDSHAKE_HEADER_LEN + fragment_length
        if fragment_truncated or pos >= len(payload):
            break
    return tuple(headers)
