"""ssl_server2 and ssl_client2, as generators on the simulated network.

Each function follows its C program's main flow (3.6: handshake, peer
information, CID report, renegotiation, the HTTP-like exchange,
serialization, close_notify, reconnect/resumption, the server's
reset/accept loop) and prints the lines the C program prints, through
``Program.printf``; Mbed TLS's own debug lines are added to the same output
by the runner's logging bridge.  Where the C program blocks on a socket (or
busy-loops with ``nbio``), the generator yields until a datagram arrives or
the DTLS timer's deadline passes: the same calls, in virtual time.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..bindings.config import Config
from ..bindings.context import Context, Session
from ..bindings.errors import Err, rc_text, strerror
from ..server.hello_guard import ReconnectGuard
from .progio import (
    _HTTP_RESPONSE, _cid_report, _cstr, _handshake_info, _Io, _peer_info, _request,
    _serialize, _set_cid, _verify_info,
)
from .world import Program, World

# ssl_client2 prints the verify info on these; 2.x has no SSL_BAD_CERTIFICATE
# (its ssl_client2 checks the X.509 code alone).
_CERT_ERRORS = tuple(getattr(Err, n) for n in ("X509_CERT_VERIFY_FAILED", "SSL_BAD_CERTIFICATE")
                     if n in Err.__members__)

__all__ = ["server2", "client2"]


def _new_context(world: World, o: dict[str, Any], conf: Config) -> Context:
    """Both programs' ``mbedtls_ssl_setup``, with their ``dgram_packing=`` option."""
    ctx = Context(conf, clock=world.clock, name=conf.name, max_queue=4096)
    if o["dgram_packing"] != 1:
        ctx.set_datagram_packing(bool(o["dgram_packing"]))
    return ctx


def _cid_set(prog: Program, ctx: Context, enabled: int, value: str) -> bool:
    """``mbedtls_ssl_set_cid`` as the programs call it: False, after their
    failure line, when it returns a code."""
    rc = _set_cid(ctx, enabled, value)
    if rc:
        prog.printf(f" failed\n  ! mbedtls_ssl_set_cid returned {rc}\n\n")
    return not rc


