"""What timing models cost, and how a seed sweep scales.

    PYTHONPATH=. python bench/timing_bench.py overhead            # corpus CPU time per model
    PYTHONPATH=.:/path/to/dask python bench/timing_bench.py sweep  # 1,000 seeds: serial, 2 procs, Dask

``overhead``: every DTLS case of the corpus once (seed 1), in this process,
serially, with each timing model and without; CPU time (``time.process_time``)
of the best of ``--repeat`` passes.  ``sweep``: ``--seeds`` seeds of one case
(``--case``, ``--timing``) serially, on a 2-process pool (what ``ssl-opt
--jobs 2`` uses) and on a 2-worker Dask ``LocalCluster`` (one thread each);
wall time of each, and a check that the three give the same (seed, verdict,
digest) list.  Results go to ``bench/results/timing_*.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

CASE = "DTLS proxy: duplicate every packet, server anti-replay off"
_OUT = Path(__file__).resolve().parent / "results"


def _cases() -> list[Any]:
    from mbedtls_py.sslopt.parse import load_cases
    return [c for c in load_cases() if c.dtls]


def overhead(repeat: int) -> dict[str, Any]:
    from mbedtls_py.sslopt.runner import run_case
    from mbedtls_py.timing import MODELS
    cases = _cases()
    out: dict[str, Any] = {"cases": len(cases), "repeat": repeat, "cpu_s": {}, "verdicts": {}}
    for model in (None, *MODELS):
        best = None
        for _ in range(repeat):
            t0 = time.process_time()
            verdicts = [run_case(c, 1, timing=model).verdict for c in cases]
            dt = time.process_time() - t0
            best = dt if best is None else min(best, dt)
        key = model or "off"
        out["cpu_s"][key] = round(best or 0.0, 3)
        out["verdicts"][key] = {v: verdicts.count(v) for v in sorted(set(verdicts))}
        print(f"{key:9} {best:7.2f} s CPU  {out['verdicts'][key]}", flush=True)
    off = out["cpu_s"]["off"]
    out["overhead"] = {k: round(v / off - 1, 4) for k, v in out["cpu_s"].items() if k != "off"}
    return out


_CASE_OBJ: list[Any] = []


def _one(item: tuple[str, int, str | None]) -> tuple[int, str, str, float, int]:
    """One run: (seed, verdict, digest) and the CPU time it took in which process."""
    from mbedtls_py.sslopt.runner import run_case
    name, seed, model = item
    if not _CASE_OBJ or _CASE_OBJ[0].name != name:
        _CASE_OBJ[:] = [c for c in _cases() if c.name == name]
    t0 = time.thread_time()  # the run's own CPU, not a Dask worker's other threads
    r = run_case(_CASE_OBJ[0], seed, timing=model)
    return seed, r.verdict, r.digest(), time.thread_time() - t0, os.getpid()


def _many(items: list[tuple[str, int, str | None]]) -> list[tuple[int, str, str, float, int]]:
    return [_one(i) for i in items]


def _split(runs: list[tuple[int, str, str, float, int]]) -> tuple[list[tuple[int, str, str]],
                                                                  dict[int, float]]:
    """The results without their costs, and the CPU seconds per worker process."""
    per: dict[int, float] = {}
    for *_, cpu, pid in runs:
        per[pid] = per.get(pid, 0.0) + cpu
    return [r[:3] for r in runs], per


def sweep(name: str, seeds: int, model: str | None, repeat: int = 1) -> dict[str, Any]:
    items = [(name, s, model) for s in range(1, seeds + 1)]
    out: dict[str, Any] = {"case": name, "seeds": seeds, "timing": model, "wall_s": {},
                           "cpu_s_per_worker": {}, "load_before": os.getloadavg()[0]}
    t0 = time.perf_counter()
    serial, per = _split([_one(i) for i in items])
    out["wall_s"]["serial"] = round(time.perf_counter() - t0, 2)
    for _ in range(repeat - 1):  # best of ``repeat`` wall times (the others' load varies)
        t0 = time.perf_counter()
        assert _split([_one(i) for i in items])[0] == serial
        out["wall_s"]["serial"] = min(out["wall_s"]["serial"], round(time.perf_counter() - t0, 2))
    out["cpu_s_per_worker"]["serial"] = [round(v, 2) for v in per.values()]
    ctx = multiprocessing.get_context("fork")
    for i in range(repeat):
        t0 = time.perf_counter()
        with ctx.Pool(2) as pool:
            pooled, per = _split(pool.map(_one, items, chunksize=max(1, seeds // 16)))
        wall = round(time.perf_counter() - t0, 2)
        out["wall_s"]["jobs2"] = wall if i == 0 else min(wall, out["wall_s"]["jobs2"])
    out["cpu_s_per_worker"]["jobs2"] = sorted(round(v, 2) for v in per.values())
    out["identical"] = {"jobs2": pooled == serial}
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        out["dask"] = "not installed"
    else:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(lambda: sys.path.insert(0, str(Path(__file__).resolve().parent.parent)))
            client.submit(_one, items[0]).result()  # warm each worker's import (not timed)
            client.run(_cases)
            # tasks of 25 runs (as explore sends chunks): one task per run costs the
            # scheduler more than a run; 40 tasks still balance two workers
            chunks = [items[i:i + 25] for i in range(0, len(items), 25)]
            for i in range(repeat):
                t0 = time.perf_counter()
                futures = client.map(_many, chunks, pure=False)
                dasked, per = _split([r for rs in client.gather(futures) for r in rs])
                wall = round(time.perf_counter() - t0, 2)
                out["wall_s"]["dask2"] = wall if i == 0 else min(wall, out["wall_s"]["dask2"])
            out["cpu_s_per_worker"]["dask2"] = sorted(round(v, 2) for v in per.values())
            out["identical"]["dask2"] = dasked == serial
    fails = [s for s, v, _ in serial if v == "FAIL"]
    out["fails"] = len(fails)
    out["failing_seeds"] = fails
    out["load_after"] = os.getloadavg()[0]
    out["speedup_wall"] = {k: round(out["wall_s"]["serial"] / v, 2)
                           for k, v in out["wall_s"].items() if k != "serial"}
    # On a shared machine the wall clock measures the others' load too: the
    # speed-up the work split allows is the serial CPU over the busiest worker's.
    total = sum(out["cpu_s_per_worker"]["serial"])
    out["speedup_cpu"] = {k: round(total / max(v), 2)
                          for k, v in out["cpu_s_per_worker"].items() if k != "serial" and v}
    print(json.dumps({k: v for k, v in out.items() if k != "failing_seeds"}), flush=True)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["overhead", "sweep"])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--case", default=CASE)
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--timing", default="loaded")
    a = ap.parse_args(argv)
    doc = overhead(a.repeat) if a.what == "overhead" else sweep(a.case, a.seeds, a.timing,
                                                                 a.repeat)
    doc["machine"] = {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M")}
    _OUT.mkdir(exist_ok=True)
    (_OUT / f"timing_{a.what}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
