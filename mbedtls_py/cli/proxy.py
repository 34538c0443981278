"""``mbedtls-py proxy``: run the UDP impairment proxy (:mod:`mbedtls_py.udp.proxy`)
from the command line."""

from __future__ import annotations

import argparse
import re
import signal
import sys
from typing import Any

from ..udp.addresses import addr_str, parse_hostport
from ..udp.proxy import UDPProxy
from ..wire import rules as _rules
from .._cliargs import OneLineParser


def _parser() -> argparse.ArgumentParser:
    ap = OneLineParser(
        prog="mbedtls-py proxy",
        description="A UDP impairment proxy between DTLS clients and a server, applying "
                    "record-aware rules (the rule language of mbedtls_py.wire.rules).",
        epilog='Example: mbedtls-py proxy --listen 127.0.0.1:4434 --server 127.0.0.1:4433 '
               '--rule "client->server alert epoch>=1: delay 200ms" --max-seconds 30')
    ap.add_argument("--listen", required=True, metavar="H:P",
                    help="address clients send to (port 0: pick one, printed at start)")
    ap.add_argument("--server", required=True, metavar="H:P", help="the DTLS server")
    ap.add_argument("--rule", action="append", default=[], metavar="RULE",
                    help='an impairment rule, e.g. "server->client #2: drop" (repeatable; '
                         'applied in order)')
    ap.add_argument("rules", nargs="*", metavar="RULE",
                    help="rules may also be given as arguments (after the --rule ones)")
    ap.add_argument("--seed", help="seed for corrupt (default: random)")
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="stop after this many seconds (default 60)")
    ap.add_argument("--release-after", metavar="DURATION",
                    help="release held datagrams this long after they were held (e.g. 500ms)")
    ap.add_argument("--log", metavar="FILE", help="JSON-lines log of what the proxy did "
                                                  "('-' for stdout)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--allow-remote", action="store_true",
                    help="allow non-loopback addresses (off by default)")
    ap.add_argument("--pcap", metavar="FILE", help="write both sides of the proxy as pcapng at "
                    "the end, with comments on what it delayed, dropped, duplicated, held "
                    "(FILE.pcap: classic pcap)")
    ap.add_argument("--keylog", metavar="FILE", help="an NSS key log to embed in --pcap, read "
                    "when the proxy stops (e.g. from serve --keylog or openssl s_client "
                    "-keylogfile): the proxy sees no keys itself")
    return ap


def _duration_ms(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(ms|s)?\s*", text)
    if m is None:
        raise ValueError(f"bad duration {text!r}; write e.g. 500ms or 1.5s")
    return float(m.group(1)) * (1000.0 if m.group(2) == "s" else 1.0)


def _progress(entry: dict[str, Any]) -> None:
    kind = entry["event"]
    if kind in ("in", "out"):
        return
    parts = [f"{entry['t_ms']:>10.1f} ms", f"{kind:<11}"]
    for key in ("dir", "session", "index", "rule", "ms", "note", "why", "client", "listen"):
        if key in entry:
            parts.append(f"{key}={entry[key]}")
    print("  ".join(str(p) for p in parts), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``mbedtls-py proxy``: run the proxy in the foreground."""
    args = _parser().parse_args(argv)
    try:
        listen = parse_hostport(args.listen)
        server = parse_hostport(args.server)
        rules = [_rules.parse_rule(r) for r in [*args.rule, *args.rules]]
        release_after = None
        if args.release_after is not None:
            release_after = _duration_ms(args.release_after)
        proxy = UDPProxy(listen, server, rules, seed=args.seed, max_seconds=args.max_seconds,
                         release_after_ms=release_after, log_file=args.log,
                         on_log=None if args.quiet else _progress,
                         allow_remote=args.allow_remote)
        from ..capture.live import proxy_capture
        capture = proxy_capture(proxy, args.pcap, args.keylog)
    except _rules.RuleSyntaxError as exc:
        word = exc.rule[exc.start:exc.end]
        print(f"mbedtls-py proxy: error: invalid rule {exc.rule!r}: {exc.reason} (at {word!r}; "
              f"allowed: {exc.allowed})", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"mbedtls-py proxy: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"proxy listening on {addr_str(proxy.address)} -> {addr_str(proxy.server)}, "
          f"{len(rules)} rule(s), at most {args.max_seconds:g} s", file=sys.stderr, flush=True)

    def on_signal(signum: int, frame: object) -> None:
        proxy.request_stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        proxy.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        proxy.close()
        capture.save()
    c = proxy.counts
    print(f"proxy done: {c.get('in', 0)} in, {c.get('out', 0)} out, "
          + ", ".join(f"{c[k]} {k}" for k in ("delay", "drop", "duplicate", "corrupt", "hold",
                                               "release", "discard") if c.get(k)),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
