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

The certificates are built and signed by ``cryptography`` (>= 45, whose
``CertificateBuilder.sign`` takes ``ecdsa_deterministic=True``; its wheels
bundle an OpenSSL >= 3.2, which deterministic ECDSA needs).  Nothing is cached
on disk.

The ECDSA signatures Mbed TLS itself makes in a handshake (ServerKeyExchange)
are deterministic too: the build enables ``MBEDTLS_ECDSA_DETERMINISTIC``.

Test keys only: anyone who knows the seed knows the private keys.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import TYPE_CHECKING

from ..bindings.rng import seed_bytes
from .pki import PKI

if TYPE_CHECKING:  # cryptography is imported lazily (an optional extra)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["make_det_pki"]

# The order n of P-256: the seed's digest is reduced into [1, n-1], the range
# of a private value (``ec.derive_private_key`` rejects anything else).
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _derive_key(seed: bytes, role: str) -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    digest = hashlib.sha256(b"mbedtls-py/pki_det/" + role.encode() + b"/" + seed).digest()
    value = int.from_bytes(digest, "big") % (_N - 1) + 1
    return ec.derive_private_key(value, ec.SECP256R1())


def _derive_serial(seed: bytes, role: str) -> int:
    digest = hashlib.sha256(b"mbedtls-py/pki_det/serial/" + role.encode() + b"/" + seed).digest()
    return int.from_bytes(digest[:19], "big") >> 1 | 1  # positive, < 2**151


def _sign_certificate(builder: x509.CertificateBuilder,
                      key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes

    try:
        return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    except (TypeError, UnsupportedAlgorithm) as exc:  # cryptography < 45, or OpenSSL < 3.2
        raise RuntimeError("deterministic certificates need cryptography >= 45 with"
                           f" OpenSSL >= 3.2 (deterministic ECDSA): {exc}") from exc


def make_det_pki(seed: int | str | bytes = 0, hostname: str = "localhost") -> PKI:
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
    ca_cert = _sign_certificate(ca_builder, ca_key)

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
    leaf_cert = _sign_certificate(leaf_builder, ca_key)

    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    ca_key_pem = ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    ca_pem = ca_cert.public_bytes(pem)
    return PKI(kind="ecdsa", hostname=hostname, ca_pem=ca_pem,
               cert_pem=leaf_cert.public_bytes(pem), chain_pem=b"", key_pem=key_pem,
               seed=material, ca_key_pem=ca_key_pem)
