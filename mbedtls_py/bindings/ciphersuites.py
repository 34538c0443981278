"""Cipher suites of the loaded build by Mbed TLS name, IANA name or id
(``Config.set_ciphersuites`` takes any of them)."""

from __future__ import annotations

from ._lib import ffi, lib

__all__ = ["available_ciphersuites", "ciphersuite_id", "ciphersuite_name", "int_in"]


def int_in(value: object, lo: int, hi: int, what: str) -> int:
    """``value`` when it is an int (not a bool) in ``lo .. hi``; else one
    ValueError wording, whatever was wrong (type or range)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an int {lo} .. {hi}, not {value!r}")
    return value


def available_ciphersuites() -> list[str]:
    """The Mbed TLS names of every cipher suite this build offers, in preference order."""
    out, ids = [], lib.mbedtls_ssl_list_ciphersuites()
    i = 0
    while ids[i] != 0:
        out.append(ffi.string(lib.mbedtls_ssl_get_ciphersuite_name(ids[i])).decode())
        i += 1
    return out


def ciphersuite_id(suite: str | int) -> int:
    """The IANA id of a cipher suite given by Mbed TLS name
    (``TLS-PSK-WITH-AES-128-GCM-SHA256``), IANA name (``TLS_PSK_WITH_...``) or id."""
    if isinstance(suite, bool) or not isinstance(suite, (str, int)):
        raise TypeError(f"cipher suite must be a name or an int id, not {type(suite).__name__}")
    if isinstance(suite, int):
        int_in(suite, 0, 0xFFFF, "cipher suite id")
        if lib.mbedtls_ssl_get_ciphersuite_name(suite) == ffi.NULL or \
                ffi.string(lib.mbedtls_ssl_get_ciphersuite_name(suite)) == b"unknown":
            raise ValueError(f"cipher suite 0x{suite:04X} is not available in this build")
        return suite
    name = suite.strip().upper().replace("_", "-")
    if "\0" in name:
        raise ValueError("cipher suite name contains NUL")
    found = lib.mbedtls_ssl_get_ciphersuite_id(name.encode())
    if found == 0:
        raise ValueError(f"unknown cipher suite {suite!r}; see "
                         "mbedtls_py.available_ciphersuites()")
    return int(found)


def ciphersuite_name(suite_id: int) -> str:
    """The Mbed TLS name of a cipher suite id (0 .. 0xFFFF; ``"unknown"`` for
    one this build does not have)."""
    int_in(suite_id, 0, 0xFFFF, "cipher suite id")
    return str(ffi.string(lib.mbedtls_ssl_get_ciphersuite_name(suite_id)).decode())
