"""Command-line helpers shared by the ``serve`` and ``proxy`` commands."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["OneLineParser"]


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2
    (``--help`` still prints the usage)."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see --help)`` and exit with status 2."""
        text = " ".join(message.split())
        print(f"{self.prog}: error: {text} (see --help)", file=sys.stderr)
        sys.exit(2)
