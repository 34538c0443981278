"""``mbedtls-py serve``: upstream's ``dtls_server`` sample loop over real UDP,
with the first-flight policies of :mod:`mbedtls_py.server.server` and a JSON-lines
event log.

One socket serves one client after another: accept, set the client transport
id (cookies on), handshake (``HELLO_VERIFY_REQUIRED``: reset, wait for the
ClientHello with the cookie), read, echo, close_notify, reset.  Every step is
an event (``--events FILE``, one JSON object per line): ``accept``,
``hello_verify``, ``handshake`` (with the exact return code), ``read`` and
``write`` (byte counts), ``close_notify``, ``reset``, ``error`` and ``drop``
(with the datagram that caused them and its records), ``linger``/
``linger_consumed``/``linger_end``, ``discard`` (a datagram of the old client
freed with its connection's socket), ``ignored`` (a datagram that started no
handshake: no state kept), ``timeout`` (a peer dropped at the
``--handshake-timeout`` deadline), ``overflow``/``busy`` (bounds reached);
plus ``listen`` first and ``stop`` last (with the events counted by kind).
The server keeps only the last ``eventlog.EVENT_WINDOW`` events in memory.
The file gets every event of every connection that completed a handshake;
under a flood, the events of other peers are aggregated per kind and second
(:mod:`mbedtls_py.server.floodlog`: ``suppressed`` lines with exact counts), so
the file's growth per second is bounded.  Event I/O happens after the server
has handled what is readable, never between a send and the release of the
client's socket.

Sockets: by default a real connected UDP socket per client, as the sample's
``mbedtls_net_accept``/``mbedtls_net_free`` do
(:class:`~mbedtls_py.udp.sample_sockets.SampleSockets`); ``--single-socket``
serves everyone from one socket.  ``--concurrent`` serves many clients at
once (:class:`~mbedtls_py.server.concurrent.ConcurrentServer`: state only
after a valid cookie, at most ``--max-peers``).

Loopback only unless ``--allow-remote``.  Bounded by ``--max-seconds``
(default 300) and, if given, ``--max-clients``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any

from ..bindings.errors import MbedTLSError
from ..server.events import Event
from ..server.floodlog import PER_KIND_DEFAULT, FloodFilter
from ..server.policies import POLICIES
from ..server.server import DTLSServer
from ..udp.addresses import addr_str
from ..udp.loop import serve
from ..udp.sample_sockets import SampleSockets
from ..udp.transport import UDPTransport
from .._cliargs import OneLineParser

__all__ = ["main", "make_server_config", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``serve`` argument parser."""
    ap = OneLineParser(
        prog="mbedtls-py serve",
        description="The Mbed TLS dtls_server sample's loop over real UDP (echo server), with "
                    "first-flight failure policies and a JSON-lines event log.",
        epilog="Example: mbedtls-py serve --port 4433 --mitigation classify --events ev.jsonl "
               "--max-clients 5    (then: echo 'GET / HTTP/1.0' | openssl s_client -dtls1_2 "
               "-connect 127.0.0.1:4433)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; "
                    "::1 for IPv6)")
    ap.add_argument("--port", type=int, default=4433, help="UDP port (default 4433, the "
                    "sample's; 0 picks a free one)")
    ap.add_argument("--mitigation", choices=POLICIES, default="none",
                    help="what to do when a new connection's first datagram fails the "
                         "handshake (default none: report it, as the historical sample did)")
    ap.add_argument("--events", metavar="FILE", help="write the event log as JSON lines "
                    "('-' for stdout); bounded under a flood: events of peers that never "
                    "completed a handshake are written whole up to --events-per-kind per kind "
                    "and second, the rest as one 'suppressed' line per kind and second with "
                    "the exact count; a connection that completes a handshake always has all "
                    "its events (its cookie round written late, 'deferred', if it was "
                    "suppressed)")
    ap.add_argument("--events-per-kind", type=int, default=PER_KIND_DEFAULT, metavar="N",
                    help=f"with --events: whole events per kind and second from peers without "
                    f"a handshake (default {PER_KIND_DEFAULT}); the file then grows by at most "
                    "N lines per kind and second plus one summary line per kind, plus the "
                    "events of completed handshakes")
    creds = ap.add_argument_group("credentials (default: a fresh ECDSA test PKI)")
    creds.add_argument("--cert", metavar="PEM", help="certificate chain file (leaf first)")
    creds.add_argument("--key", metavar="PEM", help="private key file for --cert")
    kind = creds.add_mutually_exclusive_group()
    kind.add_argument("--ecdsa", dest="pki", action="store_const", const="ecdsa",
                      help="generate an ECDSA P-256 test PKI (trustme)")
    kind.add_argument("--rsa", dest="pki", action="store_const", const="rsa",
                      help="generate an RSA test PKI (trustme)")
    kind.add_argument("--upstream-cert", dest="pki", action="store_const", const="upstream",
                      help="use the certificate the upstream samples embed (what dtls_client "
                           "trusts; builds the samples' helper)")
    creds.add_argument("--ca-out", metavar="FILE", help="write the CA certificate clients "
                       "should trust to FILE")
    creds.add_argument("--psk", metavar="HEX", help="pre-shared key in hex (with a "
                       "certificate or alone)")
    creds.add_argument("--psk-identity", default="Client_identity",
                       help="PSK identity (default Client_identity, OpenSSL's)")
    ap.add_argument("--no-cookies", action="store_true",
                    help="turn HelloVerifyRequest cookies off (the sample has them on)")
    ap.add_argument("--rtt-ms", type=float, default=100.0,
                    help="round-trip estimate, used until one is measured in the handshake")
    ap.add_argument("--linger-ms", type=float,
                    help="linger window after a close (ms; default: measured RTT + the "
                         "peer's retransmission timeout, 1000 ms; inclusive)")
    ap.add_argument("--single-socket", action="store_true",
                    help="serve every client from one socket, so the old client's datagrams "
                         "that arrived before the reset reach the next handshake (default: a "
                         "real connected socket per client, freed after close_notify, as the "
                         "sample's mbedtls_net_accept/mbedtls_net_free do)")
    ap.add_argument("--concurrent", action="store_true",
                    help="serve many clients at once: per-peer contexts, created only for a "
                         "ClientHello with a valid cookie (stateless HelloVerifyRequest); "
                         "default: one client at a time, as the sample does")
    ap.add_argument("--max-peers", type=int, default=64, metavar="N",
                    help="with --concurrent: at most N peers hold state (default 64)")
    ap.add_argument("--max-clients", type=int, help="stop after serving N clients")
    ap.add_argument("--max-seconds", type=float, default=300.0,
                    help="stop after S seconds (default 300)")
    ap.add_argument("--handshake-timeout", type=float, default=10.0, metavar="S",
                    help="drop a peer whose handshake or request has not completed S seconds "
                         "after it passed the cookie exchange (default 10, the sample's read "
                         "timeout)")
    ap.add_argument("--allow-remote", action="store_true",
                    help="allow a non-loopback --host (off by default)")
    ap.add_argument("--debug", type=int, default=0, metavar="N",
                    help="Mbed TLS debug level 0-5 (to the Python logger)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--pcap", metavar="FILE", help="write what the socket saw as pcapng with the "
                    "keys of its connections embedded (FILE.pcap: classic pcap), at the end")
    ap.add_argument("--keylog", metavar="FILE", help="write the keys of its connections as an "
                    "SSLKEYLOGFILE (NSS key log), at the end")
    return ap


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def make_server_config(args: argparse.Namespace) -> tuple[Any, bytes | None]:
    """The server ``Config`` for the parsed options, and the CA PEM clients
    should trust (``None`` for a PSK-only server or a given --cert)."""
    from ..bindings.config import Config

    cfg = Config("server", cookies=not args.no_cookies)
    ca_pem: bytes | None = None
    if args.cert or args.key:
        if not (args.cert and args.key):
            raise ValueError("--cert and --key go together")
        try:
            cfg.do_set_certificate(Path(args.cert).read_bytes(), Path(args.key).read_bytes())
        except (MbedTLSError, ValueError, TypeError) as exc:
            raise ValueError(f"--cert {args.cert} / --key {args.key}: not a usable PEM "
                             f"certificate and key ({_one_line(exc)})") from None
    elif args.pki == "upstream":
        from ..peers import upstream

        certs = upstream.test_certificates()
        # The sample parses its certificate and then every test CA into one
        # chain (srvcert) and sends it all (mbedtls_ssl_conf_own_cert).
        cfg.do_set_certificate([certs.cert_pem, certs.ca_pem], certs.key_pem)
        ca_pem = certs.ca_pem
    elif args.pki or not args.psk:
        try:
            from ..creds import make_pki
            pki = make_pki(args.pki or "ecdsa")
        except ImportError as exc:
            raise ValueError(f"generating a test PKI needs trustme ({exc}); give --cert/--key "
                             "or --psk") from None
        cfg.do_set_certificate([pki.cert_pem] + ([pki.chain_pem] if pki.chain_pem else []),
                            pki.key_pem)
        ca_pem = pki.ca_pem
    if args.psk:
        try:
            key = bytes.fromhex(args.psk)
        except ValueError:
            raise ValueError("--psk must be hex") from None
        cfg.do_set_psk(key, args.psk_identity)
    if args.debug:
        cfg.set_debug(args.debug)
    return cfg, ca_pem


