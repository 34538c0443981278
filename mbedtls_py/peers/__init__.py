"""Real peers run as subprocesses: the OpenSSL command line (``interop``) and
Mbed TLS's own sample programs (``upstream``), with one process registry
(``processes``) that starts, tracks and reaps them.

The credentials and port helpers the peers take are re-exported too
(``PKI``/``make_pki``/``PSK`` from :mod:`mbedtls_py.creds`, free ports from
:mod:`mbedtls_py.udp.addresses`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names' real types, for type checkers only
    from .interop import SEED_INPUT as SEED_INPUT
    from .interop import openssl_path as openssl_path
    from .interop import openssl_available as openssl_available
    from .interop import openssl_version as openssl_version
    from .interop import OpenSSLClient as OpenSSLClient
    from .openssl_server import OpenSSLServer as OpenSSLServer
    from .openssl_output import PeerResult as PeerResult
    from .openssl_output import ServerSession as ServerSession
    from .openssl_output import parse_server_sessions as parse_server_sessions
    from .interop import live_children as live_children
    from .processes import children_named as children_named
    from mbedtls_py.creds.pki import PKI as PKI
    from mbedtls_py.creds.pki import PKIPaths as PKIPaths
    from mbedtls_py.creds.pki import make_pki as make_pki
    from mbedtls_py.creds.psk import PSK as PSK
    from mbedtls_py.udp.addresses import pick_free_udp_port as pick_free_udp_port
    from mbedtls_py.udp.addresses import udp_port_free as udp_port_free

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
