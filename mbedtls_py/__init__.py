"""mbedtls-py: drive the real Mbed TLS DTLS server and client from Python.

The pinned Mbed TLS is compiled into ``mbedtls_py._lib``.  Python owns the
datagrams (``Context.push``/``pop``/``move_to``), the clock
(``VirtualClock``) and the randomness (``Config(seed=...)``), and sees Mbed
TLS's return codes unchanged (``Err``).

Importing the package is light: the bindings below are loaded on first use
(PEP 562 ``__getattr__``), so the pure-Python layers (``mbedtls_py.wire``,
the UDP proxy) import without the compiled extension.  Whichever import loads
``mbedtls_py._lib`` first (``from mbedtls_py import Config``, or
``import mbedtls_py.context`` directly) checks the build and initialises PSA
crypto once, through the import hook installed here.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from typing import TYPE_CHECKING, Any, cast

from ._version import __version__

if TYPE_CHECKING:  # the names a type checker sees; at run time they load lazily
    from .config import Config, available_ciphersuites, ciphersuite_id, ciphersuite_name
    from .context import MAX_DATAGRAM, Context, ExportedKeys, RealClock, VirtualClock
    from .errors import (
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
    from .rng import Rng
    from .timeutil import get_time, set_time
    from .x509 import CertificateChain, PrivateKey

    __mbedtls_version__: str

_EXT = __name__ + "._lib"
_running_version: str | None = None


def _check_build(ffi: Any, lib: Any) -> str:
    """Refuse a stale or mismatched extension; initialise PSA crypto once."""
    compiled = ffi.string(lib.mpy_package_version()).decode()
    if compiled != __version__:
        raise ImportError(f"mbedtls_py {__version__} found an extension built for {compiled}; "
                          "rebuild it with `pip install .`")
    buf = ffi.new("char[]", 32)
    lib.mbedtls_version_get_string(buf)
    running = ffi.string(buf).decode()
    pinned = ffi.string(lib.mpy_pinned_mbedtls_version()).decode()
    if running != pinned:
        raise ImportError(f"extension runs Mbed TLS {running}, but {pinned} is pinned")
    status = lib.mpy_global_init()
    if status != 0:
        raise ImportError(f"psa_crypto_init() failed with {status}")
    return str(running)


# Plain classes with the finder/loader protocol methods (importlib.abc would cost
# ~15 ms of imports on every `import mbedtls_py`).
class _CheckedLoader:
    """Loads the extension, then runs :func:`_check_build` before anyone uses it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        global _running_version
        self._inner.exec_module(module)
        _running_version = _check_build(module.ffi, module.lib)


class _ExtensionHook:
    """Finds ``mbedtls_py._lib`` like the path finder does, with a checking loader."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _EXT:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            raise ImportError(
                "mbedtls_py's C extension is not built. From a checkout run "
                "`pip install -e .` (or `python csrc/build.py`).", name=fullname)
        spec.loader = cast(Any, _CheckedLoader(spec.loader))
        return spec


if not any(isinstance(f, _ExtensionHook) for f in sys.meta_path):
    sys.meta_path.insert(0, _ExtensionHook())

# public name -> binding module that defines it
_LAZY = {
    **dict.fromkeys(["Config", "available_ciphersuites", "ciphersuite_id", "ciphersuite_name"], "config"),
    **dict.fromkeys(["MAX_DATAGRAM", "Context", "ExportedKeys", "RealClock", "VirtualClock"], "context"),
    **dict.fromkeys(["ClosedError", "Err", "HelloVerifyRequired", "MbedTLSError", "NotAvailableError",
                     "PeerCloseNotify", "Timeout", "WantRead", "WantWrite", "check", "strerror"], "errors"),
    "Rng": "rng", "get_time": "timeutil", "set_time": "timeutil",
    "CertificateChain": "x509", "PrivateKey": "x509",
}


def __getattr__(name: str) -> Any:
    """Load a bindings export (or ``__mbedtls_version__``) on first use."""
    if name == "__mbedtls_version__":
        importlib.import_module(_EXT)
        globals()[name] = _running_version
        return _running_version
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__mbedtls_version__"})


__all__ = [
    "__version__", "__mbedtls_version__",
    "Config", "Context", "VirtualClock", "RealClock", "ExportedKeys", "MAX_DATAGRAM",
    "Err", "MbedTLSError", "WantRead", "WantWrite", "HelloVerifyRequired", "PeerCloseNotify",
    "Timeout", "ClosedError", "NotAvailableError", "check", "strerror",
    "Rng", "CertificateChain", "PrivateKey", "set_time", "get_time",
    "available_ciphersuites", "ciphersuite_id", "ciphersuite_name",
]
