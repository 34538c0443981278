"""Real peers run as subprocesses: the OpenSSL command line (``interop``) and
Mbed TLS's own sample programs (``upstream``), with one process registry
(``processes``) that starts, tracks and reaps them.

The credentials and port helpers the peers take are re-exported too
(``PKI``/``make_pki``/``PSK`` from :mod:`mbedtls_py.creds`, free ports from
:mod:`mbedtls_py.udp.addresses`)."""

from __future__ import annotations

from .._lazy import lazy_exports

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "SEED_INPUT": "interop", "openssl_path": "interop", "openssl_available": "interop",
    "openssl_version": "interop", "OpenSSLClient": "interop", "OpenSSLServer": "openssl_server",
    "PeerResult": "openssl_output", "ServerSession": "openssl_output",
    "parse_server_sessions": "openssl_output", "live_children": "interop",
    "children_named": "processes", "PKI": "mbedtls_py.creds.pki",
    "PKIPaths": "mbedtls_py.creds.pki", "make_pki": "mbedtls_py.creds.pki",
    "PSK": "mbedtls_py.creds.psk", "pick_free_udp_port": "mbedtls_py.udp.addresses",
    "udp_port_free": "mbedtls_py.udp.addresses",
})
