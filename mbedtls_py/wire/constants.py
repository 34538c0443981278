"""DTLS wire constants: header sizes, versions, and the registries of content
types, handshake types and alerts (with their printable names)."""

from __future__ import annotations

import enum

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
]


RECORD_HEADER_LEN = 13
"""Size of a DTLS record header without a connection ID."""


HANDSHAKE_HEADER_LEN = 12
"""Size of a DTLS handshake message header."""


DTLS1_0 = 0xFEFF
"""Wire value of the DTLS 1.0 record version."""


DTLS1_2 = 0xFEFD
"""Wire value of the DTLS 1.2 record version."""


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
