"""Time the whole selected ssl-opt.sh DTLS corpus in process.

    python bench/sslopt.py [--jobs N] [--repeat R] [--filter REGEX]

Runs ``python -m mbedtls_py ssl-opt --json`` R times and prints the wall time,
the CPU time of the run (user+system of the child processes) and the counts.
Not a test: speed is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--filter", default=".")
    a = ap.parse_args()
    rows = []
    for _ in range(a.repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "mbedtls_py", "ssl-opt", "--json",
                              "--jobs", str(a.jobs), "--filter", a.filter],
                             capture_output=True, text=True, check=False).stdout
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        counts = json.loads(out)["counts"]
        rows.append((wall, cpu, counts))
        print(f"wall {wall:6.2f} s  cpu {cpu:6.2f} s  {counts}", flush=True)
    print(f"best wall {min(r[0] for r in rows):.2f} s, best cpu {min(r[1] for r in rows):.2f} s "
          f"(jobs={a.jobs}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
