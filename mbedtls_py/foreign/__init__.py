"""Foreign TLS libraries as in-process DTLS peers: their datagrams in the same C
queues as the Mbed TLS contexts, their clocks owned by the harness.

Each peer is a separate cffi extension, built on first use against the
system's library and cached under ``mbedtls_py.cachedir.cache_dir("peers")``;
a machine without the library gets an error naming what to install."""

from __future__ import annotations

__all__ = ["PeerUnavailable"]


class PeerUnavailable(RuntimeError):
    """A foreign peer's library (or its headers, or a compiler) is missing; the
    message says what to install."""
