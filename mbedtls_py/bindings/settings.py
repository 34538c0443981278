"""The settings of a ``Context``'s connection (a part it owns): transport
id, hostname, MTU, datagram packing, connection ID, and the record checks,
each with its raising form where it returns a code."""

from __future__ import annotations

from ._connection import Connection
from ._ctxbase import as_data, pending, run_deferred
from ._lib import ffi, lib
from .errors import as_err, check

__all__ = ["Settings"]


class Settings:
    """Settings and record checks of one connection; ``Context`` forwards
    these methods here (README "Return codes and exceptions" for the raw
    and raising forms)."""

    __slots__ = ("_cx",)

    def __init__(self, connection: Connection) -> None:
        self._cx = connection

    def check_pending(self) -> int:
        """``mbedtls_ssl_check_pending``: 1 when data is buffered for ``read``."""
        return self._cx.call(lib.mbedtls_ssl_check_pending)

    def check_record(self, data: bytes) -> int:
        """``mbedtls_ssl_check_record``: 0 when ``data`` begins with a valid,
        authentic record of this context's current epoch not seen before, else
        the code (``SSL_INVALID_MAC``, ``SSL_INVALID_RECORD``,
        ``SSL_UNEXPECTED_RECORD`` for another epoch or a replay).  Only the
        first record is checked; the context is not changed.  Mbed TLS
        decrypts and wipes the buffer in place, so it gets a copy."""
        data = as_data(data)
        if not data:
            raise ValueError("data must not be empty")
        buf = ffi.new("unsigned char[]", data)
        with self._cx.lock:
            rc = lib.mbedtls_ssl_check_record(self._cx.c(), buf, len(data))
        if pending:
            run_deferred()
        return as_err(rc) if rc else 0

    def set_client_transport_id(self, info: bytes) -> int:
        """``mbedtls_ssl_set_client_transport_id`` (server): the client's address,
        bound into the cookie."""
        if type(info) is not bytes:
            info = as_data(info, "transport id")
        cx = self._cx
        lock = cx.lock
        lock.acquire()
        try:
            ssl = cx.ssl
            rc = lib.mbedtls_ssl_set_client_transport_id(ssl if ssl is not None else cx.c(),
                                                         info, len(info))
        finally:
            lock.release()
        return as_err(rc) if rc else 0

    def set_hostname(self, hostname: str | None) -> int:
        """``mbedtls_ssl_set_hostname`` (client): SNI and the name checked in the
        server's certificate; ``None`` clears it."""
        if hostname is None:
            with self._cx.lock:
                return as_err(lib.mbedtls_ssl_set_hostname(self._cx.c(), ffi.NULL))
        if not isinstance(hostname, str):
            raise TypeError("hostname must be a str")
        if "\0" in hostname:
            raise ValueError("hostname contains NUL")
        with self._cx.lock:
            return as_err(lib.mbedtls_ssl_set_hostname(self._cx.c(), hostname.encode()))

    def set_mtu(self, mtu: int) -> None:
        """``mbedtls_ssl_set_mtu``: largest datagram Mbed TLS may send (0: no limit).

        A non-zero MTU must be at least :meth:`min_mtu`: the largest record
        expansion of any cipher suite the config allows (13-byte DTLS header,
        plus explicit IV and tag for AEAD or MAC, IV and a block of padding
        for CBC, plus 48 bytes when a connection ID is on) + a 12-byte
        handshake header + 1 byte.  Below that, Mbed TLS 3.6 never leaves
        ``mbedtls_ssl_handshake`` (``ssl_flight_transmit`` retries an empty
        datagram forever), so this raises ``ValueError`` instead; so do the
        calls that may send a flight (``handshake``, ``read``, ``write``...)
        if a later change (cipher suites, ``set_cid``) raised the bound.
        26 is the floor for plaintext; 106 covers every suite of this build.
        """
        if isinstance(mtu, bool) or not isinstance(mtu, int) or not 0 <= mtu <= 0xFFFF:
            raise ValueError("mtu must be an int 0 .. 65535")
        cx = self._cx
        with cx.lock:
            cx.c()
            if mtu:
                floor = lib.mpy_conn_min_mtu(cx.conn)
                if mtu < floor:
                    raise ValueError(cx.mtu_message(mtu, floor))
            lib.mbedtls_ssl_set_mtu(cx.ssl, mtu)
            cx.mtu = mtu

    def min_mtu(self) -> int:
        """The smallest MTU :meth:`set_mtu` accepts for this context now."""
        cx = self._cx
        with cx.lock:
            cx.c()
            return int(lib.mpy_conn_min_mtu(cx.conn))

    def mtu(self) -> int:
        """The MTU :meth:`set_mtu` last set; 0 when none is (a new context, and
        after ``reinit``): Mbed TLS then sends datagrams of any size."""
        cx = self._cx
        with cx.lock:
            cx.c()
            return cx.mtu

    def set_datagram_packing(self, allow: bool) -> None:
        """``mbedtls_ssl_set_datagram_packing``: several records per datagram (default on)."""
        with self._cx.lock:
            lib.mbedtls_ssl_set_datagram_packing(self._cx.c(), 1 if allow else 0)

    def set_cid(self, enable: bool, own_cid: bytes = b"") -> int:
        """``mbedtls_ssl_set_cid``: offer/accept a connection ID (RFC 9146)."""
        own_cid = as_data(own_cid, "own_cid")
        if len(own_cid) > lib.MBEDTLS_SSL_CID_IN_LEN_MAX:
            raise ValueError(f"own_cid is longer than {lib.MBEDTLS_SSL_CID_IN_LEN_MAX} bytes")
        cx = self._cx
        with cx.lock:
            rc = as_err(lib.mbedtls_ssl_set_cid(
                cx.c(), lib.MBEDTLS_SSL_CID_ENABLED if enable else lib.MBEDTLS_SSL_CID_DISABLED,
                own_cid, len(own_cid)))
            if rc == 0 and cx.mtu and lib.mpy_conn_min_mtu(cx.conn) > cx.mtu:
                floor = lib.mpy_conn_min_mtu(cx.conn)
                lib.mbedtls_ssl_set_cid(cx.ssl, lib.MBEDTLS_SSL_CID_DISABLED, ffi.NULL, 0)
                raise ValueError(cx.mtu_message(cx.mtu, floor) + " (CID left off)")
            return rc

    def peer_cid(self) -> bytes | None:
        """The connection ID the peer asked for, or ``None`` when CIDs are not in use."""
        enabled = ffi.new("int *")
        buf = ffi.new("unsigned char[]", lib.MBEDTLS_SSL_CID_OUT_LEN_MAX)
        n = ffi.new("size_t *")
        with self._cx.lock:
            check(lib.mbedtls_ssl_get_peer_cid(self._cx.c(), enabled, buf, n), "get_peer_cid")
        return bytes(ffi.buffer(buf, n[0])) if enabled[0] else None

    def do_check_record(self, data: bytes) -> None:
        """``check_record``; raises ``MbedTLSError`` unless the record authenticates."""
        self._cx.raise_for(self.check_record(data), "check_record")

    def do_set_client_transport_id(self, info: bytes) -> None:
        """``set_client_transport_id``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.set_client_transport_id(info), "set_client_transport_id")

    def do_set_hostname(self, hostname: str | None) -> None:
        """``set_hostname``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.set_hostname(hostname), "set_hostname")

    def do_set_cid(self, enable: bool, own_cid: bytes = b"") -> None:
        """``set_cid``; raises ``MbedTLSError`` on a code."""
        self._cx.raise_for(self.set_cid(enable, own_cid), "set_cid")
