"""Run one ssl-opt.sh case in process and evaluate its own assertions.

A run: requirements (SKIP), peers (Mbed TLS both sides, else NOT RUN),
options (UNSUPPORTED when one is not implemented), then the proxy, server and
client on a ``World`` in virtual time, seeded.  The verdict is check_test_failure
of ssl-opt.sh applied to the outputs: handshake-stage check, server exit
status, client exit status against the expected one, then every
``-s/-c/-S/-C/-u/-U`` pattern with grep's basic regular expressions.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bindings import lib
from ..bindings.config import debug_log
from ..server.hello_guard import ReconnectGuard
from ..bindings.timeutil import set_time
from .options import Unsupported, make_config, parse_options
from .parse import SRV_PORT, Case, client_stages, proxy_argv, server_argv
from .programs import client2, server2
from .proxy import ProxyOptions, parse_proxy_args
from ..foreign import PeerUnavailable
from .foreign import IN_PROCESS, foreign_flow, unavailable
from .reqs import requirements
from .tree import use_for
from .world import Program, World

__all__ = ["Result", "run_case", "bre_to_python", "check_assertions"]

DOG_DELAY_S = 20
BASE_TIME = 1_700_000_000  # the virtual wall clock (mbedtls_time) at virtual 0 ms


@dataclass
class Result:
    """The verdict of one case with one seed, with its evidence."""

    case: Case
    seed: int
    verdict: str                 # PASS FAIL SKIP UNSUPPORTED NOTRUN
    reason: str = ""
    virtual_ms: int = 0
    real_s: float = 0.0
    srv_out: str = ""
    cli_out: str = ""
    pxy_out: str = ""
    cli_exit: int | None = None
    trace: list[tuple[int, str, str, str, bytes]] = field(default_factory=list)
    real: bool = False           # ran over real UDP with a real peer (not replayable)
    timing: str | None = None    # the timing model's name (None: zero-cost, no jitter)
    timeline: list[tuple[int, str]] = field(default_factory=list)  # (us, event) with timing

    def digest(self) -> str:
        """SHA-256 of every datagram sent, in order (same seed, same bytes)."""
        h = hashlib.sha256()
        for t, src, dst, _, data in self.trace:
            h.update(f"{t} {src} {dst} {len(data)}\n".encode())
            h.update(data)
        return h.hexdigest()


def bre_to_python(pattern: str) -> re.Pattern[str]:
    """A grep basic regular expression as a Python regex (GNU extensions
    ``\\+ \\? \\|`` and ``\\( \\) \\{ \\}`` groups/intervals; ``+ ? | ( ) { }``
    literal)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            out.append(d if d in "(){}|+?" else re.escape(d) if not d.isalnum() else "\\" + d)
            i += 2
            continue
        if c in "(){}|+?":
            out.append("\\" + c)
        elif c == "*" and (i == 0 or pattern[i - 1:i] == "^" and i == 1):
            out.append("\\*")
        else:
            out.append(c)
        i += 1
    return re.compile("".join(out))


def _grep(text: str, pattern: str) -> bool:
    rx = bre_to_python(pattern)
    return any(rx.search(line) for line in text.split("\n")
               if not line.startswith("==") and "Serious error when reading debug info" not in line)


def _unique_after(text: str, pattern: str) -> bool:
    """ssl-opt.sh's -u/-U: ``grep -A1 P | grep -v P | sort | uniq -d | wc -l``
    must not exceed 1 (a ``--`` group separator may repeat once)."""
    rx = bre_to_python(pattern)
    lines = [ln for ln in text.split("\n") if not ln.startswith("==")]
    shown: list[int] = []
    for i, ln in enumerate(lines):
        if rx.search(ln):
            for j in (i, i + 1):
                if j < len(lines) and (not shown or j > shown[-1]):
                    shown.append(j)
    picked: list[str] = []
    for k, j in enumerate(shown):
        if k and j > shown[k - 1] + 1:
            picked.append("--")
        picked.append(lines[j])
    rest = [ln for ln in picked if not rx.search(ln)]
    dups = {ln for ln in rest if rest.count(ln) > 1}
    return len(dups) <= 1


