"""``ProtocolOptions``, the part of a ``Config`` for the options upstream's
test programs (``ssl_server2``, ``ssl_client2``) set beyond a plain DTLS
config: renegotiation, MFL, EtM/EMS, session tickets and cache, SHA-1 for
upstream's test certificates, SNI."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Literal

from ._lib import ffi, lib
from ._confhandle import ConfHandle
from .errors import as_err, check
from .rng import Rng
from .x509 import CertificateChain, PrivateKey

__all__ = ["ProtocolOptions"]

AuthMode = Literal["none", "optional", "required"]
_AUTHMODES = {"none": lib.MBEDTLS_SSL_VERIFY_NONE, "optional": lib.MBEDTLS_SSL_VERIFY_OPTIONAL,
              "required": lib.MBEDTLS_SSL_VERIFY_REQUIRED}
_MFL_CODES = {0: 0, 512: 1, 1024: 2, 2048: 3, 4096: 4}


def _new(ref: Any) -> Any:
    """A reference-counted C object just made, owned by its Python wrapper."""
    if ref == ffi.NULL:
        raise MemoryError("out of memory")
    return ffi.gc(ref, lib.mpy_ref_release)


class ProtocolOptions:
    """These options of one C config; ``Config`` forwards its methods here.

    They follow the bindings' rule (README "Return codes and exceptions"):
    a setter over a call that can fail returns its int unchanged (an ``Err``
    member where known) and has a raising form ``do_<name>`` with the same
    arguments; setters over calls that cannot fail return ``None``.
    """

    #: These raw calls; ``Config.RAW_CALLS`` includes them.
    RAW_CALLS: ClassVar[tuple[str, ...]] = ("set_max_frag_len", "set_session_tickets")

    __slots__ = ("_h", "_conf")

    def __init__(self, handle: ConfHandle) -> None:
        self._h = handle
        self._conf = handle.conf

    def set_renegotiation(self, enabled: bool) -> None:
        """``mbedtls_ssl_conf_renegotiation``: allow renegotiation (off by default)."""
        lib.mbedtls_ssl_conf_renegotiation(
            self._conf, lib.MBEDTLS_SSL_RENEGOTIATION_ENABLED if enabled
            else lib.MBEDTLS_SSL_RENEGOTIATION_DISABLED)

    def set_renegotiation_enforced(self, max_records: int) -> None:
        """``mbedtls_ssl_conf_renegotiation_enforced``: records to wait for the
        peer to renegotiate (-1: never enforce)."""
        if not isinstance(max_records, int) or max_records < -1:
            raise ValueError("max_records must be an int >= -1")
        lib.mbedtls_ssl_conf_renegotiation_enforced(self._conf, max_records)

    def set_renegotiation_period(self, records: int) -> None:
        """``mbedtls_ssl_conf_renegotiation_period``: renegotiate automatically
        when the record counter exceeds ``records``."""
        if not isinstance(records, int) or not 0 <= records < 1 << 64:
            raise ValueError("period must be an int 0 .. 2**64-1")
        # Mbed TLS copies the 8 bytes into the config: nothing to keep.
        lib.mbedtls_ssl_conf_renegotiation_period(self._conf, records.to_bytes(8, "big"))

    def set_max_frag_len(self, size: int) -> int:
        """``mbedtls_ssl_conf_max_frag_len``: 0 (none), 512, 1024, 2048 or
        4096; returns its code (0, or ``SSL_BAD_INPUT_DATA``)."""
        if isinstance(size, bool) or size not in _MFL_CODES:
            raise ValueError("max fragment length must be 0, 512, 1024, 2048 or 4096")
        return as_err(lib.mbedtls_ssl_conf_max_frag_len(self._conf, _MFL_CODES[size]))

    def do_set_max_frag_len(self, size: int) -> None:
        """``set_max_frag_len``; raises ``MbedTLSError`` on a code."""
        self._h.raise_for(self.set_max_frag_len(size), "set_max_frag_len")

    def set_encrypt_then_mac(self, enabled: bool) -> None:
        """``mbedtls_ssl_conf_encrypt_then_mac`` (on by default)."""
        lib.mbedtls_ssl_conf_encrypt_then_mac(self._conf, bytes([1 if enabled else 0]))

    def set_extended_master_secret(self, enabled: bool) -> None:
        """``mbedtls_ssl_conf_extended_master_secret`` (on by default)."""
        lib.mbedtls_ssl_conf_extended_master_secret(self._conf, bytes([1 if enabled else 0]))

    def set_session_tickets(self, enabled: bool, lifetime_s: int, rng: Rng) -> int:
        """``Config.set_session_tickets``, the ticket keys from ``rng`` (the config's)."""
        if isinstance(lifetime_s, bool) or not isinstance(lifetime_s, int) \
                or not 0 <= lifetime_s <= 0xFFFFFFFF:
            raise ValueError("ticket lifetime must be an int 0 .. 2**32-1 seconds")
        lib.mbedtls_ssl_conf_session_tickets(
            self._conf, lib.MBEDTLS_SSL_SESSION_TICKETS_ENABLED if enabled
            else lib.MBEDTLS_SSL_SESSION_TICKETS_DISABLED)
        if self._h.endpoint != "server":
            return 0
        lib.mpy_conf_session_tickets_cb(self._conf, ffi.NULL)
        self._h.replace("session_tickets", None)  # tickets are written and parsed by one call
        if not enabled:
            return 0
        ticket = _new(lib.mpy_ticket_new())
        rc: int = lib.mpy_ticket_setup(ticket, rng._ptr, lifetime_s)  # retains the RNG
        if rc:
            return as_err(rc)
        self._h.hold(ticket)
        lib.mpy_conf_session_tickets_cb(self._conf, ticket)
        self._h.replace("session_tickets", ticket)
        return 0

    def set_session_cache(self, max_entries: int | None = None,
                          timeout_s: int | None = None) -> None:
        """A server-side session cache (``mbedtls_ssl_cache``); ``None`` keeps
        Mbed TLS's defaults (50 entries, 86400 s)."""
        self._h.check_server("a session cache")
        cache = _new(lib.mpy_cache_new())
        if max_entries is not None:
            lib.mbedtls_ssl_cache_set_max_entries(cache, max_entries)
        if timeout_s is not None:
            lib.mbedtls_ssl_cache_set_timeout(cache, timeout_s)
        self._h.hold(cache)
        lib.mpy_conf_session_cache(self._conf, cache)
        self._h.replace("session_cache", cache)  # read through the config, never kept

    def allow_sha1(self) -> None:
        """Accept SHA-1 in certificates and signatures, as upstream's test
        programs do with ``allow_sha1=1``."""
        lib.mpy_conf_allow_sha1(self._h.owner)

    def set_sni(self, entries: list[tuple[str, CertificateChain, PrivateKey,
                                                  CertificateChain | None, bytes | None,
                                                  AuthMode | None]]) -> None:
        """Server Name Indication as ssl_server2's ``sni=`` does it: for each
        ``(name, chain, key, ca or None, crl (PEM/DER) or None, authmode or
        None)`` a client asking for ``name`` gets that certificate, CA chain
        and authmode; an unknown name fails the handshake.  Later entries are
        matched first, as in ssl_server2.  ``[]`` turns SNI off."""
        self._h.check_server("SNI")
        from .features import require

        require("SNI", "SNI (the certificate callback, Mbed TLS 3.x)")
        # A handshake keeps pointers to the certificate, key, CA and CRL its
        # name picked until it ends: each entry retains those, and the C
        # connection retains the entry its handshake picked (conf_glue.c), so
        # the previous set is let go of (a CRL is parsed once per content).
        checked = []
        for name, chain, key, ca, crl, auth in entries:
            raw = name.encode()
            if not raw or len(raw) > 255 or b"\0" in raw:
                raise ValueError("SNI name must be 1 .. 255 bytes without NUL")
            if auth is not None and auth not in _AUTHMODES:
                raise ValueError(f"authmode must be one of {sorted(_AUTHMODES)}")
            checked.append((raw, chain._crt, key._pk, ca._crt if ca is not None else ffi.NULL,
                            self._crl(crl) if crl is not None else ffi.NULL,
                            _AUTHMODES[auth] if auth is not None else -1))
        head = ffi.NULL
        for raw, crt, pk, ca_crt, crl_ref, mode in checked:
            head = _new(lib.mpy_sni_entry_new(raw, crt, pk, ca_crt, crl_ref, mode, head))
        if head != ffi.NULL:
            self._h.hold(head)
        lib.mpy_conf_sni(self._conf, head)
        self._h.replace("sni", head if head != ffi.NULL else None)

    def _crl(self, crl: bytes) -> Any:
        data = bytes(crl) + (b"\0" if b"-----BEGIN" in crl and not crl.endswith(b"\0") else b"")
        key = "crl " + hashlib.sha256(data).hexdigest()
        ref = self._h.current.get(key)
        if ref is None:
            ref = _new(lib.mpy_crl_new())
            check(lib.mbedtls_x509_crl_parse(ref, data, len(data)), "mbedtls_x509_crl_parse")
            self._h.hold(ref)
            self._h.current[key] = ref  # kept with the config: never replaced
        return ref
