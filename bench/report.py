"""bench/run.py's report: the median of the other libraries' rows and the
table printed for a result (kept apart so run.py stays about measuring)."""

from __future__ import annotations

import statistics


def summarize_others(runs: list[dict]) -> dict:
    """The median of each other library's rows over the runs."""
    out: dict = {}
    for lib, first in runs[0].items():
        if "skipped" in first:
            out[lib] = first
            continue
        entry: dict = {"library": first.get("library")}
        for row, val in first.items():
            if row == "library":
                continue
            if "skipped" in val:
                entry[row] = val
            else:
                entry[row] = {"per_s": statistics.median(r[lib][row]["per_s"] for r in runs)}
                if "note" in val:
                    entry[row]["note"] = val["note"]
        out[lib] = entry
    return out


def _fmt(v: float) -> str:
    return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"


def render(res: dict, ratios: dict, lost_flight_target: float) -> str:
    """The result as the table bench/README.md shows."""
    m = res["machine"]
    s = res["settings"]
    lines = [f"mbedtls-py benchmarks: {m['cpu']}, {m['nproc']} CPUs, Python {m['python']}",
             f"median of {s['runs']} alternating runs, {s['seconds_per_row']:g} s per row per run;"
             f" identical handshake bytes native/python: {'yes' if res['transcripts_match'] else 'NO'}",
             "",
             f"{'row':<24} {'unit':<12} {'native':>11} {'python':>11} {'ratio':>7} {'target':>7}"]
    units = {"record_1k": "MB/s", "record_16k": "MB/s"}
    ratio_of = {row: key for key, (row, _, _) in ratios.items()}
    for row in s["rows"]:
        n, p = res["native"][row], res["python"][row]
        fig = "mb_per_s" if row in units else "per_s"
        key = ratio_of.get(row)
        ratio = res["ratios"].get(key) if key else res["other_ratios"].get(row)
        target = res["targets"].get(key) if key else None
        mark = "" if target is None else (" ok" if ratio >= target else " SHORT")
        unit = units.get(row, "scenarios/s" if "race" in row else "handshakes/s")
        lines.append(f"{row:<24} {unit:<12} {_fmt(n[fig]):>11} {_fmt(p[fig]):>11} "
                     f"{ratio:>7.2f} {'' if target is None else f'{target:.2f}':>7}{mark}")
    for row in ("lost_flight_psk", "lost_flight_cert"):
        if row in s["rows"]:
            n, p = res["native"][row], res["python"][row]
            lines.append(f"{row}: {p['virtual_ms']:,.0f} ms virtual in {p['real_ms']:.3f} ms real "
                         f"(python), {n['real_ms']:.3f} ms (native): speed-up "
                         f"{p['speedup']:,.0f}x python, {n['speedup']:,.0f}x native")
    if "lost_flight_speedup" in res["ratios"]:
        sp = res["ratios"]["lost_flight_speedup"]
        lines.append(f"lost_flight_speedup (python, PSK): {sp:,.0f}x "
                     f"(target {lost_flight_target:,.0f}x{'' if sp >= lost_flight_target else ', SHORT'})")
    if "others" in res:
        lines += ["", "What a user would otherwise pick (same handshakes, fresh objects each time)"]
        for lib, rows in res["others"].items():
            if "skipped" in rows:
                lines.append(f"  {lib}: skipped ({rows['skipped']})")
                continue
            lines.append(f"  {rows['library']}")
            for row, val in rows.items():
                if row == "library":
                    continue
                if "skipped" in val:
                    lines.append(f"    {row:<18} skipped: {val['skipped']}")
                else:
                    note = f"  ({val['note']})" if "note" in val else ""
                    lines.append(f"    {row:<18} {_fmt(val['per_s']):>11} handshakes/s{note}")
    if "memory" in res:
        import memory  # bench/ is on sys.path: run.py is run as a script
        lines += ["", memory.table(res["memory"])]
    return "\n".join(lines)
