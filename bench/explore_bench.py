"""Explorer throughput: schedules per second, serial, on a 2-process pool and
on a 2-worker Dask LocalCluster, beside the native race-scenario rate.

    python bench/explore_bench.py [--json] [--no-native] [--no-dask]

Rows:
  native_race_psk    the close_notify race scenario in C (bench/native_driver.c,
                     row race_psk: two PSK handshakes, an echo, a late alert, a reset)
  python_race_psk    the repro scenario late-close-notify (PSK) on the simulated
                     network, through mbedtls_py (DTLSServer, clients, trace off)
  explore_k1         `explore two-clients --faults 1` (385 schedules), serial
  explore_k2_*       `explore cookie --faults 2` serial, on a 2-process pool, on a
                     2-worker Dask LocalCluster (cluster start-up not counted)
Each explore row checks that its JSON equals the serial run's.  Pool and
Dask rows are wall time only (their CPU is spent in other processes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from mbedtls_py.explore.engine import explore  # noqa: E402
from mbedtls_py.repro.scenarios import run_scenario  # noqa: E402


def _timed(fn: Any) -> tuple[Any, float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def native_race(secs: float) -> tuple[float, float]:
    """race_psk scenarios per wall and per CPU second of the native driver
    (built as bench/run.py builds it)."""
    sys.path.insert(0, str(BENCH))
    import run as bench_run  # bench/run.py
    exe = bench_run.build_native()
    worker = bench_run.Worker("native", [str(exe), str(bench_run.PKI), "serve"])
    try:
        row = worker.run("race_psk", secs)
        return float(row["wall_per_s"]), float(row["per_s"])
    finally:
        worker.close()


def python_race(secs: float) -> tuple[float, float]:
    """late-close-notify scenarios per wall and per CPU second through the
    Python network (PSK)."""
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < secs:
        run_scenario("late-close-notify", "none", n)
        n += 1
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def main(argv: list[str] | None = None) -> int:
    """Measure the rows; print a table or JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-native", action="store_true", help="skip the native driver")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask rows")
    ap.add_argument("--repeat", type=int, default=5, help="K=1 explorations (default 5)")
    args = ap.parse_args(argv)
    rows: dict[str, dict[str, Any]] = {}
    if not args.no_native:
        wall_rate, cpu_rate = native_race(2.0)
        rows["native_race_psk"] = {"per_s": wall_rate, "per_cpu_s": cpu_rate,
                                   "unit": "scenarios/s"}
    wall_rate, cpu_rate = python_race(2.0)
    rows["python_race_psk"] = {"per_s": wall_rate, "per_cpu_s": cpu_rate, "unit": "scenarios/s"}
    n, wall, cpu = 0, 0.0, 0.0
    for _ in range(args.repeat):
        r, w, c = _timed(lambda: explore("two-clients", "none", 1))
        n, wall, cpu = n + r.schedules, wall + w, cpu + c
    rows["explore_k1"] = {"schedules": n, "per_s": n / wall, "per_cpu_s": n / cpu,
                          "unit": "schedules/s"}
    serial, w, c = _timed(lambda: explore("cookie", "none", 2))
    ref = json.dumps(serial.to_json())
    rows["explore_k2_serial"] = {"schedules": serial.schedules, "per_s": serial.schedules / w,
                                 "per_cpu_s": serial.schedules / c, "unit": "schedules/s"}
    with ProcessPoolExecutor(2) as pool:
        pooled, w, _ = _timed(lambda: explore("cookie", "none", 2, executor=pool))
    rows["explore_k2_pool2"] = {"schedules": pooled.schedules, "per_s": pooled.schedules / w,
                                "same_json": json.dumps(pooled.to_json()) == ref,
                                "unit": "schedules/s"}
    if not args.no_dask:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            print("dask not installed: skipping the Dask row", file=sys.stderr)
        else:
            t0 = time.perf_counter()
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                start = time.perf_counter() - t0
                ex = client.get_executor()
                dasked, w, _ = _timed(lambda: explore("cookie", "none", 2, executor=ex))
            rows["explore_k2_dask2"] = {"schedules": dasked.schedules,
                                        "per_s": dasked.schedules / w,
                                        "cluster_start_s": start,
                                        "same_json": json.dumps(dasked.to_json()) == ref,
                                        "unit": "schedules/s"}
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| row | per wall s | per CPU s | unit | notes |\n|---|---|---|---|---|")
    for name, row in rows.items():
        notes = []
        if "schedules" in row:
            notes.append(f"{row['schedules']:,} schedules")
        if "same_json" in row:
            notes.append("JSON equal to serial" if row["same_json"] else "JSON DIFFERS")
        if "cluster_start_s" in row:
            notes.append(f"cluster start {row['cluster_start_s']:.1f} s not counted")
        cpu = f"{row['per_cpu_s']:,.0f}" if "per_cpu_s" in row else "-"
        print(f"| {name} | {row['per_s']:,.0f} | {cpu} | {row['unit']} | {', '.join(notes)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
