"""``openssl s_client`` and ``s_server`` (3.0) as generators on the simulated
network, on the in-process OpenSSL (:mod:`mbedtls_py.foreign.openssl`).

Each follows its C program's main loop (``apps/s_client.c``: the
``select()`` loop over stdin and the socket with the DTLS timeout; ``apps/
s_server.c``: ``sv_body``), with what makes them behave as they do:

* their sockets are **blocking**: an ``SSL_*`` call that would read waits
  inside ``recvfrom``.  During a handshake OpenSSL bounds that wait with the
  DTLS timer (``SO_RCVTIMEO``) and retransmits itself; after it, no timer
  runs and the wait has no bound.  Here: a call returning WANT_READ waits for
  a datagram (or, with a timer running, its deadline) and is called again;
* s_client's checks after ``select`` are in its order: socket writable
  (``SSL_write``), stdout, socket readable (``SSL_read``), then stdin;
* ``echo TEXT |`` gives stdin TEXT and end-of-file at virtual time 0;
  stdin end-of-file ends s_client ("DONE", then ``SSL_shutdown``: an
  encrypted close_notify).  s_server's stdin is ssl-opt.sh's
  ``provide_input``: ``HTTP/1.0 200 OK`` every second;
* s_client prints its session report (``print_stuff``) when the handshake
  is over; printing costs real time, during which datagrams sent at the same
  instant arrive: modelled as one zero-length wait before the next select.

Output lines are the ones ssl-opt.sh's assertions look at (CONNECTED,
``Protocol  :``, ``SRTP Extension negotiated``, ``Keying material:``, the
data read, DONE, ERROR with OpenSSL's error queue); the certificate PEM and
session ticket dumps are left out.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator
from typing import Any

from ..foreign.openssl.conn import OpenSSLConfig, OpenSSLConn, clock_from, errors
from .openssl_opts import OpenSSLOptions
from .world import Addr, Program, World

__all__ = ["s_client", "s_server", "UNIX_BASE"]

UNIX_BASE = 1_700_000_000  # the runner's BASE_TIME: one wall clock for both libraries
_WANT = ("WANT_READ", "WANT_WRITE")
_COOKIE_EXCHANGE = 0x00002000
_SERVER_INPUT = b"HTTP/1.0 200 OK\n"
_MAX_SPIN = 100_000  # loop rounds with no datagram read and no time passing: a model bug


# The run's ``-sess_out`` files (name -> DER), per world: they live as long as
# the run, like the files ssl-opt.sh removes after it.
_SESSION_FILES: weakref.WeakKeyDictionary[World, dict[str, bytes]] = weakref.WeakKeyDictionary()


def _sessions(world: World) -> dict[str, bytes]:
    """The ``-sess_out`` files of ``world``'s run."""
    return _SESSION_FILES.setdefault(world, {})


def _config(o: OpenSSLOptions) -> OpenSSLConfig:
    return OpenSSLConfig(o.role, cert=o.cert, key=o.key, ca=o.ca, ciphers=o.cipher,
                         version=o.version, verify=o.verify and o.role == "server",
                         srtp=o.srtp, tickets=o.tickets)


