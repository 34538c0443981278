"""What ssl_server2 and ssl_client2 share: a context on a simulated socket
(``_Io``: blocking calls as waits for datagrams or the DTLS timer) and the
programs' report printing (handshake summary, peer certificate, CID usage,
serialization, the HTTP-like request)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from ..bindings.context import Context
from ..bindings.errors import Err, rc_text
from ..bindings.x509 import CertificateChain
from .world import Addr, Program, World

_IN_PROGRESS = {int(Err.SSL_WANT_READ), int(Err.SSL_WANT_WRITE)}
_HTTP_RESPONSE = ("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"
                  "<h2>Mbed TLS Test Server</h2>\r\n<p>Successful connection using: %s</p>\r\n")
_MAX_SPIN = 100000


class _Io:
    """One context on one simulated socket (``mbedtls_net_context``)."""

    def __init__(self, world: World, prog: Program, ctx: Context, addr: Addr) -> None:
        self.world, self.prog, self.ctx, self.addr = world, prog, ctx, addr
        self.peer: Addr | None = None
        self.listen: list[tuple[Addr, bytes]] = []
        self.listening = False
        # A server policy's filter (``ReconnectGuard.admit``; None drops the
        # datagram).  It must judge a datagram in the state the context reads
        # it in, not the one it arrived in: with a filter, datagrams wait in
        # ``backlog`` (the socket buffer) and go to the context one at a time.
        self.admit: Callable[[bytes, bool], bytes | None] | None = None
        self.backlog: list[bytes] = []
        world.bind(addr, self._recv)

    def deliver(self, data: bytes) -> None:
        """A datagram for the context (through ``admit`` when there is one)."""
        if self.admit is None:
            self.ctx.push(data)
        else:
            self.backlog.append(data)

    def _feed(self) -> None:
        while self.admit is not None and self.backlog and not self.ctx.pending_in:
            kept = self.admit(self.backlog.pop(0), self.ctx.handshake_over)
            if kept is not None:
                self.ctx.push(kept)

    def _recv(self, src: Addr, data: bytes) -> None:
        if self.peer is not None and src == self.peer:
            try:
                self.deliver(data)
            except (BufferError, ValueError):
                return  # a full socket buffer drops the datagram, as the kernel does
            self.world.wake(self.prog)
        elif self.listening:
            self.listen.append((src, data))
            self.world.wake(self.prog)

    def flush(self) -> None:
        if self.peer is None:
            self.ctx.clear_queues()
            return
        for d in self.ctx.drain():
            self.world.send(self.addr, self.peer, d)

    def call(self, fn: Any, *args: Any) -> Generator[int | None, None, int]:
        """Call ``fn`` until it stops returning WANT_READ/WANT_WRITE, waiting
        for datagrams or the DTLS timer in between (a blocking program)."""
        spins = 0
        timed = self.world.timing is not None
        while True:
            self._feed()
            before = _state(self.ctx) if timed else 0
            rc = fn(*args)
            if timed:  # the call's CPU time passes before its datagrams leave
                yield from self.world.compute(self.prog, _cost_key(fn, before, self.ctx, rc))
            self.flush()
            if rc not in _IN_PROGRESS:
                return int(rc)
            if self.ctx.pending_in or self.backlog:
                spins += 1
                if spins > _MAX_SPIN:
                    raise RuntimeError("no progress with datagrams pending")
                continue
            spins = 0
            yield self.ctx.timer_deadline()


def _state(ctx: Context) -> int:
    return ctx.state_number


def _cost_key(fn: Any, before: int, ctx: Context, rc: int) -> str:
    """The timing model's name for a call: ``handshake 2>12`` (the states it
    started and stopped in, ``end`` when it finished), else the call's name."""
    name = getattr(fn, "__name__", "call")
    if name in ("handshake", "renegotiate"):
        return f"handshake {before}>{_state(ctx) if rc in _IN_PROGRESS else 'end'}"
    return str(name)


def _cstr(data: bytes) -> str:
    """``%s`` of a C buffer: up to the first NUL."""
    return data.split(b"\0", 1)[0].decode("latin-1")


