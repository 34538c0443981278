"""The command line: ``mbedtls-py COMMAND`` (also ``python -m mbedtls_py``).

The top layer: one module per command under ``mbedtls_py.cli``, each with
``main(argv) -> int``; nothing below imports from here."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> (module, one-line help); each module has main(argv) -> int.
COMMANDS = {
    "selftest": ("mbedtls_py.cli.selftest", "in-memory DTLS handshakes, echo, close_notify, reset"),
    "repro": ("mbedtls_py.cli.repro", "reproduce the close_notify race (-0x7700) and its remedies"),
    "serve": ("mbedtls_py.cli.serve", "the dtls_server sample's loop over real UDP (mitigations, event log)"),
    "proxy": ("mbedtls_py.cli.proxy", "a UDP impairment proxy applying the rule language"),
    "build-variant": ("mbedtls_py.cli.build_variant",
                      "compile another Mbed TLS (a pinned version, a patched copy, a local tree)"),
    "variants": ("mbedtls_py.cli.variants", "list the library variants that can be loaded"),
    "matrix": ("mbedtls_py.cli.matrix", "run a command once per library variant, one table"),
    "explore": ("mbedtls_py.cli.explore", "every fault schedule of a scenario, in outcome classes"),
    "attacks": ("mbedtls_py.cli.attacks", "off-path attacks: one forged datagram vs RFC 6347"),
    "fuzz": ("mbedtls_py.cli.fuzz", "seeded datagram fuzzer of real contexts in every state"),
    "udp-proxy": ("mbedtls_py.cli.udpproxy",
                  "upstream's udp_proxy (drop/delay/duplicate/...), exact model, real UDP"),
    "fetch": ("mbedtls_py._fetch",
              "fetch and verify a pinned Mbed TLS source (installed: into the user's cache)"),
    "ssl-opt": ("mbedtls_py.cli.sslopt",
                "upstream ssl-opt.sh's DTLS cases in process, in virtual time"),
    "search": ("mbedtls_py.cli.search",
               "search one ssl-opt case's schedules until its own assertions fail"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; ``--help`` lists them."""
    from ..variants import VariantError

    try:
        return _dispatch(argv)
    except VariantError as e:  # MBEDTLS_PY_VARIANT names nothing loadable
        print(f"mbedtls-py: error: {e}", file=sys.stderr)
        return 2


def _dispatch(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(
        prog="mbedtls-py",
        description="Drive the real Mbed TLS DTLS server and client from Python.",
        epilog="Run `mbedtls-py COMMAND --help` for a command's options.")
    ap.add_argument("--version", action="store_true",
                    help="print the mbedtls-py and Mbed TLS versions and exit")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, text) in COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        ap.print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        from .. import __mbedtls_version__, __variant__, __version__
        print(f"mbedtls-py {__version__} (Mbed TLS {__mbedtls_version__}, variant {__variant__})")
        return 0
    if argv[0] not in COMMANDS:
        ap.error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[argv[0]][0])
    try:
        return int(module.main(argv[1:]))
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

