"""What every command shares: one-line argument errors, number types, help from
a module docstring (as written, or as plain terminal text) and a progress bar.
Below every layer (standard library only), so the commands of ``cli``,
``sslopt``, ``fuzz`` and ``variants`` use one copy."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

from ._progress import Progress

__all__ = ["OneLineParser", "number_type", "doc_parser", "plain", "Progress", "POSITIVE_INT",
           "NON_NEGATIVE_INT", "POSITIVE_MS", "NON_NEGATIVE_MS"]


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr and exit status 2
    (``--help`` still prints the usage)."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see --help)`` and exit with status 2."""
        text = " ".join(message.split())
        print(f"{self.prog}: error: {text} (see --help)", file=sys.stderr)
        sys.exit(2)


def number_type(kind: type, minimum: float, what: str, strict: bool = False,
                maximum: float | None = None) -> Any:
    """An argparse ``type``: parse ``kind`` and require ``>= minimum`` (``>``
    when ``strict``) and, if given, ``<= maximum``; the error quotes what was
    typed and says what to give (``what``)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number; give {what}") from None
        if value != value or (value <= minimum if strict else value < minimum) \
                or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; give {what}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE_INT = number_type(int, 0, "a whole number >= 1", strict=True)


NON_NEGATIVE_INT = number_type(int, 0, "a whole number >= 0 (0: off)")


POSITIVE_MS = number_type(float, 0, "a time in ms > 0", strict=True)


NON_NEGATIVE_MS = number_type(float, 0, "a time in ms >= 0")


def doc_parser(prog: str, doc: str | None, **kwargs: Any) -> argparse.ArgumentParser:
    """An ``OneLineParser`` whose help is a module docstring, as written: its
    first paragraph the description, the rest the epilog."""
    description, _, epilog = (doc or "").partition("\n\n")
    return OneLineParser(prog=prog, description=description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   **kwargs)


def plain(text: str) -> str:
    """A docstring paragraph as terminal text: RST roles (``:func:`x```) and
    double backticks removed, lines joined (argparse wraps them again)."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return " ".join(text.replace("``", "").split())
