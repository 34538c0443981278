"""The natural rate of the seed's failure over real UDP on this machine, and how
it changes when a proxy delays the client's encrypted alert.  Not a test.

    python bench/natural_rate.py [--runs 200] [--delays none,0,1,5,20,100]
                                 [--servers upstream,python,python-emulated,python-single]
                                 [--hold-stdin S] [--json FILE]

For each server and each delay, ``--runs`` times in a row (bounded: every
client has a 10 s limit, every loop a fixed count):
``echo "GET / HTTP/1.0" | openssl s_client -dtls1_2 -connect 127.0.0.1:PORT``
(the seed's exact command) against

* ``upstream``: the pinned ``programs/ssl/dtls_server`` (one process for all
  runs; a failure is a ``mbedtls_ssl_handshake returned -0x7700`` line);
* ``python``: the Python ``DTLSServer`` loop with policy ``none`` over UDP,
  with the sample's real connected per-client sockets (``SampleSockets``; a
  failure is an ``error`` event);
* ``python-emulated``: the same on one socket with the older emulation (the
  old peer's queued datagrams are drained at the Python reset event);
* ``python-single``: the same on one plain socket (the old client's datagrams
  that arrive before the reset are not freed).

Delay ``none`` means no proxy (the natural rate); a number N puts the
:class:`~mbedtls_py.udp.proxy.UDPProxy` in between with
``client->server alert epoch>=1: delay Nms`` (0: the proxy's hop only).
For each cell it also counts the runs in which s_client printed ``closed``
(the server's close_notify arrived before its own stdin EOF), and how many
failures fell in those runs.

Measured here (2 CPUs, OpenSSL 3.0.19, 200 runs per cell, other work on the machine):

    server         proxy delay  failed  s_client saw close first  failed among those
    upstream          no proxy  95/200                        95                  95
    upstream              0 ms 106/200                        32                  32
    upstream     1/5/20/100 ms 200/200 (each)              22-38               22-38
    python            no proxy  59/200                        59                  59
    python                0 ms  21/200                         0                   0
    python       1/5/20/100 ms 200/200 (each)                  0                   0
    python-single     no proxy 200/200                       119                 119

Without the proxy every failure is a run in which s_client read the server's
close_notify before its stdin EOF and answered after the reset; with any delay
of 1 ms or more every run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mbedtls_py.creds import PKI, make_pki  # noqa: E402
from mbedtls_py.peers import interop, upstream  # noqa: E402
from mbedtls_py.bindings.config import Config  # noqa: E402
from mbedtls_py.udp.proxy import UDPProxy  # noqa: E402
from mbedtls_py.udp.sample_sockets import SampleSockets  # noqa: E402
from mbedtls_py.server.server import DTLSServer  # noqa: E402
from mbedtls_py.udp.loop import ServerThread  # noqa: E402
from mbedtls_py.udp.transport import UDPTransport  # noqa: E402

HOST = "127.0.0.1"


class _Upstream:
    def __init__(self) -> None:
        self.sample = upstream.UpstreamServer(HOST).start()
        self.port = self.sample.port

    def failures(self) -> int:
        return len(self.sample.handshake_failures())

    def settle(self) -> None:
        # Idle again: the output ends with the loop's "Waiting for a remote connection".
        end = time.monotonic() + 2.0
        while time.monotonic() < end and not self.sample.stdout.rstrip().endswith(b"..."):
            time.sleep(0.005)

    def close(self) -> None:
        self.sample.stop()


class _Python:
    def __init__(self, model: str, pki: PKI, max_seconds: float) -> None:
        cfg = Config("server", cookies=True)
        cfg.do_set_certificate([pki.cert_pem], pki.key_pem)
        # python: real connected per-client sockets (the sample's); python-emulated: the
        # older emulation on one socket; python-single: one socket, nothing freed.
        per_client_socket = model != "python-single"
        self.transport = SampleSockets(HOST, 0) if model == "python" else UDPTransport(HOST, 0)
        self.port = self.transport.port
        self.server = DTLSServer(cfg, self.transport, policy="none")
        self.thread = ServerThread(self.server, max_seconds=max_seconds,
                                   per_client_socket=per_client_socket).start()

    def failures(self) -> int:
        return self.server.errors.total

    def settle(self) -> None:
        time.sleep(0.01)

    def close(self) -> None:
        self.thread.stop()
        self.server.close()
        self.transport.close()


def run_cell(kind: str, delay: float | None, runs: int, pki: PKI,
             hold_stdin: float = 0.0) -> dict[str, Any]:
    """``runs`` seed clients against server ``kind`` with proxy delay ``delay``."""
    budget = runs * 12.0 + 60.0
    server: Any = _Upstream() if kind == "upstream" else _Python(kind, pki, budget)
    proxy = None
    try:
        port = server.port
        if delay is not None:
            proxy = UDPProxy((HOST, 0), (HOST, server.port),
                             [f"client->server alert epoch>=1: delay {delay:g}ms"],
                             max_seconds=budget, idle_ms=2000).start()
            port = proxy.port
        failed = closed = failed_closed = timeouts = 0
        t0 = time.monotonic()
        for i in range(runs):
            before = server.failures()
            res = interop.OpenSSLClient(HOST, port, seed=True,
                                        eof_delay=hold_stdin).run(timeout=10.0)
            server.settle()
            fail = server.failures() > before
            failed += fail
            closed += bool(res.peer_closed)
            failed_closed += fail and bool(res.peer_closed)
            timeouts += res.timed_out
            if (i + 1) % 20 == 0:
                print(f"  {kind:<13} delay={'-' if delay is None else f'{delay:g}ms':<6} "
                      f"{i + 1:>4}/{runs}: {failed} failed", file=sys.stderr, flush=True)
        return {"server": kind, "delay_ms": delay, "hold_stdin_s": hold_stdin,
                "runs": runs, "failed": failed,
                "rate": failed / runs, "client_saw_close_first": closed,
                "failed_when_close_first": failed_closed, "client_timeouts": timeouts,
                "seconds": round(time.monotonic() - t0, 1)}
    finally:
        if proxy is not None:
            proxy.stop()
        server.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--delays", default="none,0,1,5,20,100",
                    help="comma-separated: none (no proxy) or milliseconds")
    ap.add_argument("--servers", default="upstream,python,python-single")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--hold-stdin", type=float, default=0.0, metavar="S",
                    help="keep s_client's stdin open S seconds (so it answers the server's "
                         "close_notify with its own) instead of the seed's immediate EOF")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 10_000:
        ap.error("--runs must be 1 .. 10000")
    delays = [None if d.strip() == "none" else float(d) for d in args.delays.split(",")]
    servers = [s.strip() for s in args.servers.split(",")]
    for s in servers:
        if s not in ("upstream", "python", "python-emulated", "python-single"):
            ap.error(f"unknown server {s!r}")
    pki = make_pki("ecdsa")
    print(f"{interop.openssl_version()}; {os.cpu_count()} CPUs; {args.runs} runs per cell",
          file=sys.stderr)
    results = []
    for kind in servers:
        for delay in delays:
            if kind == "python-single" and delay is not None:
                continue  # the single-socket model only matters without the proxy's delay
            results.append(run_cell(kind, delay, args.runs, pki, args.hold_stdin))
    print(f"\n{'server':<14}{'proxy delay':>12}{'failed':>10}{'rate':>8}"
          f"{'s_client saw close first':>27}{'failed among those':>20}")
    for r in results:
        d = "no proxy" if r["delay_ms"] is None else f"{r['delay_ms']:g} ms"
        print(f"{r['server']:<14}{d:>12}{r['failed']:>6}/{r['runs']:<4}{r['rate']:>7.0%}"
              f"{r['client_saw_close_first']:>27}{r['failed_when_close_first']:>20}")
    if args.json:
        Path(args.json).write_text(json.dumps({"openssl": interop.openssl_version(),
                                               "cpus": os.cpu_count(), "results": results},
                                              indent=1))
    leftover = interop.live_children() + upstream.live_children()
    if leftover:
        print(f"left processes behind: {leftover}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
