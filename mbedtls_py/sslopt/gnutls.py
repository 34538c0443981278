"""gnutls-cli and gnutls-serv (GnuTLS 3.7, ``-u``) as generators on the
simulated network, over the in-process GnuTLS peer (``foreign.gnutls``).

Each follows its C program's DTLS flow (src/cli.c + socket.c, src/udp-serv.c of
GnuTLS 3.7.9): the same GnuTLS calls in the same order, the lines the programs
print, the exit status.  Where the C program blocks (select on its socket or
stdin, GnuTLS's own waits inside a blocking handshake), the generator yields
until a datagram arrives or ``gnutls_dtls_get_timeout`` runs out, in virtual
time.  ``echo 'GET / HTTP/1.0' |``: stdin holds that line, then end of file,
and is always readable (the socket is checked first, as select's order does)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from ..foreign.gnutls.session import E, Credentials, GnuTLSSession
from .options import Unsupported
from .world import Addr, Program, World

__all__ = ["GnuTLSOptions", "parse_gnutls", "gnutls_cli", "gnutls_serv"]

_MAX_SPIN = 10000
_BLOCKING_SLEEP_MS = 50
_CLI_MAX_BUF = 8192        # cli.c MAX_BUF
_SRV_MAX_BUFFER = 255      # udp-serv.c MAX_BUFFER


@dataclass
class GnuTLSOptions:
    """The options of a gnutls-cli/gnutls-serv command line that DTLS cases use."""

    server: bool
    port: int = 0
    udp: bool = False
    mtu: int = 0
    insecure: bool = False
    disable_client_cert: bool = False
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    host: str = ""
    stdin: bytes = b""


_FLAGS = {"-u": "udp", "--udp": "udp", "--insecure": "insecure",
          "-a": "disable_client_cert", "--disable-client-cert": "disable_client_cert"}
_FILES = {"--x509cafile": "cafile", "--x509certfile": "certfile", "--x509keyfile": "keyfile"}


def parse_gnutls(argv: list[str], tests_dir: Path, stdin: bytes = b"") -> GnuTLSOptions:
    """Options of ``gnutls-cli``/``gnutls-serv`` (argv[0] names which);
    anything else raises ``Unsupported``."""
    server = Path(argv[0]).name == "gnutls-serv"
    o = GnuTLSOptions(server=server, stdin=stdin)
    i = 1
    while i < len(argv):
        a = argv[i]
        key, eq, val = a.partition("=")
        if a in _FLAGS:
            setattr(o, _FLAGS[a], True)
        elif key in _FILES or key in ("-p", "--port", "--mtu"):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise Unsupported(f"gnutls option {a} without a value")
                val = argv[i]
            if key in _FILES:
                setattr(o, _FILES[key], tests_dir / val)
            elif key == "--mtu":
                o.mtu = int(val)
            else:
                o.port = int(val)
        elif not a.startswith("-") and not server and not o.host:
            o.host = a
        else:
            raise Unsupported(f"gnutls option {a}")
        i += 1
    if not o.udp:
        raise Unsupported("gnutls without -u (TLS)")
    return o


def _session(world: World, prog: Program, o: GnuTLSOptions, seed: bytes) -> GnuTLSSession:
    from .runner import BASE_TIME
    return GnuTLSSession(o.server, world.clock, seed, base_unix=BASE_TIME,
                         name=f"{prog.name}-{id(world):x}")


def _err(s: GnuTLSSession, rc: int) -> str:
    g = s.g
    return str(g.ffi.string(g.lib.gnutls_strerror(rc)).decode())


class _Stdout:
    """gnutls-serv's stdout: a pipe, so fully buffered (glibc: 4096-byte
    blocks); ssl-opt kills the server, and what is still buffered is lost (its
    stderr lines, unbuffered, are what the log shows)."""

    BLOCK = 4096

    def __init__(self, prog: Program) -> None:
        self.prog, self.buf = prog, ""

    def __call__(self, text: str) -> None:
        self.buf += text
        if len(self.buf) >= self.BLOCK:
            cut = len(self.buf) - len(self.buf) % self.BLOCK
            self.prog.printf(self.buf[:cut])
            self.buf = self.buf[cut:]


class _Sock:
    """The program's UDP socket: datagrams from the connected peer go into the
    session's queue; the server's listening socket also keeps a backlog."""

    def __init__(self, world: World, prog: Program, s: GnuTLSSession, addr: Addr) -> None:
        self.world, self.prog, self.s, self.addr = world, prog, s, addr
        self.peer: Addr | None = None
        self.backlog: list[tuple[Addr, bytes]] = []
        self.stdout: Callable[[str], None] = prog.printf
        world.bind(addr, self._recv)

    def _recv(self, src: Addr, data: bytes) -> None:
        if self.peer is not None and src == self.peer:
            self.s.push(data)
        elif self.peer is None:
            self.backlog.append((src, data))
        else:
            self.stdout(f"Denied connection from {src[0]}:{src[1]}\n")
            return
        self.world.wake(self.prog)

    def flush(self, to: Addr | None = None) -> None:
        dst = to or self.peer
        for d in self.s.drain():
            if dst is not None:
                self.world.send(self.addr, dst, d)

    def call(self, fn: Callable[..., int], *args: Any, handshake: bool = False
             ) -> Generator[int | None, None, int]:
        """A blocking GnuTLS call: repeat on AGAIN/INTERRUPTED, waiting for a
        datagram (and, in a handshake, for the retransmission timer)."""
        again = (E.AGAIN, E.INTERRUPTED)
        spins = 0
        while True:
            rc = int(fn(*args))
            self.flush()
            if rc not in again:
                return rc
            if self.s.pending_in:
                spins += 1
                if spins > _MAX_SPIN:
                    raise RuntimeError("gnutls: no progress with datagrams pending")
                continue
            spins = 0
            if not handshake:
                yield None
                continue
            # gnutls_dtls_get_timeout() is 0 when no retransmission is due
            # from this state (e.g. after its last flight): a blocking
            # session sleeps 50 ms there (lib/dtls.h's millisleep(50)) and
            # the program calls again, as we do in virtual time.
            timeout = self.s.timeout_ms()
            yield self.world.clock.now_ms + (timeout if timeout > 0 else _BLOCKING_SLEEP_MS)


def gnutls_serv(world: World, prog: Program, o: GnuTLSOptions, seed: bytes
                ) -> Generator[int | None, None, int]:
    """gnutls-serv -u: udp_server() of src/udp-serv.c (never returns)."""
    s = _session(world, prog, o, seed)
    g = s.g
    lib, ffi = g.lib, g.ffi
    try:
        creds = _creds(s, o)
        ticket = ffi.new("gnutls_datum_t *")
        s.call(lib.gnutls_session_ticket_key_generate, ticket)
        s.at_close(lib.gnt_free, ticket.data)
        cookie_key = ffi.new("gnutls_datum_t *")
        rc = s.call(lib.gnutls_key_generate, cookie_key, lib.GNUTLS_COOKIE_KEY_SIZE)
        s.at_close(lib.gnt_free, cookie_key.data)
        if rc < 0:
            prog.printf("Cannot generate key\n")
            return 1
        sock = _Sock(world, prog, s, world.server_addr)
        s.bind_queues_only()
        prog.printf(f"UDP HTTP Server listening on IPv4 0.0.0.0 port {o.port}...done\n")
        out = sock.stdout = _Stdout(prog)
        while True:
            out("Waiting for connection...\n")
            while not sock.backlog:
                yield None
            src, data = sock.backlog[0]
            peek = data[:_SRV_MAX_BUFFER - 1]
            who = f"{src[0]}:{src[1]}".encode()
            if not (len(peek) > 13 and peek[0] == 22 and peek[13] == 1):
                # udp-serv.c peeks, finds no ClientHello and `continue`s
                # without reading it: the datagram stays at the head of the
                # socket and the server spins on it forever.
                prog.printf("# mbedtls-py: gnutls-serv now spins on this datagram without reading it\n")
                while True:
                    yield None
            prestate = ffi.new("gnutls_dtls_prestate_st *")
            ok = s.call(lib.gnutls_dtls_cookie_verify, cookie_key,
                        who, len(who), peek, len(peek), prestate)
            if ok < 0:
                out(f"Sending hello verify request to {src[0]}:{src[1]}\n")
                s.call(lib.gnutls_dtls_cookie_send, cookie_key, who,
                       len(who), prestate, s.out_conn, lib.gnt_push)
                sock.flush(src)
                sock.backlog.pop(0)
                continue
            out(f"Accepted connection from {src[0]}:{src[1]}\n")
            s.init(lib.GNUTLS_SERVER | lib.GNUTLS_POST_HANDSHAKE_AUTH
                   | lib.GNUTLS_ENABLE_RAWPK)
            _session_defaults(s, creds)
            s.fn("session_ticket_enable_server", ticket)
            s.fn("certificate_server_set_request",
                 lib.GNUTLS_CERT_IGNORE if o.disable_client_cert else lib.GNUTLS_CERT_REQUEST)
            s.fn("dtls_prestate_set", prestate)
            if o.mtu:
                s.fn("dtls_set_mtu", o.mtu)
            sock.peer = src
            for frm, d in sock.backlog:
                if frm == src:
                    s.push(d)
            sock.backlog = [(f, d) for f, d in sock.backlog if f != src]
            ret = yield from sock.call(s.handshake, handshake=True)
            if ret < 0:
                prog.printf(f"Error in handshake(): {_err(s, ret)}\n")
            else:
                yield from _serve(sock, s, prog, out)
            s.deinit()
            sock.peer = None
            s.discard_inbound()
    finally:
        s.close()


def _serve(sock: _Sock, s: GnuTLSSession, prog: Program, out: _Stdout
           ) -> Generator[int | None, None, None]:
    """udp_server's record loop: echo each record back until EOF or an error."""
    while True:
        got: list[tuple[int, bytes, bytes]] = []

        def recv(got: list[tuple[int, bytes, bytes]] = got) -> int:
            got[:] = [s.recv(_SRV_MAX_BUFFER - 1)]
            return got[0][0]
        while True:
            ret = yield from sock.call(recv)
            if ret != E.HEARTBEAT_PING_RECEIVED:
                break
        if ret == E.REHANDSHAKE:
            prog.printf("*** Received hello message\n")
            ret = yield from sock.call(s.handshake, handshake=True)
            if ret == 0:
                continue
        if ret < 0:
            prog.printf(f"Error in recv(): {_err(s, ret)}\n")
            return
        if ret == 0:
            out("EOF\n\n")
            return
        data, seq = got[0][1], got[0][2]
        text = data.split(b"\0", 1)[0].decode("latin-1")
        out(f"received[{seq.hex()}]: {text}\n")
        prog.printf(f"*** Processing {min(len(text), 128)} bytes command: {text}\n")
        if text[:2] != "**":
            ret = yield from sock.call(s.send, data)
            if ret < 0:
                prog.printf(f"Error in send(): {_err(s, ret)}\n")
                return


