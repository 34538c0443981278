"""Package plumbing: lazy re-exports for a subpackage's ``__init__`` (PEP 562),
so ``from mbedtls_py.udp import UDPProxy`` works without importing the rest of
the subpackage (or the compiled extension) first."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """``(__getattr__, __all__)`` for ``package`` whose ``exports`` map a name to
    the module that defines it: a submodule name relative to ``package``, or an
    absolute ``mbedtls_py....`` module path; ``module:attr`` exports that
    module's ``attr`` under the name (an alias)."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook of PEP 562
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = module.partition(":")
        path = module if module.startswith("mbedtls_py.") else f"{package}.{module}"
        value = getattr(importlib.import_module(path), attr or name)
        setattr(sys.modules[package], name, value)  # found once, then a plain attribute
        return value

    return __getattr__, [n for n in sorted(exports) if not n.startswith("_")]
