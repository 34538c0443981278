"""Foreign peers of ssl-opt.sh cases run in process: which case sides can be,
and the program (generator factory) for each.

Today: OpenSSL's ``s_client``/``s_server`` on the in-process OpenSSL
(:mod:`.openssl_progs`).  Another peer kind adds its entry to ``_PEERS``
(a probe returning why it cannot run, and the flow builder) and its name to
``IN_PROCESS``.  A side that cannot be configured raises
:class:`~.options.Unsupported`; a missing library returns its reason from
:func:`unavailable` (the case is NOTRUN with that message, never a SKIP)."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from functools import cache

from .options import Unsupported
from .parse import Case, client_stages, default_ssl_opt, server_argv
from .shell import eval_words
from .world import Program, World

__all__ = ["IN_PROCESS", "unavailable", "foreign_flow"]

IN_PROCESS = ("openssl", "gnutls")
Flow = Callable[[World, Program], Generator["int | None", None, int]]
SeedFor = Callable[[str], bytes]  # a label -> the run's seed material for it


def _openssl_missing() -> str | None:
    from ..foreign.openssl.build import MissingOpenSSL, load
    try:
        load()
    except MissingOpenSSL as e:
        return str(e)
    return None


@cache
def unavailable(kind: str) -> str | None:
    """Why peers of ``kind`` cannot run in process (``None``: they can)."""
    if kind not in _PEERS:
        return f"no in-process {kind} peer"
    return _PEERS[kind][0]()


def foreign_flow(case: Case, role: str, seed_for: SeedFor) -> Flow:
    """The in-process program for the ``role`` (server/client) side of ``case``
    (``seed_for`` gives a peer whose randomness is per session its seed)."""
    srv, cli = case.peers()
    kind = srv if role == "server" else cli
    if kind not in _PEERS:
        raise Unsupported(f"no in-process {kind} peer")
    return _PEERS[kind][1](case, role, seed_for)


def _openssl_flow(case: Case, role: str, seed_for: SeedFor) -> Flow:
    # OpenSSL's RAND_METHOD is process-wide: the runner seeds it (foreign.openssl.conn.seed)
    from .openssl_opts import client_command, parse_openssl
    from .openssl_progs import s_client, s_server
    tests = default_ssl_opt().parent
    if role == "server":
        o = parse_openssl(server_argv(case), tests)
        return lambda world, prog: s_server(world, prog, o)
    seq = _subshell(case.cli_cmd)
    if seq is not None:  # ( echo .. | s_client -sess_out F; echo .. | s_client -sess_in F; rm -f F )
        clients = [client_command(eval_words(part, {}), tests) for part in seq]

        def in_turn(world: World, prog: Program) -> Generator[int | None, None, int]:
            for oc in clients:
                yield from s_client(world, prog, oc)
            return 0  # the subshell's status: its last command's, rm -f
        return in_turn
    try:
        stages = client_stages(case)
    except Exception as e:  # noqa: BLE001 - the shell reader's own errors
        raise Unsupported(f"client command: {e}") from None
    oc = client_command(stages, tests)
    return lambda world, prog: s_client(world, prog, oc)


def _subshell(cmd: str) -> list[str] | None:
    """The s_client commands of ``( A; B; rm -f FILE )``, or ``None``."""
    m = re.fullmatch(r"\s*\((.*)\)\s*", cmd, re.S)
    if m is None or "'" in m.group(1).replace("'GET / HTTP/1.0'", ""):
        return None
    parts = [p.strip() for p in m.group(1).split(";") if p.strip()]
    if not parts or not re.fullmatch(r"rm -f \S+", parts[-1]):
        raise Unsupported("client subshell other than s_client runs then rm -f")
    return parts[:-1]


def _gnutls_missing() -> str | None:
    from ..foreign import PeerUnavailable
    from ..foreign.gnutls.build import load
    try:
        load()
    except PeerUnavailable as e:
        return str(e)
    return None


def _gnutls_flow(case: Case, role: str, seed_for: SeedFor) -> Flow:
    # GnuTLS draws from a per-thread generator the glue seeds for each session
    from .gnutls_case import gnutls_sides
    sides = gnutls_sides(case)
    sides.parse()
    seed = seed_for(f"gnutls-{role}")
    if role == "server":
        return lambda world, prog: sides.server(world, prog, seed)
    return lambda world, prog: sides.client(world, prog, seed)


_PEERS: dict[str, tuple[Callable[[], str | None], Callable[[Case, str, SeedFor], Flow]]] = {
    "openssl": (_openssl_missing, _openssl_flow),
    "gnutls": (_gnutls_missing, _gnutls_flow),
}
