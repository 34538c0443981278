"""Ready-made (client, server) config pairs: certificate-authenticated from a
:class:`~mbedtls_py.creds.pki.PKI`, or sharing a PSK."""

from __future__ import annotations

from ..bindings.config import Config
from .pki import PKI
from .psk import DEFAULT_PSK, DEFAULT_PSK_IDENTITY, DEFAULT_PSK_SUITE

from typing import Any  # options are forwarded to Config as keywords

__all__ = ["cert_configs", "psk_configs"]


def cert_configs(pki: PKI, *, seed: int | str | bytes | None = None,
                 cookies: bool = False, **options: Any) -> tuple[Config, Config]:
    """A (client, server) pair of configs authenticating the server with ``pki``."""
    cseed = sseed = None
    if seed is not None:
        base = repr(seed) if isinstance(seed, bytes) else str(seed)  # str(bytes) is its repr
        cseed, sseed = f"{base}/client", f"{base}/server"
    server = Config("server", seed=sseed, cookies=cookies, **options)
    server.do_set_certificate(pki.chain_pems, pki.key_pem)
    client = Config("client", seed=cseed, **options)
    client.set_ca_chain(pki.ca_pem)
    client.set_authmode("required")
    return client, server


def psk_configs(*, psk: bytes = DEFAULT_PSK, identity: bytes = DEFAULT_PSK_IDENTITY,
                suite: str = DEFAULT_PSK_SUITE,
                seed: int | str | bytes | None = None, cookies: bool = False,
                **options: Any) -> tuple[Config, Config]:
    """A (client, server) pair of configs sharing a PSK, restricted to ``suite``."""
    cseed = sseed = None
    if seed is not None:
        base = repr(seed) if isinstance(seed, bytes) else str(seed)  # str(bytes) is its repr
        cseed, sseed = f"{base}/client", f"{base}/server"
    server = Config("server", seed=sseed, cookies=cookies, psk=(psk, identity),
                    ciphersuites=[suite], **options)
    client = Config("client", seed=cseed, psk=(psk, identity), ciphersuites=[suite], **options)
    return client, server
