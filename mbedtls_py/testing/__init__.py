"""Building blocks for tests and scripts (a public API): test PKI, ready-made
configs, an in-memory pump between two contexts, and the pytest plugin
(:mod:`mbedtls_py.testing.plugin`).

The pieces live in the runtime layers (:mod:`mbedtls_py.creds`,
:mod:`mbedtls_py.sim.pump`) and are gathered here, so that runtime code never
depends on this package.  ``TestPKI`` is :class:`mbedtls_py.creds.PKI`.
"""

from __future__ import annotations

from ..creds.configs import cert_configs, psk_configs
from ..creds.pki import PKI, KeyKind, make_pki
from ..creds.psk import (
    DEFAULT_PSK as PSK,
    DEFAULT_PSK_IDENTITY as PSK_IDENTITY,
    DEFAULT_PSK_SUITE as PSK_SUITE,
)
from ..sim.pump import handshake_pair, new_pair, pump

__all__ = [
    "TestPKI",
    "make_pki",
    "cert_configs",
    "psk_configs",
    "pump",
    "handshake_pair",
    "new_pair",
    "open_socket_inodes",
    "PSK",
    "PSK_IDENTITY",
    "PSK_SUITE",
]

TestPKI = PKI
"""The PKI the fixtures return (an alias of :class:`mbedtls_py.creds.pki.PKI`)."""


def open_socket_inodes() -> set[str]:
    """The sockets this process has open (Linux ``/proc``), for leak checks in tests."""
    import os

    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out
