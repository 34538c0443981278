"""``AttackResult``: what the RFC expects, what Mbed TLS did, and the verdict."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ..bindings.errors import as_err
from .duo import Call

__all__ = ["AttackResult", "Verdict", "RFC_6347_4_1_2_7", "code_name", "summarize_debug"]

Verdict = Literal["violates", "conforms", "inconclusive"]

RFC_6347_4_1_2_7 = ("RFC 6347 §4.1.2.7: invalid records are silently discarded; a datagram "
                    "an off-path attacker can forge must not affect the connection.")

# "client 1 ssl_msg.c:2222: 0x55f1531b07a0: text" -> "client ssl_msg.c: text"
_LINE_NO = re.compile(r"^(\S+) \d+ ([\w.]+):\d+: (?:0x[0-9a-f]+: )?")


def code_name(rc: int | None) -> str:
    """``SSL_INTERNAL_ERROR (-0x6C00)`` for a known code, the int otherwise."""
    if rc is None:
        return "-"
    return str(as_err(int(rc)))


def summarize_debug(lines: list[str], limit: int = 12) -> list[str]:
    """Mbed TLS debug lines grouped (source line numbers dropped, so the summary
    is stable across versions) and counted, most frequent first."""
    counts = Counter(_LINE_NO.sub(r"\1 \2: ", line) for line in lines)
    return [f"{n} x {text}" for text, n in counts.most_common(limit)]


@dataclass
class AttackResult:
    """One off-path scenario run on real contexts.

    ``observed`` is derived from the return codes (``codes``, every call from
    the injection on), the outcome compared with a control run of the same
    seed without the forged datagram, and the Mbed TLS debug trace
    (``evidence``); nothing in it is planned.  ``verdict`` is ``violates``
    when the forged datagram changed the connection's fate or timing,
    ``conforms`` when the run matched the control exactly, and
    ``inconclusive`` when the control itself failed (no baseline)."""

    name: str
    attack: str
    target: str
    datagram: bytes
    mbedtls_version: str
    observed: str = ""
    verdict: Verdict = "inconclusive"
    control: str = ""
    codes: list[Call] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    rfc: str = RFC_6347_4_1_2_7

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (codes with their names, the datagram in hex)."""
        out = asdict(self)
        out["datagram"] = self.datagram.hex()
        out["codes"] = [{"t_ms": c.t_ms, "who": c.who, "call": c.call, "rc": c.rc,
                         "name": code_name(c.rc) if c.call != "inject" else f"{c.rc} bytes"}
                        for c in self.codes]
        return out

    def report(self) -> str:
        """Human-readable block: attack, RFC, what Mbed TLS did, codes, verdict."""
        lines = [f"== {self.name}: {self.verdict.upper()} (Mbed TLS {self.mbedtls_version})",
                 f"   attack:   {self.attack}",
                 f"   datagram: {self.datagram.hex()} ({len(self.datagram)} bytes) -> {self.target}",
                 f"   RFC:      {self.rfc}",
                 f"   control:  {self.control}",
                 f"   observed: {self.observed}"]
        shown = self.codes[:14]
        lines += [f"   code:     {c}" if c.call != "inject" else
                  f"   code:     {c.t_ms:>7} ms {c.who:<6} inject    <- {c.rc} bytes"
                  for c in shown]
        if len(self.codes) > len(shown):
            lines.append(f"   code:     ... {len(self.codes) - len(shown)} more calls")
        lines += [f"   trace:    {e}" for e in self.evidence[:6]]
        return "\n".join(lines)
