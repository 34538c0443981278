"""The wire layer: DTLS record parsing and the impairment rule language.

Pure Python: imports nothing from ``mbedtls_py`` outside ``wire`` and never
loads the compiled extension, so the UDP proxy and offline tools can use it.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "RECORD_HEADER_LEN": "constants", "HANDSHAKE_HEADER_LEN": "constants", "DTLS1_0": "constants",
    "DTLS1_2": "constants", "ContentType": "constants", "HandshakeType": "constants",
    "AlertLevel": "constants", "AlertDescription": "constants", "content_type_name": "constants",
    "handshake_type_name": "constants", "alert_level_name": "constants",
    "alert_description_name": "constants", "version_name": "constants",
    "HandshakeHeader": "messages", "AlertMessage": "messages", "Record": "records",
    "Datagram": "records", "parse_datagram": "records", "looks_like_dtls": "records",
})
