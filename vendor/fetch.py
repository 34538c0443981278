#!/usr/bin/env python3
"""Obtain a pinned Mbed TLS source and unpack it: the command-line entry of
``mbedtls_py/_fetch.py``, where the one implementation lives (an installed
wheel fetches the same way).  ``python vendor/fetch.py --help`` for the options."""

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "mbedtls_py" / "_fetch.py"
# By path, not `import mbedtls_py._fetch`: it runs before the package is built.
_spec = importlib.util.spec_from_file_location("_mbedtls_py_fetch", _PATH)
assert _spec is not None and _spec.loader is not None
_fetch = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("_mbedtls_py_fetch", _fetch)
_spec.loader.exec_module(_fetch)

if __name__ == "__main__":
    sys.exit(_fetch.main())
