"""The wire layer: DTLS record parsing and the impairment rule language.

Pure Python: imports nothing from ``mbedtls_py`` outside ``wire`` and never
loads the compiled extension, so the UDP proxy and offline tools can use it.
"""

from __future__ import annotations

from .constants import (
    DTLS1_0,
    DTLS1_2,
    HANDSHAKE_HEADER_LEN,
    RECORD_HEADER_LEN,
    AlertDescription,
    AlertLevel,
    ContentType,
    HandshakeType,
    alert_description_name,
    alert_level_name,
    content_type_name,
    handshake_type_name,
    version_name,
)
from .messages import AlertMessage, HandshakeHeader
from .records import Datagram, Record, looks_like_dtls, parse_datagram

__all__ = [
    "RECORD_HEADER_LEN", "HANDSHAKE_HEADER_LEN", "DTLS1_0", "DTLS1_2", "ContentType",
    "HandshakeType", "AlertLevel", "AlertDescription", "content_type_name",
    "handshake_type_name", "alert_level_name", "alert_description_name", "version_name",
    "HandshakeHeader", "AlertMessage", "Record", "Datagram", "parse_datagram", "looks_like_dtls",
]
