"""``mbedtls-py fuzz``: the seeded datagram fuzzer (progress on stderr).

Exit status: 0 when every violation is a known upstream behaviour, documented,
authentic traffic or protocol-inherent; 1 when a new one was found (each is
printed with its minimal reproducer and replay command); 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import __mbedtls_version__
from .._cliargs import POSITIVE_INT, number_type
from ..bindings.timeutil import set_time
from ..fuzz.classify import KNOWN, NOT_NEW
from ..fuzz.engine import ECDSA_SHARE, Fuzzer, make_case, run_alone
from ..fuzz.states import STATES


# --start, --replay, --history-from: case indices; --ecdsa-share: a fraction
_INDEX = number_type(int, 0, "a case index >= 0")
_SHARE = number_type(float, 0, "a fraction from 0 to 1", maximum=1)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="mbedtls-py fuzz",
        description="Mutate real flights of seeded handshakes and inject them into real Mbed TLS "
                    "contexts in every state; after each hostile datagram the legitimate peer's "
                    "next flight or record must still be accepted (RFC 6347 §4.1.2.7).",
        epilog="States: " + "; ".join(f"{s.name}: {s.doc}" for s in STATES.values()))
    ap.add_argument("--iterations", type=POSITIVE_INT, default=2000, metavar="N",
                    help="hostile datagrams to try (default 2000)")
    ap.add_argument("--seed", default="0", help="seed: the same seed replays the same datagrams")
    ap.add_argument("--start", type=_INDEX, default=0, metavar="I",
                    help="first case index (to split a long run)")
    ap.add_argument("--state", action="append", choices=list(STATES), metavar="STATE",
                    help="only these states (repeatable; default all): " + ", ".join(STATES))
    ap.add_argument("--ecdsa-share", type=_SHARE, default=ECDSA_SHARE, metavar="F",
                    help=f"fraction of cases on ECDSA certificate handshakes, the rest PSK "
                         f"(default {ECDSA_SHARE})")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--replay", type=_INDEX, metavar="I",
                    help="run case I of --seed alone and print its evidence")
    ap.add_argument("--history-from", type=_INDEX, metavar="F",
                    help="with --replay: first replay cases F..I-1 that shared the "
                         "established connection")
    return ap


def _replay(args: argparse.Namespace, states: list[str]) -> int:
    from ..fuzz.classify import classify

    case = make_case(args.seed, args.replay, states, args.ecdsa_share)
    out, lines = run_alone(case, debug=True, history_from=args.history_from)
    category, reason = ("ok", "the RFC's promise held") if out.ok else classify(
        STATES[case.state], case.datagram, out, lines, kind=case.kind, cookies=case.cookies)
    doc = {"index": case.index, "state": case.state, "kind": case.kind, "cookies": case.cookies,
           "op": case.op, "datagram": case.datagram.hex(), "outcome": out.verdict,
           "codes": list(out.codes), "first_rc": out.first_rc, "late_ms": out.late_ms,
           "category": category, "reason": reason, "trace": lines[:40]}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        for key in ("index", "state", "kind", "cookies", "op", "datagram", "outcome", "codes",
                    "first_rc", "late_ms", "category", "reason"):
            print(f"{key:>9}: {doc[key]}")
        for line in lines[:40]:
            print(f"    trace: {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer (or replay one case); see the module docstring for the status."""
    args = _parser().parse_args(argv)
    if args.history_from is not None and args.replay is None:
        _parser().error("--history-from needs --replay")
    # the order of --state does not matter: cases are drawn from the states in STATES order
    states = [s for s in STATES if s in (args.state or STATES)]
    try:
        if args.replay is not None:
            return _replay(args, states)
        fz = Fuzzer(args.seed, states, progress=0 if args.quiet else 2.0,
                    ecdsa_share=args.ecdsa_share)
        fz.run(args.iterations, start=args.start)
    except KeyboardInterrupt:
        print("fuzz: interrupted", file=sys.stderr)
        return 130
    finally:
        set_time(None)
    rate = fz.done / fz.elapsed if fz.elapsed else 0.0
    findings = sorted(fz.findings.values(), key=lambda f: (-f.count, f.category))
    doc: dict[str, Any] = {
        "mbedtls_version": __mbedtls_version__, "seed": args.seed, "start": args.start,
        "iterations": fz.done, "states": states, "ecdsa_share": args.ecdsa_share, "elapsed_s": round(fz.elapsed, 2),
        "rate_per_s": round(rate, 1), "outcomes": fz.counts,
        "violations": fz.category_counts(), "new": len(fz.new),
        "known": KNOWN, "findings": [f.to_dict() for f in findings]}
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"Mbed TLS {__mbedtls_version__}: {fz.done} hostile datagrams in "
              f"{fz.elapsed:.1f} s ({rate:.0f}/s), seed {args.seed}")
        for state, tally in fz.counts.items():
            print(f"  {state:<19} " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
        print("violations by category: " + (", ".join(
            f"{k} {v}" for k, v in sorted(fz.category_counts().items())) or "none"))
        for f in findings:
            tag = "NEW" if f.category not in NOT_NEW and not f.category.startswith("known:") \
                else f.category
            print(f"- [{tag}] x{f.count} {f.case.state}/{f.case.kind}/cookies={f.case.cookies}"
                  f" {f.outcome.verdict} {', '.join(f.outcome.codes) or '-'}: {f.reason}")
            print(f"    reproducer ({len(f.shrunk)} bytes): {f.shrunk.hex()}")
            print(f"    replay: {f.case.replay_command(f.history_from)}")
    return 1 if fz.new else 0


if __name__ == "__main__":
    sys.exit(main())