def check_assertions(case: Case, srv_out: str, cli_out: str, cli_exit: int, srv_exit: int,
                     skip_hs_check: bool = False) -> str | None:
    """ssl-opt.sh's check_test_failure: ``None`` (pass) or the failure message."""
    if not skip_hs_check:
        for cmd, out in ((case.srv_cmd, srv_out), (case.cli_cmd, cli_out)):
            if ("ssl_client2" in cmd or "ssl_server2" in cmd) and \
                    "Performing the SSL/TLS handshake" not in out:
                return "server or client failed to reach handshake stage"
    if srv_exit != 0:
        return f"Server exited with status {srv_exit}"
    if (case.cli_expect == 0) != (cli_exit == 0):
        return f"bad client exit code (expected {case.cli_expect}, got {cli_exit})"
    for flag, pat in case.assertions:
        out, who = (srv_out, "Server") if flag in ("-s", "-S", "-U") else (cli_out, "Client")
        if flag in ("-s", "-c") and not _grep(out, pat):
            return f"pattern '{pat}' MUST be present in the {who} output"
        if flag in ("-S", "-C") and _grep(out, pat):
            return f"pattern '{pat}' MUST NOT be present in the {who} output"
        if flag in ("-u", "-U") and not _unique_after(out, pat):
            return f"lines following pattern '{pat}' must be unique in {who} output"
        if flag in ("-f", "-F", "-g"):
            m = re.fullmatch(r"find_in_both '(.*)'", pat) or re.fullmatch(r"find_in_both (\S+)", pat)
            if not m:
                raise Unsupported(f"assertion {flag} {pat}")
            first = next((ln for ln in srv_out.split("\n") if bre_to_python(m.group(1)).search(ln)),
                         None)
            if first is None or not _grep(cli_out, first):
                return f"function call to '{pat}' failed on Server and Client output"
    return None


