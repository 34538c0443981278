"""Measure the timing data of ``mbedtls_py/timing/measured.json`` from the real
programs: upstream's ssl_server2, ssl_client2 and udp_proxy built from the
pinned source, run as ssl-opt.sh runs them, observed with uprobes.

    python bench/measure_timing.py --runs 5      # as root (perf probe); --tree DIR: another build

The programs come from ``mbedtls_py.peers.upstream_build.build_test_programs()``
(upstream's Makefile and default configuration on a copy of the pinned source;
the same as ``cp -r vendor/mbedtls T && make -C T lib && make -C T/programs
ssl/ssl_server2 ssl/ssl_client2 test/udp_proxy``).

Method: ``perf probe`` puts an entry and a return uprobe on each program's
calls into Mbed TLS (``mbedtls_ssl_handshake``, ``_read``, ``_write``,
``_close_notify``, ``_session_reset``, ``mbedtls_net_free``; the entry probe
also reads ``ssl->state``, the int at offset 8 of ``mbedtls_ssl_context`` in
3.6) and on udp_proxy's ``handle_message``/``send_packet``; ``perf record``
follows the driver's children.  Per program, a call's cost is return time
minus entry time (a uprobe costs ~1-3 us, included); a handshake call is keyed
by its state at entry and at return (the next call's entry state).  The
*hand-over* cost is ssl_server2's time from the handshake call that returned
HelloVerifyRequest to ``mbedtls_net_free`` of that socket (printing, ``goto
reset``).  The proxy's cost is the duration of ``handle_message`` and the
gap between successive ``send_packet`` calls of one message (a duplicate).
A leg's latency is the time from ``send_packet``/a call that sends to the
receiving program's next call entry is not separable from its wake-up, so
legs are measured as the ``handle_message`` entry minus the sender's call
return for datagrams that reached an idle proxy (the minimum per message).
Each distribution is stored as 21 quantiles (p0, p5, ..., p100) in
microseconds; the timing model draws by inverse CDF between them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

CASES = ("DTLS proxy: reference",
         "DTLS proxy: duplicate every packet, server anti-replay off",
         "DTLS proxy: duplicate every packet",
         "DTLS proxy: 3d (drop, delay, duplicate), \"short\" PSK handshake",
         "DTLS proxy: 3d, \"short\" RSA handshake",
         "DTLS cookie: enabled")
PROGRAMS = {"ssl_server2": "ssl/ssl_server2", "ssl_client2": "ssl/ssl_client2"}
CALLS = {"mbedtls_ssl_handshake": "handshake", "mbedtls_ssl_read": "read_into",
         "mbedtls_ssl_write": "write", "mbedtls_ssl_close_notify": "close_notify",
         "mbedtls_ssl_session_reset": "session_reset", "mbedtls_net_free": "net_free"}
AUX = ("mbedtls_ssl_handshake_step", "mbedtls_net_recv", "mbedtls_net_recv_timeout")
PROXY_FUNCS = ("handle_message", "send_packet")
HVR = -0x6A80  # MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED
BLOCKED_US = 30  # a receive that took longer waited for a datagram (it splits a call)
_LINE = re.compile(r"^\s*(\S+)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+probe_(\w+):(\w+):")
_STATE = re.compile(r"state=(-?\d+)")
_RET = re.compile(r"arg1=(-?\w+)")


def _probe(binary: Path, group: str, func: str, with_state: bool) -> None:
    # event names are global to perf probe: prefixed by the program
    short = group[4:7] + "_" + func.replace("mbedtls_", "")
    args = f"{short}={func}" + (" state=+8(%di):s32" if with_state else "")
    for spec in (args, f"{short}={func}%return $retval"):
        subprocess.run(["perf", "probe", "-q", "-x", str(binary), "-a", spec], check=False,
                       stderr=subprocess.DEVNULL)


def setup(tree: Path) -> list[str]:
    """Add the uprobes; returns the event names for perf record."""
    subprocess.run(["perf", "probe", "-q", "-d", "probe_ssl_*:*", "-d", "probe_udp_proxy:*"],
                   check=False, stderr=subprocess.DEVNULL)
    for prog, rel in PROGRAMS.items():
        for func in (*CALLS, *AUX):
            _probe(tree / "programs" / rel, prog, func,
                   func not in ("mbedtls_net_free", "mbedtls_net_recv", "mbedtls_net_recv_timeout"))
    for func in PROXY_FUNCS:
        _probe(tree / "programs/test/udp_proxy", "udp_proxy", func, False)
    return ["probe_ssl_server2:*", "probe_ssl_client2:*", "probe_udp_proxy:*"]


def run_case(tree: Path, case, port: int) -> str:
    """One run of ``case``'s three programs (ssl-opt.sh's order: proxy, server,
    client; the server and proxy killed after the client exits)."""
    srv, pxy = str(port), str(port + 1)
    sub = lambda c: c.replace("14433", srv).replace("24433", pxy)  # noqa: E731
    cwd = tree / "tests"
    procs = []
    if case.pxy_cmd:
        procs.append(subprocess.Popen(shlex.split(sub(case.pxy_cmd)), cwd=cwd,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    procs.append(subprocess.Popen(shlex.split(sub(case.srv_cmd)), cwd=cwd,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.3)
    cli = subprocess.run(shlex.split(sub(case.cli_cmd)), cwd=cwd, capture_output=True,
                         timeout=30, check=False)
    for p in procs:
        p.send_signal(signal.SIGTERM)
        p.wait(5)
    return "ok" if cli.returncode == 0 else f"exit {cli.returncode}"


def quantiles(xs: list[float]) -> list[float]:
    """21 quantiles (p0..p100 in steps of 5), linear interpolation."""
    xs = sorted(xs)
    out = []
    for k in range(21):
        pos = (len(xs) - 1) * k / 20
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        out.append(round(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo), 1))
    return out


def analyse(script: str, samples: dict[str, list[float]]) -> None:
    """Turn ``perf script`` output into cost samples (us).  A program's call
    is cut into segments at the receives that waited (the simulated programs'
    calls return WANT_READ there); a handshake segment is keyed by the state
    of the step it started in and of the step it ended in."""
    call: dict[int, list] = {}  # pid -> [name, seg_start, seg_state, cur_state, prog]
    recv_at: dict[int, tuple[float, str]] = {}
    hvr_ret: dict[int, float] = {}
    pxy_send: dict[int, float] = {}
    pxy_in: dict[int, float] = {}
    last_out: float | None = None
    for line in script.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        pid, t, group, ev = int(m.group(2)), float(m.group(3)) * 1e6, m.group(4), m.group(5)
        ms, mr = _STATE.search(line), _RET.search(line)
        state = int(ms.group(1)) if ms else None
        rv = int(mr.group(1), 0) if mr else None
        if rv is not None:  # $retval comes as an unsigned register: the C int's value
            rv = ((rv & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        ret = ev.endswith("__return")
        func = "mbedtls_" + (ev[:-8] if ret else ev).split("_", 1)[1]
        if group == "udp_proxy":
            func = func[len("mbedtls_"):]
            if func == "handle_message" and not ret:
                if last_out is not None and t - last_out < 2000:
                    samples["net leg"].append(t - last_out)
                last_out = None
                pxy_send.pop(pid, None)
                pxy_in[pid] = t
            elif func == "handle_message" and pid in pxy_in:
                samples["proxy handle"].append(t - pxy_in.pop(pid))
            elif func == "send_packet" and not ret:
                if pid in pxy_send:
                    samples["proxy gap"].append(t - pxy_send[pid])
                pxy_send[pid] = t
            continue
        prog = group
        c = call.get(pid)
        if func == "mbedtls_ssl_handshake_step" and not ret and c is not None:
            c[3] = state
        elif func in ("mbedtls_net_recv", "mbedtls_net_recv_timeout"):
            if not ret:  # recv_timeout calls recv: the outermost one counts
                recv_at.setdefault(pid, (t, func))
            elif recv_at.get(pid, (0, ""))[1] == func and c is not None:
                waited = t - recv_at.pop(pid)[0]
                if waited > BLOCKED_US:  # the segment ended when the receive began
                    dur = t - waited - c[1]
                    key = f"handshake {c[2]}>{c[3]}" if c[0] == "handshake" else c[0]
                    samples[f"{prog} {key}"].append(dur)
                    c[1], c[2] = t, c[3]
        elif func in CALLS and func != "mbedtls_net_free":
            if not ret:
                call[pid] = [CALLS[func], t, state, state, prog]
            elif c is not None:
                key = f"handshake {c[2]}>end" if c[0] == "handshake" else c[0]
                samples[f"{prog} {key}"].append(t - c[1])
                del call[pid]
                last_out = t
                if c[0] == "handshake" and rv == HVR:
                    hvr_ret[pid] = t
        elif func == "mbedtls_net_free" and not ret and pid in hvr_ret:
            samples[f"{prog} handover"].append(t - hvr_ret.pop(pid))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, default=None,
                    help="an Mbed TLS tree with ssl_server2, ssl_client2, udp_proxy built "
                    "(default: build them, upstream_build.build_test_programs)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("mbedtls_py/timing/measured.json"))
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if a.tree is None:
        from mbedtls_py.peers.upstream_build import build_test_programs
        a.tree = build_test_programs(verbose=True)
    events = setup(a.tree)
    samples: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, list[str]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            for i in range(a.runs):
                data = Path(tmp) / "perf.data"
                rec = subprocess.Popen(["perf", "record", "-q", "-o", str(data)]
                                       + [x for e in events for x in ("-e", e)]
                                       + ["--", sys.executable, __file__, "--one", name,
                                          str(a.tree), str(30000 + 10 * i)],
                                       stdout=subprocess.PIPE, text=True)
                out, _ = rec.communicate(timeout=120)
                outcomes[name].append(out.strip())
                script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True,
                                        text=True, check=False).stdout
                analyse(script, samples)
    calls: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
    for key, xs in sorted(samples.items()):
        prog, _, what = key.partition(" ")
        if what:
            calls[prog][what] = {"n": len(xs), "q": quantiles(xs)}
        else:
            calls["net"][prog] = {"n": len(xs), "q": quantiles(xs)}
    doc = {"about": "per-call CPU costs (us) of upstream's programs, measured with uprobes; "
                    "see bench/measure_timing.py",
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                       "date": time.strftime("%Y-%m-%d")},
           "runs": a.runs, "cases": {n: outcomes[n] for n in CASES},
           "costs": {p: dict(sorted(v.items())) for p, v in calls.items()}}
    a.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {a.out}: {sum(len(v) for v in samples.values())} samples, "
          f"{len(samples)} keys")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from mbedtls_py.sslopt.parse import load_cases
        case = next(c for c in load_cases() if c.name == sys.argv[2])
        print(run_case(Path(sys.argv[3]), case, int(sys.argv[4])))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
