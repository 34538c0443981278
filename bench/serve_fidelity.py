"""`serve` against the native `dtls_server`, side by side, over real UDP: does the
Python loop keep the datagrams the sample keeps?  Not a test (rates depend on
the machine's load).

    python bench/serve_fidelity.py [--runs 40] [--routes direct,proxy] [--hold 1.0]
                                   [--tree DIR] [--json FILE]

Servers, all started once and visited **in turn** by one client at a time
(run 1 of every server and route, then run 2, ...), so load changes hit all of
them alike:

* ``native``: upstream ``programs/ssl/dtls_server`` built from the pinned source
  (:mod:`mbedtls_py.peers.upstream_build`);
* ``none``, ``classify``, ``linger``: ``python -m mbedtls_py serve --upstream-cert
  --mitigation M --events FILE`` (its progress lines on stderr too, as a user
  runs it), the sample's per-client sockets;
* ``single``: the same with ``--mitigation none --single-socket`` (the contrast);
* with ``--baseline DIR``: each ``serve`` mode again from another checkout (``none@base``, ...).

Routes: ``direct``, and ``proxy`` (``python -m mbedtls_py proxy`` in front of
each server, no rules: its hop only).  The client is the seed's
``openssl s_client -dtls1_2 -connect`` with its stdin held open ``--hold``
seconds (so it reads the echo and answers the server's close_notify).

How each figure is obtained:

* cookie ClientHello lost: from a packet capture of the loopback interface
  (an ``AF_PACKET`` socket in a child process, kernel time stamps): after the
  first HelloVerifyRequest reached the client, it sent more than one
  ClientHello before the ServerHello came (the extra one is s_client's
  retransmission, 1 s later);
* handshake latency: capture time of the client's first ClientHello to that of
  the first datagram of the ServerHello flight it received (median, ms);
* -0x7700: the server's own report: native's ``mbedtls_ssl_handshake returned
  -0x7700`` lines, ``serve``'s ``error``/``drop`` events with that code, counted
  per run (a run counts once);
* echo printed: s_client's output holds the request it sent.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mbedtls_py.peers import interop, upstream  # noqa: E402
from mbedtls_py.udp.addresses import pick_free_udp_port  # noqa: E402

HOST = "127.0.0.1"
SERVERS = ("native", "none", "classify", "linger", "single")
_UNEXPECTED = -0x7700


# ----------------------------------------------------------------- the capture child

def capture(ports: set[int], out: Path, seconds: float) -> None:
    """Write ``t_ns src dst hex`` lines for UDP datagrams on ``lo`` that touch ``ports``."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
    s.bind(("lo", 0))
    s.settimeout(0.5)
    end = time.monotonic() + seconds
    stop, check = out.with_suffix(".stop"), 0.0
    with out.open("w") as f:
        while (now := time.monotonic()) < end:
            if now >= check:  # other loopback traffic may never let recvmsg time out
                if stop.exists():
                    break
                check = now + 0.2
            try:
                data, anc, _, addr = s.recvmsg(65536, 64)
            except TimeoutError:
                continue
            if addr[2] == socket.PACKET_OUTGOING:  # lo shows each packet twice
                continue
            ip = data[14:]
            if len(ip) < 28 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
            if sport not in ports and dport not in ports:
                continue
            t_ns = time.time_ns()
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == 35:
                    sec, nsec = struct.unpack("qq", value[:16])
                    t_ns = sec * 10**9 + nsec
            f.write(f"{t_ns} {sport} {dport} {ip[ihl + 8:ihl + 8 + 26].hex()}\n")
            f.flush()


def _hs_type(payload: bytes) -> int | None:
    """The handshake type of a datagram's first record (plaintext epoch 0), else None."""
    if len(payload) >= 14 and payload[0] == 22 and payload[3:5] == b"\x00\x00":
        return payload[13]
    return None


