"""Mbed TLS error codes and the exceptions that carry them.

``Err`` holds every ``MBEDTLS_ERR_*`` and ``PSA_ERROR_*`` of the loaded
Mbed TLS; the names come from a scan of the headers at build time and the
values from the compiler, so nothing is copied by hand (``_err.py`` builds
it; type checkers see the generated ``_err.pyi``, every member of the
default pin)::

    >>> Err.SSL_UNEXPECTED_MESSAGE
    <Err.SSL_UNEXPECTED_MESSAGE: -0x7700>
    >>> Err(-0x7700) == -30464
    True
"""

from __future__ import annotations

from ._err import Err
from ._err import hex_code as _hex
from ._lib import ffi, lib

__all__ = [
    "Err",
    "MbedTLSError",
    "WantRead",
    "WantWrite",
    "HelloVerifyRequired",
    "PeerCloseNotify",
    "Timeout",
    "ClosedError",
    "NotAvailableError",
    "strerror",
    "check",
    "error_name",
    "as_err",
    "rc_text",
]


# Fast int -> Err lookup for the hot path (Enum's own lookup is slower).
# Iterating an Enum skips aliases, so each value maps to its canonical name.
_BY_VALUE: dict[int, Err] = {int(m): m for m in Err}


def as_err(rc: int) -> int:
    """``rc`` as an ``Err`` member when it is a known negative code, else unchanged."""
    if rc < 0:
        return _BY_VALUE.get(rc, rc)
    return rc


def rc_text(rc: int, *, printf: bool = False) -> str:
    """A return code for a reader: a negative one (an error) in hex as Mbed TLS
    writes it (``-0x7700``), zero or a count in decimal.  ``printf=True``: as
    upstream's C programs print it (``-0x%x``: lower case, unpadded), the form
    ssl-opt.sh's patterns look for."""
    rc = int(rc)
    if rc >= 0:
        return str(rc)
    return f"-0x{-rc:x}" if printf else _hex(rc)


def error_name(rc: int) -> str:
    """The Mbed TLS name of a code (``MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE``), or its hex."""
    member = _BY_VALUE.get(rc)
    if member is not None:
        return member.name if member.name.startswith("PSA_") else "MBEDTLS_ERR_" + member.name
    if -0xFFFF <= rc < 0:
        # A high-level code plus a low-level one, split as mbedtls_strerror does.
        high, low = _BY_VALUE.get(-(-rc & 0xFF80)), _BY_VALUE.get(-(-rc & ~0xFF80))
        if high is not None and low is not None:
            return f"MBEDTLS_ERR_{high.name} + MBEDTLS_ERR_{low.name}"
    return _hex(rc)


def strerror(rc: int) -> str:
    """Mbed TLS's own description of ``rc`` (``mbedtls_strerror``)."""
    if not isinstance(rc, int):
        raise TypeError(f"error code must be an int, not {type(rc).__name__}")
    if not -0x7FFFFFFF <= rc <= 0x7FFFFFFF:
        raise ValueError(f"error code {rc} is out of range for a C int")
    buf = ffi.new("char[]", 256)
    lib.mbedtls_strerror(rc, buf, 256)
    return str(ffi.string(buf).decode("utf-8", "replace"))


class MbedTLSError(Exception):
    """An Mbed TLS call returned a negative code.

    ``.code`` is the exact int (an ``Err`` member when known), ``.name`` the
    Mbed TLS name and ``.message`` the ``mbedtls_strerror`` text.
    """

    def __init__(self, code: int, context: str | None = None) -> None:
        self.code = as_err(code)
        self.name = error_name(code)
        self.message = strerror(code)
        self.context = context
        text = f"{self.name} ({_hex(code)}): {self.message}"
        super().__init__(f"{context}: {text}" if context else text)


class WantRead(MbedTLSError):
    """``MBEDTLS_ERR_SSL_WANT_READ``: the call needs a datagram that has not arrived."""


class WantWrite(MbedTLSError):
    """``MBEDTLS_ERR_SSL_WANT_WRITE``: the outbound queue is full; drain it and retry."""


class HelloVerifyRequired(MbedTLSError):
    """``MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED``: the server sent a cookie; reset and go on."""


class PeerCloseNotify(MbedTLSError):
    """``MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY``: the peer closed the connection cleanly."""


class Timeout(MbedTLSError):
    """``MBEDTLS_ERR_SSL_TIMEOUT``: the handshake or read timed out."""


class ClosedError(ValueError):
    """An operation on a ``Context`` (or other handle) after ``close()``."""


class NotAvailableError(RuntimeError):
    """A feature that this build of Mbed TLS does not include."""


_SUBCLASSES: dict[int, type[MbedTLSError]] = {
    Err.SSL_WANT_READ: WantRead,
    Err.SSL_WANT_WRITE: WantWrite,
    Err.SSL_HELLO_VERIFY_REQUIRED: HelloVerifyRequired,
    Err.SSL_PEER_CLOSE_NOTIFY: PeerCloseNotify,
    Err.SSL_TIMEOUT: Timeout,
}


def error_for(rc: int, context: str | None = None) -> MbedTLSError:
    """The exception for a negative code (the flow-control codes get subclasses)."""
    return _SUBCLASSES.get(rc, MbedTLSError)(rc, context)


def check(rc: int, context: str | None = None) -> int:
    """Return ``rc`` when it is >= 0; raise the matching ``MbedTLSError`` otherwise."""
    if rc < 0:
        raise error_for(rc, context)
    return rc
