"""Off-path attacks on real Mbed TLS contexts: one forged datagram, no keys.

RFC 6347 §4.1.2.7 promises that invalid records are silently discarded, so an
attacker who can only spoof datagrams cannot break a DTLS connection.  Each
scenario here runs that promise against the linked Mbed TLS and reports what
the RFC expects, what the library did (from return codes and its debug
trace) and a verdict.  ``python -m mbedtls_py attacks`` runs them all.
"""

from __future__ import annotations

from . import forge
from .duo import Call, DebugCapture, Duo
from .result import RFC_6347_4_1_2_7, AttackResult, Verdict
from .scenarios import (
    SCENARIOS,
    early_ccs,
    early_short_alert,
    forged_ccs_bad_mac,
    established_ccs_stray_byte,
    established_reconnect_decode_error,
    replay_window_poison,
    run_all,
    stray_bytes,
)

__all__ = ["Duo", "Call", "DebugCapture", "AttackResult", "Verdict", "RFC_6347_4_1_2_7",
           "SCENARIOS", "run_all", "established_ccs_stray_byte", "established_reconnect_decode_error", "early_ccs", "early_short_alert", "forged_ccs_bad_mac",
           "replay_window_poison", "stray_bytes", "forge"]
