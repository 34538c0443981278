"""``ProtocolOptions``, the part of a ``Config`` for the options upstream's
test programs (``ssl_server2``, ``ssl_client2``) set beyond a plain DTLS
config: renegotiation, MFL, EtM/EMS, session tickets and cache, SHA-1 for
upstream's test certificates, SNI."""

from __future__ import annotations

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


class ProtocolOptions:
    """These options of one C config; ``Config`` forwards its methods here.

    They follow the bindings' rule (README "Return codes and exceptions"):
    a setter over a call that can fail returns its int unchanged (an ``Err``
    member where known) and has a raising form ``do_<name>`` with the same
    arguments; setters over calls that cannot fail return ``None``.
    """

    #: These raw calls; ``Config.RAW_CALLS`` includes them.
    RAW_CALLS: ClassVar[tuple[str, ...]] = ("set_max_frag_len", "set_session_tickets")

    __slots__ = ("_h", "_conf", "_keep")

    def __init__(self, handle: ConfHandle) -> None:
        self._h = handle
        self._conf = handle.conf
        # Python-allocated objects that Mbed TLS reads only during handshakes
        # (which need a live Context and so the Config), one entry per
        # feature: a setter called again replaces its entry, so nothing
        # grows.  Reference-counted C objects are held by the C config
        # instead (ConfHandle.hold).
        self._keep: dict[str, Any] = {}

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
        self._keep.pop("session_tickets", None)  # the config no longer points at it
        if not enabled:
            return 0
        ticket = ffi.gc(ffi.new("mbedtls_ssl_ticket_context *"), lib.mbedtls_ssl_ticket_free)
        lib.mbedtls_ssl_ticket_init(ticket)
        rc: int = lib.mpy_ticket_setup(ticket, rng._ptr, lifetime_s)
        if rc:
            return as_err(rc)
        self._keep["session_tickets"] = (ticket, rng)  # the ticket keys come from rng
        lib.mpy_conf_session_tickets_cb(self._conf, ticket)
        return 0

    def set_session_cache(self, max_entries: int | None = None,
                          timeout_s: int | None = None) -> None:
        """A server-side session cache (``mbedtls_ssl_cache``); ``None`` keeps
        Mbed TLS's defaults (50 entries, 86400 s)."""
        self._h.check_server("a session cache")
        cache = ffi.gc(ffi.new("mbedtls_ssl_cache_context *"), lib.mbedtls_ssl_cache_free)
        lib.mbedtls_ssl_cache_init(cache)
        if max_entries is not None:
            lib.mbedtls_ssl_cache_set_max_entries(cache, max_entries)
        if timeout_s is not None:
            lib.mbedtls_ssl_cache_set_timeout(cache, timeout_s)
        lib.mpy_conf_session_cache(self._conf, cache)
        self._keep["session_cache"] = cache  # the old one: the config points here now

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
        head = ffi.NULL
        # A handshake keeps pointers to the certificate, key, CA and CRL it
        # picked until it ends: those stay (the C config holds the refs; a
        # CRL, parsed here, is kept per content), the entries themselves are
        # read within one call and replaced by the next set_sni.
        crls: dict[bytes, Any] = self._keep.setdefault("sni_crls", {})
        new_entries = []
        for name, chain, key, ca, crl, auth in entries:
            raw = name.encode()
            if not raw or len(raw) > 255 or b"\0" in raw:
                raise ValueError("SNI name must be 1 .. 255 bytes without NUL")
            if auth is not None and auth not in _AUTHMODES:
                raise ValueError(f"authmode must be one of {sorted(_AUTHMODES)}")
            e = ffi.new("mpy_sni_entry *")
            e.name = raw
            e.cert, e.key = chain._crt, key._pk
            e.ca = ca._crt if ca is not None else ffi.NULL
            e.crl = ffi.NULL
            if crl is not None:
                data = bytes(crl) + (b"\0" if b"-----BEGIN" in crl and not crl.endswith(b"\0")
                                     else b"")
                c = crls.get(data)
                if c is None:
                    c = ffi.gc(ffi.new("mbedtls_x509_crl *"), lib.mbedtls_x509_crl_free)
                    lib.mbedtls_x509_crl_init(c)
                    check(lib.mbedtls_x509_crl_parse(c, data, len(data)),
                          "mbedtls_x509_crl_parse")
                    crls[data] = c
                e.crl = c
            e.authmode = _AUTHMODES[auth] if auth is not None else -1
            e.next = head
            head = e
            new_entries.append(e)
            for ref in (chain._crt, key._pk, ca._crt if ca is not None else ffi.NULL):
                self._h.hold(ref)
        lib.mpy_conf_sni(self._conf, head)
        self._keep["sni"] = new_entries
