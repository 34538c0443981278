"""``openssl s_client``/``s_server`` command lines as ssl-opt.sh runs them,
read into options for the in-process peer (:mod:`.openssl_progs`).

Only the options the DTLS cases of ssl-opt.sh and the seed use are known;
any other raises :class:`~.options.Unsupported` (the case is UNSUPPORTED,
never run with an option silently ignored).  ssl-opt.sh drops ``-www`` from a
DTLS ``s_server`` and feeds it ``HTTP/1.0 200 OK`` on stdin every second
(``provide_input``): that is what the server model does with its stdin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .options import Unsupported

__all__ = ["OpenSSLOptions", "parse_openssl", "client_command"]

# option -> takes a value
_COMMON = {"-cert": True, "-key": True, "-CAfile": True, "-cipher": True, "-mtu": True,
           "-dtls": False, "-dtls1": False, "-dtls1_2": False, "-use_srtp": True,
           "-keymatexport": True, "-keymatexportlen": True, "-verify": True, "-no_ticket": False,
           "-nbio": False}
_CLIENT = {"-connect": True, "-sess_out": True, "-sess_in": True}
_SERVER = {"-accept": True, "-www": False}


@dataclass
class OpenSSLOptions:
    """What one s_client/s_server command line asks for."""

    role: str
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    cipher: str | None = None
    mtu: int | None = None
    version: str | None = None       # dtls1_2, dtls1, None: -dtls (either)
    srtp: str | None = None
    keymat_label: str | None = None
    keymat_len: int = 20
    verify: bool = False
    tickets: bool = True
    nbio: bool = False               # -nbio: a non-blocking socket
    connect: str = ""
    sess_out: str | None = None
    sess_in: str | None = None
    stdin: bytes = b""               # what ``echo ... |`` gives the client
    argv: list[str] = field(default_factory=list)


def parse_openssl(argv: list[str], tests_dir: Path) -> OpenSSLOptions:
    """``argv`` (``openssl s_client ...`` or ``openssl s_server ...``) as
    options; file names are resolved against ``tests_dir`` (ssl-opt.sh runs
    in ``tests/``)."""
    if len(argv) < 2 or Path(argv[0]).name != "openssl" or argv[1] not in ("s_client",
                                                                          "s_server"):
        raise Unsupported(f"not an openssl s_client/s_server command: {' '.join(argv[:2])}")
    role = "client" if argv[1] == "s_client" else "server"
    known = {**_COMMON, **(_CLIENT if role == "client" else _SERVER)}
    o = OpenSSLOptions(role, argv=list(argv))
    args = argv[2:]
    i = 0
    while i < len(args):
        opt = args[i]
        if opt not in known:
            raise Unsupported(f"openssl {argv[1]} option {opt}")
        val = ""
        if known[opt]:
            if i + 1 >= len(args):
                raise ValueError(f"openssl {argv[1]}: {opt} needs a value")
            val = args[i + 1]
            i += 1
        i += 1
        path = str(tests_dir / val) if val else ""
        if opt == "-cert":
            o.cert = path
        elif opt == "-key":
            o.key = path
        elif opt == "-CAfile":
            o.ca = path
        elif opt == "-cipher":
            o.cipher = val
        elif opt == "-mtu":
            o.mtu = int(val)
        elif opt in ("-dtls1", "-dtls1_2"):
            o.version = opt[1:]
        elif opt == "-use_srtp":
            o.srtp = val
        elif opt == "-keymatexport":
            o.keymat_label = val
        elif opt == "-keymatexportlen":
            o.keymat_len = int(val)
        elif opt == "-verify":
            o.verify = True
        elif opt == "-no_ticket":
            o.tickets = False
        elif opt == "-nbio":
            o.nbio = True
        elif opt == "-connect":
            o.connect = val
        elif opt == "-sess_out":
            o.sess_out = val
        elif opt == "-sess_in":
            o.sess_in = val
    if "-dtls" not in args and "-dtls1" not in args and "-dtls1_2" not in args:
        raise Unsupported(f"openssl {argv[1]} without -dtls (TLS over TCP)")
    if role == "server" and o.cert is None:
        o.cert = str(tests_dir / "server.pem")  # s_server's default; absent there: fails
    return o


def client_command(stages: list[list[str]], tests_dir: Path) -> OpenSSLOptions:
    """``echo TEXT | openssl s_client ...`` (the only client pipeline
    ssl-opt.sh's DTLS cases use) as client options with its stdin."""
    if len(stages) == 1:
        o = parse_openssl(stages[0], tests_dir)
        return o
    if len(stages) != 2 or stages[0][:1] != ["echo"] or len(stages[0]) > 2:
        raise Unsupported("client pipeline other than echo TEXT | openssl s_client")
    o = parse_openssl(stages[1], tests_dir)
    o.stdin = (stages[0][1] if len(stages[0]) == 2 else "").encode() + b"\n"
    return o
