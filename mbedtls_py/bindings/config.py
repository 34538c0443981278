"""``Config``: a complete, thin wrapper of ``mbedtls_ssl_config`` for DTLS."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from ._confhandle import ConfHandle
from ._ctxbase import c_callback, defer, forward
from ._lib import ffi, lib
from ._owned import COwner
from .ciphersuites import available_ciphersuites, ciphersuite_id, ciphersuite_name, int_in
from .config_options import ProtocolOptions
from .errors import as_err, check, error_name
from .rng import Rng
from .x509 import CertificateChain, PrivateKey, check_pair

__all__ = ["Config", "ciphersuite_id", "ciphersuite_name", "available_ciphersuites"]

Endpoint = Literal["client", "server"]
AuthMode = Literal["none", "optional", "required"]

_ENDPOINTS = {"client": lib.MBEDTLS_SSL_IS_CLIENT, "server": lib.MBEDTLS_SSL_IS_SERVER}
_TRANSPORTS = {"datagram": lib.MBEDTLS_SSL_TRANSPORT_DATAGRAM,
               "stream": lib.MBEDTLS_SSL_TRANSPORT_STREAM}
_AUTHMODES = {"none": lib.MBEDTLS_SSL_VERIFY_NONE, "optional": lib.MBEDTLS_SSL_VERIFY_OPTIONAL,
              "required": lib.MBEDTLS_SSL_VERIFY_REQUIRED}
_VERSIONS = {"1.2": lib.MBEDTLS_SSL_VERSION_TLS1_2}

debug_log = logging.getLogger("mbedtls_py.mbedtls")


@c_callback
def _mpy_debug_to_logging(ctx: Any, level: int, file: Any, line: int, msg: Any) -> None:  # C callback
    # ctx is the config's name, a C string the C config owns (never a Python
    # handle: this can run while a context is freed after its Config object).
    name = ffi.string(ffi.cast("char *", ctx)).decode("utf-8", "replace") \
        if ctx != ffi.NULL else "mbedtls"
    text = ffi.string(msg).decode("utf-8", "replace").rstrip("\n")
    where = ffi.string(file).decode("utf-8", "replace").rsplit("/", 1)[-1]
    # Logged once the context call releases its lock: a handler may use the context.
    defer(debug_log.debug, "%s %d %s:%d: %s", name, level, where, line, text)


class Config(COwner):
    """An ``mbedtls_ssl_config`` for a DTLS client or server.

    Every option can be given as a keyword (``Config("server", psk=...,
    cookies=True)``) or set later with the matching ``set_*`` method.  A
    ``Context`` keeps its ``Config`` alive, and ownership also holds in C:
    the C config is reference-counted, every C context set up on it retains
    it until after ``mbedtls_ssl_free``, and the C config retains everything
    it points at (certificates, keys, cipher lists, the RNG, the cookie
    context) until it is freed itself.  So the garbage collector may
    finalise a ``Context``, its ``Config`` and their objects in any order.

    With ``seed`` given, the RNG handed to Mbed TLS is deterministic, so a run
    with the same seed (and the same virtual time) produces the same bytes.
    A ``Config`` cannot be copied or pickled (it owns C state): make another.
    """

    _C_FIELDS = ("_lock", "_h", "_owner", "_conf", "_options", "name")

    def __init__(self, endpoint: Endpoint, *, transport: str = "datagram",
                 seed: int | str | bytes | None = None, name: str | None = None,
                 **options: Any) -> None:
        if endpoint not in _ENDPOINTS:
            raise ValueError(f"endpoint must be 'client' or 'server', not {endpoint!r}")
        if transport not in _TRANSPORTS:
            raise ValueError(f"transport must be 'datagram' or 'stream', not {transport!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        self.endpoint = endpoint
        self.name = name or endpoint
        self._h = handle = ConfHandle(endpoint, self.name)
        self._owner, self._conf = handle.owner, handle.conf  # what contexts are set up on
        self._options = ProtocolOptions(handle)
        # Setters run one at a time (Mbed TLS's conf_* calls are not atomic).
        self._lock = threading.RLock()
        check(lib.mbedtls_ssl_config_defaults(self._conf, _ENDPOINTS[endpoint],
                                              _TRANSPORTS[transport],
                                              lib.MBEDTLS_SSL_PRESET_DEFAULT),
              "mbedtls_ssl_config_defaults")
        self._cookie = None
        self.rng = Rng(seed)
        self._h.hold(self.rng._ptr)
        lib.mpy_conf_rng(self._conf, self.rng._ptr)
        self._h.replace("rng", self.rng._ptr)
        if endpoint == "server":
            # Mbed TLS's default is a cookie callback that always fails, so a
            # server must choose; off unless ``cookies=True``.
            lib.mpy_conf_cookies(self._conf, ffi.NULL)
        for key, value in options.items():
            self._apply_option(key, value)

    # Options whose one argument is itself a sequence: a tuple is that
    # sequence, never spread over several parameters.
    _ONE_ARGUMENT = frozenset({"ciphersuites", "ca_chain"})

    def _apply_option(self, key: str, value: Any) -> None:
        # The raising form where there is one: an option that fails must not
        # leave a half-set config behind a returned code nobody reads.
        setter = getattr(self, f"do_set_{key}", None) or getattr(self, f"set_{key}", None)
        if setter is None or key in ("rng",):
            raise TypeError(f"unknown Config option {key!r}")
        if isinstance(value, dict):
            setter(**value)
        elif isinstance(value, tuple) and key not in self._ONE_ARGUMENT:
            setter(*value)
        else:
            setter(value)

    # -- randomness ----------------------------------------------------------

    def reseed(self, seed: int | str | bytes | None) -> None:
        """Replace the RNG (deterministic when ``seed`` is given); cookies, if on,
        get a new secret from it.  Do this before any context uses the config."""
        rng = Rng(seed)
        with self._lock:
            self._h.hold(rng._ptr)
            self.rng = rng
            lib.mpy_conf_rng(self._conf, rng._ptr)
            # read through the config within a call; a ticket context retains its own
            self._h.replace("rng", rng._ptr)
            if self._cookie is not None:
                self.do_set_cookies(True)

    # -- identity and trust ----------------------------------------------------

    def set_authmode(self, mode: AuthMode) -> None:
        """Peer certificate verification: ``none``, ``optional`` or ``required``."""
        if not isinstance(mode, str) or mode not in _AUTHMODES:
            raise ValueError(f"authmode must be one of {sorted(_AUTHMODES)}, not {mode!r}")
        lib.mbedtls_ssl_conf_authmode(self._conf, _AUTHMODES[mode])

    def set_version(self, min: str = "1.2", max: str = "1.2") -> None:  # noqa: A002
        """Protocol versions.  Mbed TLS 3.6 speaks DTLS 1.2 only, so ``"1.2"``."""
        for v in (min, max):
            if not isinstance(v, str) or v not in _VERSIONS:
                raise ValueError(f"version {v!r} is not available: Mbed TLS 3.6 has DTLS 1.2 only")
        lib.mbedtls_ssl_conf_min_tls_version(self._conf, _VERSIONS[min])
        lib.mbedtls_ssl_conf_max_tls_version(self._conf, _VERSIONS[max])

    def set_certificate(self, chain: CertificateChain | bytes | str | Sequence[bytes | str],
                        key: PrivateKey | bytes | str, password: bytes | str | None = None) -> int:
        """``mbedtls_ssl_conf_own_cert``: own certificate chain (leaf first) and
        its private key, PEM or DER, ECDSA or RSA; returns the code (0 when
        set).  May be called more than once (one per key type).  A key that
        is not the leaf certificate's (``mbedtls_pk_check_pair``) raises
        ``ValueError``: Mbed TLS would accept it and fail every handshake."""
        chain = chain if isinstance(chain, CertificateChain) else CertificateChain(chain)
        key = key if isinstance(key, PrivateKey) else PrivateKey(key, password)
        rc = check_pair(chain, key)
        if rc:
            raise ValueError(f"{self.name}: the private key ({key.kind}, {key.bits} bits) does "
                             "not match the leaf certificate's public key "
                             f"(mbedtls_pk_check_pair: {error_name(rc)})")
        with self._lock:
            self._h.hold(chain._crt)
            self._h.hold(key._pk)
            return as_err(lib.mbedtls_ssl_conf_own_cert(self._conf, chain._crt, key._pk))

    def set_ca_chain(self, cas: CertificateChain | bytes | str | Sequence[bytes | str]) -> None:
        """Trusted CA certificates for verifying the peer."""
        cas = cas if isinstance(cas, CertificateChain) else CertificateChain(cas)
        with self._lock:
            self._h.hold(cas._crt)
            lib.mbedtls_ssl_conf_ca_chain(self._conf, cas._crt, ffi.NULL)
            # read through the config within a call (a handshake keeps no pointer to it)
            self._h.replace("ca_chain", cas._crt)

    def set_psk(self, psk: bytes, identity: bytes | str = b"Client_identity") -> int:
        """``mbedtls_ssl_conf_psk``: a pre-shared key and its identity (Mbed TLS
        copies both); returns the code (``SSL_FEATURE_UNAVAILABLE`` when a PSK
        is already set)."""
        if not isinstance(psk, (bytes, bytearray)) or not psk:
            raise ValueError("psk must be non-empty bytes")
        if len(psk) > lib.MBEDTLS_PSK_MAX_LEN:
            raise ValueError(f"psk is longer than MBEDTLS_PSK_MAX_LEN ({lib.MBEDTLS_PSK_MAX_LEN})")
        if not isinstance(identity, (str, bytes, bytearray)):
            raise TypeError("psk identity must be str or bytes")
        ident = identity.encode() if isinstance(identity, str) else bytes(identity)
        if not ident:
            raise ValueError("psk identity must not be empty")
        with self._lock:
            return as_err(lib.mbedtls_ssl_conf_psk(self._conf, bytes(psk), len(psk), ident,
                                                   len(ident)))

    def set_ciphersuites(self, suites: Iterable[str | int]) -> None:
        """Allowed cipher suites, in order: any iterable (list, tuple...) of Mbed
        TLS names, IANA names or ids.  A bare str is refused (it would read as
        its characters): pass ``[name]``."""
        if isinstance(suites, (str, bytes)):
            raise TypeError(f"cipher suites must be an iterable of names or ids, not one "
                            f"{type(suites).__name__}; pass [{suites!r}]")
        if not isinstance(suites, Iterable):
            raise TypeError("cipher suites must be an iterable of names or ids, "
                            f"not {type(suites).__name__}")
        ids = [ciphersuite_id(s) for s in suites]
        if not ids:
            raise ValueError("at least one cipher suite is needed")
        if len(ids) > 4096:
            raise ValueError("at most 4096 cipher suites")
        # C-owned and held by the C config: contexts read the list it points at.
        array = lib.mpy_ints_new(len(ids) + 1)
        if array == ffi.NULL:
            raise MemoryError("out of memory")
        array = ffi.gc(array, lib.mpy_ref_release)
        for i, suite in enumerate(ids):
            array[i] = suite
        with self._lock:
            self._h.hold(array)
            lib.mbedtls_ssl_conf_ciphersuites(self._conf, array)
            self._h.replace("suites", array)  # a handshake reads the config's list, never keeps it

    # -- DTLS ------------------------------------------------------------------

    def set_cookies(self, enabled: bool = True, timeout_s: int | None = None) -> int:
        """HelloVerifyRequest cookies with a real ``mbedtls_ssl_cookie`` context
        (server only; off unless set, on in Mbed TLS's dtls_server sample).
        Returns the code of ``mbedtls_ssl_cookie_setup`` (0: on; else cookies
        stay as they were)."""
        self._h.check_server("cookies")
        if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, int)
                                      or not 0 <= timeout_s <= 0xFFFFFFFF):
            raise ValueError("cookie timeout must be an int 0 .. 2**32-1 seconds")
        with self._lock:
            if not enabled:
                lib.mpy_conf_cookies(self._conf, ffi.NULL)
                self._h.replace("cookies", None)
                self._cookie = None
                return 0
            cookie = lib.mpy_cookie_new()
            if cookie == ffi.NULL:
                raise MemoryError("out of memory")
            cookie = ffi.gc(cookie, lib.mpy_ref_release)
            rc = lib.mbedtls_ssl_cookie_setup(cookie, lib.mpy_rng_random, self.rng._ptr)
            if rc != 0:
                return as_err(rc)
            if timeout_s is not None:
                lib.mbedtls_ssl_cookie_set_timeout(cookie, timeout_s)
            self._h.hold(cookie)
            self._cookie = cookie
            lib.mpy_conf_cookies(self._conf, cookie)
            # written and checked within one call (the ClientHello's)
            self._h.replace("cookies", cookie)
            return 0

    def set_library_default_cookies(self) -> None:
        """Put back Mbed TLS's own default cookie callbacks, which fail every
        check (what a server that never chose gets; ssl_server2 cookies=-1)."""
        self._h.check_server("cookies")
        self._cookie = None
        lib.mpy_conf_cookies_library_default(self._conf)

    @property
    def cookies(self) -> bool:
        """Whether HelloVerifyRequest cookies are on."""
        return self._cookie is not None

    def set_handshake_timeout(self, min_ms: int = 1000, max_ms: int = 60000) -> None:
        """DTLS retransmission timeout: starts at ``min_ms``, doubles up to ``max_ms``."""
        int_in(min_ms, 1, 0xFFFFFFFF, "min_ms")
        int_in(max_ms, 1, 0xFFFFFFFF, "max_ms")
        if min_ms > max_ms:
            raise ValueError(f"need min_ms <= max_ms, not {min_ms} > {max_ms}")
        lib.mbedtls_ssl_conf_handshake_timeout(self._conf, min_ms, max_ms)

    def set_read_timeout(self, ms: int) -> None:
        """Timeout of ``read`` in milliseconds (0: none)."""
        int_in(ms, 0, 0xFFFFFFFF, "read timeout (ms)")
        lib.mbedtls_ssl_conf_read_timeout(self._conf, ms)

    def set_anti_replay(self, enabled: bool) -> None:
        """DTLS anti-replay window (on by default)."""
        mode = lib.MBEDTLS_SSL_ANTI_REPLAY_ENABLED if enabled else lib.MBEDTLS_SSL_ANTI_REPLAY_DISABLED
        lib.mbedtls_ssl_conf_dtls_anti_replay(self._conf, bytes([mode]))  # a C char

    def set_badmac_limit(self, limit: int) -> None:
        """Close the connection after this many records with a bad MAC (0: never)."""
        int_in(limit, 0, 0xFFFFFFFF, "badmac limit")
        lib.mbedtls_ssl_conf_dtls_badmac_limit(self._conf, limit)

    def set_cid(self, length: int, ignore_other_cids: bool = True) -> int:
        """``mbedtls_ssl_conf_cid``: expected length of incoming connection IDs
        (RFC 9146), returns the code; use with ``Context.set_cid``."""
        int_in(length, 0, lib.MBEDTLS_SSL_CID_IN_LEN_MAX, "CID length")
        return as_err(lib.mbedtls_ssl_conf_cid(
            self._conf, length, lib.MBEDTLS_SSL_UNEXPECTED_CID_IGNORE if ignore_other_cids
            else lib.MBEDTLS_SSL_UNEXPECTED_CID_FAIL))

    keylog: Callable[[str], object] | None = None
    """Key export for every ``Context`` set up on this config without its own
    ``keylog`` (like OpenSSL's ``SSL_CTX_set_keylog_callback``); off (``None``)
    by default.  See ``Context.keylog``."""

    def set_keylog(self, keylog: Callable[[str], object] | None) -> None:
        """Turn key export on (a callable taking one NSS key log line) or off
        for contexts created from now on with this config."""
        if keylog is not None and not callable(keylog):
            raise TypeError("keylog must be callable (e.g. list.append) or None")
        self.keylog = keylog

    # -- raising forms (README: "Return codes and exceptions") ----------------

    #: The raw calls: each returns Mbed TLS's int unchanged and has a raising
    #: form ``do_<name>``; the other setters wrap calls that cannot fail.
    RAW_CALLS = ("set_certificate", "set_psk", "set_cid",
                 "set_cookies") + ProtocolOptions.RAW_CALLS

    def do_set_certificate(self, chain: CertificateChain | bytes | str | Sequence[bytes | str],
                           key: PrivateKey | bytes | str,
                           password: bytes | str | None = None) -> None:
        """``set_certificate``; raises ``MbedTLSError`` on a code."""
        self._h.raise_for(self.set_certificate(chain, key, password), "set_certificate")

    def do_set_psk(self, psk: bytes, identity: bytes | str = b"Client_identity") -> None:
        """``set_psk``; raises ``MbedTLSError`` on a code."""
        self._h.raise_for(self.set_psk(psk, identity), "set_psk")

    def do_set_cid(self, length: int, ignore_other_cids: bool = True) -> None:
        """``set_cid``; raises ``MbedTLSError`` on a code."""
        self._h.raise_for(self.set_cid(length, ignore_other_cids), "set_cid")

    def do_set_cookies(self, enabled: bool = True, timeout_s: int | None = None) -> None:
        """``set_cookies``; raises ``MbedTLSError`` on a code."""
        self._h.raise_for(self.set_cookies(enabled, timeout_s), "set_cookies")

    def set_debug(self, level: int) -> None:
        """Forward Mbed TLS debug output up to ``level`` (0-5) to the Python logger
        ``mbedtls_py.mbedtls`` at DEBUG.  The threshold is process-wide in Mbed TLS.

        The lines of one ``Context`` call are logged, in order, when the call
        has released the context, before it returns: a handler may call the
        context (README "Callbacks").  Lines Mbed TLS writes while the
        garbage collector frees a context that was never closed appear at
        the next context call of that thread."""
        int_in(level, 0, 5, "debug level")
        lib.mbedtls_debug_set_threshold(level)
        lib.mpy_conf_dbg_named(self._owner, lib._mpy_debug_to_logging if level else ffi.NULL)

    # -- ProtocolOptions: the options of upstream's test programs ------------

    def set_session_tickets(self, enabled: bool, lifetime_s: int = 86400) -> int:
        """Session tickets: a client asks for them (``mbedtls_ssl_conf_session_tickets``);
        a server issues them with a real ``mbedtls_ssl_ticket`` context keyed
        from this config's RNG (AES-256-GCM, ``lifetime_s``).  Returns the
        code of ``mbedtls_ssl_ticket_setup`` (0 on a client, when off, or when
        set up; on a code the server issues no tickets)."""
        return self._options.set_session_tickets(enabled, lifetime_s, self.rng)

    def do_set_session_tickets(self, enabled: bool, lifetime_s: int = 86400) -> None:
        """``set_session_tickets``; raises ``MbedTLSError`` on a code."""
        self._h.raise_for(self.set_session_tickets(enabled, lifetime_s), "set_session_tickets")

    set_renegotiation = forward("_options", ProtocolOptions.set_renegotiation)
    set_renegotiation_enforced = forward("_options", ProtocolOptions.set_renegotiation_enforced)
    set_renegotiation_period = forward("_options", ProtocolOptions.set_renegotiation_period)
    set_max_frag_len = forward("_options", ProtocolOptions.set_max_frag_len)
    do_set_max_frag_len = forward("_options", ProtocolOptions.do_set_max_frag_len)
    set_encrypt_then_mac = forward("_options", ProtocolOptions.set_encrypt_then_mac)
    set_extended_master_secret = forward("_options", ProtocolOptions.set_extended_master_secret)
    set_session_cache = forward("_options", ProtocolOptions.set_session_cache)
    allow_sha1 = forward("_options", ProtocolOptions.allow_sha1)
    set_sni = forward("_options", ProtocolOptions.set_sni)

    def __repr__(self) -> str:
        if not self._initialised():
            return "<Config not initialised>"
        return f"<Config {self.name} {self.endpoint}{' cookies' if self.cookies else ''}>"


