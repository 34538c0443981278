"""Library variants: several Mbed TLS builds side by side, one chosen at import.

A variant is one Mbed TLS tree (a pinned Debian version, fetched and
hash-checked, or a local directory such as a developer's patched git
checkout) compiled into its own extension module ``mbedtls_py._lib_<name>``
in its own build directory.  Mbed TLS is linked into each extension with its
symbols local (``-Wl,--exclude-libs,ALL``), so variants never clash.

``MBEDTLS_PY_VARIANT=NAME`` selects the variant the next ``import mbedtls_py``
loads (``mbedtls_py/bindings/_lib.py`` does it); ``mbedtls_py.__variant__`` and
``mbedtls_py.__mbedtls_version__`` say which one is loaded.  ``default`` (or
unset) is the extension every install has, built from the default pin.

Variants live in ``$MBEDTLS_PY_VARIANTS_DIR``, else ``.build/variants`` of the
source checkout the package runs from, else the per-user cache's
``variants`` (``mbedtls_py.cachedir``; ``MBEDTLS_PY_CACHE`` moves it); each
in ``<dir>/<name>/`` with a ``variant.json`` describing it.  Building needs
the build machinery (a checkout's ``csrc/``, or the copy a wheel carries) and
a C compiler: see :mod:`mbedtls_py.variants.build`.

This module uses the standard library only: it runs before the extension is
loaded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .._csrc import PACKAGE, checkout, csrc_dir
from ..cachedir import cache_dir

__all__ = ["ENV", "DEFAULT", "Variant", "VariantError", "variants_dir", "module_name",
           "check_name", "list_variants", "find", "load_extension", "csrc_hash", "ROOT"]

ENV = "MBEDTLS_PY_VARIANT"
DIR_ENV = "MBEDTLS_PY_VARIANTS_DIR"
DEFAULT = "default"
ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout, when run from one
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,47}$")


class VariantError(ImportError):
    """A variant is unknown, not built, stale or broken; the message says what to do."""


@dataclass
class Variant:
    """One built variant (from its ``variant.json``), or the built-in default."""

    name: str
    module: str
    mbedtls_version: str
    directory: Path | None = None  # None for the built-in default
    extension: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        """True when the checkout's C glue or declarations changed since the build."""
        current = csrc_hash()
        return bool(self.directory and current and self.info.get("csrc_hash") != current)

    def describe(self) -> str:
        """One line: where the tree came from."""
        src = self.info.get("source", {})
        kind = src.get("kind", "built-in")
        parts = [kind]
        if src.get("debian_version"):
            parts.append(f"Debian {src['debian_version']}")
        if src.get("path"):
            parts.append(str(src["path"]))
        if src.get("git_describe"):
            parts.append(f"git {src['git_describe']}")
        if src.get("diff_sha256"):
            parts.append(f"diff {src['diff_sha256'][:12]}")
        for patch in self.info.get("patches", []):
            parts.append(f"+{Path(patch['path']).name}")
        return ", ".join(parts)


def check_name(name: str) -> str:
    """``name`` if it is a valid variant name, else ValueError."""
    if not _NAME_RE.match(name):
        raise ValueError(f"bad variant name {name!r}: letters, digits and . _ + - "
                         "(at most 48, starting with a letter or digit)")
    return name


def module_name(name: str) -> str:
    """The extension module of variant ``name``: ``mbedtls_py._lib_<name>``."""
    if name == DEFAULT:
        return "mbedtls_py._lib_default"
    return "mbedtls_py._lib_" + re.sub(r"[^A-Za-z0-9_]", "_", check_name(name))


def variants_dir() -> Path:
    """Where variants are built and looked up."""
    env = os.environ.get(DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if checkout():
        return ROOT / ".build" / "variants"
    return cache_dir("variants")


def csrc_hash() -> str | None:
    """A hash of the C glue, declarations and build script (what an extension's
    interface depends on: the checkout's ``csrc/`` or the wheel's copy); None
    when there is neither."""
    csrc = csrc_dir()
    if csrc is None:
        return None
    h = hashlib.sha256()
    for path in sorted([*csrc.glob("*.c"), *csrc.glob("*.h"), *csrc.glob("*.py"),
                        *csrc.glob("cdefs/*.py"), PACKAGE / "_version.py"]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _default_version() -> str | None:
    pins = ROOT / "vendor" / "pins.json" if checkout() else PACKAGE / "_build" / "pins.json"
    try:
        data = json.loads(pins.read_text())
    except (OSError, ValueError):
        return None
    return str(os.environ.get("MBEDTLS_PY_PIN") or data.get("default") or "") or None


def _read(directory: Path) -> Variant | None:
    try:
        info = json.loads((directory / "variant.json").read_text())
    except (OSError, ValueError):
        return None
    ext = directory / info["extension"] if info.get("extension") else None
    return Variant(info["name"], info["module"], info["mbedtls_version"], directory, ext, info)


def list_variants() -> list[Variant]:
    """The built-in default, then every built variant (sorted by name)."""
    out = [Variant(DEFAULT, module_name(DEFAULT), _default_version() or "?",
                   info={"source": {"kind": "built-in (default pin)"}})]
    base = variants_dir()
    if base.is_dir():
        for d in sorted(base.iterdir()):
            v = _read(d) if d.is_dir() else None
            if v is not None:
                out.append(v)
    return out


def find(name: str) -> Variant:
    """The variant called ``name`` (VariantError if there is none).  A version
    equal to the default's, with no variant of that name, means the default."""
    name = name.strip() or DEFAULT
    variants = list_variants()
    for v in variants:
        if v.name == name:
            return v
    if name == variants[0].mbedtls_version:
        return variants[0]
    known = ", ".join(v.name for v in variants)
    raise VariantError(f"no library variant {name!r} (built: {known}); build it with "
                       f"`python -m mbedtls_py build-variant {name}` "
                       "(or `--source DIR --name NAME`)")


def load_extension(name: str) -> tuple[ModuleType, Variant]:
    """Import the extension of variant ``name``; return it and its description."""
    variant = find(name)
    if variant.directory is None:
        ext = importlib.import_module("mbedtls_py._lib_default")  # the built-in extension
        return ext, variant
    if variant.extension is None or not variant.extension.is_file():
        raise VariantError(f"variant {variant.name!r} has no extension at {variant.extension}; "
                           f"rebuild it with `python -m mbedtls_py build-variant ...`")
    if variant.stale:
        raise VariantError(
            f"variant {variant.name!r} was built from other C glue or declarations than this "
            f"checkout's csrc/; rebuild it: python -m mbedtls_py build-variant "
            f"{variant.info.get('rebuild', variant.name)}")
    if variant.module in sys.modules:
        return sys.modules[variant.module], variant
    loader = importlib.machinery.ExtensionFileLoader(variant.module, str(variant.extension))
    spec = importlib.util.spec_from_file_location(variant.module, variant.extension,
                                                  loader=loader)
    if spec is None:
        raise VariantError(f"cannot load {variant.extension}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[variant.module] = module
    loader.exec_module(module)
    return module, variant