class _Sock:
    """One blocking UDP socket with an SSL on it."""

    def __init__(self, world: World, prog: Program, conn: OpenSSLConn, addr: Addr,
                 peer: Addr | None, nbio: bool = False) -> None:
        self.world, self.prog, self.conn, self.addr, self.peer = world, prog, conn, addr, peer
        self.nbio = nbio
        self._mark: tuple[int, int] = (-1, -1)
        self._spins = 0
        self.connected = peer is not None
        world.bind(addr, self._recv)

    def _recv(self, src: Addr, data: bytes) -> None:
        if self.connected and src != self.peer:
            return  # a connected UDP socket filters other sources
        if not self.connected:
            self.peer = src  # an unconnected dgram BIO answers the last sender
        self.conn.push(data)
        self.world.wake(self.prog)

    def spin(self) -> None:
        """One round of a program's loop: raise when rounds go on with no
        datagram read and no virtual time passing (they could never end)."""
        mark = (self.world.clock.now_ms, self.conn.bio_reads[1])
        self._spins = self._spins + 1 if mark == self._mark else 0
        self._mark = mark
        if self._spins > _MAX_SPIN:
            raise RuntimeError(f"{self.prog.name}: no progress in {_MAX_SPIN} rounds")

    def flush(self) -> None:
        for d in self.conn.drain():
            if self.peer is not None:
                self.world.send(self.addr, self.peer, d)

    def wait(self, deadline: int | None) -> Generator[int | None, None, bool]:
        """Until a datagram is there (True) or ``deadline`` passes (False)."""
        while not self.conn.pending_in:
            if deadline is not None and self.world.clock.now_ms >= deadline:
                return False
            yield deadline
        return True

    def blocking(self, call: Any, *args: Any) -> Generator[int | None, None, tuple[Any, str]]:
        """``call`` on a blocking socket: (result, SSL_get_error name).

        The call blocked when OpenSSL ended it on a BIO_read of an empty
        queue (a ``recvfrom`` with nothing to read): then wait for a datagram,
        or for the DTLS timer (``SO_RCVTIMEO``) when one runs, and call again.
        A WANT_READ that OpenSSL returns by itself (``SSL_MODE_AUTO_RETRY``
        off, as s_client and s_server set it) goes back to the program."""
        while True:
            self.spin()
            before = self.conn.bio_reads
            res, err = call(*args)
            self.flush()
            if self.nbio:  # -nbio: every WANT_* goes back to the program
                return res, err
            after = self.conn.bio_reads
            blocked = after[0] - before[0] > after[1] - before[1]
            if err not in _WANT or not blocked:
                return res, err
            t = self.conn.timeout_ms()
            deadline = None if t is None else self.world.clock.now_ms + t
            got = yield from self.wait(deadline)
            if not got and self.conn.init_finished:
                return res, err  # SO_RCVTIMEO ran out after the handshake: EAGAIN


def _names(oneline: str | None) -> str:
    """``/C=NL/O=PolarSSL/CN=x`` as s_client prints it: ``C = NL, O = PolarSSL, CN = x``."""
    if not oneline:
        return ""
    return ", ".join(p.replace("=", " = ", 1) for p in oneline.strip("/").split("/"))


def _print_stuff(prog: Program, conn: OpenSSLConn, o: OpenSSLOptions) -> None:
    i = conn.info()
    p = prog.printf
    p("---\n")
    if i["subject"] is not None:
        p(f"Certificate chain\n 0 s:{_names(i['subject'])}\n   i:{_names(i['issuer'])}\n---\n")
        p(f"Server certificate\nsubject={_names(i['subject'])}\nissuer={_names(i['issuer'])}\n")
    else:
        p("no peer certificate available\n")
    p("---\n")
    p("Verification: OK\n" if i["verify"] == 0 else f"Verification error: {i['verify_text']}\n")
    p("---\n")
    p(f"{'Reused' if i['reused'] else 'New'}, "
      f"{'TLSv1.2' if i['protocol'] == 'DTLSv1.2' else 'TLSv1/SSLv3'}, "
      f"Cipher is {i['cipher']}\n")
    p(f"Secure Renegotiation IS{'' if i['secure_reneg'] else ' NOT'} supported\n")
    p("Compression: NONE\nExpansion: NONE\nNo ALPN negotiated\n")
    if i["srtp"]:
        p(f"SRTP Extension negotiated, profile={i['srtp']}\n")
    p(f"SSL-Session:\n    Protocol  : {i['protocol']}\n    Cipher    : {i['cipher']}\n")
    p(f"    Verify return code: {i['verify']} ({i['verify_text']})\n")
    if o.keymat_label is not None:
        km = conn.export_keying_material(o.keymat_label, o.keymat_len)
        p(f"Keying material exporter:\n    Label: '{o.keymat_label}'\n"
          f"    Length: {o.keymat_len} bytes\n")
        p("    Error\n" if km is None else f"    Keying material: {km.hex().upper()}\n")
    p("---\n")