def analyse(lines: list[tuple[int, int, int, bytes]], client: int, server: int) -> dict[str, Any]:
    """Lost cookie ClientHello and latency for one client port against ``server``."""
    first_ch = hvr = sh = cookie_ch = None
    hellos_after_hvr = 0
    for t, sp, dp, payload in lines:
        kind = _hs_type(payload)
        if sp == client and dp == server and kind == 1:
            if first_ch is None:
                first_ch = t
            if hvr is not None and sh is None:
                hellos_after_hvr += 1
                if cookie_ch is None:
                    cookie_ch = t
        elif sp == server and dp == client:
            if kind == 3 and hvr is None:
                hvr = t
            elif kind == 2 and sh is None:
                sh = t
    return {"seen": first_ch is not None, "cookie_hello_lost": hellos_after_hvr > 1,
            # how soon the client answered the HelloVerifyRequest: the race's other side
            "hvr_to_cookie_us": None if hvr is None or cookie_ch is None
            else (cookie_ch - hvr) / 1e3,
            "latency_ms": None if first_ch is None or sh is None else (sh - first_ch) / 1e6}


# ----------------------------------------------------------------- the servers

class Native:
    def __init__(self) -> None:
        self.sample = upstream.UpstreamServer(HOST).start()
        self.port = self.sample.port

    def unexpected(self) -> int:
        return sum(1 for rc in self.sample.handshake_failures() if rc == _UNEXPECTED)

    def close(self) -> None:
        self.sample.stop()


class Serve:
    def __init__(self, name: str, tree: Path, work: Path, seconds: float) -> None:
        mode = name.split("@")[0]
        self.port = pick_free_udp_port()
        self.events = work / f"events-{name}.jsonl"
        argv = [sys.executable, "-m", "mbedtls_py", "serve", "--port", str(self.port),
                "--upstream-cert", "--events", str(self.events), "--max-seconds", str(seconds),
                "--mitigation", "none" if mode == "single" else mode]
        if mode == "single":
            argv.append("--single-socket")
        self.err = (work / f"serve-{name}.err").open("w")
        self.proc = subprocess.Popen(argv, cwd=tree, stdout=subprocess.DEVNULL, stderr=self.err,
                                     env=dict(os.environ, PYTHONPATH=str(tree)))

    def unexpected(self) -> int:
        n = 0
        if self.events.exists():
            for line in self.events.read_text().splitlines():
                if '"rc": -30464' in line and ('"event": "error"' in line
                                              or '"event": "drop"' in line):
                    n += 1
        return n

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