def server2(world: World, prog: Program, o: dict[str, Any], conf: Config,
            guard: ReconnectGuard | None = None) -> Generator[int | None, None, int]:
    """ssl_server2's main loop (never returns while the client runs); with
    ``guard``, the application filters its connection's datagrams through it
    (the ``reconnect-guard`` policy: not part of the C program)."""
    conf.set_read_timeout(o["read_timeout"])
    ctx = _new_context(world, o, conf)
    io = _Io(world, prog, ctx, world.server_addr)
    io.listening = True
    if guard is not None:
        io.admit = guard.admit
    prog.printf("  . Setting up the SSL/TLS structure... ok\n")
    if not _cid_set(prog, ctx, o["cid"], o["cid_val"]):
        return 1
    if o["mtu"] != -1:
        ctx.set_mtu(o["mtu"])
    prog.printf(f"  . Bind on udp://{o['server_addr'] or '*'}:{o['server_port']}/ ... ok\n")
    ret = 0
    while True:  # reset:
        if ret == Err.SSL_CLIENT_RECONNECT:
            prog.printf("  ! Client initiated reconnection from same port\n")
            if guard is not None:
                guard.reconnected()
        else:
            if ret != 0:
                prog.printf(f"Last error was: {ret} - {strerror(ret)}\n\n")
            # with a timing model: until mbedtls_net_free, the old socket still
            # takes datagrams, and they are lost with it (the hand-over)
            yield from world.compute(prog, "handover")
            if world.timing is not None and ctx.pending_in:
                world.note(f"server frees its socket: {ctx.pending_in} datagram(s) in it lost")
            io.peer = None
            ctx.clear_queues()
            io.backlog.clear()
            ctx.session_reset()
            yield from world.compute(prog, "session_reset")
            if guard is not None:
                guard.reset()
            prog.printf("  . Waiting for a remote connection ...")
            while not io.listen:
                yield None
            src = io.listen[0][0]
            pending, io.listen = io.listen, []
            io.peer = src
            for _, d in pending:
                io.deliver(d)
            ctx.set_client_transport_id(f"{src[0]}:{src[1]}".encode())
            prog.printf(" ok\n")
        # handshake:
        prog.printf("  . Performing the SSL/TLS handshake...")
        ret = yield from io.call(ctx.handshake)
        if ret == Err.SSL_HELLO_VERIFY_REQUIRED:
            prog.printf(" hello verification requested\n")
            ret = 0
            continue
        if ret != 0:
            prog.printf(f" failed\n  ! mbedtls_ssl_handshake returned {rc_text(ret, printf=True)}\n\n")
            if ret in _CERT_ERRORS:
                prog.printf(_verify_info(ctx.verify_result) + "\n")
            continue
        _handshake_info(prog, ctx)
        _peer_info(prog, ctx)
        _cid_report(prog, ctx, o, "initial handshake", True)
        if not _cid_set(prog, ctx, o["cid_renego"], o["cid_val_renego"]):
            return 1
        exchanges_left = o["exchanges"]
        closed_by_peer = False
        while exchanges_left > 0:  # data_exchange:
            prog.printf("  < Read from client:")
            buf = bytearray(o["buffer_size"] if o["buffer_size"] > 0 else 200)
            ret = yield from io.call(ctx.read_into, buf)
            if ret <= 0:
                if ret == Err.SSL_PEER_CLOSE_NOTIFY:
                    prog.printf(" connection was closed gracefully\n")
                    closed_by_peer = True
                    break
                prog.printf(f" mbedtls_ssl_read returned {rc_text(ret, printf=True)}\n")
                break
            text = bytes(buf[:ret]).split(b"\0", 1)[0].decode("latin-1")
            prog.printf(f" {ret} bytes read\n\n{text}")
            ret = 0
            if o["renegotiate"] and exchanges_left == o["exchanges"]:
                prog.printf("  . Requestion renegotiation...")
                ret = yield from io.call(ctx.renegotiate)
                if ret != 0:
                    prog.printf(f" failed\n  ! mbedtls_ssl_renegotiate returned {ret}\n\n")
                    break
                prog.printf(" ok\n")
            _cid_report(prog, ctx, o, "after renegotiation", True)
            prog.printf("  > Write to client:")
            resp = (_HTTP_RESPONSE % ctx.ciphersuite).encode()
            rs = o["response_size"]
            if rs != -1 and len(resp) < rs:
                resp += b"B" * (rs - len(resp))
            if rs != -1 and len(resp) > rs:
                cut = bytearray(resp[:rs])
                if rs >= 2:
                    cut[rs - 2] = 13
                if rs >= 1:
                    cut[rs - 1] = 10
                resp = bytes(cut)
            ret = yield from io.call(ctx.write, resp)
            if ret < 0:
                prog.printf(f" failed\n  ! mbedtls_ssl_write returned {ret}\n\n")
                break
            prog.printf(f" {ret} bytes written in 1 fragments\n\n"
                        f"{_cstr(resp[:ret])}\n")
            ret = 0
            if o["serialize"] and not _serialize(prog, io, o):
                return 1
            exchanges_left -= 1
        else:
            closed_by_peer = True  # fall through to close_notify
        if ret != 0 and not closed_by_peer:
            continue  # goto reset with the error
        prog.printf("  . Closing the connection...")
        while ctx.close_notify() == Err.SSL_WANT_WRITE:
            pass
        io.flush()
        ret = 0
        prog.printf(" done\n")


