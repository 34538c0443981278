"""Parties for the simulated network: the processes scenarios run next to
:class:`~mbedtls_py.server.DTLSServer` (an echo client like ``openssl
s_client``, a connection-ID server) and how their outcomes are read.  Used by
``repro``, ``explore`` and the tests; above ``sim`` and ``server``, below the
features."""

from __future__ import annotations

from .cid_server import CidServer
from .client import REQUEST, Client
from .party import party_outcome, reported_errors

__all__ = ["Client", "CidServer", "REQUEST", "party_outcome", "reported_errors"]
