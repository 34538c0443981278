"""mbedtls-py: drive the real Mbed TLS DTLS server and client from Python.

The pinned Mbed TLS is compiled into ``mbedtls_py._lib``.  Python owns the
datagrams (``Context.push``/``pop``/``move_to``), the clock
(``VirtualClock``) and the randomness (``Config(seed=...)``), and sees Mbed
TLS's return codes unchanged (``Err``).
"""

from __future__ import annotations

from ._version import __version__

try:
    from ._lib import ffi as _ffi, lib as _lib
except ImportError as e:  # pragma: no cover - depends on how it was installed
    raise ImportError(
        "mbedtls_py's C extension is not built. From a checkout run "
        "`pip install -e .` (or `python csrc/build.py`)."
    ) from e


def _check_build() -> str:
    compiled = _ffi.string(_lib.mpy_package_version()).decode()
    if compiled != __version__:
        raise ImportError(f"mbedtls_py {__version__} found an extension built for {compiled}; "
                          "rebuild it with `pip install .`")
    buf = _ffi.new("char[]", 32)
    _lib.mbedtls_version_get_string(buf)
    running = _ffi.string(buf).decode()
    pinned = _ffi.string(_lib.mpy_pinned_mbedtls_version()).decode()
    if running != pinned:
        raise ImportError(f"extension runs Mbed TLS {running}, but {pinned} is pinned")
    status = _lib.mpy_global_init()
    if status != 0:
        raise ImportError(f"psa_crypto_init() failed with {status}")
    return running


__mbedtls_version__: str = _check_build()

from .buildconfig import build_config  # noqa: E402
from .config import Config, available_ciphersuites, ciphersuite_id, ciphersuite_name  # noqa: E402
from .context import MAX_DATAGRAM, Context, ExportedKeys, RealClock, VirtualClock  # noqa: E402
from .errors import (  # noqa: E402
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
from .rng import Rng  # noqa: E402
from .timeutil import get_time, set_time  # noqa: E402
from .x509 import CertificateChain, PrivateKey  # noqa: E402

__all__ = [
    "__version__", "__mbedtls_version__",
    "Config", "Context", "VirtualClock", "RealClock", "ExportedKeys", "MAX_DATAGRAM",
    "Err", "MbedTLSError", "WantRead", "WantWrite", "HelloVerifyRequired", "PeerCloseNotify",
    "Timeout", "ClosedError", "NotAvailableError", "check", "strerror",
    "Rng", "CertificateChain", "PrivateKey", "set_time", "get_time",
    "available_ciphersuites", "ciphersuite_id", "ciphersuite_name", "build_config",
]
