"""Foreign peers of ssl-opt.sh cases run in process: which case sides can be,
and the program (generator factory) for each.

Today: OpenSSL's ``s_client``/``s_server`` on the in-process OpenSSL
(:mod:`.openssl_progs`).  A side that cannot be configured raises
:class:`~.options.Unsupported`; a missing library returns its reason from
:func:`unavailable` (the case is NOTRUN with that message, never a SKIP)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import lru_cache

from .options import Unsupported
from .parse import Case, client_stages, default_ssl_opt, server_argv
from .world import Program, World

__all__ = ["IN_PROCESS", "unavailable", "foreign_flow"]

IN_PROCESS = ("openssl",)
Flow = Callable[[World, Program], Generator["int | None", None, int]]


@lru_cache(maxsize=None)
def unavailable(kind: str) -> str | None:
    """Why peers of ``kind`` cannot run in process (``None``: they can)."""
    if kind != "openssl":
        return f"no in-process {kind} peer"
    from ..openssl_sim.build import MissingOpenSSL, load
    try:
        load()
    except MissingOpenSSL as e:
        return str(e)
    return None


def foreign_flow(case: Case, role: str) -> Flow:
    """The in-process program for the ``role`` (server/client) side of ``case``."""
    from .openssl_opts import client_command, parse_openssl
    from .openssl_progs import s_client, s_server
    tests = default_ssl_opt().parent
    if role == "server":
        o = parse_openssl(server_argv(case), tests)
        return lambda world, prog: s_server(world, prog, o)
    try:
        stages = client_stages(case)
    except Exception as e:  # noqa: BLE001 - the shell reader's own errors
        raise Unsupported(f"client command: {e}") from None
    oc = client_command(stages, tests)
    return lambda world, prog: s_client(world, prog, oc)
