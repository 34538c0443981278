"""Where tests emitted by earlier versions import the parties from: they
live in :mod:`mbedtls_py.parties` now."""

from __future__ import annotations

from ..parties import REQUEST, CidServer, Client, party_outcome, reported_errors

__all__ = ["Client", "CidServer", "REQUEST", "party_outcome", "reported_errors"]
