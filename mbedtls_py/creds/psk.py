"""Pre-shared keys: the defaults the configs, scenarios and tests share, and
:class:`PSK` (a key and its identity, as the OpenSSL peers take it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PSK", "DEFAULT_PSK", "DEFAULT_PSK_IDENTITY", "DEFAULT_PSK_SUITE"]

DEFAULT_PSK = bytes(range(16))
DEFAULT_PSK_IDENTITY = b"mbedtls-py"
DEFAULT_PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"


@dataclass(frozen=True)
class PSK:
    """A pre-shared key and its identity (OpenSSL's default identity is ``Client_identity``)."""

    key: bytes
    identity: str = "Client_identity"

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("PSK key must not be empty")

    @property
    def hex(self) -> str:
        """The key as the hex string ``-psk`` expects (no ``0x``)."""
        return self.key.hex()
