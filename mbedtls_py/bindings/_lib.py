"""The C extension every module imports (``from ._lib import ffi, lib``):
the library variant chosen by ``MBEDTLS_PY_VARIANT`` (default: the built-in
``mbedtls_py._lib_default``), checked once and initialised once.

``VARIANT`` and ``MBEDTLS_VERSION`` say which one is loaded
(``mbedtls_py.__variant__``, ``mbedtls_py.__mbedtls_version__``).  One
process loads one variant: compare variants in separate processes
(``mbedtls-py matrix``).
"""

from __future__ import annotations

import os
from typing import Any

from .._version import __version__
from ..variants import DEFAULT, ENV, VariantError, load_extension

__all__ = ["ffi", "lib", "VARIANT", "MBEDTLS_VERSION"]


def _load() -> tuple[Any, Any, str, str]:
    requested = os.environ.get(ENV, "").strip() or DEFAULT
    try:
        ext, variant = load_extension(requested)
    except VariantError:
        raise
    except ImportError as e:  # pragma: no cover - depends on how it was installed
        raise ImportError(
            f"mbedtls_py's C extension ({requested}) is not built. From a checkout run "
            "`pip install -e .` (or `python csrc/mbedtls_build.py`).") from e
    ffi, lib = ext.ffi, ext.lib
    compiled = ffi.string(lib.mpy_package_version()).decode()
    if compiled != __version__:
        raise ImportError(f"mbedtls_py {__version__} found an extension ({variant.name}) built "
                          f"for {compiled}; rebuild it")
    buf = ffi.new("char[]", 32)
    lib.mbedtls_version_get_string(buf)
    running = ffi.string(buf).decode()
    built_for = ffi.string(lib.mpy_pinned_mbedtls_version()).decode()
    if running != built_for:
        raise ImportError(f"extension {variant.module} runs Mbed TLS {running}, "
                          f"but was built for {built_for}")
    status = lib.mpy_global_init()
    if status != 0:
        raise ImportError(f"psa_crypto_init() failed with {status}")
    return ffi, lib, variant.name, running


ffi, lib, VARIANT, MBEDTLS_VERSION = _load()