class Proxy:
    def __init__(self, server_port: int, tree: Path, work: Path, seconds: float) -> None:
        self.port = pick_free_udp_port()
        self.err = (work / f"proxy-{server_port}.err").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mbedtls_py", "proxy", "--listen", f"{HOST}:{self.port}",
             "--server", f"{HOST}:{server_port}", "--max-seconds", str(seconds), "--quiet"],
            cwd=tree, stdout=subprocess.DEVNULL, stderr=self.err,
            env=dict(os.environ, PYTHONPATH=str(tree)))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--capture":
        capture({int(p) for p in argv[1].split(",")}, Path(argv[2]), float(argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--routes", default="direct,proxy")
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--hold", type=float, default=1.0, help="s_client's stdin held S seconds")
    ap.add_argument("--tree", type=Path, default=ROOT, help="run serve/proxy from this tree")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="also run serve's modes from this tree (e.g. an older checkout), "
                    "interleaved with the others, as none@base, classify@base, ...")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 1000:
        ap.error("--runs must be 1 .. 1000")
    servers = [s for s in args.servers.split(",") if s]
    routes = [r for r in args.routes.split(",") if r]
    if any(s not in SERVERS for s in servers) or any(r not in ("direct", "proxy")
                                                     for r in routes):
        ap.error(f"servers are {', '.join(SERVERS)}; routes direct, proxy")
    if args.baseline is not None:
        servers += [f"{s}@base" for s in servers if s != "native"]
    budget = args.runs * len(servers) * len(routes) * (args.hold + 6.0) + 120
    load0 = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="serve-fidelity-"))
    started: dict[str, Any] = {}
    proxies: dict[str, Proxy] = {}
    cap = None
    try:
        for s in servers:
            tree = args.baseline if s.endswith("@base") else args.tree
            started[s] = Native() if s == "native" else Serve(s, tree, work, budget)
        if "proxy" in routes:
            for s in servers:
                proxies[s] = Proxy(started[s].port, args.tree, work, budget)
        ports = {x.port for x in [*started.values(), *proxies.values()]}
        capfile = work / "capture.txt"
        cap = subprocess.Popen([sys.executable, __file__, "--capture",
                                ",".join(map(str, ports)), str(capfile), str(budget)])
        time.sleep(4.0)  # PKI, bind, the capture socket
        rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for i in range(args.runs):
            for route in routes:
                for s in servers:
                    srv = started[s]
                    port = srv.port if route == "direct" else proxies[s].port
                    before = srv.unexpected()
                    t0 = time.time_ns()
                    res = interop.OpenSSLClient(HOST, port, seed=True,
                                                eof_delay=args.hold).run(timeout=10.0)
                    time.sleep(0.3)  # the late close_notify, if any, reaches the server
                    rows.setdefault((s, route), []).append({
                        "t0_ns": t0, "t1_ns": time.time_ns(), "port": port,
                        "echo": interop.SEED_INPUT.strip() in res.received,
                        "unexpected": srv.unexpected() > before, "timed_out": res.timed_out})
            print(f"run {i + 1}/{args.runs}", file=sys.stderr, flush=True)
        load1 = os.getloadavg()
        capfile.with_suffix(".stop").touch()
        cap.wait(10)
        cap = None
        packets = []
        for line in capfile.read_text().splitlines():
            t, sp, dp, hx = line.split()
            packets.append((int(t), int(sp), int(dp), bytes.fromhex(hx)))
        results = []
        for (s, route), runs in rows.items():
            for r in runs:
                # the client's port: the source of the first ClientHello to `port` in the run
                mine = [p for p in packets if r["t0_ns"] <= p[0] <= r["t1_ns"]]
                client = next((sp for _, sp, dp, pl in mine
                               if dp == r["port"] and _hs_type(pl) == 1), None)
                r.update(analyse(mine, client, r["port"]) if client else
                         {"seen": False, "cookie_hello_lost": False, "latency_ms": None,
                          "hvr_to_cookie_us": None})
            lat = [r["latency_ms"] for r in runs if r["latency_ms"] is not None]
            gap = [r["hvr_to_cookie_us"] for r in runs if r.get("hvr_to_cookie_us") is not None]
            results.append({
                "server": s, "route": route, "runs": len(runs),
                "captured": sum(r["seen"] for r in runs),
                "cookie_hello_lost": sum(r["cookie_hello_lost"] for r in runs),
                "latency_ms_median": round(statistics.median(lat), 2) if lat else None,
                "hvr_to_cookie_us_median": round(statistics.median(gap)) if gap else None,
                "hvr_to_cookie_us_min": round(min(gap)) if gap else None,
                "unexpected_7700": sum(r["unexpected"] for r in runs),
                "echo_printed": sum(r["echo"] for r in runs),
                "client_timeouts": sum(r["timed_out"] for r in runs)})
    finally:
        if cap is not None:
            cap.kill()
            cap.wait()
        for x in [*proxies.values(), *started.values()]:
            x.close()
    print(f"\nload average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end; "
          f"{interop.openssl_version()}; s_client stdin held {args.hold:g} s; "
          f"{args.runs} runs per cell, interleaved")
    print(f"{'server':<15}{'route':<8}{'cookie CH lost':>15}{'CH->SH median':>15}"
          f"{'-0x7700':>9}{'echo':>7}{'HVR->CH2 us (min, median)':>27}")
    for r in results:
        lat = "-" if r["latency_ms_median"] is None else f"{r['latency_ms_median']:.1f} ms"
        gap = f"{r['hvr_to_cookie_us_min']}, {r['hvr_to_cookie_us_median']}"
        print(f"{r['server']:<15}{r['route']:<8}{r['cookie_hello_lost']:>9}/{r['runs']:<5}"
              f"{lat:>15}{r['unexpected_7700']:>5}/{r['runs']:<3}{r['echo_printed']:>4}/"
              f"{r['runs']:<3}{gap:>27}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "load_average": [load0, load1], "openssl": interop.openssl_version(),
            "hold_s": args.hold, "tree": str(args.tree),
            "baseline": None if args.baseline is None else str(args.baseline),
            "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
