"""``Config``: a complete, thin wrapper of ``mbedtls_ssl_config`` for DTLS."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Literal

from ._lib import ffi, lib
from .errors import check
from .rng import Rng
from ._config_dtls import DtlsConfigExtras
from .x509 import CertificateChain, PrivateKey

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
    return found


def ciphersuite_name(suite_id: int) -> str:
    """The Mbed TLS name of a cipher suite id."""
    return ffi.string(lib.mbedtls_ssl_get_ciphersuite_name(suite_id)).decode()


@ffi.def_extern()
def _mpy_debug_to_logging(ctx, level, file, line, msg):  # noqa: ANN001 - C callback
    name = ffi.from_handle(ctx) if ctx != ffi.NULL else "mbedtls"
    text = ffi.string(msg).decode("utf-8", "replace").rstrip("\n")
    where = ffi.string(file).decode("utf-8", "replace").rsplit("/", 1)[-1]
    debug_log.debug("%s %d %s:%d: %s", name, level, where, line, text)


class Config(DtlsConfigExtras):
    """An ``mbedtls_ssl_config`` for a DTLS client or server.

    Every option can be given as a keyword (``Config("server", psk=...,
    cookies=True)``) or set later with the matching ``set_*`` method.  A
    ``Context`` keeps its ``Config`` alive; objects the C config points at
    (certificates, keys, cipher lists, the RNG, the cookie context) are kept
    alive by the ``Config`` for as long as it lives.

    With ``seed`` given, the RNG handed to Mbed TLS is deterministic, so a run
    with the same seed (and the same virtual time) produces the same bytes.
    """

    def __init__(self, endpoint: Endpoint, *, transport: str = "datagram",
                 seed: int | str | bytes | None = None, name: str | None = None,
                 **options: Any) -> None:
        if endpoint not in _ENDPOINTS:
            raise ValueError(f"endpoint must be 'client' or 'server', not {endpoint!r}")
        if transport not in _TRANSPORTS:
            raise ValueError(f"transport must be 'datagram' or 'stream', not {transport!r}")
        self.endpoint = endpoint
        self.name = name or endpoint
        conf = ffi.new("mbedtls_ssl_config *")
        lib.mbedtls_ssl_config_init(conf)
        self._conf = ffi.gc(conf, lib.mbedtls_ssl_config_free)
        check(lib.mbedtls_ssl_config_defaults(self._conf, _ENDPOINTS[endpoint],
                                              _TRANSPORTS[transport],
                                              lib.MBEDTLS_SSL_PRESET_DEFAULT),
              "mbedtls_ssl_config_defaults")
        # Everything the C config points at, kept alive (never released while
        # the config lives: a context may still be using an older object).
        self._keep: list[Any] = []
        self._cookie = None
        self.rng = Rng(seed)
        lib.mpy_conf_rng(self._conf, self.rng._ptr)
        self._debug_handle = ffi.new_handle(self.name)
        if endpoint == "server":
            # Mbed TLS's default is a cookie callback that always fails, so a
            # server must choose; off unless ``cookies=True``.
            lib.mpy_conf_cookies(self._conf, ffi.NULL)
        for key, value in options.items():
            setter = getattr(self, f"set_{key}", None)
            if setter is None or key in ("rng",):
                raise TypeError(f"unknown Config option {key!r}")
            if isinstance(value, dict):
                setter(**value)
            elif isinstance(value, tuple):
                setter(*value)
            else:
                setter(value)

    def _check_server(self, what: str) -> None:
        if self.endpoint != "server":
            raise ValueError(f"{what} applies to a server config only")

    # -- randomness ----------------------------------------------------------

    def reseed(self, seed: int | str | bytes | None) -> None:
        """Replace the RNG (deterministic when ``seed`` is given); cookies, if on,
        get a new secret from it.  Do this before any context uses the config."""
        self._keep.append(self.rng)
        self.rng = Rng(seed)
        lib.mpy_conf_rng(self._conf, self.rng._ptr)
        if self._cookie is not None:
            self.set_cookies(True)

    # -- identity and trust ----------------------------------------------------

    def set_authmode(self, mode: AuthMode) -> None:
        """Peer certificate verification: ``none``, ``optional`` or ``required``."""
        if mode not in _AUTHMODES:
            raise ValueError(f"authmode must be one of {sorted(_AUTHMODES)}, not {mode!r}")
        lib.mbedtls_ssl_conf_authmode(self._conf, _AUTHMODES[mode])

    def set_version(self, min: str = "1.2", max: str = "1.2") -> None:  # noqa: A002
        """Protocol versions.  Mbed TLS 3.6 speaks DTLS 1.2 only, so ``"1.2"``."""
        for v in (min, max):
            if v not in _VERSIONS:
                raise ValueError(f"version {v!r} is not available: Mbed TLS 3.6 has DTLS 1.2 only")
        lib.mbedtls_ssl_conf_min_tls_version(self._conf, _VERSIONS[min])
        lib.mbedtls_ssl_conf_max_tls_version(self._conf, _VERSIONS[max])

    def set_certificate(self, chain: CertificateChain | bytes | str | list,
                        key: PrivateKey | bytes | str, password: bytes | str | None = None) -> int:
        """Own certificate chain (leaf first) and its private key, PEM or DER,
        ECDSA or RSA.  May be called more than once (one per key type)."""
        chain = chain if isinstance(chain, CertificateChain) else CertificateChain(chain)
        key = key if isinstance(key, PrivateKey) else PrivateKey(key, password)
        self._keep += [chain, key]
        return check(lib.mbedtls_ssl_conf_own_cert(self._conf, chain._crt, key._pk),
                     "mbedtls_ssl_conf_own_cert")

    def set_ca_chain(self, cas: CertificateChain | bytes | str | list) -> None:
        """Trusted CA certificates for verifying the peer."""
        cas = cas if isinstance(cas, CertificateChain) else CertificateChain(cas)
        self._keep.append(cas)
        lib.mbedtls_ssl_conf_ca_chain(self._conf, cas._crt, ffi.NULL)

    def set_psk(self, psk: bytes, identity: bytes | str = b"Client_identity") -> int:
        """A pre-shared key and its identity (Mbed TLS copies both)."""
        if not isinstance(psk, (bytes, bytearray)) or not psk:
            raise ValueError("psk must be non-empty bytes")
        if len(psk) > lib.MBEDTLS_PSK_MAX_LEN:
            raise ValueError(f"psk is longer than MBEDTLS_PSK_MAX_LEN ({lib.MBEDTLS_PSK_MAX_LEN})")
        ident = identity.encode() if isinstance(identity, str) else bytes(identity)
        if not ident:
            raise ValueError("psk identity must not be empty")
        return check(lib.mbedtls_ssl_conf_psk(self._conf, bytes(psk), len(psk), ident, len(ident)),
                     "mbedtls_ssl_conf_psk")

    def set_ciphersuites(self, suites: Iterable[str | int]) -> None:
        """Allowed cipher suites, by Mbed TLS name, IANA name or id, in order."""
        if isinstance(suites, (str, int)):
            suites = [suites]
        ids = [ciphersuite_id(s) for s in suites]
        if not ids:
            raise ValueError("at least one cipher suite is needed")
        array = ffi.new("int[]", ids + [0])
        self._keep.append(array)
        lib.mbedtls_ssl_conf_ciphersuites(self._conf, array)

    # -- DTLS ------------------------------------------------------------------

    def set_cookies(self, enabled: bool = True, timeout_s: int | None = None) -> None:
        """HelloVerifyRequest cookies with a real ``mbedtls_ssl_cookie`` context
        (server only; off unless set, on in Mbed TLS's dtls_server sample)."""
        self._check_server("cookies")
        if not enabled:
            lib.mpy_conf_cookies(self._conf, ffi.NULL)
            self._cookie = None
            return
        cookie = ffi.new("mbedtls_ssl_cookie_ctx *")
        lib.mbedtls_ssl_cookie_init(cookie)
        cookie = ffi.gc(cookie, lib.mbedtls_ssl_cookie_free)
        check(lib.mbedtls_ssl_cookie_setup(cookie, lib.mpy_rng_random, self.rng._ptr),
              "mbedtls_ssl_cookie_setup")
        if timeout_s is not None:
            if timeout_s < 0:
                raise ValueError("cookie timeout must be >= 0 seconds")
            lib.mbedtls_ssl_cookie_set_timeout(cookie, timeout_s)
        self._keep.append(cookie)
        self._cookie = cookie
        lib.mpy_conf_cookies(self._conf, cookie)

    @property
    def cookies(self) -> bool:
        """Whether HelloVerifyRequest cookies are on."""
        return self._cookie is not None

    def set_handshake_timeout(self, min_ms: int = 1000, max_ms: int = 60000) -> None:
        """DTLS retransmission timeout: starts at ``min_ms``, doubles up to ``max_ms``."""
        if not (0 < min_ms <= max_ms <= 0xFFFFFFFF):
            raise ValueError("need 0 < min_ms <= max_ms < 2**32")
        lib.mbedtls_ssl_conf_handshake_timeout(self._conf, min_ms, max_ms)

    def set_read_timeout(self, ms: int) -> None:
        """Timeout of ``read`` in milliseconds (0: none)."""
        if not 0 <= ms <= 0xFFFFFFFF:
            raise ValueError("read timeout must be 0 .. 2**32-1 ms")
        lib.mbedtls_ssl_conf_read_timeout(self._conf, ms)

    def set_anti_replay(self, enabled: bool) -> None:
        """DTLS anti-replay window (on by default)."""
        mode = lib.MBEDTLS_SSL_ANTI_REPLAY_ENABLED if enabled else lib.MBEDTLS_SSL_ANTI_REPLAY_DISABLED
        lib.mbedtls_ssl_conf_dtls_anti_replay(self._conf, bytes([mode]))  # a C char

    def set_badmac_limit(self, limit: int) -> None:
        """Close the connection after this many records with a bad MAC (0: never)."""
        if not 0 <= limit <= 0xFFFFFFFF:
            raise ValueError("badmac limit must be 0 .. 2**32-1")
        lib.mbedtls_ssl_conf_dtls_badmac_limit(self._conf, limit)

    def set_cid(self, length: int, ignore_other_cids: bool = True) -> int:
        """Expected length of incoming connection IDs (RFC 9146); use with
        ``Context.set_cid``."""
        if not 0 <= length <= lib.MBEDTLS_SSL_CID_IN_LEN_MAX:
            raise ValueError(f"CID length must be 0 .. {lib.MBEDTLS_SSL_CID_IN_LEN_MAX}")
        return check(lib.mbedtls_ssl_conf_cid(
            self._conf, length, lib.MBEDTLS_SSL_UNEXPECTED_CID_IGNORE if ignore_other_cids
            else lib.MBEDTLS_SSL_UNEXPECTED_CID_FAIL), "mbedtls_ssl_conf_cid")

    def set_debug(self, level: int) -> None:
        """Forward Mbed TLS debug output up to ``level`` (0-5) to the Python logger
        ``mbedtls_py.mbedtls`` at DEBUG.  The threshold is process-wide in Mbed TLS."""
        if not 0 <= level <= 5:
            raise ValueError("debug level must be 0 .. 5")
        lib.mbedtls_debug_set_threshold(level)
        if level:
            lib.mpy_conf_dbg(self._conf, lib._mpy_debug_to_logging, self._debug_handle)
        else:
            lib.mpy_conf_dbg(self._conf, ffi.NULL, ffi.NULL)

    def __repr__(self) -> str:
        return f"<Config {self.name} {self.endpoint}{' cookies' if self.cookies else ''}>"


