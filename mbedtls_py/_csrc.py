"""Where the build machinery is, in a source checkout and in an installed wheel.

A checkout has ``csrc/`` (the cdefs, the C glue, the config header and
``mbedtls_build.py``) and ``vendor/`` next to the package, and builds into
``.build/``.  A wheel carries the same ``csrc/`` as package data,
``mbedtls_py/_build/csrc`` (setup.py's ``build_py`` copies it, with
``vendor/pins.json``), and builds library variants and upstream programs into
the per-user cache (:mod:`mbedtls_py.cachedir`).  One build script serves
both: :func:`load_build` imports whichever is there.

Standard library only: the variant loader uses it before the extension loads.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .cachedir import cache_dir

__all__ = ["PACKAGE", "CHECKOUT_ROOT", "checkout", "csrc_dir", "load_build", "build_dir",
           "fetch_module"]

PACKAGE = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE.parent  # the checkout, when the package runs from one
_MODULE = "_mbedtls_py_csrc_build"  # the one name the build script is loaded under


def checkout() -> bool:
    """True when the package runs from a source checkout (``csrc/`` beside it)."""
    return (CHECKOUT_ROOT / "csrc" / "mbedtls_build.py").is_file()


def csrc_dir() -> Path | None:
    """The checkout's ``csrc/``, else the wheel's copy; None if neither is there."""
    for d in (CHECKOUT_ROOT / "csrc", PACKAGE / "_build" / "csrc"):
        if (d / "mbedtls_build.py").is_file():
            return d
    return None


def build_dir(*parts: str) -> Path:
    """``.build/<parts>`` of the checkout, else ``cache_dir("build", *parts)``."""
    if checkout():
        return CHECKOUT_ROOT.joinpath(".build", *parts)
    return cache_dir("build", *parts)


def load_build() -> ModuleType:
    """``mbedtls_build.py`` as a module; RuntimeError (one line, what to do) when
    this installation has no build machinery or no C toolchain."""
    if _MODULE in sys.modules:
        module = sys.modules[_MODULE]
        module.check_toolchain()
        return module
    csrc = csrc_dir()
    if csrc is None:
        raise RuntimeError(f"this installation of mbedtls-py has no build machinery (no "
                           f"csrc/mbedtls_build.py in {CHECKOUT_ROOT} or {PACKAGE / '_build'}): "
                           "reinstall it from its wheel or sdist, or use a source checkout")
    spec = importlib.util.spec_from_file_location(_MODULE, csrc / "mbedtls_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as e:  # cffi (a dependency) or setuptools (needed by cffi's compile)
        del sys.modules[_MODULE]
        raise RuntimeError(f"building needs {e.name or 'cffi'}: pip install "
                           f"{'setuptools' if e.name in ('setuptools', 'distutils') else 'cffi'}"
                           ) from None
    module.check_toolchain()
    return module


def fetch_module() -> ModuleType:
    """``mbedtls_py/_fetch.py`` under the name the build script loads it by
    (one module object, whichever loads it first)."""
    name = "_mbedtls_py_fetch"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PACKAGE / "_fetch.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
