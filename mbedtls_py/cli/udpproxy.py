"""``mbedtls-py udp-proxy``: upstream's udp_proxy, as the ssl-opt runner
models it, over real UDP on loopback.  Same arguments as
``programs/test/udp_proxy`` (``server_port=4433 listen_port=5556 drop=5
delay=5 duplicate=5 ...``), same decisions for the same ``seed=``.

Faithful to upstream in this too: it serves one client at a time, and a
datagram from any new source address makes that address "the client"
(udp_proxy.c's ``goto accept``), so the previous client's replies go to the
newcomer.  Under a flood from other ports the real clients time out (26 of 30
at 3,000 datagrams/s, bench/flood.py).  For several clients, or any hostile
traffic, use ``mbedtls-py proxy`` (a session and a socket per client)."""

from __future__ import annotations

import sys
import time

from .._cliargs import OneLineParser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``mbedtls-py udp-proxy``."""
    ap = OneLineParser(prog="mbedtls-py udp-proxy",
                       description=__doc__.split("\n\n")[0] + " As upstream's, it serves one "
                       "client at a time: a datagram from any new source address becomes "
                       "'the client' (udp_proxy.c's goto accept), so any other sender, a flood "
                       "included, takes the connection from the real client. Use "
                       "'mbedtls-py proxy' (one session per client) for several clients or "
                       "hostile traffic.",
                       epilog="options: server_addr= server_port= listen_addr= listen_port= "
                       "duplicate= delay= delay_ccs= delay_cli= delay_srv= drop= mtu= pack= "
                       "bad_ad= bad_cid= protect_hvr= protect_len= inject_clihlo= seed= "
                       "(see udp_proxy.c)")
    ap.add_argument("options", nargs="*", metavar="key=value")
    ap.add_argument("--duration", type=float, default=0.0, metavar="S",
                    help="stop after S seconds (default: until interrupted)")
    ap.add_argument("--quiet", action="store_true", help="do not print each datagram")
    a = ap.parse_args(sys.argv[1:] if argv is None else argv)
    from ..sslopt.proxy import parse_proxy_args
    from ..sslopt.realpeers import RealWorld
    addrs = {"server_addr": "127.0.0.1", "server_port": "4433",
             "listen_addr": "127.0.0.1", "listen_port": "5556"}
    rest = []
    for opt in a.options:
        key, _, value = opt.partition("=")
        if key in addrs:
            addrs[key] = value
        else:
            rest.append(opt)
    for key in ("server_addr", "listen_addr"):
        if addrs[key] not in ("127.0.0.1", "localhost"):
            ap.error(f"{key}={addrs[key]}: only loopback (127.0.0.1) is supported")
    try:
        opts = parse_proxy_args(rest)
        sport, lport = int(addrs["server_port"]), int(addrs["listen_port"])
        if not (0 < sport < 65536 and 0 < lport < 65536):
            raise ValueError("ports must be 1 .. 65535")
    except ValueError as e:
        ap.error(str(e))
    if opts.seed == 0:
        opts.seed = int(time.time()) or 1
        print(f"  . Pseudo-random seed: {opts.seed}", flush=True)
    try:
        world = RealWorld(opts, sport, lport, real_server_port=sport, real_proxy_port=lport)
    except OSError as e:
        print(f"mbedtls-py udp-proxy: error: cannot bind 127.0.0.1:{lport}: {e.strerror}",
              file=sys.stderr)
        return 2
    assert world.proxy is not None
    print(f"  . Forwarding 127.0.0.1:{lport} -> 127.0.0.1:{sport}", flush=True)
    end = time.monotonic() + a.duration if a.duration > 0 else None
    shown = 0
    try:
        while end is None or time.monotonic() < end:
            world.run(lambda: False, world.clock.now_ms + 200)
            if not a.quiet:
                for line in world.proxy.log[shown:]:
                    print(line, flush=True)
            shown = len(world.proxy.log)
            if len(world.proxy.log) > 100000:  # bounded memory on long runs
                del world.proxy.log[:]
                shown = 0
            world.trace.clear()
    except KeyboardInterrupt:
        pass
    finally:
        world.close()
    return 0
