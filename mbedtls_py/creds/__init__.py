"""Credentials for DTLS peers: the one PKI factory (trustme or deterministic
from a seed), PSK defaults, and ready-made (client, server) configs.

A runtime layer above the bindings: the OpenSSL peers, ``serve``, the repro
scenarios and :mod:`mbedtls_py.testing` all take their certificates here.
"""

from .configs import cert_configs, psk_configs
from .pki import PKI, PKIPaths, make_pki
from .psk import DEFAULT_PSK, DEFAULT_PSK_IDENTITY, DEFAULT_PSK_SUITE, PSK

__all__ = ["PKI", "PKIPaths", "make_pki", "cert_configs", "psk_configs", "PSK",
           "DEFAULT_PSK", "DEFAULT_PSK_IDENTITY", "DEFAULT_PSK_SUITE"]
