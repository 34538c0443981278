"""Memory of mbedtls-py connections, against the native driver.

- Resident bytes per idle established connection (a server plus a client
  context, handshake done, nothing queued), measured as the growth of the
  process's RSS over 1,000 such pairs.
- No growth over 100,000 context lifecycles (create a server and a client
  context, PSK handshake, close_notify, close): RSS after the first 10% of
  the lifecycles against RSS at the end, plus the number of live Python
  objects for the Python side.

Usage:
  python bench/memory.py [--json] [--quick] [--pairs N] [--lifecycles N]
      runs both sides (native, then Python) and prints a table or JSON.
  python bench/memory.py pairs N psk|cert     (worker: the Python side)
  python bench/memory.py lifecycles N         (worker: the Python side)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PKI = BENCH / "pki"


def malloc_trim() -> None:
    """Give free heap pages back (glibc), so that new allocations show up in RSS."""
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


# -- the Python side (workers) -------------------------------------------------

def _driver():
    sys.path.insert(0, str(BENCH))
    import py_driver
    py_driver.load_pki(str(PKI))
    py_driver.set_time(py_driver.FIXED_TIME)
    return py_driver


def py_pairs(n: int, kind: str) -> dict:
    d = _driver()
    srv_conf = d.make_config("server", kind, False, "bench-server")
    cli_conf = d.make_config("client", kind, False, "bench-client")
    net = d.Network()
    # one pair first, so one-time allocations are not counted
    ws, wc = d.new_context(srv_conf, False), d.new_context(cli_conf, True)
    d.handshake(net, wc, ws, d.TID1)
    gc.collect()
    malloc_trim()
    objects = len(gc.get_objects())
    before = rss_bytes()
    pairs = []
    for _ in range(n):
        s, c = d.new_context(srv_conf, False), d.new_context(cli_conf, True)
        d.handshake(net, c, s, d.TID1)
        pairs.append((s, c))
    gc.collect()
    after = rss_bytes()
    return {"memory": {"suite": kind, "pairs": n, "rss_before": before, "rss_after": after,
                       "bytes_per_pair": (after - before) / n,
                       "gc_objects_per_pair": (len(gc.get_objects()) - objects) / n}}


def py_lifecycles(n: int) -> dict:
    import time
    d = _driver()
    t0 = time.perf_counter()
    srv_conf = d.make_config("server", "psk", False, "bench-server")
    cli_conf = d.make_config("client", "psk", False, "bench-client")
    net = d.Network()
    buf = bytearray(64)
    warm = max(1, n // 10)
    rss_warm = objects_warm = 0
    for i in range(n):
        s, c = d.new_context(srv_conf, False), d.new_context(cli_conf, True)
        d.handshake(net, c, s, d.TID1)
        if (rc := c.close_notify()) != 0:
            d.fail("close_notify", rc)
        net.deliver(c, s, 0)
        if (rc := s.read_into(buf)) != d.Err.SSL_PEER_CLOSE_NOTIFY:
            d.fail("read_into (expecting PEER_CLOSE_NOTIFY)", rc)
        s.close()
        c.close()
        if i + 1 == warm:
            gc.collect()
            rss_warm, objects_warm = rss_bytes(), len(gc.get_objects())
    gc.collect()
    rss_end, objects_end = rss_bytes(), len(gc.get_objects())
    return {"lifecycles": {"n": n, "rss_after_10pct": rss_warm, "rss_end": rss_end,
                           "growth": rss_end - rss_warm, "objects_after_10pct": objects_warm,
                           "objects_end": objects_end, "seconds": time.perf_counter() - t0}}


# -- both sides ---------------------------------------------------------------------

def _run_json(cmd: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def measure(native: Path, pairs: int = 1000, lifecycles: int = 100_000,
            progress=lambda msg: None) -> dict:
    """Both sides, each in a fresh process; returns the raw figures."""
    sys.path.insert(0, str(BENCH))
    from run import python_env
    out: dict = {"pairs": {}, "lifecycles": {}}
    me = [sys.executable, str(Path(__file__).resolve())]
    for kind in ("psk", "cert"):
        progress(f"memory: {pairs} established {kind} pairs, native")
        nat = _run_json([str(native), str(PKI), "memory", str(pairs), kind])["memory"]
        progress(f"memory: {pairs} established {kind} pairs, python")
        py = _run_json(me + ["pairs", str(pairs), kind], python_env())["memory"]
        out["pairs"][kind] = {"native": nat, "python": py,
                              "python_extra_bytes": py["bytes_per_pair"] - nat["bytes_per_pair"]}
    progress(f"memory: {lifecycles} lifecycles, native")
    nat = _run_json([str(native), str(PKI), "lifecycles", str(lifecycles)])["lifecycles"]
    progress(f"memory: {lifecycles} lifecycles, python")
    py = _run_json(me + ["lifecycles", str(lifecycles)], python_env())["lifecycles"]
    out["lifecycles"] = {"native": nat, "python": py}
    return out


def table(mem: dict) -> str:
    lines = ["Memory", f"  {'':44} {'native':>12} {'python':>12} {'extra':>10}"]
    for kind, r in mem["pairs"].items():
        lines.append(f"  {'bytes per idle established pair (' + kind + ')':44} "
                     f"{r['native']['bytes_per_pair']:>12,.0f} {r['python']['bytes_per_pair']:>12,.0f}"
                     f" {r['python_extra_bytes']:>10,.0f}")
    lc = mem["lifecycles"]
    n = lc["python"]["n"]
    lines.append(f"  {f'RSS growth over {n:,} lifecycles (10%..end)':44} "
                 f"{lc['native']['growth']:>12,} {lc['python']['growth']:>12,}")
    lines.append(f"  {'live Python objects (10%..end)':44} {'':>12} "
                 f"{lc['python']['objects_end'] - lc['python']['objects_after_10pct']:>+12,}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "pairs":
        print(json.dumps(py_pairs(int(argv[1]), argv[2] if len(argv) > 2 else "psk")))
        return 0
    if argv and argv[0] == "lifecycles":
        print(json.dumps(py_lifecycles(int(argv[1]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quick", action="store_true", help="10,000 lifecycles instead of 100,000")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--lifecycles", type=int, default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    import run
    native = run.build_native()
    lifecycles = args.lifecycles or (10_000 if args.quick else 100_000)
    mem = measure(native, args.pairs, lifecycles, run.progress)
    print(json.dumps(mem, indent=1) if args.json else table(mem))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
