"""The bindings layer: thin wrappers of the compiled extension, the error
table, configurations, contexts and their parts (queues, timer, keys, RNG,
certificates).  ``mbedtls_py`` re-exports the public names; the other layers
import from here.

``ffi`` and ``lib`` are the raw cffi objects of the loaded extension (the
default build or a variant), for the few glue calls no wrapper covers; they
load on first use, so importing a bindings module does not load the
extension before it needs it (the variant is chosen at that first use)."""

from __future__ import annotations

from typing import Any

_RAW = ("ffi", "lib", "MBEDTLS_VERSION", "VARIANT")


def __getattr__(name: str) -> Any:
    if name in _RAW:
        from . import _lib
        return getattr(_lib, name)
    raise AttributeError(f"module 'mbedtls_py.bindings' has no attribute {name!r}")
