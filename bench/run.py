"""mbedtls-py benchmarks: Python-driven DTLS against a native C driver of the
same Mbed TLS build, side by side, alternating runs (native, python, native,
python, ...), medians and ratios (Python-driven over native).

Rows (both drivers, same PKI, seeds, suites and calls; see bench/README.md):
  cert_handshake    full ECDHE-ECDSA (P-256 certificates) handshakes/s, no cookies
  cookie_handshake  the same with HelloVerifyRequest cookies
  psk_handshake     TLS-PSK-WITH-AES-128-GCM-SHA256 handshakes/s
  record_1k         application data MB/s, 1,000-byte records, one direction
  record_16k        the same with 16,000-byte records
  race_cert         close_notify race scenarios/s (two handshakes, an echo,
  race_psk            a late alert, -0x7700, a reset), certificates / PSK
  lost_flight_psk   a handshake losing three flights: real time per handshake
  lost_flight_cert    against the virtual time it represents
  sim_race_psk      the seed's scenario on the simulated network (Network,
                    DTLSServer, two echo clients, the alert delayed by a rule),
                    over the native race_psk
  repro_race_psk    one whole `repro` run of it (configs seeded per run, the
                    server's steps in the trace, the verdict), over race_psk
  sim_handshake_psk psk_handshake through one Network with a 20 ms link,
                    over the native psk_handshake
  sim_handshake_fresh_psk  the same, a new Network per handshake
  sim_lossy_psk     sim_handshake_psk with 30% loss both ways, per handshake
                    completed
(bench/sim_rows.py)
Optional: the same handshakes through python-mbedtls and pyOpenSSL (memory
BIOs), when importable here or from .build/bench/thirdparty
(`--install-others` puts them there with pip).  Then memory (bench/memory.py).

Examples:
  python bench/run.py                 table
  python bench/run.py --json          one JSON object (raw figures, `ratios`)
  python bench/run.py --quick         a short run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from report import render, summarize_others  # bench/report.py (bench/ is on sys.path)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PKI = BENCH / "pki"
OUT = ROOT / ".build" / "bench"
THIRDPARTY = OUT / "thirdparty"

ROWS = ["cert_handshake", "cookie_handshake", "psk_handshake", "record_1k", "record_16k",
        "race_cert", "race_psk", "lost_flight_psk", "lost_flight_cert",
        "sim_race_psk", "repro_race_psk", "sim_handshake_psk", "sim_handshake_fresh_psk",
        "sim_lossy_psk"]
# the native row a simulated row is measured against (side by side, alternating)
NATIVE_ROW = {"sim_race_psk": "race_psk", "repro_race_psk": "race_psk",
              "sim_handshake_psk": "psk_handshake", "sim_handshake_fresh_psk": "psk_handshake",
              "sim_lossy_psk": "psk_handshake"}
# ratio key -> (row, figure, target)
RATIOS = {
    "cert_handshake": ("cert_handshake", "per_s", 0.90),
    "cookie_handshake": ("cookie_handshake", "per_s", 0.90),
    "psk_handshake": ("psk_handshake", "per_s", 0.60),
    "record_1k": ("record_1k", "mb_per_s", 0.70),
    "record_16k": ("record_16k", "mb_per_s", 0.90),
    "sim_race_psk": ("sim_race_psk", "per_s", 0.35),
    "sim_handshake_psk": ("sim_handshake_psk", "per_s", 0.50),
}
OTHER_RATIOS = {
    "race_cert": ("race_cert", "per_s"),
    "race_psk": ("race_psk", "per_s"),
    "lost_flight_psk": ("lost_flight_psk", "per_s"),
    "lost_flight_cert": ("lost_flight_cert", "per_s"),
    "repro_race_psk": ("repro_race_psk", "per_s"),
    "sim_handshake_fresh_psk": ("sim_handshake_fresh_psk", "per_s"),
    "sim_lossy_psk": ("sim_lossy_psk", "per_s"),
}
LOST_FLIGHT_TARGET = 1000.0

_quiet = False


def progress(msg: str) -> None:
    if not _quiet:
        print(f"bench: {msg}", file=sys.stderr, flush=True)


# -- building the native driver -------------------------------------------------------

def build_native() -> Path:
    """Compile bench/native_driver.c and csrc/glue.c with the extension's flags
    and link the same static Mbed TLS archive (reused while nothing changed)."""
    sys.path.insert(0, str(ROOT / "csrc"))
    try:
        import mbedtls_build as build  # csrc/mbedtls_build.py: also (re)writes csrc/_generated/
    finally:
        sys.path.pop(0)
    src = build.mbedtls_source()
    archive = build.build_static_library(verbose=not _quiet)
    exe = OUT / "native_driver"
    sources = [ROOT / "csrc" / "glue.c", ROOT / "csrc" / "dgram_queue.c", BENCH / "native_driver.c"]
    cmd = [*build.compiler(), *build.library_cflags(src), "-std=c11", "-Wall", "-Wextra",
           "-Wno-unused-parameter", *map(str, sources), str(archive), "-lpthread", "-o", str(exe)]
    key = hashlib.sha256(" ".join(cmd).encode())
    for f in [*sources, ROOT / "csrc" / "glue.h", ROOT / "csrc" / build.CONFIG_HEADER,
              ROOT / "csrc" / "_generated" / "ssl_states.h", archive]:
        key.update(f.read_bytes() if f.suffix != ".a" else str(f.stat().st_mtime_ns).encode())
    stamp = OUT / "native_driver.stamp"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == key.hexdigest():
        return exe
    OUT.mkdir(parents=True, exist_ok=True)
    progress("compiling the native driver")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: compiling the native driver failed:\n{' '.join(cmd)}\n"
                         f"{proc.stderr}")
    stamp.write_text(key.hexdigest())
    return exe


def install_others() -> None:
    """pip-install python-mbedtls and pyOpenSSL into .build/bench/thirdparty
    (a separate directory, so the project's own environment is not changed)."""
    progress(f"pip install --target {THIRDPARTY} python-mbedtls pyOpenSSL")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target",
                    str(THIRDPARTY), "python-mbedtls", "pyOpenSSL"], check=True)


