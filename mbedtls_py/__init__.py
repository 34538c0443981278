"""mbedtls-py: drive the real Mbed TLS DTLS server and client from Python.

The pinned Mbed TLS is compiled into ``mbedtls_py._lib_default``; other
builds (library variants, ``mbedtls_py.variants``) are chosen with
``MBEDTLS_PY_VARIANT`` and reached through ``mbedtls_py.bindings._lib``.  Python owns the
datagrams (``Context.push``/``pop``/``move_to``), the clock
(``VirtualClock``) and the randomness (``Config(seed=...)``), and sees Mbed
TLS's return codes unchanged (``Err``).

Importing the package is light: the bindings below are loaded on first use
(PEP 562 ``__getattr__``), so the pure-Python layers (``mbedtls_py.wire``,
the UDP proxy) import without the compiled extension.  Whichever import loads
``mbedtls_py.bindings._lib`` first (``from mbedtls_py import Config``, or
``import mbedtls_py.bindings.context`` directly) picks the variant, checks the build
and initialises PSA crypto once (``_lib`` is that loader).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # the names below are loaded lazily (see __getattr__)
    from .bindings.config import Config, available_ciphersuites, ciphersuite_id, ciphersuite_name
    from .bindings.context import MAX_DATAGRAM, Context, ExportedKeys, RealClock, VirtualClock
    from .bindings.errors import (
        ClosedError,
        Err,
        HelloVerifyRequired,
        MbedTLSError,
        NotAvailableError,
        PeerCloseNotify,
        Timeout,
        WantRead,
        WantWrite,
        check,
        strerror,
    )
    from .bindings.buildconfig import build_config
    from .bindings.rng import Rng
    from .bindings.timeutil import get_time, set_time
    from .bindings.x509 import CertificateChain, PrivateKey

    __mbedtls_version__: str
    __variant__: str

# The extension is loaded on first use, not at ``import mbedtls_py``: the
# library variant (MBEDTLS_PY_VARIANT) can then still be chosen after the
# package is imported but before it is used -- which is what the pytest
# plugin's ``--mbedtls-variant`` needs (pytest imports plugins before it
# parses options).  Every public name below resolves on first access.
_LAZY = {
    "Config": ".bindings.config", "available_ciphersuites": ".bindings.config", "ciphersuite_id": ".bindings.config",
    "ciphersuite_name": ".bindings.config",
    "MAX_DATAGRAM": ".bindings.context", "Context": ".bindings.context", "ExportedKeys": ".bindings.context",
    "RealClock": ".bindings.context", "VirtualClock": ".bindings.context",
    "ClosedError": ".bindings.errors", "Err": ".bindings.errors", "HelloVerifyRequired": ".bindings.errors",
    "MbedTLSError": ".bindings.errors", "NotAvailableError": ".bindings.errors", "PeerCloseNotify": ".bindings.errors",
    "Timeout": ".bindings.errors", "WantRead": ".bindings.errors", "WantWrite": ".bindings.errors", "check": ".bindings.errors",
    "strerror": ".bindings.errors",
    "Rng": ".bindings.rng",
    "build_config": ".bindings.buildconfig",
    "get_time": ".bindings.timeutil", "set_time": ".bindings.timeutil",
    "CertificateChain": ".bindings.x509", "PrivateKey": ".bindings.x509",
}
_FROM_LIB = {"__mbedtls_version__": "MBEDTLS_VERSION", "__variant__": "VARIANT"}


def __getattr__(name: str) -> Any:
    """Load a bindings export (or ``__mbedtls_version__``/``__variant__``) on first use."""
    if name in _FROM_LIB:
        from . import bindings
        value = getattr(bindings, _FROM_LIB[name])
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module 'mbedtls_py' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_FROM_LIB})


__all__ = [
    "__version__", "__mbedtls_version__", "__variant__",
    "Config", "Context", "VirtualClock", "RealClock", "ExportedKeys", "MAX_DATAGRAM",
    "Err", "MbedTLSError", "WantRead", "WantWrite", "HelloVerifyRequired", "PeerCloseNotify",
    "Timeout", "ClosedError", "NotAvailableError", "check", "strerror",
    "Rng", "CertificateChain", "PrivateKey", "set_time", "get_time",
    "available_ciphersuites", "ciphersuite_id", "ciphersuite_name", "build_config",
]
