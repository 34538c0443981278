"""Regenerate the benchmark's fixed test PKI in bench/pki/ (committed; test keys only).

An ECDSA P-256 CA and an ECDSA P-256 server certificate for ``localhost``
signed by it, valid 2020-2120, so runs do not depend on the current date.
Both drivers (native and Python) load these same files.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OUT = Path(__file__).resolve().parent / "pki"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2120, 1, 1, tzinfo=datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mbedtls-py bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    crt = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
           .public_key(key.public_key()).serial_number(2)
           .not_valid_before(start).not_valid_after(end)
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (OUT / "ca.crt").write_bytes(ca.public_bytes(pem))
    (OUT / "server.crt").write_bytes(crt.public_bytes(pem))
    (OUT / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    print(f"wrote {OUT}/ca.crt, server.crt, server.key")


if __name__ == "__main__":
    main()
