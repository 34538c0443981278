"""RSS over many object lifecycles (the target: 100,000 context lifecycles and
10,000 certificate-config lifecycles with < 1 MB RSS growth).

- PSK lifecycles: a fresh client and server ``Config`` (seeded RNG, PSK,
  cookies on) and two ``Context``s, a complete handshake, then the objects
  are dropped: even-numbered ones by ``close()``, odd-numbered ones inside a
  ``Network`` (a reference cycle the garbage collector frees, in whatever
  order it picks: contexts freed before or after their configs).
- Certificate-config lifecycles: parse the CA, chain and key of
  ``bench/pki``, build a server and a client ``Config`` on them and set up a
  ``Context`` on each (no handshake), then drop everything, the Python
  wrappers in an order that frees the configs before their contexts.

RSS is read after the first 10 % (warm-up: allocator arenas, caches) and at
the end, after ``gc.collect()`` and ``malloc_trim``; the live C objects of the
glue (reference-counted objects and connections) must be back where they were.

Usage: python bench/lifecycle.py [--contexts N] [--configs N] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

from mbedtls_py import CertificateChain, Config, Context, PrivateKey
from mbedtls_py.bindings import lib
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import handshake_pair
from memory import malloc_trim, rss_bytes  # bench/memory.py (this directory is on sys.path)

PKI = Path(__file__).resolve().parent / "pki"
PSK = (bytes(range(16)), b"bench")
SUITE = ["TLS-PSK-WITH-AES-128-GCM-SHA256"]


def settle() -> int:
    gc.collect()
    malloc_trim()
    return rss_bytes()


def psk_lifecycle(i: int) -> None:
    """One PSK lifecycle (see the module docstring)."""
    cc = Config("client", seed=i, psk=PSK, ciphersuites=SUITE)
    sc = Config("server", seed=i, psk=PSK, ciphersuites=SUITE, cookies=True)
    if i % 2:
        net = Network(seed=i, trace=False)
        cli = net.add("client", Context(cc))
        srv = net.add("server", Context(sc))
        if net.handshake(cli, srv) != (0, 0):
            raise SystemExit(f"lifecycle {i}: handshake failed")
        net.close()
    else:
        cli, srv = Context(cc), Context(sc)
        if handshake_pair(cli, srv) != (0, 0):
            raise SystemExit(f"lifecycle {i}: handshake failed")
        cli.close()
        srv.close()


def cert_lifecycle(i: int, pem: dict[str, bytes]) -> None:
    """One certificate-config lifecycle (see the module docstring)."""
    chain, key, ca = (CertificateChain(pem["server.crt"]), PrivateKey(pem["server.key"]),
                      CertificateChain(pem["ca.crt"]))
    sc = Config("server", seed=i)
    sc.do_set_certificate(chain, key)
    cc = Config("client", seed=i)
    cc.set_ca_chain(ca)
    cc.set_authmode("required")
    srv, cli = Context(sc), Context(cc)
    # configs and certificates go first; the C contexts still hold them
    del sc, cc, chain, key, ca
    if i % 2:
        srv.config.cycle = srv  # freed later by the collector
        del srv, cli
    else:
        srv.close()
        cli.close()


def run(kind: str, n: int, fn, progress: bool) -> dict:
    warm = max(1, n // 10)
    live0 = None
    t0 = time.perf_counter()
    rss_warm = 0
    for i in range(n):
        fn(i)
        if i + 1 == warm:
            rss_warm = settle()
            live0 = (lib.mpy_ref_live(), lib.mpy_conn_live())
        if progress and (i + 1) % max(1, n // 10) == 0:
            print(f"  {kind}: {i + 1:,}/{n:,} ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
    rss_end = settle()
    live1 = (lib.mpy_ref_live(), lib.mpy_conn_live())
    return {"kind": kind, "lifecycles": n, "seconds": round(time.perf_counter() - t0, 1),
            "rss_after_warmup_mb": round(rss_warm / 2**20, 2),
            "rss_end_mb": round(rss_end / 2**20, 2),
            "growth_kb": round((rss_end - rss_warm) / 1024, 1),
            "live_c_objects_after_warmup": live0, "live_c_objects_end": live1}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", type=int, default=100_000, help="PSK lifecycles")
    ap.add_argument("--configs", type=int, default=10_000, help="certificate-config lifecycles")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    if args.contexts < 1 or args.configs < 1:
        ap.error("--contexts and --configs must be >= 1")
    pem = {name: (PKI / name).read_bytes() for name in ("ca.crt", "server.crt", "server.key")}
    rows = [run("psk-context", args.contexts, psk_lifecycle, True),
            run("cert-config", args.configs, lambda i: cert_lifecycle(i, pem), True)]
    if args.json:
        print(json.dumps({"rows": rows}))
    else:
        for r in rows:
            print(f"{r['kind']:12} {r['lifecycles']:>8,} lifecycles {r['seconds']:>7} s  RSS "
                  f"{r['rss_after_warmup_mb']} -> {r['rss_end_mb']} MB "
                  f"(growth {r['growth_kb']} KB)  live C objects "
                  f"{r['live_c_objects_after_warmup']} -> {r['live_c_objects_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
