"""``Err`` at run time: built from the loaded extension's constants, so a
library variant gets exactly the codes of its own headers.

Type checkers read ``_err.pyi`` instead, which ``csrc/mbedtls_build.py``
generates from the default pin's headers (a class with every member), so
``Err.SSL_UNEXPECTED_MESSAGE`` type-checks although the enum is built with
the functional API here.
"""

from __future__ import annotations

import enum

from ._lib import lib

__all__ = ["Err", "hex_code"]


def hex_code(value: int) -> str:
    """A code as Mbed TLS writes it: ``-0x7700``."""
    return f"-0x{-value:04X}" if value < 0 else f"0x{value:04X}"


def _members() -> list[tuple[str, int]]:
    mbedtls, psa = [], []
    for name in dir(lib):
        if name.startswith("MBEDTLS_ERR_"):
            mbedtls.append((name[len("MBEDTLS_ERR_"):], getattr(lib, name)))
        elif name.startswith("PSA_ERROR_"):
            psa.append((name, getattr(lib, name)))
    # PSA names first, so that they are canonical where an Mbed TLS code shares
    # a value: 4.x defines many legacy codes as aliases of PSA_ERROR_* (2.x and
    # 3.x have no shared values); within each group, sorted for a stable choice
    # among aliases.  (csrc/mbedtls_build.py:err_members writes the stub in the
    # same order.)
    return sorted(psa) + sorted(mbedtls)


Err = enum.IntEnum("Err", _members(), module="mbedtls_py.bindings.errors")  # type: ignore[misc]
Err.__qualname__ = "Err"
Err.__doc__ = "Every MBEDTLS_ERR_* (prefix dropped) and PSA_ERROR_* of the loaded Mbed TLS."
Err.__repr__ = lambda self: f"<Err.{self.name}: {hex_code(self.value)}>"  # type: ignore
Err.__str__ = lambda self: f"{self.name} ({hex_code(self.value)})"  # type: ignore
