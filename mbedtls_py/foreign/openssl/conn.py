"""OpenSSL's DTLS objects on the harness's datagram queues, clock and RNG.

:class:`OpenSSLConfig` is an ``SSL_CTX`` (role, credentials, cipher list,
versions, SRTP); :class:`OpenSSLConn` an ``SSL`` whose BIO is a pair of
datagram queues (``push`` what arrives, ``drain`` what it sent), like
:class:`mbedtls_py.Context`.  Every call first sets OpenSSL's clock (the
wrapped ``gettimeofday``/``clock_gettime``/``time``) to the connection's
``clock()``, Unix milliseconds, so its DTLS timer runs in virtual time.

Randomness: :func:`seed` installs a RAND_METHOD whose stream is
SHA-256(key || counter); from then on every random byte OpenSSL draws (Hello
randoms, ECDHE keys, ECDSA nonces, IVs, cookie secrets) comes from it, so a run
whose calls happen in the same order replays byte for byte.  The stream is
one per process (OpenSSL's RAND method is global): seed it once per run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from .build import load

__all__ = ["OpenSSLConfig", "OpenSSLConn", "seed", "errors", "SSL_ERROR", "version_text",
           "clock_from"]

# SSL_get_error's values (openssl/ssl.h; stable ABI since 0.9.x)
SSL_ERROR = {0: "NONE", 1: "SSL", 2: "WANT_READ", 3: "WANT_WRITE", 4: "WANT_X509_LOOKUP",
             5: "SYSCALL", 6: "ZERO_RETURN", 7: "WANT_CONNECT", 8: "WANT_ACCEPT"}
_VERSIONS = {"dtls1": 0xFEFF, "dtls1_2": 0xFEFD}
_FILETYPE_PEM = 1
_VERIFY_PEER, _VERIFY_FAIL_IF_NO_PEER_CERT = 1, 2
_OP_NO_QUERY_MTU = 0x00001000
_OP_NO_TICKET = 0x00004000
_CTRL_CLEAR_MODE, _MODE_AUTO_RETRY = 78, 0x4


def _lib() -> Any:
    return load().lib


def _ffi() -> Any:
    return load().ffi


def version_text() -> str:
    """The linked library's version, as ``openssl version`` prints it (3 numbers)."""
    n = int(_lib().osim_version_num())
    return f"OpenSSL {n >> 28}.{(n >> 20) & 0xFF}.{(n >> 4) & 0xFF}"


def seed(key: object) -> None:
    """Own OpenSSL's randomness from now on: a stream derived from ``key``."""
    k = hashlib.sha256(f"openssl-sim/{key!r}".encode()).digest()
    if not _lib().osim_rand_seed(k, len(k)):
        raise RuntimeError("RAND_set_rand_method failed")


def clock_from(virtual: Any, unix_base_s: int) -> Callable[[], int]:
    """A ``clock()`` for :class:`OpenSSLConn`: Unix ms of a virtual clock
    (anything with ``now_ms``) started at ``unix_base_s``."""
    return lambda: unix_base_s * 1000 + int(virtual.now_ms)


def errors() -> list[str]:
    """OpenSSL's error queue, emptied, as ``ERR_print_errors`` prints it."""
    lib, ffi = _lib(), _ffi()
    out: list[str] = []
    file, line, func, data, flags = (ffi.new("char **"), ffi.new("int *"), ffi.new("char **"),
                                     ffi.new("char **"), ffi.new("int *"))
    buf = ffi.new("char[]", 256)
    while True:
        e = lib.ERR_get_error_all(file, line, func, data, flags)
        if not e:
            return out
        lib.ERR_error_string_n(e, buf, 256)
        text = ffi.string(buf).decode(errors="replace")  # error:CODE:LIB:FUNC?:REASON
        parts = text.split(":")
        fn = ffi.string(func[0]).decode() if func[0] != ffi.NULL else ""
        if len(parts) >= 5:
            parts[3] = fn
        extra = ffi.string(data[0]).decode(errors="replace") if data[0] != ffi.NULL and \
            flags[0] & 2 else ""
        where = ffi.string(file[0]).decode() if file[0] != ffi.NULL else ""
        out.append(f"40F7A1B2C37F0000:{':'.join(parts)}:{where}:{line[0]}:{extra}")


