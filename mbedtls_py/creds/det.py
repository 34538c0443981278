"""A deterministic test PKI: the same seed gives byte-identical certificates
and keys in every process.

``trustme`` (and ``mbedtls_py.testing.make_pki``) make a fresh CA on every
call, so the Certificate message of a handshake differs between runs.  For
seeded runs that must replay byte for byte (``mbedtls_py.sim.network``), everything
here is derived from the seed:

- the EC P-256 private keys are ``sha256("mbedtls-py/pki_det/<role>/" + seed)``
  reduced into ``[1, n-1]`` (``ec.derive_private_key``);
- names, serial numbers (also derived from the seed), validity
  (2020-01-01 .. 2049-12-31, so it holds at any ``set_time`` in that range) and
  extensions are fixed;
- the ECDSA signatures of the certificates are deterministic (RFC 6979, SHA-256).

The signatures come from ``cryptography``'s
``ec.ECDSA(hashes.SHA256(), deterministic_signing=True)`` when the installed
``cryptography`` and its OpenSSL support it (cryptography >= 44 with OpenSSL
>= 3.2).  Otherwise the certificate is built by ``cryptography`` as usual (its
randomized signature is thrown away) and its to-be-signed bytes are signed
again by :func:`rfc6979_sign`, a small pure-Python RFC 6979 ECDSA over P-256,
and the certificate DER is reassembled.  Both paths give the same bytes (RFC
6979 fixes the nonce), which the tests check.  Nothing is cached on disk.

The ECDSA signatures Mbed TLS itself makes in a handshake (ServerKeyExchange)
are deterministic too: the build enables ``MBEDTLS_ECDSA_DETERMINISTIC``.

Test keys only: anyone who knows the seed knows the private keys.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from typing import TYPE_CHECKING

from ..rng import seed_bytes
from .pki import PKI

if TYPE_CHECKING:  # cryptography is imported lazily (an optional extra)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["make_det_pki", "rfc6979_sign", "native_deterministic_signing"]

# --------------------------------------------------------------------- P-256

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
      0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def _jacobian_double(p: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = p
    if y == 0 or z == 0:
        return (0, 1, 0)
    ysq = y * y % _P
    s = 4 * x * ysq % _P
    m = (3 * x * x + _A * pow(z, 4, _P)) % _P
    nx = (m * m - 2 * s) % _P
    ny = (m * (s - nx) - 8 * ysq * ysq) % _P
    nz = 2 * y * z % _P
    return (nx, ny, nz)


def _jacobian_add(p: tuple[int, int, int], q: tuple[int, int, int]) -> tuple[int, int, int]:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    x1, y1, z1 = p
    x2, y2, z2 = q
    z1z1, z2z2 = z1 * z1 % _P, z2 * z2 % _P
    u1, u2 = x1 * z2z2 % _P, x2 * z1z1 % _P
    s1, s2 = y1 * z2 * z2z2 % _P, y2 * z1 * z1z1 % _P
    if u1 == u2:
        return _jacobian_double(p) if s1 == s2 else (0, 1, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    hh = h * h % _P
    hhh = h * hh % _P
    v = u1 * hh % _P
    nx = (r * r - hhh - 2 * v) % _P
    ny = (r * (v - nx) - s1 * hhh) % _P
    nz = h * z1 * z2 % _P
    return (nx, ny, nz)


def _scalar_mult_g(k: int) -> tuple[int, int]:
    result = (0, 1, 0)
    addend = (_G[0], _G[1], 1)
    while k:
        if k & 1:
            result = _jacobian_add(result, addend)
        addend = _jacobian_double(addend)
        k >>= 1
    x, y, z = result
    zinv = pow(z, -1, _P)
    return (x * zinv * zinv % _P, y * zinv * zinv * zinv % _P)


def _bits2octets(data: bytes) -> bytes:
    return (int.from_bytes(data, "big") % _N).to_bytes(32, "big")


def rfc6979_sign(private_value: int, message: bytes) -> tuple[int, int]:
    """ECDSA P-256 / SHA-256 signature ``(r, s)`` of ``message`` with the
    nonce of RFC 6979 section 3.2 (deterministic; no low-s normalisation,
    like OpenSSL)."""
    if not 1 <= private_value < _N:
        raise ValueError("private value out of range")
    h1 = hashlib.sha256(message).digest()
    e = int.from_bytes(h1, "big")
    x = private_value.to_bytes(32, "big")
    v, k = b"\x01" * 32, b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + _bits2octets(h1), hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + _bits2octets(h1), hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        nonce = int.from_bytes(v, "big")
        if 1 <= nonce < _N:
            r = _scalar_mult_g(nonce)[0] % _N
            s = pow(nonce, -1, _N) * (e + r * private_value) % _N
            if r and s:
                return r, s
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


# ---------------------------------------------------------------------- DER


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return _der(0x02, body)


# AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters.
_ECDSA_SHA256_ALG = _der(0x30, bytes.fromhex("06082a8648ce3d040302"))


def _signature_der(r: int, s: int) -> bytes:
    return _der(0x30, _der_int(r) + _der_int(s))


def _certificate_der(tbs: bytes, signature: bytes) -> bytes:
    return _der(0x30, tbs + _ECDSA_SHA256_ALG + _der(0x03, b"\x00" + signature))


# -------------------------------------------------------------------- the PKI

_native: bool | None = None


def native_deterministic_signing() -> bool:
    """Whether the installed ``cryptography`` signs ECDSA deterministically
    (``deterministic_signing=True``)."""
    global _native
    if _native is None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            key = ec.derive_private_key(1, ec.SECP256R1())
            sig = key.sign(b"", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
            _native = sig == key.sign(b"", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        except Exception:  # TypeError (old cryptography) or UnsupportedAlgorithm (old OpenSSL)
            _native = False
    return _native


def _derive_key(seed: bytes, role: str) -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    digest = hashlib.sha256(b"mbedtls-py/pki_det/" + role.encode() + b"/" + seed).digest()
    value = int.from_bytes(digest, "big") % (_N - 1) + 1
    return ec.derive_private_key(value, ec.SECP256R1())


def _derive_serial(seed: bytes, role: str) -> int:
    digest = hashlib.sha256(b"mbedtls-py/pki_det/serial/" + role.encode() + b"/" + seed).digest()
    return int.from_bytes(digest[:19], "big") >> 1 | 1  # positive, < 2**151


def _sign_certificate(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey,
                      force_fallback: bool) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if not force_fallback and native_deterministic_signing():
        return builder.sign(key, hashes.SHA256(),
                            ecdsa_deterministic=True) if _builder_has_det_kwarg() \
            else _sign_with_algorithm(builder, key)
    randomized = builder.sign(key, hashes.SHA256())
    tbs = randomized.tbs_certificate_bytes
    r, s = rfc6979_sign(key.private_numbers().private_value, tbs)
    der = _certificate_der(tbs, _signature_der(r, s))
    cert = x509.load_der_x509_certificate(der)
    # Sanity: the reassembled certificate verifies under the signer's key.
    key.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    return cert


def _builder_has_det_kwarg() -> bool:
    import inspect

    from cryptography import x509

    try:
        return "ecdsa_deterministic" in inspect.signature(x509.CertificateBuilder.sign).parameters
    except (TypeError, ValueError):
        return False


def _sign_with_algorithm(builder: x509.CertificateBuilder,
                         key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    # cryptography versions whose builder has no ``ecdsa_deterministic``: sign
    # the TBS bytes with deterministic ECDSA ourselves through cryptography.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    tbs = builder.sign(key, hashes.SHA256()).tbs_certificate_bytes
    sig = key.sign(tbs, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return x509.load_der_x509_certificate(_certificate_der(tbs, sig))


def make_det_pki(seed: int | str | bytes = 0, hostname: str = "localhost", *,
                 _force_fallback: bool = False) -> PKI:
    """A CA and a ``hostname`` server certificate (ECDSA P-256), both derived
    from ``seed``: the same seed gives the same bytes in every process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    material = seed_bytes(seed)
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)

    ca_key = _derive_key(material, "ca")
    leaf_key = _derive_key(material, "leaf")
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mbedtls-py"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "mbedtls-py deterministic CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_builder = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(_derive_serial(material, "ca"))
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
    )
    ca_cert = _sign_certificate(ca_builder, ca_key, _force_fallback)

    leaf_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mbedtls-py"),
                           x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    leaf_builder = (
        x509.CertificateBuilder().subject_name(leaf_name).issuer_name(ca_name)
        .public_key(leaf_key.public_key()).serial_number(_derive_serial(material, "leaf"))
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
    )
    leaf_cert = _sign_certificate(leaf_builder, ca_key, _force_fallback)

    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    ca_key_pem = ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    ca_pem = ca_cert.public_bytes(pem)
    return PKI(kind="ecdsa", hostname=hostname, ca_pem=ca_pem,
               cert_pem=leaf_cert.public_bytes(pem), chain_pem=b"", key_pem=key_pem,
               seed=material, ca_key_pem=ca_key_pem)
