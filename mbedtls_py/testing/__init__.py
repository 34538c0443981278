"""Building blocks for tests and scripts (a public API): test PKI, ready-made
configs, an in-memory pump between two contexts, and the pytest plugin
(:mod:`mbedtls_py.testing.plugin`).

The pieces live in the runtime layers (:mod:`mbedtls_py.creds`,
:mod:`mbedtls_py.sim.pump`) and are gathered here, so that runtime code never
depends on this package.  ``TestPKI`` is :class:`mbedtls_py.creds.PKI`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names' real types, for type checkers (not imported at run time)
    from ..creds.configs import cert_configs as cert_configs, psk_configs as psk_configs
    from ..creds import psk as _psk
    from ..creds.pki import PKI, KeyKind as KeyKind, make_pki as make_pki
    TestPKI = PKI
    PSK = _psk.DEFAULT_PSK
    PSK_IDENTITY = _psk.DEFAULT_PSK_IDENTITY
    PSK_SUITE = _psk.DEFAULT_PSK_SUITE
    from ..sim.pump import handshake_pair as handshake_pair, new_pair as new_pair, pump as pump

# Loaded on first use, so that pytest loading the plugin (mbedtls_py.testing.plugin)
# imports neither the extension nor the simulator.
__getattr__, __all__ = lazy_exports(__name__, {
    "TestPKI": "mbedtls_py.creds.pki:PKI", "KeyKind": "mbedtls_py.creds.pki",
    "make_pki": "mbedtls_py.creds.pki", "cert_configs": "mbedtls_py.creds.configs",
    "psk_configs": "mbedtls_py.creds.configs", "PSK": "mbedtls_py.creds.psk:DEFAULT_PSK",
    "PSK_IDENTITY": "mbedtls_py.creds.psk:DEFAULT_PSK_IDENTITY",
    "PSK_SUITE": "mbedtls_py.creds.psk:DEFAULT_PSK_SUITE", "pump": "mbedtls_py.sim.pump",
    "handshake_pair": "mbedtls_py.sim.pump", "new_pair": "mbedtls_py.sim.pump",
})
__all__.append("open_socket_inodes")


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