def _check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse nonsense before binding a socket: one line, exit status 2."""
    import math

    if not math.isfinite(args.max_seconds) or args.max_seconds <= 0:
        ap.error("--max-seconds must be a positive number of seconds")
    if args.max_clients is not None and args.max_clients < 1:
        ap.error("--max-clients must be >= 1")
    if not math.isfinite(args.rtt_ms) or args.rtt_ms <= 0:
        ap.error("--rtt-ms must be a positive number of milliseconds")
    if args.linger_ms is not None and (not math.isfinite(args.linger_ms) or args.linger_ms < 0):
        ap.error("--linger-ms must be >= 0")
    if not 0 <= args.debug <= 5:
        ap.error("--debug must be 0 .. 5")
    if args.handshake_timeout <= 0 or not math.isfinite(args.handshake_timeout):
        ap.error("--handshake-timeout must be a positive number of seconds")
    if args.max_peers < 1:
        ap.error("--max-peers must be >= 1")
    if args.events_per_kind < 1:
        ap.error("--events-per-kind must be >= 1")
    if args.concurrent and args.no_cookies:
        ap.error("--concurrent needs cookies (drop --no-cookies): without them a spoofed "
                 "ClientHello would create state")
    for opt, path in (("--events", args.events), ("--ca-out", args.ca_out)):
        if path and path != "-":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                ap.error(f"{opt} {path}: folder {parent} does not exist; create it or "
                         "choose another file")
            if Path(path).is_dir():
                ap.error(f"{opt} {path} is a folder; give a file name")
    for opt, path in (("--cert", args.cert), ("--key", args.key)):
        if path and not Path(path).is_file():
            ap.error(f"{opt} {path}: no such file")


def main(argv: list[str] | None = None) -> int:
    """Run the server loop in the foreground; 0 when it ended normally."""
    ap = build_parser()
    args = ap.parse_args(argv)
    _check_args(ap, args)
    if args.debug:
        import logging
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    from ..capture.live import serve_capture
    try:
        capture = serve_capture(args.pcap, args.keylog)
    except ValueError as exc:
        print(f"mbedtls-py serve: error: {exc}", file=sys.stderr)
        return 2
    try:
        # The sample's model: a connected socket per client (real sockets), unless
        # --single-socket (one socket sees everything) or --concurrent.
        kind = UDPTransport if args.single_socket or args.concurrent else SampleSockets
        transport = kind(args.host, args.port, allow_remote=args.allow_remote)
    except (ValueError, OSError) as exc:
        print(f"mbedtls-py serve: error: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 2
    out: IO[str] | None = None
    try:
        try:
            cfg, ca_pem = make_server_config(args)
            if args.ca_out and ca_pem is not None:
                Path(args.ca_out).write_bytes(ca_pem)
            if args.events == "-":
                out = sys.stdout
            elif args.events:
                out = open(args.events, "w")  # noqa: SIM115 - closed below
        except (ValueError, OSError, MbedTLSError) as exc:
            print(f"mbedtls-py serve: error: {_one_line(exc)}", file=sys.stderr)
            return 2

        def write(d: dict[str, Any]) -> None:
            if out is not None:
                out.write(json.dumps(d) + "\n")
                out.flush()

        def on_event(ev: Event) -> None:  # as it happens: cheap, in memory
            capture.event(ev)

        def out_event(ev: Event, deferred: bool) -> None:
            d = ev.to_dict()
            if deferred:
                d["deferred"] = True
            write(d)
            if not args.quiet:
                print(str(ev) + (" (deferred)" if deferred else ""), file=sys.stderr,
                      flush=True)

        # I/O: after the server handled what was readable, bounded under a flood
        sink = FloodFilter(out_event, args.events_per_kind)

        # with --pcap/--keylog: record what the socket sees, export the contexts' keys
        transport = capture.wrap(transport, cfg)
        common: dict[str, Any] = dict(
            policy=args.mitigation, rtt_ms=args.rtt_ms, linger_ms=args.linger_ms,
            on_event=on_event, handshake_timeout_ms=args.handshake_timeout * 1000.0)
        server: DTLSServer
        if args.concurrent:
            from ..server.concurrent import ConcurrentServer

            server = ConcurrentServer(cfg, transport, max_peers=args.max_peers, **common)
        else:
            server = DTLSServer(cfg, transport, **common)
        listen = {"t_ms": server.elapsed_ms(), "event": "listen",
                  "address": addr_str(transport.address), "mitigation": args.mitigation,
                  "cookies": not args.no_cookies, "psk": bool(args.psk),
                  "per_client_socket": not (args.single_socket or args.concurrent),
                  "max_clients": args.max_clients, "max_seconds": args.max_seconds,
                  "concurrent": args.concurrent,
                  "handshake_timeout_s": args.handshake_timeout}
        write(listen)
        print(f"serving DTLS on {addr_str(transport.address)} (mitigation {args.mitigation}, "
              f"at most {args.max_seconds:g} s"
              + (f", {args.max_clients} client(s)" if args.max_clients else "") + ")",
              file=sys.stderr, flush=True)
        stop = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            stop.set()

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            result = serve(server, transport, max_seconds=args.max_seconds,
                           max_clients=args.max_clients, stop=stop, sink=sink,
                           per_client_socket=not (args.single_socket or args.concurrent))
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            server.close()
            capture.save()
            sink.close()
        write({"t_ms": server.elapsed_ms(), "event": "stop", **result.to_dict(),
               "events_by_kind": dict(server.events.counts),
               "events_total": server.events.total,
               "events_suppressed": sink.suppressed_total})
        print(f"served {result.served} client(s); {result.errors} error(s), {result.dropped} "
              f"dropped, {result.discarded} discarded; stopped: {result.reason}",
              file=sys.stderr)
        return 0
    finally:
        transport.close()
        if out is not None and out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    sys.exit(main())
