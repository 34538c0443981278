"""Small building blocks for tests and scripts: test PKI, ready-made configs,
and an in-memory pump between two contexts (no impairments; for those use
``mbedtls_py.net``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .config import Config
from .context import Context, VirtualClock
from .errors import Err

__all__ = [
    "TestPKI",
    "make_pki",
    "cert_configs",
    "psk_configs",
    "pump",
    "handshake_pair",
    "new_pair",
    "open_socket_inodes",
    "PSK",
    "PSK_IDENTITY",
    "PSK_SUITE",
]

PSK = bytes(range(16))
PSK_IDENTITY = b"mbedtls-py"
PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"

KeyKind = Literal["ecdsa", "rsa"]


@dataclass(frozen=True)
class TestPKI:
    """A CA and a server certificate for ``hostname`` (PEM bytes)."""

    __test__ = False  # not a pytest test class

    ca_pem: bytes
    chain_pems: list[bytes]
    key_pem: bytes
    hostname: str
    kind: str


def make_pki(kind: KeyKind = "ecdsa", hostname: str = "localhost") -> TestPKI:
    """A fresh trustme CA and leaf (ECDSA P-256 or RSA) for ``hostname``."""
    import trustme  # test dependency, imported only when used

    key_type = {"ecdsa": trustme.KeyType.ECDSA, "rsa": trustme.KeyType.RSA}[kind]
    ca = trustme.CA(key_type=key_type)
    leaf = ca.issue_cert(hostname, key_type=key_type)
    return TestPKI(ca.cert_pem.bytes(), [b.bytes() for b in leaf.cert_chain_pems],
                   leaf.private_key_pem.bytes(), hostname, kind)


def cert_configs(pki: TestPKI, *, seed: int | str | bytes | None = None,
                 cookies: bool = False, **options: object) -> tuple[Config, Config]:
    """A (client, server) pair of configs authenticating the server with ``pki``."""
    cseed = sseed = None
    if seed is not None:
        cseed, sseed = f"{seed}/client", f"{seed}/server"
    server = Config("server", seed=sseed, cookies=cookies, **options)
    server.do_set_certificate(pki.chain_pems, pki.key_pem)
    client = Config("client", seed=cseed, **options)
    client.set_ca_chain(pki.ca_pem)
    client.set_authmode("required")
    return client, server


def psk_configs(*, psk: bytes = PSK, identity: bytes = PSK_IDENTITY, suite: str = PSK_SUITE,
                seed: int | str | bytes | None = None, cookies: bool = False,
                **options: object) -> tuple[Config, Config]:
    """A (client, server) pair of configs sharing a PSK, restricted to ``suite``."""
    cseed = sseed = None
    if seed is not None:
        cseed, sseed = f"{seed}/client", f"{seed}/server"
    server = Config("server", seed=sseed, cookies=cookies, psk=(psk, identity),
                    ciphersuites=[suite], **options)
    client = Config("client", seed=cseed, psk=(psk, identity), ciphersuites=[suite], **options)
    return client, server


def pump(src: Context, dst: Context) -> int:
    """Move every queued datagram from ``src`` to ``dst``; return how many."""
    n = 0
    while src.move_to(dst):
        n += 1
    return n


def handshake_pair(client: Context, server: Context, *, max_rounds: int = 32,
                   transport_id: bytes = b"127.0.0.1:4433") -> tuple[int, int]:
    """Handshake two contexts over a lossless in-memory link.

    Handles the cookie exchange as the upstream ``dtls_server`` sample does
    (``HELLO_VERIFY_REQUIRED``: reset, set the transport id again, go on).
    Returns the final (client, server) codes: ``(0, 0)`` on success.
    """
    server.set_client_transport_id(transport_id)
    rc_c = rc_s = Err.SSL_WANT_READ
    for _ in range(max_rounds):
        if rc_c != 0:
            rc_c = client.handshake()
        pump(client, server)
        if rc_s != 0:
            rc_s = server.handshake()
            if rc_s == Err.SSL_HELLO_VERIFY_REQUIRED:
                pump(server, client)
                server.session_reset()
                server.set_client_transport_id(transport_id)
                rc_s = Err.SSL_WANT_READ
                continue
        pump(server, client)
        if rc_c == 0 and rc_s == 0:
            break
        if rc_c not in (0, Err.SSL_WANT_READ, Err.SSL_WANT_WRITE) or \
                rc_s not in (0, Err.SSL_WANT_READ, Err.SSL_WANT_WRITE):
            break
    return rc_c, rc_s


def open_socket_inodes() -> set[str]:
    """The sockets this process has open (Linux ``/proc``), for leak checks in tests."""
    import os

    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def new_pair(client_config: Config, server_config: Config, *,
             clock: VirtualClock | None = None,
             hostname: str | None = "localhost") -> tuple[Context, Context, VirtualClock]:
    """A (client, server) pair of contexts on one virtual clock."""
    clock = clock or VirtualClock()
    client = Context(client_config, clock=clock, name="client")
    server = Context(server_config, clock=clock, name="server")
    if hostname:
        client.set_hostname(hostname)
    return client, server, clock