class OpenSSLConfig:
    """An ``SSL_CTX`` for DTLS: ``role`` ``client`` or ``server``; files are
    PEM paths (``cert`` may hold a chain); ``ciphers`` an OpenSSL cipher list;
    ``version`` ``dtls1_2``/``dtls1`` pins one, ``None`` allows both;
    ``verify`` asks for the peer's certificate (a server: ``-verify``, which
    does not fail without one); ``srtp`` a profile list (``-use_srtp``)."""

    def __init__(self, role: str, *, cert: str | None = None, key: str | None = None,
                 ca: str | None = None, ciphers: str | None = None, version: str | None = None,
                 verify: bool = False, srtp: str | None = None, tickets: bool = True) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        if version is not None and version not in _VERSIONS:
            raise ValueError(f"version must be one of {sorted(_VERSIONS)} or None")
        lib, ffi = _lib(), _ffi()
        self.role = role
        meth = lib.DTLS_client_method() if role == "client" else lib.DTLS_server_method()
        ctx = lib.SSL_CTX_new(meth)
        if ctx == ffi.NULL:
            raise MemoryError("SSL_CTX_new failed")
        self._ctx = ffi.gc(ctx, lib.SSL_CTX_free)
        if version is not None:
            lib.SSL_CTX_set_min_proto_version(ctx, _VERSIONS[version])
            lib.SSL_CTX_set_max_proto_version(ctx, _VERSIONS[version])
        if ciphers is not None and lib.SSL_CTX_set_cipher_list(ctx, ciphers.encode()) != 1:
            raise ValueError(f"bad cipher list {ciphers!r}: {errors()}")
        if cert is not None:
            if lib.SSL_CTX_use_certificate_chain_file(ctx, cert.encode()) != 1:
                raise ValueError(f"unable to load certificate {cert}: {errors()}")
            if lib.SSL_CTX_use_PrivateKey_file(ctx, (key or cert).encode(), _FILETYPE_PEM) != 1:
                raise ValueError(f"unable to load key {key or cert}: {errors()}")
        if ca is not None and lib.SSL_CTX_load_verify_locations(ctx, ca.encode(), ffi.NULL) != 1:
            raise ValueError(f"unable to load CA file {ca}: {errors()}")
        # s_client/s_server's callback: a failed verification is reported, not fatal
        lib.osim_set_verify(ctx, _VERIFY_PEER if verify else 0)
        if srtp is not None and lib.SSL_CTX_set_tlsext_use_srtp(ctx, srtp.encode()) != 0:
            raise ValueError(f"bad SRTP profiles {srtp!r}")
        if not tickets:
            lib.SSL_CTX_set_options(ctx, _OP_NO_TICKET)
        # s_client and s_server clear it (apps/s_client.c, apps/s_server.c, 1.1.1 on)
        lib.SSL_CTX_ctrl(ctx, _CTRL_CLEAR_MODE, _MODE_AUTO_RETRY, ffi.NULL)
        if role == "server":
            sid = b"s_server"
            lib.SSL_CTX_set_session_id_context(ctx, sid, len(sid))
            lib.osim_set_cookie_cbs(ctx)
        errors()  # what loading left behind is not the connection's


