"""How long `serve` keeps a client's socket after its last datagram to that client:
the window in which the client's next datagram dies with the socket.  Not a test.

    python bench/serve_release.py [--runs 20] [--trees .,/work/main] [--json FILE]

The native sample frees the socket 6-50 us after its last send (`goto reset` ->
`mbedtls_net_free`); the client's next datagram comes 26-145 us after
the server's on an idle machine.  For each source tree, a child process runs the
`DTLSServer` loop over `SampleSockets` with `serve`'s event writer (a JSON line
with a flush to a file, a line on stderr: where the tree's CLI does it, as
`on_event` on an older tree, as `serve(sink=...)` where it exists), and
`openssl s_client -dtls1_2` (the seed's command, stdin held 1 s) connects
`--runs` times.  Measured in the child, `time.perf_counter_ns()`: from the
server's last `sendto` to the client (the HelloVerifyRequest, the close_notify)
to the moment the socket stops taking the client's datagrams (the start of
`release_from`; on this tree that is the re-connect that seals the queue).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import inspect, json, sys, time, threading
from mbedtls_py.bindings.config import Config
from mbedtls_py.creds import make_pki
from mbedtls_py.peers import interop
from mbedtls_py.server.server import DTLSServer
from mbedtls_py.udp.loop import serve
from mbedtls_py.udp.sample_sockets import SampleSockets

runs, events_path = int(sys.argv[1]), sys.argv[2]
gaps = {"hello_verify": [], "close_notify": []}

class Timed(SampleSockets):
    last = None  # (kind, t) of the last send to the connected client
    def sendto(self, data, addr):
        super().sendto(data, addr)
        if self._client is not None:
            kind = "hello_verify" if data[:1] == b"\x16" and data[13:14] == b"\x03" else (
                "close_notify" if data[:1] == b"\x15" else None)
            self.last = (kind, time.perf_counter_ns())
    def release_from(self):
        t = time.perf_counter_ns()
        if self.last is not None and self.last[0] is not None and self._client is not None:
            gaps[self.last[0]].append((t - self.last[1]) / 1000)
        self.last = None
        return super().release_from()

pki = make_pki("ecdsa")
cfg = Config("server", cookies=True)
cfg.do_set_certificate([pki.cert_pem], pki.key_pem)
out = open(events_path, "w")
err = open(events_path + ".stderr", "w")
def write(ev):
    out.write(json.dumps(ev.to_dict()) + "\n"); out.flush()
    print(str(ev), file=err, flush=True)
t = Timed("127.0.0.1", 0)
has_sink = "sink" in inspect.signature(serve).parameters
server = DTLSServer(cfg, t, policy="none", on_event=None if has_sink else write)
stop = threading.Event()
extra = {"sink": write} if has_sink else {}
th = threading.Thread(target=serve, args=(server, t), daemon=True,
                      kwargs=dict(max_seconds=runs * 5 + 30, stop=stop, **extra))
th.start()
for _ in range(runs):
    interop.OpenSSLClient("127.0.0.1", t.port, seed=True, eof_delay=1.0).run(timeout=10.0)
stop.set(); th.join(10); server.close(); t.close()
print(json.dumps({"sink": has_sink, "gaps_us": gaps}))
'''


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--trees", default=f"{ROOT},/work/main")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 500:
        ap.error("--runs must be 1 .. 500")
    import tempfile

    load0 = os.getloadavg()[0]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for tree in args.trees.split(","):
            proc = subprocess.run([sys.executable, "-c", CHILD, str(args.runs),
                                   str(Path(tmp) / "events.jsonl")], cwd=tree,
                                  env=dict(os.environ, PYTHONPATH=tree), capture_output=True,
                                  text=True, timeout=args.runs * 15 + 120)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            row: dict[str, Any] = {"tree": tree, "event_io": "sink (after the poll)"
                                   if got["sink"] else "on_event (as it happens)"}
            for kind, gaps in got["gaps_us"].items():
                row[kind] = {"n": len(gaps), "median_us": round(statistics.median(gaps), 1)
                             if gaps else None,
                             "max_us": round(max(gaps), 1) if gaps else None}
            results.append(row)
    print(f"load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
          f"{args.runs} runs per tree")
    print(f"{'tree':<34}{'event I/O':<26}{'HVR -> free (median, max)':>28}"
          f"{'close_notify -> free':>24}")
    for r in results:
        hv, cn = r["hello_verify"], r["close_notify"]
        print(f"{r['tree']:<34}{r['event_io']:<26}"
              f"{str(hv['median_us']) + ', ' + str(hv['max_us']) + ' us':>28}"
              f"{str(cn['median_us']) + ', ' + str(cn['max_us']) + ' us':>24}")
    if args.json:
        Path(args.json).write_text(json.dumps({"load_average_start": load0,
                                               "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
