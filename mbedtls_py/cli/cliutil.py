"""Command-line helpers shared by the commands: a progress bar, docstrings as
help text, and (from ``mbedtls_py._cliargs``, which the commands outside
``cli`` use too) one-line argument errors and number argument types."""

from __future__ import annotations

import re

from .._progress import Progress
from .._cliargs import (NON_NEGATIVE_INT, NON_NEGATIVE_MS, POSITIVE_INT, POSITIVE_MS,
                        OneLineParser, number_type)

__all__ = ["OneLineParser", "plain", "Progress", "POSITIVE_INT", "NON_NEGATIVE_INT", "POSITIVE_MS",
           "NON_NEGATIVE_MS", "number_type"]


def plain(text: str) -> str:
    """A docstring paragraph as terminal text: RST roles (``:func:`x```) and
    double backticks removed, lines joined (argparse wraps them again)."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return " ".join(text.replace("``", "").split())
