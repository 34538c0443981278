"""``build_config()``: the configuration macros this build was compiled with."""

from __future__ import annotations

from functools import lru_cache

from ._lib import ffi, lib

__all__ = ["build_config"]


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, str], ...]:
    rows = []
    for i in range(lib.mpy_build_config_count()):
        name = ffi.string(lib.mpy_build_config_name(i)).decode()
        if name:
            rows.append((name, ffi.string(lib.mpy_build_config_value(i)).decode()))
    return tuple(rows)


def build_config() -> dict[str, str]:
    """Every configuration macro (``MBEDTLS_*``, ``PSA_WANT_*``) that is
    defined in this build, mapped to its expansion (``""`` for a plain
    switch), in the order upstream's ``query_compile_time_config -l`` lists
    them.  The table is compiled from the same headers and configuration as
    the library, so it is what ssl-opt.sh's ``requires_config_enabled`` sees."""
    return dict(_table())
