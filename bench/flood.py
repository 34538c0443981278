"""A real-UDP flood against ``mbedtls-py serve``: does it keep serving, and is its
memory flat?  Not a test (it takes minutes and measures this machine).

    python bench/flood.py [--seconds 30] [--rate 5000] [--ports 4] [--json FILE]
                          [--modes sequential,concurrent,proxy,udp-proxy] [--tree DIR]

For each mode (``sequential``: the sample's one-client-at-a-time loop with its
real per-client sockets; ``concurrent``: ``serve --concurrent``), it starts
``python -m mbedtls_py serve --mitigation classify --quiet --events FILE`` in a
child process and runs, in two phases of ``--seconds`` each:

1. calm: a real ``openssl s_client -dtls1_2`` connects in a loop (the seed's
   command, stdin held open up to 2 s; success = the echo of its request came
   back);
2. flood: the same loop while a child process sends ``--rate`` hostile
   datagrams/s from four sockets: plaintext warning alerts (15 bytes), the
   first fragment of a ClientHello, cookie-less ClientHellos, random bytes,
   epoch-1 records with random bodies.

``proxy`` and ``udp-proxy`` put ``mbedtls-py proxy`` or ``mbedtls-py udp-proxy``
in front of a sequential ``serve``; clients and flood go to the proxy.

Reported: the legitimate success rate in each phase, the server's RSS
(``/proc/PID/status`` VmRSS) before and after the flood, the proxy's, the
growth of ``serve``'s ``--events`` file during the flood (MB per minute), the
datagrams sent, and the server's events counted by kind (from its ``stop`` line).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mbedtls_py.udp.addresses import pick_free_udp_port  # noqa: E402
from mbedtls_py.peers import interop  # noqa: E402

HOST = "127.0.0.1"


def hostile_datagrams(rng: random.Random) -> list[bytes]:
    """A fixed mix of datagrams a peer without a connection could send."""
    hello = bytes.fromhex(
        "16fefd000000000000000000" "3a" "010000" "2e" "0000" "000000" "00002e" "fefd"
    ) + bytes(32) + b"\x00\x00" + b"\x00\x02\xc0\x2b" + b"\x01\x00"
    out = [
        bytes.fromhex("15fefd" "0000" "000000000000" "0002" "015a"),  # warning alert
        hello[:13 + 12 + 10],  # a ClientHello's first bytes (cut: a fragment)
        hello,  # cookie-less ClientHello (gets a HelloVerifyRequest)
    ]
    for _ in range(20):
        out.append(rng.randbytes(rng.randint(1, 200)))
        body = rng.randbytes(rng.randint(16, 120))
        out.append(bytes([23, 0xFE, 0xFD, 0, 1]) + rng.randbytes(6)
                   + len(body).to_bytes(2, "big") + body)
    return out


def flooder(port: int, rate: float, seconds: float, seed: int, ports: int = 4) -> int:
    """Send ``rate`` datagrams/s from ``ports`` sockets for ``seconds``; return the count."""
    rng = random.Random(seed)
    data = hostile_datagrams(rng)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(ports)]
    sent = 0
    start = time.monotonic()
    try:
        while (now := time.monotonic()) - start < seconds:
            due = int((now - start) * rate)
            while sent < due:
                try:
                    socks[sent % ports].sendto(data[sent % len(data)], (HOST, port))
                except OSError:
                    pass  # ICMP errors from earlier datagrams, a full buffer: keep going
                sent += 1
            time.sleep(0.002)
    finally:
        for s in socks:
            s.close()
    return sent


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def client_loop(port: int, seconds: float) -> tuple[int, int]:
    """Seed clients in a loop for ``seconds``: (succeeded, tried)."""
    ok = tried = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end and tried < 10_000:
        # stdin held open up to 2 s, so s_client waits for the echo (the server's
        # close_notify ends it; it answers with its own, which classify drops).
        res = interop.OpenSSLClient(HOST, port, seed=True, eof_delay=2.0).run(timeout=10.0)
        tried += 1
        ok += interop.SEED_INPUT.strip() in res.received
    return ok, tried


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def run_mode(mode: str, seconds: float, rate: float, workdir: Path,
             tree: Path = ROOT, ports: int = 4) -> dict[str, Any]:
    """One mode: ``sequential``/``concurrent`` (the clients and the flood go to
    ``serve``), ``proxy``/``udp-proxy`` (to ``mbedtls-py proxy`` or ``udp-proxy``
    in front of a sequential ``serve``)."""
    port = pick_free_udp_port()
    events = workdir / f"events-{mode}.jsonl"
    env = dict(os.environ, PYTHONPATH=str(tree))
    budget = int(4 * seconds + 120)
    argv = [sys.executable, "-m", "mbedtls_py", "serve", "--port", str(port), "--mitigation",
            "classify", "--quiet", "--events", str(events), "--max-seconds", str(budget)]
    if mode == "concurrent":
        argv.append("--concurrent")
    server = subprocess.Popen(argv, cwd=tree, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
    front: subprocess.Popen[Any] | None = None
    target = port
    if mode in ("proxy", "udp-proxy"):
        target = pick_free_udp_port()
        if mode == "proxy":
            fargv = ["proxy", "--listen", f"{HOST}:{target}", "--server", f"{HOST}:{port}",
                     "--max-seconds", str(budget), "--quiet"]
        else:
            fargv = ["udp-proxy", f"server_port={port}", f"listen_port={target}", "--quiet",
                     "--duration", str(budget)]
        front = subprocess.Popen([sys.executable, "-m", "mbedtls_py", *fargv], cwd=tree,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        time.sleep(2.0)  # PKI generation and bind
        calm = client_loop(target, seconds)
        rss_before = rss_kb(server.pid)
        front_before = rss_kb(front.pid) if front is not None else None
        size_before = _size(events)
        t0 = time.monotonic()
        flood = subprocess.Popen([sys.executable, __file__, "--flooder", str(target), str(rate),
                                  str(seconds), str(ports)], stdout=subprocess.PIPE, text=True)
        flooded = client_loop(target, seconds)
        out, _ = flood.communicate(timeout=seconds + 30)
        flood_s = time.monotonic() - t0
        sent = int(out.strip() or 0)
        rss_after = rss_kb(server.pid)
        front_after = rss_kb(front.pid) if front is not None else None
        size_after = _size(events)
    finally:
        if front is not None:
            _stop(front)
        _stop(server)
    stop: dict[str, Any] = {}
    counts: dict[str, int] = {}
    with events.open() as f:  # count by kind from the file (an older tree's stop line lacks it)
        for line in f:
            d = json.loads(line)
            counts[d["event"]] = counts.get(d["event"], 0) + 1
            if d.get("event") == "stop":
                stop = d
    return {"mode": mode, "seconds": seconds, "rate": rate, "ports": ports,
            "hostile_sent": sent,
            "calm_ok": calm[0], "calm_tried": calm[1], "flood_ok": flooded[0],
            "flood_tried": flooded[1], "rss_before_kb": rss_before, "rss_after_kb": rss_after,
            "front_rss_before_kb": front_before, "front_rss_after_kb": front_after,
            "events_by_kind": stop.get("events_by_kind") or counts,
            "events_total": stop.get("events_total"),
            "events_file_mb": round(_size(events) / 1e6, 2),
            "events_growth_mb_per_min": round((size_after - size_before) / 1e6 * 60 / flood_s, 2),
            "events_lines": sum(counts.values())}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--flooder":
        print(flooder(int(argv[1]), float(argv[2]), float(argv[3]), seed=1,
                      ports=int(argv[4]) if len(argv) > 4 else 4))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--modes", default="sequential,concurrent",
                    help="comma-separated: sequential, concurrent, proxy, udp-proxy")
    ap.add_argument("--ports", type=int, default=4, help="source ports of the flood")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--tree", type=Path, default=ROOT,
                    help="run `serve` from this source tree (to compare another checkout)")
    args = ap.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 1 <= args.rate <= 100_000:
        ap.error("--seconds must be 1 .. 600 and --rate 1 .. 100000")
    import tempfile

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            print(f"{mode}: {args.seconds:g} s calm, {args.seconds:g} s flood at "
                  f"{args.rate:g}/s", file=sys.stderr, flush=True)
            r = run_mode(mode.strip(), args.seconds, args.rate, Path(tmp), args.tree, args.ports)
            results.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    print(f"\n{'mode':<12}{'calm ok':>10}{'flood ok':>10}{'hostile sent':>14}"
          f"{'RSS before':>12}{'RSS after':>11}{'proxy RSS':>18}{'events MB/min':>15}")
    for r in results:
        front = "-" if r.get("front_rss_before_kb") is None else \
            f"{r['front_rss_before_kb'] / 1024:.1f}->{r['front_rss_after_kb'] / 1024:.1f} MB"
        print(f"{r['mode']:<12}{r['calm_ok']:>5}/{r['calm_tried']:<4}{r['flood_ok']:>5}/"
              f"{r['flood_tried']:<4}{r['hostile_sent']:>14}{r['rss_before_kb'] / 1024:>9.1f} MB"
              f"{r['rss_after_kb'] / 1024:>8.1f} MB{front:>18}"
              f"{r['events_growth_mb_per_min']:>15.2f}")
        print("    events: " + ", ".join(f"{k} {v}" for k, v in
                                         sorted(r["events_by_kind"].items(), key=lambda x: -x[1])))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