# -- running ---------------------------------------------------------------------------

def _run_json(cmd: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed (exit {proc.returncode}):\n"
                         f"{proc.stderr}")
    return json.loads(proc.stdout)


class Worker:
    """A driver in ``serve`` mode: one row per request, one JSON line per answer."""

    def __init__(self, name: str, cmd: list[str], env: dict | None = None) -> None:
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def run(self, row: str, secs: float) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(f"{row} {secs}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise SystemExit(f"bench: the {self.name} driver failed on {row} (exit {code}); "
                             "see its message above")
        return json.loads(line)[row]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


_extra_pythonpath: list[str] = []


def python_env() -> dict:
    """The environment of the Python driver: this checkout's mbedtls_py (or the
    one given with --pythonpath, e.g. an experimental build of the extension)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [*_extra_pythonpath, str(ROOT), env.get("PYTHONPATH")]))
    return env


def others_env() -> dict:
    env = dict(os.environ)
    paths = [str(THIRDPARTY)] if THIRDPARTY.is_dir() else []
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*paths, env.get("PYTHONPATH")]))
    return env


def machine() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"cpu": model, "nproc": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "cc": cc}


def median_row(runs: list[dict], row: str, figure: str) -> float:
    return statistics.median(r[row][figure] for r in runs)


def main(argv: list[str] | None = None) -> int:
    global _quiet
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--quick", action="store_true",
                    help="short run: 0.1 s per row, 5 runs, 10,000 lifecycles")
    ap.add_argument("--runs", type=int, default=5, help="alternating runs per side (default 5)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="time per row per run (default 0.6; 0.1 with --quick)")
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows to run")
    ap.add_argument("--no-others", action="store_true", help="skip python-mbedtls and pyOpenSSL")
    ap.add_argument("--install-others", action="store_true",
                    help="pip-install python-mbedtls and pyOpenSSL into .build/bench/thirdparty")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    ap.add_argument("--lifecycles", type=int, default=None,
                    help="context lifecycles for the growth check (default 100,000)")
    ap.add_argument("--pythonpath", metavar="DIR", action="append", default=[],
                    help="import mbedtls_py from DIR first (to measure another build of it)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    _quiet = args.quiet
    _extra_pythonpath[:] = [str(Path(d).resolve()) for d in args.pythonpath]
    secs = args.seconds or (0.1 if args.quick else 0.6)
    rows = [r for r in args.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            ap.error(f"unknown row {r!r}; rows: {', '.join(ROWS)}")
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    native = build_native()
    if args.install_others:
        install_others()

    started = time.time()
    nat = Worker("native", [str(native), str(PKI), "serve"])
    py = Worker("python", [sys.executable, str(BENCH / "py_driver.py"), str(PKI), "serve"],
                python_env())
    transcripts = {"native": nat.run("transcripts", 0), "python": py.run("transcripts", 0)}
    # runs[side][row] = list of per-run figures; rows alternate native, python
    # row by row, so that each python figure has a native one measured next to it
    runs: dict = {"native": {r: [] for r in rows}, "python": {r: [] for r in rows}}
    other_runs: list[dict] = []
    try:
        for i in range(args.runs):
            progress(f"run {i + 1}/{args.runs}: {len(rows)} rows x {secs:g} s, native then python")
            for r in rows:
                runs["native"][r].append(nat.run(NATIVE_ROW.get(r, r), secs))
                runs["python"][r].append(py.run(r, secs))
            if not args.no_others:
                progress(f"run {i + 1}/{args.runs}: python-mbedtls, pyOpenSSL")
                other_runs.append(_run_json([sys.executable, str(BENCH / "others.py"), str(PKI),
                                             str(secs)], others_env()))
    finally:
        nat.close()
        py.close()

    result: dict = {
        "machine": machine(),
        "settings": {"runs": args.runs, "seconds_per_row": secs, "rows": rows,
                     "pythonpath": _extra_pythonpath,
                     "clock": "rates per CPU second of each driver process; "
                              "wall-clock rates under wall_*"},
        "transcripts_match": transcripts["native"] == transcripts["python"],
        "transcripts": transcripts,
        "native": {}, "python": {},
    }
    figures = {r: ("mb_per_s" if r.startswith("record") else "per_s") for r in rows}
    for side in ("native", "python"):
        for r in rows:
            fig, samples = figures[r], runs[side][r]
            entry = {fig: statistics.median(x[fig] for x in samples),
                     "wall_" + fig: statistics.median(x["wall_" + fig] for x in samples),
                     "runs": [x[fig] for x in samples]}
            if r.startswith("lost_flight"):
                for k in ("real_ms", "cpu_ms", "virtual_ms", "speedup"):
                    entry[k] = statistics.median(x[k] for x in samples)
            result[side][r] = entry

    def ratio(row: str, fig: str) -> float:
        # median of the per-run ratios (each python figure against the native one before it)
        return statistics.median(p[fig] / n[fig]
                                 for n, p in zip(runs["native"][row], runs["python"][row]))

    result["ratios"] = {k: ratio(row, fig) for k, (row, fig, _) in RATIOS.items() if row in rows}
    if "lost_flight_psk" in rows:
        result["ratios"]["lost_flight_speedup"] = result["python"]["lost_flight_psk"]["speedup"]
    result["other_ratios"] = {k: ratio(row, fig) for k, (row, fig) in OTHER_RATIOS.items()
                              if row in rows}
    if "lost_flight_cert" in rows:
        result["other_ratios"]["lost_flight_cert_speedup"] = \
            result["python"]["lost_flight_cert"]["speedup"]
    result["wall_ratios"] = {k: ratio(row, "wall_" + fig) for k, (row, fig, _) in RATIOS.items()
                             if row in rows}
    targets = {k: t for k, (row, _, t) in RATIOS.items() if row in rows}
    if "lost_flight_psk" in rows:
        targets["lost_flight_speedup"] = LOST_FLIGHT_TARGET
    result["targets"] = targets
    result["meets_targets"] = {k: result["ratios"][k] >= t for k, t in targets.items()}

    if other_runs:
        result["others"] = summarize_others(other_runs)
    if not args.no_memory:
        sys.path.insert(0, str(BENCH))
        import memory
        lifecycles = args.lifecycles or (10_000 if args.quick else 100_000)
        result["memory"] = memory.measure(native, 1000, lifecycles, progress)
    result["elapsed_s"] = round(time.time() - started, 1)

    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(render(result, RATIOS, LOST_FLIGHT_TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
