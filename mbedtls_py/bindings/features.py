"""Feature flags of the loaded library variant (``MPY_HAS_*`` from
``csrc/compat.h``), checked the pyca way: a call that needs a feature the
variant's Mbed TLS lacks raises :class:`NotAvailableError`, naming the variant
and version, instead of failing somewhere inside."""

from __future__ import annotations

from ._lib import MBEDTLS_VERSION, VARIANT, lib
from .errors import NotAvailableError

__all__ = ["has", "require", "FLAGS"]

FLAGS = ("KEY_EXPORT", "MAX_IN_RECORD_PAYLOAD", "GET_OWN_CID", "SNI", "MS_TIME")


def has(flag: str) -> bool:
    """True when the loaded variant has ``flag`` (one of :data:`FLAGS`)."""
    if flag not in FLAGS:
        raise ValueError(f"unknown feature {flag!r}; one of {', '.join(FLAGS)}")
    return bool(getattr(lib, f"MPY_HAS_{flag}"))


def require(flag: str, what: str) -> None:
    """Raise NotAvailableError unless the loaded variant has ``flag``."""
    if not has(flag):
        raise NotAvailableError(f"{what} is not available in this variant "
                                f"({VARIANT}: Mbed TLS {MBEDTLS_VERSION})")
