"""A seeded datagram fuzzer of real Mbed TLS contexts in every DTLS state.

Real flights recorded from seeded handshakes (PSK and ECDSA, cookies on and
off) are mutated (``mutate``) and injected into a server waiting for a
ClientHello (fresh and after ``session_reset``), mid-handshake and
established, and a client mid-handshake and established (``states``).  The
oracle is the RFC's promise: the legitimate peer's next flight or record is
still accepted (``engine``).  Violations are shrunk to a minimal reproducer
and classified as known upstream behaviours, protocol-inherent, or new
(``classify``).  ``python -m mbedtls_py fuzz`` runs it.
"""

from __future__ import annotations

from .classify import KNOWN, classify
from .engine import Case, Finding, Fuzzer, Outcome, make_case, run_alone, shrink
from .mutate import MUTATIONS, mutate
from .states import STATES, State

__all__ = ["Fuzzer", "Case", "Outcome", "Finding", "make_case", "run_alone", "shrink",
           "MUTATIONS", "mutate", "STATES", "State", "KNOWN", "classify"]