def client2(world: World, prog: Program, o: dict[str, Any], conf: Config
            ) -> Generator[int | None, None, int]:
    """ssl_client2's main flow; returns its exit status."""
    ctx = _new_context(world, o, conf)
    if o["set_hostname"] == 1:
        ctx.set_hostname(o["server_name"])
    io = _Io(world, prog, ctx, ("cli", world.ephemeral_port()))
    if not _cid_set(prog, ctx, o["cid"], o["cid_val"]):
        return 1
    if o["mtu"] != -1:
        ctx.set_mtu(o["mtu"])
    prog.printf("  . Setting up the SSL/TLS structure... ok\n")
    prog.printf(f"  . Connecting to udp/{o['server_addr']}/{o['server_port']}... ok\n")
    io.peer = world.entry_addr

    def finish(ret: int) -> int:
        if ret != 0:
            prog.printf(f"Last error was: -0x{-ret:X} - {strerror(ret)}\n\n")
        world.unbind(io.addr)
        return 1 if ret < 0 else ret

    prog.printf("  . Performing the SSL/TLS handshake...")
    ret = yield from io.call(ctx.handshake)
    if ret != 0:
        prog.printf(f" failed\n  ! mbedtls_ssl_handshake returned {rc_text(ret, printf=True)}\n")
        if ret in _CERT_ERRORS:
            prog.printf("    Unable to verify the server's certificate.\n")
            prog.printf(_verify_info(ctx.verify_result) + "\n")
        prog.printf("\n")
        return finish(ret)
    _handshake_info(prog, ctx)
    saved: Session | None = None
    saved_data = b""
    if o["reconnect"]:
        prog.printf("  . Saving session for reuse...")
        saved = Session()
        rc = ctx.get_session(saved)
        if rc:
            prog.printf(f" failed\n  ! mbedtls_ssl_get_session returned {rc_text(rc, printf=True)}\n\n")
            return finish(rc)
        try:
            if o["reco_mode"] == 1:
                saved_data = saved.save()
        except Exception as e:  # noqa: BLE001 - reported like the C program
            prog.printf(f" failed\n  ! {e}\n\n")
            return finish(-1)
        prog.printf(" ok\n")
        if o["reco_mode"] == 1:
            prog.printf(f"    [ Saved {len(saved_data)} bytes of session data]\n")
    _peer_info(prog, ctx)
    _cid_report(prog, ctx, o, "initial handshake", False)
    rc = _set_cid(ctx, o["cid_renego"], o["cid_val_renego"])
    if rc:
        return finish(rc)
    if o["renegotiate"]:
        prog.printf("  . Performing renegotiation...")
        ret = yield from io.call(ctx.renegotiate)
        if ret != 0:
            prog.printf(f" failed\n  ! mbedtls_ssl_renegotiate returned {ret}\n\n")
            return finish(ret)
        prog.printf(" ok\n")
    _cid_report(prog, ctx, o, "after renegotiation", False)
    retry_left = o["max_resend"]
    exchanges = o["exchanges"]
    reconnect = o["reconnect"]
    reconnect_hard = o["reconnect_hard"]
    while True:  # send_request:
        prog.printf("  > Write to server:")
        req = _request(o)
        ret = yield from io.call(ctx.write, req)
        if ret < 0:
            prog.printf(f" failed\n  ! mbedtls_ssl_write returned {ret}\n\n")
            return finish(ret)
        written = ret
        if written < len(req):
            prog.printf(f" warning\n  ! request didn't fit into single datagram and "
                        f"was truncated to size {written}")
        prog.printf(f" {written} bytes written in 1 fragments\n\n"
                    f"{_cstr(req[:written])}\n")
        if len(req) == 0:
            o = dict(o, request_size=-1)
            continue
        buf = bytearray(16384 + 48)
        ret = yield from io.call(ctx.read_into, buf)
        close = False
        if ret <= 0:
            if ret == Err.SSL_TIMEOUT:
                prog.printf(" timeout\n")
                if retry_left > 0:
                    retry_left -= 1
                    continue
                return finish(ret)
            if ret == Err.SSL_PEER_CLOSE_NOTIFY:
                prog.printf(" connection was closed gracefully\n")
                ret = 0
                close = True
            else:
                prog.printf(f" mbedtls_ssl_read returned {rc_text(ret, printf=True)}\n")
                return finish(ret)
        if not close:
            text = bytes(buf[:ret]).split(b"\0", 1)[0].decode("latin-1")
            prog.printf(f"  < Read from server: {ret} bytes read\n\n{text}")
            ret = 0
            if reconnect_hard:
                reconnect_hard = 0
                prog.printf("  . Restarting connection from same port...")
                ctx.session_reset()
                ret = yield from io.call(ctx.handshake)
                if ret != 0:
                    prog.printf(f" failed\n  ! mbedtls_ssl_handshake returned {rc_text(ret, printf=True)}\n\n")
                    return finish(ret)
                prog.printf(" ok\n")
                continue
            if o["serialize"] and not _serialize(prog, io, o):
                return finish(-1)
            exchanges -= 1
            if exchanges > 0:
                continue
        # close_notify:
        prog.printf("  . Closing the connection...")
        if not o["skip_close_notify"]:
            while ctx.close_notify() == Err.SSL_WANT_WRITE:
                pass
            io.flush()
        prog.printf(" done\n")
        if not reconnect:
            return finish(0)
        reconnect -= 1
        # reconnect: a new socket (new port) after reco_delay ms
        world.unbind(io.addr)
        io.peer = None
        ctx.clear_queues()
        if o["reco_delay"] > 0:
            until = world.clock.now_ms + o["reco_delay"]
            while world.clock.now_ms < until:
                yield until
        prog.printf("  . Reconnecting with saved session...")
        ctx.session_reset()
        session = Session.load(saved_data) if o["reco_mode"] == 1 else saved
        assert session is not None
        rc = ctx.set_session(session)
        if rc:
            prog.printf(f" failed\n  ! mbedtls_ssl_set_session returned {rc_text(rc, printf=True)}\n\n")
            return finish(rc)
        if o["reco_server_name"]:
            ctx.set_hostname(o["reco_server_name"])
        io.addr = ("cli", world.ephemeral_port())
        world.bind(io.addr, io._recv)
        io.peer = world.entry_addr
        ret = yield from io.call(ctx.handshake)
        if ret != 0:
            prog.printf(f" failed\n  ! mbedtls_ssl_handshake returned {rc_text(ret, printf=True)}\n\n")
            return finish(ret)
        prog.printf(" ok\n")
        # exchanges stays exhausted: one request per reconnection, as in the C code