def _shutdown(sock: _Sock) -> None:
    """``do_ssl_shutdown``: unidirectional, busy-waiting on WANT_* (bounded
    here: the queues never stay full, so a few rounds always suffice)."""
    for _ in range(1000):
        r = sock.conn.shutdown()
        sock.flush()
        if r >= 0 or sock.conn.error_name(r) not in _WANT:
            return


def _print_errors(prog: Program) -> None:
    for line in errors():
        prog.printf(line + "\n")


def s_client(world: World, prog: Program, o: OpenSSLOptions) -> Generator[int | None, None, int]:
    """``openssl s_client`` (DTLS, blocking socket); returns its exit status."""
    conn = OpenSSLConn(_config(o), clock_from(world.clock, UNIX_BASE), link_mtu=o.mtu)
    if o.sess_in is not None:
        der = _sessions(world).get(o.sess_in)
        if der is None or not conn.set_session(der):
            prog.printf(f"Can't open session file {o.sess_in}\n")
            return 1
    sock = _Sock(world, prog, conn, ("cli", world.ephemeral_port()), world.entry_addr, o.nbio)
    prog.printf("CONNECTED(00000003)\n")
    if o.nbio:
        prog.printf("Turned on non blocking io\n")
    stdin, at_eof = o.stdin, False
    read_tty, write_tty, read_ssl, write_ssl = True, False, True, True
    in_init = False
    cbuf = b""
    ret = 1
    try:
        while True:
            sock.spin()
            timeout = conn.timeout_ms()
            if not conn.init_finished:
                in_init, tty_on = True, False
            else:
                tty_on = True
                if in_init:
                    in_init = False
                    _print_stuff(prog, conn, o)
                    yield world.clock.now_ms  # printing: same-instant datagrams arrive
                    timeout = conn.timeout_ms()
            ssl_pending = read_ssl and conn.has_pending
            rd_sock = wr_sock = rd_stdin = wr_stdout = False
            if not ssl_pending:  # select()
                deadline = None if timeout is None else world.clock.now_ms + timeout
                while True:
                    rd_stdin = tty_on and read_tty and not at_eof
                    wr_stdout = tty_on and write_tty
                    rd_sock = read_ssl and conn.pending_in > 0
                    wr_sock = write_ssl
                    if rd_stdin or wr_stdout or rd_sock or wr_sock:
                        break
                    got = yield from sock.wait(deadline)
                    if not got:
                        break  # select timed out
            if conn.handle_timeout() > 0:
                prog.printf("TIMEOUT occurred\n")
            sock.flush()
            if not ssl_pending and wr_sock:
                k, err = yield from sock.blocking(conn.write, cbuf)
                if err == "NONE":
                    cbuf = cbuf[k:]
                    read_tty, write_ssl = (True, False) if not cbuf else (False, True)
                elif err == "WANT_READ":
                    prog.printf("write R BLOCK\n")
                    write_tty, read_ssl, write_ssl = False, True, False
                elif err == "ZERO_RETURN":
                    if cbuf:
                        prog.printf("shutdown\n")
                        ret = 0
                        break
                    read_tty, write_ssl = True, False
                elif err == "SYSCALL" and not cbuf and k == 0:
                    read_tty, write_ssl = True, False
                else:
                    _print_errors(prog)
                    break
            elif not ssl_pending and wr_stdout:
                read_ssl, write_tty = True, False
            elif ssl_pending or rd_sock:
                data, err = yield from sock.blocking(conn.read, 1024)
                if err == "NONE":
                    prog.printf(data.decode("latin-1"))
                elif err == "WANT_READ":
                    prog.printf("read R BLOCK\n")
                    write_tty, read_ssl = False, True
                    if not read_tty and not write_ssl:
                        write_ssl = True
                elif err == "ZERO_RETURN":
                    prog.printf("closed\n")
                    ret = 0
                    break
                else:
                    if err == "SYSCALL":
                        prog.printf("read:errno=0\n")
                    _print_errors(prog)
                    break
            elif rd_stdin:
                chunk, stdin = stdin, b""
                if not chunk:
                    prog.printf("DONE\n")
                    ret = 0
                    break
                cbuf = chunk
                write_ssl, read_tty = True, False
        if in_init:
            _print_stuff(prog, conn, o)
        _shutdown(sock)
        if o.sess_out is not None:
            der = conn.get_session()
            if der is not None:
                _sessions(world)[o.sess_out] = der
        return ret
    finally:
        world.unbind(sock.addr)


