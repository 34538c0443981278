"""A GnuTLS client party on the simulated network: ``echo "GET / HTTP/1.0" |
gnutls-cli -u`` in process (libgnutls through ``foreign.gnutls``), on the
network's clock, its randomness from the network seed.

Like :class:`~mbedtls_py.parties.client.Client` (same ``poll``/``next_deadline``/
``outcome``/``done``/``delivered``), so ``repro close-notify --peer gnutls-sim``
and tests can put it where the Mbed TLS client goes.  The flow is gnutls-cli's
with its stdin at EOF: handshake, send the request, ``gnutls_bye(SHUT_WR)``
(its encrypted close_notify, the seed's late datagram), then read the echo
until the server's close_notify."""

from __future__ import annotations


from ..foreign.gnutls.session import E, GnuTLSSession
from ..sim import Network
from .client import REQUEST, Client
from .party import _Party

__all__ = ["GnuTLSClient"]

_NO_TIMER_MS = 50  # a blocking session's millisleep(50) when no retransmission is due


class GnuTLSClient(Client):
    """GnuTLS DTLS 1.2 client: ``psk=(key, identity)`` or ``ca_pem`` (with
    ``hostname`` for SNI); ``seed``: its randomness (default from the network).
    The Mbed TLS client's state, ``done``, ``delivered`` and ``outcome`` are
    inherited; the session is GnuTLS's (no Mbed TLS context)."""

    def __init__(self, net: Network, name: str, *, server: str = "server",
                 request: bytes = REQUEST, psk: tuple[bytes, bytes] | None = None,
                 ca_pem: bytes | None = None, hostname: str | None = None,
                 seed: bytes | None = None, start_ms: int = 0) -> None:
        if (psk is None) == (ca_pem is None):
            raise ValueError("give psk=(key, identity) or ca_pem, not both or neither")
        _Party.__init__(self, net, name)
        self.server, self.request = server, request
        self.start_ms, self.after, self.gap_ms, self.fallback_ms = start_ms, None, 0, start_ms
        self.sock = net.socket(name)
        self.sockets, self.moved = [self.sock], None
        self.s = GnuTLSSession(False, net.clock, seed or net.seed_for(name), name=name)
        g = self.s.g
        lib, ffi = g.lib, g.ffi
        self.s.init(lib.GNUTLS_CLIENT | lib.GNUTLS_ENABLE_RAWPK)
        if psk is not None:
            box = ffi.new("gnutls_psk_client_credentials_t *")
            self.s.call(lib.gnutls_psk_allocate_client_credentials, box)
            self.s.at_close(lib.gnutls_psk_free_client_credentials, box[0])
            key = ffi.new("gnutls_datum_t *")
            buf = ffi.new("unsigned char[]", psk[0])
            key.data, key.size = buf, len(psk[0])
            self._keep = (box, key, buf)
            self.s.call(lib.gnutls_psk_set_client_credentials, box[0], psk[1], key,
                        lib.GNUTLS_PSK_KEY_RAW)
            self.s.fn("priority_set_direct", b"NORMAL:+PSK", ffi.NULL)
            self.s.fn("credentials_set", lib.GNUTLS_CRD_PSK, box[0])
        else:
            assert ca_pem is not None
            box = ffi.new("gnutls_certificate_credentials_t *")
            self.s.call(lib.gnutls_certificate_allocate_credentials, box)
            self.s.at_close(lib.gnutls_certificate_free_credentials, box[0])
            ca = ffi.new("gnutls_datum_t *")
            buf = ffi.new("unsigned char[]", ca_pem)
            ca.data, ca.size = buf, len(ca_pem)
            self._keep = (box, ca, buf)
            self.s.call(lib.gnutls_certificate_set_x509_trust_mem, box[0], ca,
                        lib.GNUTLS_X509_FMT_PEM)
            self.s.fn("set_default_priority")
            self.s.fn("credentials_set", lib.GNUTLS_CRD_CERTIFICATE, box[0])
            if hostname:
                name_b = hostname.encode()
                self.s.fn("server_name_set", lib.GNUTLS_NAME_DNS, name_b, len(name_b))
        self.phase = "waiting"  # waiting | handshake | reading | done | failed
        self.echo = b""
        self.rc: int | None = None
        self.completed = False
        self.done_ms: int | None = None

    def next_deadline(self) -> int | None:
        """When to poll again (``None``: only on input)."""
        if self.phase == "waiting":
            return self.start_ms
        if self.phase == "handshake":
            t = self.s.timeout_ms()
            return self.net.clock.now_ms + (t if t > 0 else _NO_TIMER_MS)
        return None

    def poll(self) -> None:
        """Take what arrived and run the client as far as it goes."""
        if self.phase == "waiting":
            if self.net.clock.now_ms < self.start_ms:
                return
            self.phase = "handshake"
            self._emit("start", self.server, None, "first flight")
        while (item := self.sock.recvfrom()) is not None:
            if not self.done:
                self.s.push(item[0])
        if self.phase == "handshake":
            rc = self.s.handshake()
            if rc == 0:
                self.completed = True
                self._emit("handshake", self.server, 0, self.s.description())
                self._emit("write", self.server, self.s.send(self.request))
                self._emit("close_notify", self.server, self.s.bye(self.s.g.lib.GNUTLS_SHUT_WR))
                self.phase = "reading"
            elif rc not in (E.AGAIN, E.INTERRUPTED) and self.s.g.lib.gnutls_error_is_fatal(rc):
                self._end("failed", rc)
        while self.phase == "reading":
            rc, data, _ = self.s.recv(16384)
            if rc > 0:
                self.echo += data
                self._emit("read", self.server, rc, "echo")
            elif rc == 0:
                self._end("done")
            elif rc in (E.AGAIN, E.INTERRUPTED):
                break
            elif self.s.g.lib.gnutls_error_is_fatal(rc):
                self._end("failed", rc)
        for d in self.s.drain():
            self.sock.sendto(d, self.server)

    def close(self) -> None:
        """End the session and its thread."""
        self.s.close()
