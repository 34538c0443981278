"""Where mbedtls-py keeps what it fetches and builds for one user: verified
source trees, library variants, upstream programs and foreign-peer extensions.

Never next to the package (site-packages may be read-only or shared): the
platform's per-user cache, ``$XDG_CACHE_HOME/mbedtls-py`` or
``~/.cache/mbedtls-py``; ``$MBEDTLS_PY_CACHE`` overrides it.  Standard library
only, so the extension's loader may use it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV", "cache_dir"]

ENV = "MBEDTLS_PY_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache directory (or ``parts`` below it), not created."""
    root = os.environ.get(ENV)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "mbedtls-py")
    return Path(root).joinpath(*parts)