def s_server(world: World, prog: Program, o: OpenSSLOptions) -> Generator[int | None, None, int]:
    """``openssl s_server -dtls...`` fed by ``provide_input``; serves one
    connection after another (``do_server``'s loop), never returns while the
    client runs."""
    config = _config(o)
    prog.printf("ACCEPT\n")
    feed_at = world.clock.now_ms  # provide_input: a line now and every second
    sock: _Sock | None = None
    while True:
        conn = OpenSSLConn(config, clock_from(world.clock, UNIX_BASE), link_mtu=o.mtu,
                           same_socket=sock.conn if sock else None, options=_COOKIE_EXCHANGE)
        if sock is None:
            sock = _Sock(world, prog, conn, world.server_addr, None)
        sock.conn = conn
        ret = yield from _sv_body(world, prog, sock, conn, feed_at)
        feed_at = ret[1]
        prog.printf("shutting down SSL\n")
        _shutdown(sock)
        prog.printf("CONNECTION CLOSED\n")
        if ret[0] < 0:
            return 0


def _sv_body(world: World, prog: Program, sock: _Sock, conn: OpenSSLConn, feed_at: int
             ) -> Generator[int | None, None, tuple[int, int]]:
    """One connection of s_server; returns (ret, when the next input line comes)."""
    while True:
        sock.spin()
        read_from_terminal = False
        read_from_ssl = conn.has_pending
        if not read_from_ssl:  # select() on stdin and the socket
            t = conn.timeout_ms()
            deadline = None if t is None else world.clock.now_ms + t
            while True:
                if world.clock.now_ms >= feed_at:
                    read_from_terminal = True
                if conn.pending_in:
                    read_from_ssl = True
                if read_from_terminal or read_from_ssl:
                    break
                stop = feed_at if deadline is None else min(deadline, feed_at)
                yield from sock.wait(stop)
                if deadline is not None and world.clock.now_ms >= deadline and \
                        not conn.pending_in and world.clock.now_ms < feed_at:
                    break
            if conn.handle_timeout() > 0:
                prog.printf("TIMEOUT occurred\n")
            sock.flush()
        if read_from_terminal:
            feed_at += 1000
            while True:  # its write loop: retries until the line is written
                k, err = yield from sock.blocking(conn.write, _SERVER_INPUT)
                if err == "NONE":
                    break
                if err in _WANT:
                    prog.printf("Write BLOCK\n")
                    continue
                prog.printf("DONE\n" if err == "ZERO_RETURN" else "ERROR\n")
                _print_errors(prog)
                return 1, feed_at
        if read_from_ssl:
            if not conn.init_finished:
                r, err = yield from sock.blocking(conn.handshake)
                if r <= 0 and err in _WANT:
                    prog.printf("DELAY\n")
                    continue
                if r <= 0:
                    prog.printf("ERROR\n")
                    info = conn.info()
                    if info["verify"]:
                        prog.printf(f"verify error:{info['verify_text']}\n")
                    _print_errors(prog)
                    return 0, feed_at
                i = conn.info()
                prog.printf(f"CIPHER is {i['cipher']}\n")
                prog.printf(f"Secure Renegotiation IS{'' if i['secure_reneg'] else ' NOT'} "
                            "supported\n")
                continue
            while True:
                data, err = yield from sock.blocking(conn.read, 16384)
                if err == "NONE":
                    prog.printf(data.decode("latin-1"))
                    if conn.has_pending:
                        continue
                elif err in _WANT:
                    prog.printf("Read BLOCK\n")
                elif err == "ZERO_RETURN":
                    prog.printf("DONE\n")
                    return 1, feed_at
                else:
                    prog.printf("ERROR\n")
                    _print_errors(prog)
                    return 1, feed_at
                break