class _Bridge(logging.Handler):
    """Mbed TLS debug lines (through ``mbedtls_py.mbedtls``) into each
    program's output, formatted as ssl_server2/ssl_client2's my_debug prints
    them, filtered by that program's own debug_level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.targets: dict[str, tuple[Program, int]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        name, level, where, line, text = record.args  # type: ignore[misc]
        target = self.targets.get(str(name))
        if target is not None and int(str(level)) <= target[1]:
            target[0].out.append(f"{where}:{line:04d}: |{level}| {text}\n")


def _set_virtual_time(ms: int) -> None:
    """What mbedtls_time() and mbedtls_ms_time() read follows virtual time."""
    set_time(BASE_TIME + ms // 1000)
    lib.mpy_set_ms_time(BASE_TIME * 1000 + ms)


def _seed_bytes(seed: int, who: str) -> bytes:
    return hashlib.sha256(f"sslopt/{seed}/{who}".encode()).digest()


_EXTERNAL = ("openssl", "gnutls")


def _skip_result(case: Case, seed: int, real_peers: bool = False) -> Result | None:
    if case.error:
        return Result(case, seed, "UNSUPPORTED", f"unreadable run_test: {case.error}")
    req = requirements(case)
    if req.skip:
        return Result(case, seed, "SKIP", req.skip)
    if req.unsupported:
        return Result(case, seed, "UNSUPPORTED", req.unsupported)
    srv, cli = case.peers()
    if (srv, cli) == ("mbedtls", "mbedtls"):
        return None
    if not real_peers and "mbedtls" in (srv, cli) and (srv in IN_PROCESS or cli in IN_PROCESS):
        why = unavailable(srv if srv != "mbedtls" else cli)
        return None if why is None else Result(case, seed, "NOTRUN", f"in-process peer: {why}")
    if real_peers and "mbedtls" in (srv, cli) and (srv in _EXTERNAL or cli in _EXTERNAL):
        return None
    if real_peers:
        return Result(case, seed, "NOTRUN", f"peers {srv}/{cli}: no in-process or real driver")
    return Result(case, seed, "NOTRUN", f"peers {srv}/{cli}: needs --real-peers (real UDP)")


SERVER_POLICIES = ("none", "reconnect-guard")


def run_case(case: Case, seed: int = 1, *, real_peers: bool = False,
             timing: str | None = None, server_policy: str = "none",
             setup: Callable[[World], None] | None = None) -> Result:
    """Run ``case`` once with ``seed``; the verdict comes from its assertions.
    With ``real_peers``, a case with an OpenSSL/GnuTLS peer runs over real UDP
    (``realpeers``).  ``timing`` names a timing model (``mbedtls_py.timing``),
    seeded with ``seed`` too; ``None`` (default): every call costs nothing.
    ``server_policy`` ``reconnect-guard`` filters the in-process ssl_server2's
    datagrams through :class:`~mbedtls_py.server.hello_guard.ReconnectGuard`;
    ``setup(world)`` runs before the programs start (the schedule search's
    moves hook in there)."""
    if server_policy not in SERVER_POLICIES:
        raise ValueError(f"server_policy must be one of {', '.join(SERVER_POLICIES)}, "
                         f"not {server_policy!r}")
    use_for(case)  # its data files are relative to its own tree (--ssl-opt PATH)
    early = _skip_result(case, seed, real_peers)
    if early is not None:
        return early
    req = requirements(case)
    t0 = time.perf_counter()
    srv_kind, cli_kind = case.peers()
    srv_flow = cli_flow = None
    try:
        srv_o = parse_options(server_argv(case)[1:], "server") if srv_kind == "mbedtls" else None
        cli_o = None
        if cli_kind == "mbedtls":
            stages = client_stages(case)
            if len(stages) != 1:
                raise Unsupported("client pipeline")
            cli_o = parse_options(stages[0][1:], "client")
        pxy = parse_proxy_args(proxy_argv(case)[1:]) if case.pxy_cmd else None
        if not real_peers:  # an OpenSSL side in process
            seed_for = lambda label: _seed_bytes(seed, label)  # noqa: E731
            srv_flow = foreign_flow(case, "server", seed_for) if srv_o is None else None
            cli_flow = foreign_flow(case, "client", seed_for) if cli_o is None else None
    except (Unsupported, ValueError) as e:
        return Result(case, seed, "UNSUPPORTED", str(e))
    except PeerUnavailable as e:  # found missing only now: as _skip_result says it
        return Result(case, seed, "NOTRUN", f"in-process peer: {e}")
    if pxy is not None and pxy.seed == 0:
        pxy.seed = int.from_bytes(_seed_bytes(seed, "proxy")[:4], "big") or 1
    if real_peers and (srv_o is None or cli_o is None):
        return _run_real(case, seed, srv_o, cli_o, pxy, req, t0)
    if "openssl" in (srv_kind, cli_kind):  # its RAND_METHOD is process-wide
        from ..foreign.openssl.conn import seed as openssl_seed
        openssl_seed(_seed_bytes(seed, "openssl"))
    from ..timing import get_model
    world = World(pxy, int(srv_o["server_port"]) if srv_o else int(SRV_PORT), 24433,
                  get_model(timing).bind(seed) if timing else None)
    if setup is not None:
        setup(world)
    guard = None
    if server_policy == "reconnect-guard" and srv_o is not None:
        guard = ReconnectGuard(len(bytes.fromhex(srv_o["cid_val"])) if srv_o["cid"] == 1 else 0)
    bridge = _Bridge()
    tag = f"{id(world):x}"
    srv_p, cli_p = Program("server"), Program("client")
    srv_p.printf(f"# {case.name}\n{case.srv_cmd}\n")
    cli_p.printf(f"# {case.name}\n{case.cli_cmd}\n")
    old = (debug_log.level, debug_log.propagate)
    debug_log.addHandler(bridge)
    debug_log.setLevel(logging.DEBUG)
    debug_log.propagate = False
    try:
        # The configs are made on the unowned clock, as in a fresh process: ticket
        # keys record their creation time, and a time an earlier run (a Network)
        # left set on this thread must not leak into this run's bytes.  (Virtual
        # time 0 here would do too, but would change every ticket case's digest.)
        lib.mpy_set_ms_time(-1)
        set_time(None)
        try:
            srv_conf = make_config("server", srv_o, _seed_bytes(seed, "server"), f"srv-{tag}") \
                if srv_o else None
            cli_conf = make_config("client", cli_o, _seed_bytes(seed, "client"), f"cli-{tag}") \
                if cli_o else None
        except (Unsupported, ValueError) as e:
            return Result(case, seed, "UNSUPPORTED", str(e))
        levels = (srv_o["debug_level"] if srv_o else 0, cli_o["debug_level"] if cli_o else 0)
        for conf, lvl, prog in ((srv_conf, levels[0], srv_p), (cli_conf, levels[1], cli_p)):
            if conf is not None and lvl:
                conf.set_debug(min(lvl, 5))
                bridge.targets[conf.name] = (prog, lvl)
        lib.mbedtls_debug_set_threshold(min(max(levels), 5))
        _set_virtual_time(0)
        srv_gen = server2(world, srv_p, srv_o, srv_conf, guard) if srv_o and srv_conf else \
            srv_flow(world, srv_p) if srv_flow else None
        cli_gen = client2(world, cli_p, cli_o, cli_conf) if cli_o and cli_conf else \
            cli_flow(world, cli_p) if cli_flow else None
        assert srv_gen is not None and cli_gen is not None
        world.start(srv_p, srv_gen)
        world.call_at(0, lambda: world.start(cli_p, cli_gen))
        limit = DOG_DELAY_S * 1000 * req.cli_delay_factor
        world.on_time = _set_virtual_time
        done = world.run(lambda: cli_p.exit is not None, limit)
        if not done:
            cli_p.printf("===CLIENT_TIMEOUT===\n")
            cli_p.exit = 143
        end = world.clock.now_ms + 50 + 1000 * req.srv_delay_seconds
        world.run(lambda: False, end)
    except Unsupported as e:
        return Result(case, seed, "UNSUPPORTED", str(e))
    except PeerUnavailable as e:  # found missing only now: as _skip_result says it
        return Result(case, seed, "NOTRUN", f"in-process peer: {e}")
    except ValueError as e:  # a program's setting the bindings refuse (an MTU below the floor)
        # the message names the config by its routing tag (an id): by role
        # instead, so the same run gives the same reason in every process
        why = str(e).replace(f"srv-{tag}", "server").replace(f"cli-{tag}", "client")
        return Result(case, seed, "UNSUPPORTED", why)
    finally:
        # the server is killed (or the run refused): its resources go now, not
        # at interpreter exit, when an in-process peer's worker pool is gone
        for p in world.programs:
            if p.gen is not None:
                p.gen.close()
        debug_log.removeHandler(bridge)
        debug_log.setLevel(old[0])
        debug_log.propagate = old[1]
        lib.mbedtls_debug_set_threshold(0)
        lib.mpy_set_ms_time(-1)
        set_time(None)
    cli_exit = cli_p.exit if cli_p.exit is not None else 143
    cli_p.printf(f"EXIT: {cli_exit}\n")
    srv_exit = srv_p.exit if srv_p.exit is not None else 0
    srv_out, cli_out = srv_p.text(), cli_p.text()
    try:
        failure = check_assertions(case, srv_out, cli_out, cli_exit, srv_exit,
                                   req.skip_handshake_check)
    except Unsupported as e:
        return Result(case, seed, "UNSUPPORTED", str(e))
    pxy_out = "\n".join(world.proxy.log) + "\n" if world.proxy else ""
    return Result(case, seed, "FAIL" if failure else "PASS", failure or "",
                  world.clock.now_ms, time.perf_counter() - t0, srv_out, cli_out, pxy_out,
                  cli_exit, world.trace, timing=timing, timeline=world.timeline)


def _run_real(case: Case, seed: int, srv_o: dict[str, Any] | None, cli_o: dict[str, Any] | None,
              pxy: ProxyOptions | None, req: Any, t0: float) -> Result:
    from .realpeers import run_real
    from .tree import tests_dir
    bridge = _Bridge()
    old = (debug_log.level, debug_log.propagate)
    debug_log.addHandler(bridge)
    debug_log.setLevel(logging.DEBUG)
    debug_log.propagate = False
    tag = f"real{seed}"

    def make(endpoint: str, o: dict[str, Any], prog: Program) -> Any:
        conf = make_config(endpoint, o, _seed_bytes(seed, endpoint), f"{endpoint}-{tag}")
        if o["debug_level"]:
            conf.set_debug(min(o["debug_level"], 5))
            bridge.targets[conf.name] = (prog, o["debug_level"])
        return conf

    try:
        srv_out, cli_out, cli_exit, srv_exit, world = run_real(
            case, seed, srv_o, cli_o, make, pxy, tests_dir(),
            DOG_DELAY_S * 1000 * req.cli_delay_factor)
    except (Unsupported, ValueError, OSError) as e:
        return Result(case, seed, "UNSUPPORTED", f"real peers: {e}")
    finally:
        debug_log.removeHandler(bridge)
        debug_log.setLevel(old[0])
        debug_log.propagate = old[1]
        lib.mbedtls_debug_set_threshold(0)
    cli_out += f"EXIT: {cli_exit}\n"
    failure = check_assertions(case, srv_out, cli_out, cli_exit, srv_exit,
                               req.skip_handshake_check)
    pxy_out = "\n".join(world.proxy.log) + "\n" if world.proxy else ""
    return Result(case, seed, "FAIL" if failure else "PASS", failure or "", 0,
                  time.perf_counter() - t0, srv_out, cli_out, pxy_out, cli_exit, world.trace,
                  real=True)


def describe(r: Result) -> dict[str, Any]:
    """A JSON-able summary of a result."""
    return {"name": r.case.name, "number": r.case.number, "line": r.case.line, "seed": r.seed,
            "verdict": r.verdict, "reason": r.reason, "virtual_ms": r.virtual_ms,
            "real_s": round(r.real_s, 4), "cli_exit": r.cli_exit,
            "digest": r.digest() if r.trace else None,
            **({"real": True} if r.real else {}),
            **({"timing": r.timing} if r.timing else {})}
