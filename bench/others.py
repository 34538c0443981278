"""What a user would otherwise pick: the same in-memory DTLS 1.2 handshakes
through python-mbedtls (its own bundled Mbed TLS 2.28) and through pyOpenSSL's
memory BIOs (the OpenSSL bundled by ``cryptography``).  Optional: a library
that is not importable gives a row with ``"skipped"`` and the reason.

Same PKI, suites and pattern as the drivers (client step, deliver, server
step, deliver), except that each handshake uses fresh connection objects (the
public APIs of both libraries have no session reset) and that Mbed TLS's
wall-clock time is the real one.

Usage: python bench/others.py PKI_DIR SECONDS   (prints one JSON object)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path

PSK = b"0123456789abcdef"
IDENTITY = "Client_identity"
PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"
CERT_SUITE = "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
OPENSSL_CERT_SUITE = b"ECDHE-ECDSA-AES128-GCM-SHA256"
DTLS1_2_VERSION = 0xFEFD
TID = b"127.0.0.1:40001"


def timed(fn, secs: float) -> dict:
    """Rates per CPU second of this process, as in the drivers."""
    fn()  # warm-up
    n = 0
    w0, c0 = time.perf_counter(), time.process_time()
    while True:
        fn()
        n += 1
        cpu = time.process_time() - c0
        if cpu >= secs:
            break
    wall = time.perf_counter() - w0
    return {"ops": n, "seconds": wall, "cpu_seconds": cpu, "per_s": n / cpu,
            "wall_per_s": n / wall}


# -- python-mbedtls -------------------------------------------------------------

def python_mbedtls_rows(pki: Path, secs: float) -> dict:
    try:
        import mbedtls
        from mbedtls import pk, tls, x509
    except ImportError as e:
        return {"skipped": f"python-mbedtls is not installed ({e})"}

    def loop(srv, cli) -> None:
        def steps(buf) -> bool:
            while True:
                try:
                    buf.do_handshake()  # one handshake step per call
                except (tls.WantReadError, tls.WantWriteError):
                    return False
                if buf._handshake_state is tls.HandshakeStep.HANDSHAKE_OVER:
                    return True

        def deliver(a, b) -> None:
            while d := a.peek_outgoing(65536):
                a.consume_outgoing(len(d))
                b.receive_from_network(d)

        cdone = sdone = False
        for _ in range(100):
            if not cdone:
                cdone = steps(cli)
            deliver(cli, srv)
            if not sdone:
                try:
                    sdone = steps(srv)
                except tls.HelloVerifyRequest:
                    srv._reset()  # what its own DTLS socket accept() loop does
                    srv.setcookieparam(TID)
            deliver(srv, cli)
            if cdone and sdone:
                return
        raise RuntimeError("python-mbedtls handshake did not finish")

    ca = x509.CRT.from_file(pki / "ca.crt")
    crt = x509.CRT.from_file(pki / "server.crt")
    key = pk.ECC.from_file(pki / "server.key")
    v12 = tls.DTLSVersion.DTLSv1_2
    cert_srv = tls.ServerContext(tls.DTLSConfiguration(
        certificate_chain=([crt], key), ciphers=[CERT_SUITE], validate_certificates=False,
        lowest_supported_version=v12, highest_supported_version=v12))
    cert_cli = tls.ClientContext(tls.DTLSConfiguration(
        trust_store=tls.TrustStore([ca]), ciphers=[CERT_SUITE], validate_certificates=True,
        lowest_supported_version=v12, highest_supported_version=v12))
    psk_srv = tls.ServerContext(tls.DTLSConfiguration(
        pre_shared_key_store={IDENTITY: PSK}, ciphers=[PSK_SUITE], validate_certificates=False,
        lowest_supported_version=v12, highest_supported_version=v12))
    psk_cli = tls.ClientContext(tls.DTLSConfiguration(
        pre_shared_key=(IDENTITY, PSK), ciphers=[PSK_SUITE], validate_certificates=False,
        lowest_supported_version=v12, highest_supported_version=v12))

    def one(srv_ctx, cli_ctx, hostname, cookies) -> None:
        srv = srv_ctx.wrap_buffers()
        cli = cli_ctx.wrap_buffers(hostname)
        # python-mbedtls servers always demand a cookie; the client address
        # is what it is bound to.
        srv.setcookieparam(TID)
        loop(srv, cli)

    out = {"library": f"python-mbedtls {mbedtls.__version__} ({mbedtls.version.version})",
           "cert_handshake": {"skipped": "python-mbedtls DTLS servers always use cookies"},
           "cookie_handshake": timed(lambda: one(cert_srv, cert_cli, "localhost", True), secs),
           "psk_handshake": dict(timed(lambda: one(psk_srv, psk_cli, None, True), secs),
                                 note="with cookies: always on in python-mbedtls")}
    return out


# -- pyOpenSSL -----------------------------------------------------------------------

def pyopenssl_rows(pki: Path, secs: float) -> dict:
    try:
        import OpenSSL
        from OpenSSL import SSL
    except ImportError as e:
        return {"skipped": f"pyOpenSSL is not installed ({e})"}

    secret = os.urandom(32)

    def make_ctx(server: bool, cookies: bool) -> SSL.Context:
        ctx = SSL.Context(SSL.DTLS_SERVER_METHOD if server else SSL.DTLS_CLIENT_METHOD)
        ctx.set_min_proto_version(DTLS1_2_VERSION)
        ctx.set_max_proto_version(DTLS1_2_VERSION)
        ctx.set_cipher_list(OPENSSL_CERT_SUITE)
        ctx.set_options(SSL.OP_NO_TICKET)
        if server:
            ctx.use_certificate_file(str(pki / "server.crt"))
            ctx.use_privatekey_file(str(pki / "server.key"))
            if cookies:
                ctx.set_cookie_generate_callback(
                    lambda conn: hmac.new(secret, TID, hashlib.sha256).digest())
                ctx.set_cookie_verify_callback(
                    lambda conn, cookie: hmac.compare_digest(
                        cookie, hmac.new(secret, TID, hashlib.sha256).digest()))
        else:
            ctx.load_verify_locations(str(pki / "ca.crt"))
            ctx.set_verify(SSL.VERIFY_PEER, lambda *a: a[-1])
        return ctx

    def deliver(a, b) -> None:
        while True:
            try:
                d = a.bio_read(65536)
            except SSL.WantReadError:
                return
            if not d:
                return
            b.bio_write(d)

    def one(srv_ctx, cli_ctx, cookies: bool) -> None:
        srv = SSL.Connection(srv_ctx, None)
        srv.set_accept_state()
        cli = SSL.Connection(cli_ctx, None)
        cli.set_connect_state()
        cli.set_tlsext_host_name(b"localhost")
        listening = cookies
        cdone = sdone = False
        for _ in range(100):
            if not cdone:
                try:
                    cli.do_handshake()
                    cdone = True
                except SSL.WantReadError:
                    pass
            deliver(cli, srv)
            if listening:
                try:
                    srv.DTLSv1_listen()   # HelloVerifyRequest until the cookie is back
                    listening = False
                except SSL.WantReadError:
                    pass
            if not listening and not sdone:
                try:
                    srv.do_handshake()
                    sdone = True
                except SSL.WantReadError:
                    pass
            deliver(srv, cli)
            if cdone and sdone:
                return
        raise RuntimeError("pyOpenSSL handshake did not finish")

    s_plain, s_cookie, c = make_ctx(True, False), make_ctx(True, True), make_ctx(False, False)
    return {"library": f"pyOpenSSL {OpenSSL.__version__} "
                       f"({SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()})",
            "cert_handshake": timed(lambda: one(s_plain, c, False), secs),
            "cookie_handshake": timed(lambda: one(s_cookie, c, True), secs),
            "psk_handshake": {"skipped": "pyOpenSSL has no PSK API"}}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    pki, secs = Path(argv[0]), float(argv[1])
    out = {}
    for name, fn in (("python-mbedtls", python_mbedtls_rows), ("pyOpenSSL", pyopenssl_rows)):
        try:
            out[name] = fn(pki, secs)
        except Exception as e:  # noqa: BLE001 - an optional row must not sink the benchmark
            out[name] = {"skipped": f"failed: {type(e).__name__}: {e}"}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