def _cid_report(prog: Program, ctx: Context, o: dict[str, Any], when: str, server: bool) -> None:
    peer = ctx.peer_cid()
    if peer is None:
        if o["cid"] == 1:
            prog.printf(f"({when}) Use of Connection ID was "
                        f"{'not offered by client' if server else 'rejected by the server'}.\n")
        return
    prog.printf(f"({when}) Use of Connection ID has been negotiated.\n")
    prog.printf(f"({when}) Peer CID (length {len(peer)} Bytes): "
                + "".join(f"{b:02x} " for b in peer) + "\n")


def _handshake_info(prog: Program, ctx: Context) -> None:
    prog.printf(f" ok\n    [ Protocol is {ctx.version} ]\n    [ Ciphersuite is {ctx.ciphersuite} ]\n")
    exp = ctx.record_expansion
    prog.printf(f"    [ Record expansion is {exp} ]\n" if exp >= 0 else
                "    [ Record expansion is unknown ]\n")
    prog.printf("    [ Maximum incoming record payload length is "
                f"{int(ctx.max_in_record_payload)} ]\n")
    prog.printf("    [ Maximum outgoing record payload length is "
                f"{int(ctx.max_out_record_payload)} ]\n")


def _verify_info(flags: int) -> str:
    from ..bindings import ffi, lib
    buf = ffi.new("char[]", 512)
    lib.mbedtls_x509_crt_verify_info(buf, 512, b"  ! ", flags)
    return str(ffi.string(buf).decode(errors="replace"))


def _peer_info(prog: Program, ctx: Context) -> None:
    flags = ctx.verify_result
    prog.printf("  . Verifying peer X.509 certificate...")
    if flags:
        prog.printf(" failed\n" + _verify_info(flags) + "\n")
    else:
        prog.printf(" ok\n")
    der = ctx.peer_certificate()
    if der is not None:
        prog.printf("  . Peer certificate information    ...\n")
        prog.printf(CertificateChain(der).info().replace("\n", "\n      ").rstrip(" ")
                    .join(["      ", "\n"]))


def _serialize(prog: Program, io: _Io, o: dict[str, Any]) -> bool:
    ctx = io.ctx
    prog.printf("  . Serializing live connection...")
    buf = bytearray()  # as upstream: one call for the size, one to save
    rc = ctx.context_save(buf)
    if rc == Err.SSL_BUFFER_TOO_SMALL:
        rc = ctx.context_save(buf)
    if rc:
        prog.printf(f" failed\n  ! mbedtls_ssl_context_save returned {rc_text(rc, printf=True)}\n\n")
        return False
    data = bytes(buf)
    prog.printf(" ok\n")
    if o["context_file"]:
        prog.printf("  . Save serialized context to a file... ok\n")
    if o["serialize"] == 1:
        prog.printf("  . Context has been reset... ok\n")
    if o["serialize"] == 2:
        prog.printf("  . Freeing and reinitializing context...")
        rc = ctx.reinit()
        if rc:
            prog.printf(f" failed\n  ! mbedtls_ssl_setup returned {rc_text(rc, printf=True)}\n\n")
            return False
        prog.printf(" ok\n")
    prog.printf("  . Deserializing connection...")
    rc = ctx.context_load(data)
    if rc:
        prog.printf(f"failed\n  ! mbedtls_ssl_context_load returned {rc_text(rc, printf=True)}\n\n")
        return False
    prog.printf(" ok\n")
    return True


def _set_cid(ctx: Context, enabled: int, value: str) -> int:
    return int(ctx.set_cid(enabled == 1, bytes.fromhex(value) if enabled == 1 else b""))


def _request(o: dict[str, Any]) -> bytes:
    head = f"GET {o['request_page']} HTTP/1.0\r\nHost: {o['server_name']}\r\nExtra-header: "
    buf = bytearray(head.encode())
    tail = b"\r\n\r\n"
    size = o["request_size"]
    want = size if size != -1 else len(buf) + len(tail)
    if size != -1 and len(buf) + len(tail) < want:
        buf += b"A" * (want - len(buf) - len(tail))
    buf += tail
    if size != -1 and len(buf) > want:
        del buf[want:]
        if want >= 2:
            buf[want - 2] = 13
        if want >= 1:
            buf[want - 1] = 10
    return bytes(buf)
