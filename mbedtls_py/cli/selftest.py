"""``python -m mbedtls_py selftest``: prove the build works, end to end, in memory.

Two in-memory DTLS 1.2 handshakes against the real library (ECDSA P-256
certificate from trustme, then PSK), each with an echo, a close_notify seen by
the peer, a ``session_reset`` of the server and a second handshake on the same
server context.  Prints each step; exit status 0 only if every step held.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from .. import __mbedtls_version__, __version__
from ..bindings.config import Config
from ..bindings.context import Context, VirtualClock
from ..creds import cert_configs, make_pki, psk_configs
from ..bindings.errors import Err
from ..sim.pump import handshake_pair, pump
from .._cliargs import plain


def _round_trip(name: str, client_config: Config, server_config: Config,
                hostname: str | None, say: Callable[[str, bool], bool]) -> bool:
    clock = VirtualClock()
    server = Context(server_config, clock=clock, name="server")
    client = Context(client_config, clock=clock, name="client")
    if hostname:
        client.set_hostname(hostname)
    ok = True
    for attempt in (1, 2):
        t0 = time.perf_counter()
        rc = handshake_pair(client, server)
        ms = (time.perf_counter() - t0) * 1000
        ok &= say(f"{name}: handshake {attempt} -> client {rc[0]!r}, server {rc[1]!r} "
                  f"({client.ciphersuite}, {ms:.1f} ms)", rc == (0, 0))
        if rc != (0, 0):
            return False
        msg = b"GET / HTTP/1.0\r\n\r\n"
        client.do_write(msg)
        pump(client, server)
        got = server.read()
        server.do_write(got)
        pump(server, client)
        echo = client.read()
        ok &= say(f"{name}: echo of {len(msg)} bytes", echo == msg)
        rc_close = client.close_notify()
        pump(client, server)
        rc_peer = server.read_into(bytearray(64))
        ok &= say(f"{name}: client close_notify -> {rc_close!r}; server read -> {rc_peer!r}",
                  rc_close == 0 and rc_peer == Err.SSL_PEER_CLOSE_NOTIFY)
        rc_reset = server.session_reset()
        ok &= say(f"{name}: server session_reset -> {rc_reset!r}", rc_reset == 0)
        client.close()
        client = Context(client_config, clock=clock, name="client")
        if hostname:
            client.set_hostname(hostname)
    return ok


def handshakes_per_second(client_config: Config, server_config: Config, seconds: float = 0.5,
                          hostname: str | None = None) -> float:
    """Full in-memory handshakes per second with fresh contexts each time."""
    n, clock, t0 = 0, VirtualClock(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        client = Context(client_config, clock=clock)
        server = Context(server_config, clock=clock)
        if hostname:
            client.set_hostname(hostname)
        if handshake_pair(client, server) != (0, 0):
            raise RuntimeError("handshake failed during the rate measurement")
        n += 1
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    """Run the self-test; return the exit status."""
    import argparse

    ap = argparse.ArgumentParser(prog="mbedtls-py selftest", description=plain(__doc__.split("\n\n")[0]))
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    args = ap.parse_args(argv)
    failures = []

    def say(text: str, ok: bool) -> bool:
        if not ok:
            failures.append(text)
        if not args.quiet or not ok:
            print(f"  [{'ok' if ok else 'FAIL'}] {text}")
        return ok

    print(f"mbedtls-py {__version__}, Mbed TLS {__mbedtls_version__}")
    pki = make_pki("ecdsa")
    cc, sc = cert_configs(pki)
    _round_trip("ECDSA P-256", cc, sc, pki.hostname, say)
    pc, ps = psk_configs()
    _round_trip("PSK", pc, ps, None, say)
    if not failures:
        cert_rate = handshakes_per_second(cc, sc, hostname=pki.hostname)
        psk_rate = handshakes_per_second(pc, ps)
        print(f"  handshakes/s in memory: ECDSA P-256 {cert_rate:.0f}, PSK {psk_rate:.0f}")
    print("selftest: " + ("all checks held" if not failures else f"{len(failures)} FAILED"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
