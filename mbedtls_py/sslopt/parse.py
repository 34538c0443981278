"""Read ssl-opt.sh's test cases from the pinned Mbed TLS source tree.

Each ``run_test`` becomes a ``Case``: its name, the proxy/server/client
commands as ssl-opt.sh would run them (``$P_SRV``/``$P_CLI``/``$P_PXY``/
``$O_SRV``... expanded with the values ssl-opt.sh sets, ``+SRV_PORT``
replaced, the default proxy added for DTLS), the expected client exit
status, the ``-s/-c/-S/-C/-u/-U/-f/-F/-g`` assertions, and the
``requires_*``/``skip_next_test``/``client_needs_more_time``... calls that
precede it.  Nothing is copied into this repository: the files are read from
the pinned source's ``tests/`` (``vendor/mbedtls`` in a checkout, the user's
cache when installed, fetched on first use) or ``--ssl-opt PATH`` every run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import tree
from .shell import ShellError, eval_words, logical_statements, split_fields, words

__all__ = ["Case", "default_ssl_opt", "load_cases", "base_env", "detect_dtls", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
SRV_PORT = "14433"
PXY_PORT = "24433"
DATA_FILES_PATH = "../framework/data_files"
# Statements that set up the next run_test (ssl-opt.sh's helper functions).
SETUP_PREFIXES = ("requires_", "skip_next_test", "client_needs_more_time",
                  "server_needs_more_time", "not_with_", "only_with_", "skip_handshake_stage_check",
                  "set_maybe_calc_verify")


@dataclass
class Case:
    """One ``run_test`` of ssl-opt.sh, expanded."""

    name: str
    file: str
    line: int
    srv_cmd: str
    cli_cmd: str
    pxy_cmd: str
    cli_expect: int
    assertions: list[tuple[str, str]]
    setup: list[list[str]] = field(default_factory=list)
    forced_port: str | None = None
    dtls: bool = False
    error: str | None = None  # why this case could not be read

    @property
    def number(self) -> int:
        """1-based position in the corpus (set by ``load_cases``)."""
        return getattr(self, "_number", 0)

    def _place(self, number: int, tests: Path | None = None) -> None:
        # Not dataclass fields: equality, repr and replace() ignore where a case was read.
        self._number = number
        if tests is not None:
            self._tests = tests  # read by tree.use_for

    def peers(self) -> tuple[str, str]:
        """The server and client program kinds: ``mbedtls`` (ssl_server2/
        ssl_client2), ``openssl``, ``gnutls``, ``sample`` (programs/ssl/dtls_*)
        or ``other``."""
        return _kind(self.srv_cmd), _kind(self.cli_cmd)


def _kind(cmd: str) -> str:
    if "ssl_server2" in cmd or "ssl_client2" in cmd:
        return "mbedtls"
    if "openssl" in cmd:
        return "openssl"
    if "gnutls" in cmd:
        return "gnutls"
    if "programs/ssl/dtls_" in cmd:
        return "sample"
    return "other"


def default_ssl_opt() -> Path:
    """``tests/ssl-opt.sh`` of the pinned, unpacked source (``vendor/mbedtls`` in
    a checkout, the per-user cache when installed; see ``tree``)."""
    return tree.default_ssl_opt()


def detect_dtls(srv_cmd: str) -> bool:
    """ssl-opt.sh's ``detect_dtls``: the shell pattern
    ``*dtls=1*|*-dtls*|*-u*|*/dtls_*`` on the server command."""
    return any(p in srv_cmd for p in ("dtls=1", "-dtls", "-u", "/dtls_"))


@lru_cache(maxsize=1)
def _openssl_version() -> str:
    exe = shutil.which("openssl")
    if not exe:
        return ""
    try:
        return subprocess.run([exe, "version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def base_env(max_content_len: int = 16384) -> dict[str, str]:
    """The variables ssl-opt.sh has set when its test cases run (default
    options, no valgrind, no SEED)."""
    e: dict[str, str] = {
        "DATA_FILES_PATH": DATA_FILES_PATH,
        "OPENSSL": "openssl", "GNUTLS_CLI": "gnutls-cli", "GNUTLS_SERV": "gnutls-serv",
        "SRV_PORT": SRV_PORT, "PXY_PORT": PXY_PORT, "SESSION": "session.sslopt",
        "MAX_CONTENT_LEN": str(max_content_len), "MEMCHECK": "0", "TESTS": "0",
    }
    d = DATA_FILES_PATH
    e["P_SRV"] = f"../programs/ssl/ssl_server2 server_addr=127.0.0.1 server_port={SRV_PORT}"
    e["P_CLI"] = "../programs/ssl/ssl_client2 server_addr=127.0.0.1 server_port=+SRV_PORT"
    e["P_PXY"] = (f"../programs/test/udp_proxy server_addr=127.0.0.1 server_port={SRV_PORT} "
                  f"listen_addr=127.0.0.1 listen_port={PXY_PORT}")
    e["O_SRV"] = f"openssl s_server -www -cert {d}/server5.crt -key {d}/server5.key -accept {SRV_PORT}"
    e["O_CLI"] = "echo 'GET / HTTP/1.0' | openssl s_client -connect 127.0.0.1:+SRV_PORT"
    e["G_SRV"] = (f"gnutls-serv --x509certfile {d}/server5.crt --x509keyfile {d}/server5.key "
                  f"-p {SRV_PORT}")
    e["G_CLI"] = (f"echo 'GET / HTTP/1.0' | gnutls-cli --x509cafile {d}/test-ca_cat12.crt "
                  "-p +SRV_PORT")
    version = _openssl_version()
    if version and not version.startswith(("OpenSSL 0", "OpenSSL 1.0")):
        e["O_CLI"] += " -cipher ALL@SECLEVEL=0"
        e["O_SRV"] += " -cipher ALL@SECLEVEL=0"
    e["O_NEXT_SRV"] = e["O_NEXT_CLI"] = e["G_NEXT_SRV"] = e["G_NEXT_CLI"] = "false"
    if re.match(r"OpenSSL (1\.1\.[1-9]|[3-9])", version):
        e["OPENSSL_NEXT"] = "openssl"
        e["O_NEXT_SRV"] = (f"openssl s_server -www -cert {d}/server5.crt -key {d}/server5.key "
                           f"-accept {SRV_PORT}")
        e["O_NEXT_CLI"] = (f"echo 'GET / HTTP/1.0' | openssl s_client -CAfile {d}/test-ca_cat12.crt "
                           "-connect 127.0.0.1:+SRV_PORT")
    if _gnutls_next():  # ssl-opt.sh: GNUTLS_NEXT_* when GnuTLS is at least 3.7
        e["GNUTLS_NEXT_CLI"], e["GNUTLS_NEXT_SERV"] = "gnutls-cli", "gnutls-serv"
        e["G_NEXT_SRV"] = e["G_SRV"]
        e["G_NEXT_CLI"] = e["G_CLI"]
    e["P_SRV"] += " allow_sha1=1"
    e["P_CLI"] += " allow_sha1=1"
    return e


@lru_cache(maxsize=1)
def _gnutls_next() -> bool:
    """GnuTLS >= 3.7 as the in-process peer (its headers) or as gnutls-cli."""
    from ..foreign.gnutls.build import header_version
    version = header_version()
    exe = shutil.which("gnutls-cli")
    if not version and exe:
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
            version = out.stdout.split("\n", 1)[0].rpartition(" ")[2]
        except (OSError, subprocess.SubprocessError):
            version = ""
    m = re.match(r"(\d+)\.(\d+)", version)
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (3, 7)


_FROM_CONFIG = ("MAX_CONTENT_LEN", "MAX_IN_LEN", "MAX_OUT_LEN")


def _content_lens() -> tuple[int, int]:
    try:
        from ..bindings.buildconfig import build_config
        cfg = build_config()
        return (int(re.sub(r"\D", "", cfg["MBEDTLS_SSL_IN_CONTENT_LEN"])),
                int(re.sub(r"\D", "", cfg["MBEDTLS_SSL_OUT_CONTENT_LEN"])))
    except (ImportError, KeyError, ValueError):
        return 16384, 16384


def _case_from_words(args: list[str], file: str, line: int, setup: list[list[str]]) -> Case:
    name, rest = args[0], args[1:]
    pxy = ""
    forced = None
    if rest[:1] == ["-p"]:
        pxy, rest = rest[1], rest[2:]
    if rest[:1] == ["-P"]:
        forced, rest = rest[1], rest[2:]
    if len(rest) < 3:
        raise ShellError("run_test needs server, client and exit status")
    srv, cli, expect = rest[0], rest[1], rest[2]
    opts = rest[3:]
    if len(opts) % 2:
        raise ShellError(f"odd number of assertion arguments: {opts}")
    assertions = [(opts[i], opts[i + 1]) for i in range(0, len(opts), 2)]
    for flag, _ in assertions:
        if flag not in ("-s", "-c", "-S", "-C", "-u", "-U", "-f", "-F", "-g"):
            raise ShellError(f"unknown assertion {flag}")
    dtls = detect_dtls(srv)
    # analyze_test_commands: a DTLS case without its own proxy or port gets a
    # plain proxy; the client's +SRV_PORT becomes the proxy's or server's port.
    if dtls and forced is None and not pxy:
        pxy = base_env()["P_PXY"]
    cli = cli.replace("+SRV_PORT", PXY_PORT if pxy else (forced or SRV_PORT))
    try:
        code = int(expect)
    except ValueError:
        raise ShellError(f"client exit status {expect!r} is not a number") from None
    return Case(name, file, line, srv, cli, pxy, code, assertions, setup, forced, dtls)


_FUNC_DEF = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*)\s*\(\)\s*\{?\s*$")


def _test_functions(text: str) -> set[str]:
    """Shell functions whose body calls run_test (directly or through another)."""
    bodies: dict[str, str] = {}
    name: str | None = None
    buf: list[str] = []
    for ln in text.split("\n"):
        m = _FUNC_DEF.match(ln)
        if m and name is None:
            name, buf = m.group(1), []
        elif name is not None and ln.startswith("}"):
            bodies[name] = "\n".join(buf)
            name = None
        elif name is not None:
            buf.append(ln)
    found = {n for n, b in bodies.items() if re.search(r"\brun_test\b", b)}
    while True:
        more = {n for n, b in bodies.items() if n not in found
                and any(re.search(rf"\b{f}\b", b) for f in found)}
        if not more:
            return found
        found |= more


def _parse_file(path: Path, env: dict[str, str]) -> list[Case]:
    cases: list[Case] = []
    setup: list[list[str]] = []
    rel = path.name if path.parent.name != "opt-testcases" else f"opt-testcases/{path.name}"
    text = path.read_text(errors="replace")
    # A call of such a function runs its own run_test, which consumes the
    # set-up calls before it (SKIP_NEXT is reset); its cases are TLS-only.
    test_functions = _test_functions(text)
    for line, stmt in logical_statements(text):
        head = stmt.strip().split(None, 1)[0]
        if head in test_functions:
            setup = []
            continue
        if head.startswith(SETUP_PREFIXES):
            try:
                setup.append(words(stmt, env))
            except (ShellError, ValueError) as e:
                setup.append(["__unreadable__", str(e)])
            continue
        m = re.fullmatch(r"\s*:\s+\$\{([A-Za-z_][A-Za-z_0-9]*):=([^}]*)\}\s*", stmt)
        if m:
            env.setdefault(m.group(1), m.group(2))
            continue
        if head != "run_test":
            # only unconditional (unindented) assignments; values computed by
            # command substitution (MAX_IN_LEN...) are in base_env already
            m = re.fullmatch(r"([A-Za-z_][A-Za-z_0-9]*)=(\S*)\s*", stmt)
            if m and "$(" not in m.group(2) and m.group(1) not in _FROM_CONFIG:
                try:
                    env[m.group(1)] = words(m.group(2), env)[0] if m.group(2) else ""
                except (ShellError, ValueError, IndexError):
                    pass
            continue
        try:
            args = words(stmt, env)[1:]
            case = _case_from_words(args, rel, line, setup)
        except (ShellError, ValueError, IndexError) as e:
            name = re.search(r'run_test\s+"([^"]*)"', stmt)
            case = Case(name.group(1) if name else f"{rel}:{line}", rel, line, "", "", "", 0, [],
                        setup, error=str(e))
        cases.append(case)
        setup = []
    return cases


def load_cases(ssl_opt: Path | str | None = None) -> list[Case]:
    """Every ``run_test`` of ``ssl-opt.sh`` and ``opt-testcases/*.sh`` next to
    it, in the order ssl-opt.sh runs them (opt-testcases are sourced where
    ssl-opt.sh sources them: at the end)."""
    path = Path(ssl_opt) if ssl_opt is not None else tree.ensure_ssl_opt()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ssl-opt.sh (give --ssl-opt PATH to an "
                                "unpacked Mbed TLS tree's tests/ssl-opt.sh)")
    tree.use(path.parent)  # its data files and programs are relative to its tests/
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key in _LOADED:
        return list(_LOADED[key])
    in_len, out_len = _content_lens()
    env = base_env(min(16384, in_len, out_len))
    env["MAX_IN_LEN"], env["MAX_OUT_LEN"] = str(in_len), str(out_len)
    cases = _parse_file(path, env)
    extra = sorted((path.parent / "opt-testcases").glob("*.sh"))
    for f in extra:
        cases += _parse_file(f, dict(env))
    for i, c in enumerate(cases, 1):
        c._place(i, path.parent.resolve())
    _LOADED[key] = cases
    return list(cases)


_LOADED: dict[tuple[str, int], list[Case]] = {}


def unskipped(case: Case) -> Case:
    """``case`` without its ``skip_next_test`` (upstream's disabled cases, run anyway)."""
    from dataclasses import replace
    setup = [w for w in case.setup if w[:1] != ["skip_next_test"]]
    if len(setup) == len(case.setup):
        return case
    out = replace(case, setup=setup)
    out._place(case.number)
    return out


def client_stages(case: Case) -> list[list[str]]:
    """The client command as ``eval "$CLI_CMD &"`` runs it (pipeline stages)."""
    return eval_words(case.cli_cmd, {})


def server_argv(case: Case) -> list[str]:
    """The server command as ``$SRV_CMD`` runs it (field splitting only)."""
    return split_fields(case.srv_cmd)


def proxy_argv(case: Case) -> list[str]:
    """The proxy command as ``$PXY_CMD`` runs it (field splitting only)."""
    return split_fields(case.pxy_cmd)