class OpenSSLConn:
    """One ``SSL`` over datagram queues.  ``clock()`` returns the Unix time in
    ms OpenSSL reads during each call; ``link_mtu`` is s_client/s_server's
    ``-mtu`` (``SSL_OP_NO_QUERY_MTU`` + ``DTLS_set_link_mtu``), ``None``: the
    MTU is queried from the "socket" (loopback's).  ``same_socket``: share
    that connection's datagram queues (s_server's next SSL on its socket);
    ``options``: ``SSL_set_options`` bits."""

    def __init__(self, config: OpenSSLConfig, clock: Callable[[], int], *,
                 link_mtu: int | None = None, max_queue: int = 4096,
                 same_socket: OpenSSLConn | None = None, options: int = 0) -> None:
        lib, ffi = _lib(), _ffi()
        self.config, self.clock = config, clock
        self._link: Any
        if same_socket is not None:
            self._link = same_socket._link  # a new SSL on the same socket: its buffer stays
        else:
            link = lib.osim_link_new(max_queue)
            if link == ffi.NULL:
                raise MemoryError("osim_link_new failed")
            self._link = ffi.gc(link, lib.osim_link_free)
        ssl = lib.SSL_new(config._ctx)
        if ssl == ffi.NULL:
            raise MemoryError("SSL_new failed")
        bio = lib.osim_link_bio(self._link)
        lib.SSL_set_bio(ssl, bio, bio)  # the SSL owns the BIO; the link outlives both
        self._ssl = ffi.gc(ssl, lib.SSL_free)
        if options:
            lib.SSL_set_options(ssl, options)
        (lib.SSL_set_connect_state if config.role == "client" else lib.SSL_set_accept_state)(ssl)
        if link_mtu is not None:
            lib.SSL_set_options(ssl, _OP_NO_QUERY_MTU)
            lib.osim_set_link_mtu(ssl, link_mtu)
        self._buf = ffi.new("char[]", 16384 + 2048)

    def _now(self) -> None:
        _lib().osim_set_clock_ms(self.clock())

    # -- datagrams ---------------------------------------------------------------

    def push(self, data: bytes) -> None:
        """A datagram arrives (dropped, as by a full socket buffer, when the
        queue is full)."""
        _lib().osim_link_push(self._link, data, len(data))

    def drain(self) -> list[bytes]:
        """The datagrams OpenSSL sent since the last drain, in order."""
        lib, ffi = _lib(), _ffi()
        out: list[bytes] = []
        p = ffi.new("unsigned char **")
        while True:
            n = lib.osim_link_peek_out(self._link, p)
            if n < 0:
                return out
            out.append(bytes(ffi.buffer(p[0], n)))
            lib.osim_link_pop_out(self._link)

    @property
    def bio_reads(self) -> tuple[int, int]:
        """(BIO_read calls, datagrams they returned): a call beyond the
        datagrams is a ``recvfrom`` that blocks on a blocking socket."""
        lib = _lib()
        return int(lib.osim_link_reads(self._link)), int(lib.osim_link_datagrams_in(self._link))

    @property
    def pending_in(self) -> int:
        """Datagrams waiting to be read."""
        return int(_lib().osim_link_pending_in(self._link))

    # -- calls -------------------------------------------------------------------

    def error_name(self, ret: int) -> str:
        """``SSL_get_error(ssl, ret)`` by name (``WANT_READ``, ``ZERO_RETURN``...)."""
        return SSL_ERROR.get(int(_lib().SSL_get_error(self._ssl, ret)), "OTHER")

    def handshake(self) -> tuple[int, str]:
        """``SSL_do_handshake``: (return value, SSL_get_error's name)."""
        self._now()
        ret = _lib().SSL_do_handshake(self._ssl)
        return ret, "NONE" if ret == 1 else self.error_name(ret)

    def read(self, n: int = 1024) -> tuple[bytes, str]:
        """``SSL_read`` of up to ``n`` bytes: (data, error name)."""
        self._now()
        n = min(n, len(self._buf))
        ret = _lib().SSL_read(self._ssl, self._buf, n)
        if ret > 0:
            return bytes(_ffi().buffer(self._buf, ret)), "NONE"
        return b"", self.error_name(ret)

    def write(self, data: bytes) -> tuple[int, str]:
        """``SSL_write``: (return value, error name); ``b""`` drives the handshake."""
        self._now()
        ret = _lib().SSL_write(self._ssl, data, len(data))
        return ret, "NONE" if ret > 0 else self.error_name(ret)

    def shutdown(self) -> int:
        """``SSL_shutdown`` (sends close_notify)."""
        self._now()
        return int(_lib().SSL_shutdown(self._ssl))

    def timeout_ms(self) -> int | None:
        """``DTLSv1_get_timeout`` in ms (rounded up), ``None``: no timer."""
        self._now()
        t = int(_lib().osim_get_timeout_ms(self._ssl))
        return None if t < 0 else t

    def handle_timeout(self) -> int:
        """``DTLSv1_handle_timeout``: 1 when it retransmitted."""
        self._now()
        return int(_lib().osim_handle_timeout(self._ssl))

    # -- state ---------------------------------------------------------------------

    @property
    def init_finished(self) -> bool:
        """``SSL_is_init_finished``."""
        return bool(_lib().SSL_is_init_finished(self._ssl))

    @property
    def has_pending(self) -> bool:
        """``SSL_has_pending``: decrypted or unprocessed bytes buffered."""
        return bool(_lib().SSL_has_pending(self._ssl))

    def info(self) -> dict[str, Any]:
        """Protocol, cipher, peer certificate names, verify result, SRTP,
        session reuse: what s_client/s_server print."""
        lib, ffi = _lib(), _ffi()
        s = self._ssl
        c = lib.SSL_get_current_cipher(s)
        bits = ffi.new("int *")
        out: dict[str, Any] = {
            "protocol": ffi.string(lib.SSL_get_version(s)).decode(),
            "cipher": ffi.string(lib.SSL_CIPHER_get_name(c)).decode() if c != ffi.NULL
            else "(NONE)",
            "bits": lib.SSL_CIPHER_get_bits(c, bits) if c != ffi.NULL else 0,
            "verify": int(lib.SSL_get_verify_result(s)),
            "reused": bool(lib.SSL_session_reused(s)),
            "secure_reneg": bool(lib.SSL_get_secure_renegotiation_support(s)),
            "subject": None, "issuer": None, "srtp": None,
        }
        out["verify_text"] = ffi.string(lib.X509_verify_cert_error_string(out["verify"])).decode()
        x = lib.SSL_get1_peer_certificate(s)
        if x != ffi.NULL:
            buf = ffi.new("char[]", 512)
            out["subject"] = ffi.string(lib.X509_NAME_oneline(lib.X509_get_subject_name(x),
                                                              buf, 512)).decode()
            out["issuer"] = ffi.string(lib.X509_NAME_oneline(lib.X509_get_issuer_name(x),
                                                             buf, 512)).decode()
            lib.X509_free(x)
        p = lib.SSL_get_selected_srtp_profile(s)
        if p != ffi.NULL:
            out["srtp"] = ffi.string(p.name).decode()
        return out

    def export_keying_material(self, label: str, length: int) -> bytes | None:
        """``SSL_export_keying_material`` without context (``-keymatexport``)."""
        ffi = _ffi()
        out = ffi.new("unsigned char[]", length)
        lab = label.encode()
        if _lib().SSL_export_keying_material(self._ssl, out, length, lab, len(lab), ffi.NULL, 0,
                                              0) != 1:
            return None
        return bytes(out)

    def get_session(self) -> bytes | None:
        """The session, DER-encoded (``-sess_out``), or ``None``."""
        lib, ffi = _lib(), _ffi()
        sess = lib.SSL_get1_session(self._ssl)
        if sess == ffi.NULL:
            return None
        try:
            n = lib.i2d_SSL_SESSION(sess, ffi.NULL)
            buf = ffi.new("unsigned char[]", n)
            pp = ffi.new("unsigned char **", buf)
            lib.i2d_SSL_SESSION(sess, pp)
            return bytes(buf)
        finally:
            lib.SSL_SESSION_free(sess)

    def set_session(self, der: bytes) -> bool:
        """Offer a saved session (``-sess_in``)."""
        lib, ffi = _lib(), _ffi()
        buf = ffi.new("unsigned char[]", der)
        pp = ffi.new("unsigned char **", buf)
        sess = lib.d2i_SSL_SESSION(ffi.NULL, ffi.cast("const unsigned char **", pp), len(der))
        if sess == ffi.NULL:
            return False
        try:
            return bool(lib.SSL_set_session(self._ssl, sess))
        finally:
            lib.SSL_SESSION_free(sess)
