"""The one PKI factory: :class:`PKI` (PEM bytes of a CA, a server and a client
certificate) and :func:`make_pki` (trustme, or deterministic from a seed via
:mod:`mbedtls_py.creds.det`).  Runtime code (the OpenSSL peers, ``serve``, the
repro scenarios) and :mod:`mbedtls_py.testing` all use it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["PKI", "PKIPaths", "KeyKind", "make_pki"]

KeyKind = Literal["ecdsa", "rsa"]
"""The key types the PKI factory makes."""

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", re.S)



@dataclass(frozen=True)
class PKIPaths:
    """Files written by :meth:`PKI.write`; ``chain`` is ``None`` without an intermediate CA."""

    ca: Path
    cert: Path
    chain: Path | None
    cert_chain: Path
    key: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class PKI:
    """A throw-away CA with one server and one client certificate, all PEM bytes.

    ``cert_pem`` is the server leaf only, ``chain_pem`` the intermediates (empty without
    one), ``cert_chain_pem`` leaf followed by intermediates.  The root (``ca_pem``) is never
    part of a chain.
    """

    __test__ = False  # not a pytest test class

    kind: KeyKind
    hostname: str
    ca_pem: bytes
    cert_pem: bytes
    chain_pem: bytes
    key_pem: bytes
    client_cert_pem: bytes = b""
    client_key_pem: bytes = b""
    seed: bytes | None = None
    ca_key_pem: bytes = field(default=b"", repr=False)

    @property
    def cert_chain_pem(self) -> bytes:
        """Server leaf followed by its intermediate CA certificates."""
        return self.cert_pem + self.chain_pem

    @property
    def chain_pems(self) -> list[bytes]:
        """Server leaf and intermediates, one PEM each (what ``Config.set_certificate`` takes)."""
        return [self.cert_pem] + _PEM_BLOCK.findall(self.chain_pem)

    def configure(self, client: Any = None, server: Any = None) -> None:
        """Install the server certificate on a server ``Config`` and the CA
        (``authmode required``) on a client ``Config``; either may be ``None``."""
        if server is not None:
            server.do_set_certificate(self.chain_pems, self.key_pem)
        if client is not None:
            client.set_ca_chain(self.ca_pem)
            client.set_authmode("required")

    def write(self, directory: str | os.PathLike[str]) -> PKIPaths:
        """Write every PEM into ``directory`` (created if needed) and return the paths."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)

        def put(name: str, data: bytes, private: bool = False) -> Path:
            p = d / name
            p.write_bytes(data)
            if private:
                p.chmod(0o600)
            return p

        return PKIPaths(
            ca=put("ca.pem", self.ca_pem),
            cert=put("server_cert.pem", self.cert_pem),
            chain=put("server_chain.pem", self.chain_pem) if self.chain_pem else None,
            cert_chain=put("server_cert_chain.pem", self.cert_chain_pem),
            key=put("server_key.pem", self.key_pem, private=True),
            client_cert=put("client_cert.pem", self.client_cert_pem),
            client_key=put("client_key.pem", self.client_key_pem, private=True),
        )


def make_pki(
    kind: KeyKind = "ecdsa",
    hostname: str = "localhost",
    *,
    intermediate: bool = False,
    seed: int | str | bytes | None = None,
) -> PKI:
    """The one PKI factory: a CA, a server and (trustme only) a client certificate.

    Without ``seed``: a fresh PKI from trustme, ECDSA P-256 or RSA (2048) keys
    throughout; the server certificate names ``hostname``, ``127.0.0.1`` and
    ``::1``, the client certificate ``client.<hostname>``; with
    ``intermediate`` the leaves are issued by a child CA, which then appears in
    the chains.  With ``seed``: the deterministic ECDSA PKI of
    :func:`mbedtls_py.creds.det.make_det_pki` (same seed, same bytes in every
    process; no client certificate, no intermediate).
    """
    if seed is not None:
        if kind != "ecdsa" or intermediate:
            raise ValueError("a seeded (deterministic) PKI is ECDSA without intermediate")
        from .det import make_det_pki

        return make_det_pki(seed, hostname)
    # trustme is a test dependency; the rest of this module works without it.
    import trustme

    try:
        key_type = {"ecdsa": trustme.KeyType.ECDSA, "rsa": trustme.KeyType.RSA}[kind]
    except KeyError:
        raise ValueError(f"kind must be 'ecdsa' or 'rsa', not {kind!r}") from None
    root = trustme.CA(key_type=key_type)
    issuer = root.create_child_ca(key_type=key_type) if intermediate else root
    # issue_cert defaults to ECDSA whatever the CA's key type, so pass it every time.
    server = issuer.issue_cert(hostname, "127.0.0.1", "::1", key_type=key_type)
    client = issuer.issue_cert(f"client.{hostname}", key_type=key_type)
    pems = [b.bytes() for b in server.cert_chain_pems]
    return PKI(
        kind=kind,
        hostname=hostname,
        ca_pem=root.cert_pem.bytes(),
        cert_pem=pems[0],
        chain_pem=b"".join(pems[1:]),
        key_pem=server.private_key_pem.bytes(),
        client_cert_pem=b"".join(b.bytes() for b in client.cert_chain_pems),
        client_key_pem=client.private_key_pem.bytes(),
    )
