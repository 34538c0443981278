"""``mbedtls-py attacks``: run the off-path scenarios against the linked Mbed TLS
and print, per scenario, the RFC's expectation, what Mbed TLS did, the codes."""

from __future__ import annotations

import argparse
import json
import sys

from .. import __mbedtls_version__
from ..attacks.scenarios import SCENARIOS, run_all


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in SCENARIOS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {bad[0] if bad else text!r}; choose from {', '.join(SCENARIOS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios; exit status 0 (the verdicts are the output, not the status)."""
    ap = argparse.ArgumentParser(
        prog="mbedtls-py attacks",
        description="Off-path attacks: one forged datagram against real Mbed TLS contexts, "
                    "judged against RFC 6347 §4.1.2.7 (invalid records are silently "
                    "discarded).  Scenarios: " + ", ".join(SCENARIOS) + ".")
    ap.add_argument("--json", action="store_true", help="one JSON object with a list 'scenarios'")
    ap.add_argument("--seed", default="0", help="seed of the RNG given to Mbed TLS (default 0)")
    ap.add_argument("--only", type=_names, action="extend", metavar="NAME[,NAME]",
                    help="run only these scenarios (repeatable)")
    ap.add_argument("--kind", choices=["psk", "ecdsa"], default="psk",
                    help="key exchange of the handshakes (default psk)")
    args = ap.parse_args(argv)
    seed: int | str = int(args.seed) if args.seed.lstrip("-").isdigit() else args.seed
    results = run_all(seed=seed, only=args.only, kind=args.kind)
    if args.json:
        json.dump({"mbedtls_version": __mbedtls_version__, "seed": seed, "kind": args.kind,
                   "scenarios": [r.to_dict() for r in results]}, sys.stdout, indent=1)
        print()
    else:
        for r in results:
            print(r.report())
            print()
        counts = {v: sum(r.verdict == v for r in results)
                  for v in ("violates", "conforms", "inconclusive")}
        print(f"Mbed TLS {__mbedtls_version__}: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