def _creds(s: GnuTLSSession, o: GnuTLSOptions) -> Credentials:
    return Credentials(s, o.certfile, o.keyfile, o.cafile)


def _session_defaults(s: GnuTLSSession, creds: Credentials) -> None:
    """What both programs set on a new session: default priorities, private
    extensions (server), the default handshake timeout, X.509 credentials."""
    lib = s.g.lib
    s.fn("set_default_priority")
    if s.server:
        s.fn("handshake_set_private_extensions", 1)
    s.fn("handshake_set_timeout", 0xFFFFFFFF)
    s.fn("credentials_set", lib.GNUTLS_CRD_CERTIFICATE, creds.ptr)


def gnutls_cli(world: World, prog: Program, o: GnuTLSOptions, seed: bytes
               ) -> Generator[int | None, None, int]:
    """gnutls-cli -u HOST: main() of src/cli.c; returns its exit status."""
    s = _session(world, prog, o, seed)
    lib = s.g.lib
    sock = _Sock(world, prog, s, ("cli", world.ephemeral_port()))
    try:
        creds = _creds(s, o)
        if o.cafile is not None:
            prog.printf(f"Processed {creds.loaded_ca} CA certificate(s).\n")
        if o.certfile is not None:
            prog.printf("Processed 1 client X.509 certificates...\n")
        port = o.port
        prog.printf(f"Resolving '{o.host}:{port}'...\nConnecting to '{o.host}:{port}'...\n")
        s.init(lib.GNUTLS_CLIENT | lib.GNUTLS_ENABLE_RAWPK)
        if o.mtu:
            s.fn("dtls_set_mtu", o.mtu)
        _session_defaults(s, creds)
        sock.peer = world.entry_addr
        while True:  # do_handshake
            ret = yield from sock.call(s.handshake, handshake=True)
            if ret < 0 and _handle_error(s, prog, ret) < 0 or ret == 0:
                break
        if ret < 0:
            s.fn("alert_send_appropriate", ret)
            sock.flush()
            return 1
        prog.printf(f"- Description: {s.description()}\n")
        prog.printf("- Handshake was completed\n\n- Simple Client Mode:\n\n")
        stdin = [o.stdin] if o.stdin else []
        user_term = False
        retval = 0
        while True:
            pending = s.fn("record_check_pending")
            if not pending and not s.pending_in and user_term:
                until = world.clock.now_ms + 2000  # select's 2 s, then IN_TERM
                while not s.pending_in and world.clock.now_ms < until:
                    yield until
                if not s.pending_in:
                    break
            if pending or s.pending_in:
                # socket.c's socket_recv: one blocking gnutls_record_recv (the
                # socket is readable), repeated only on INTERRUPTED/PING; a
                # datagram GnuTLS discards (a duplicate) returns AGAIN to the loop
                while True:
                    ret, data, _ = s.recv(_CLI_MAX_BUF)
                    sock.flush()
                    if ret not in (E.INTERRUPTED, E.HEARTBEAT_PING_RECEIVED):
                        break
                if ret == 0 or (ret == E.PREMATURE_TERMINATION and user_term):
                    prog.printf("- Peer has closed the GnuTLS connection\n")
                    break
                if _handle_error(s, prog, ret) < 0:
                    prog.printf("*** Server has terminated the connection abnormally.\n")
                    retval = 1
                    break
                if ret > 0:
                    prog.printf(data.decode("latin-1"))
                continue
            if stdin:  # IN_KEYBOARD with data
                ret = yield from sock.call(s.send, stdin.pop(0))
                if ret <= 0:
                    _handle_error(s, prog, ret)
                continue
            yield from sock.call(s.bye, lib.GNUTLS_SHUT_WR)
            user_term = True
        return retval
    finally:
        world.unbind(sock.addr)
        s.close()


def _handle_error(s: GnuTLSSession, prog: Program, err: int) -> int:
    """cli.c's handle_error: 0 when handled (non-fatal), else the error."""
    lib, ffi = s.g.lib, s.g.ffi
    if err >= 0 or err in (E.AGAIN, E.INTERRUPTED):
        return 0
    fatal = bool(lib.gnutls_error_is_fatal(err))
    prog.printf(f"*** {'Fatal' if fatal else 'Non fatal'} error: {_err(s, err)}\n")
    if err in (E.WARNING_ALERT_RECEIVED, E.FATAL_ALERT_RECEIVED):
        alert = s.fn("alert_get")
        name = lib.gnutls_alert_get_name(alert)
        prog.printf(f"*** Received alert [{alert}]: "
                    f"{ffi.string(name).decode() if name != ffi.NULL else '(unknown)'}\n")
    return err if fatal else 0
