"""The suite's root: ``tests/`` on ``sys.path`` so every layer's test files
import the shared helpers (``_versions``, ``_isolated``, ``_udp_helpers``,
``_sslopt_tree``, ``capture_helpers``) by name, whether pytest runs the whole
suite or one file."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
