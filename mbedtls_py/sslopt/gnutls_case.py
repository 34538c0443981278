"""Which side of an ssl-opt case is gnutls-cli/gnutls-serv, with its options,
for the runner (the programs themselves are in ``sslopt/gnutls.py``)."""

from __future__ import annotations

from collections.abc import Generator

from .gnutls import GnuTLSOptions, gnutls_cli, gnutls_serv, parse_gnutls
from .options import Unsupported
from .parse import Case, client_stages, default_ssl_opt, server_argv
from .world import Program, World

__all__ = ["GnuTLSSides", "gnutls_sides"]


class GnuTLSSides:
    """The GnuTLS program(s) of one case: options parsed by ``parse``."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.srv: GnuTLSOptions | None = None
        self.cli: GnuTLSOptions | None = None

    def parse(self) -> None:
        """Parse the GnuTLS command lines (``Unsupported`` for what is not modelled)."""
        from ..foreign.gnutls.build import load
        srv_kind, cli_kind = self.case.peers()
        tests = default_ssl_opt().parent
        if srv_kind == "gnutls":
            self.srv = parse_gnutls(server_argv(self.case), tests)
        if cli_kind == "gnutls":
            stages = client_stages(self.case)
            if len(stages) != 2 or stages[0][:1] != ["echo"]:
                raise Unsupported("gnutls-cli without `echo LINE |`")
            line = (" ".join(stages[0][1:]) + "\n").encode()
            self.cli = parse_gnutls(stages[1], tests, stdin=line)
        load()  # PeerUnavailable (with what to install) before the run starts

    def port(self) -> int:
        """The server's port (gnutls-serv's ``-p``)."""
        assert self.srv is not None
        return self.srv.port

    def server(self, world: World, prog: Program, seed: bytes
               ) -> Generator[int | None, None, int]:
        """gnutls-serv's generator."""
        assert self.srv is not None
        return gnutls_serv(world, prog, self.srv, seed)

    def client(self, world: World, prog: Program, seed: bytes
               ) -> Generator[int | None, None, int]:
        """gnutls-cli's generator."""
        assert self.cli is not None
        return gnutls_cli(world, prog, self.cli, seed)


def gnutls_sides(case: Case) -> GnuTLSSides:
    """The GnuTLS side(s) of ``case``."""
    return GnuTLSSides(case)
