"""Real UDP: a non-blocking datagram transport, the ``DTLSServer`` loop over
it, and a DTLS client over a socket.

* :class:`UDPTransport` is a non-blocking UDP socket (IPv4 or IPv6, loopback
  unless ``allow_remote``) with the transport interface of
  :class:`mbedtls_py.samples.DTLSServer`: ``sendto(data, addr)``,
  ``recvfrom() -> (data, addr) | None`` and ``clock`` (a ``RealClock``), plus
  ``wait(deadline_ms)`` (``select``).
* :func:`serve` drives a ``DTLSServer`` over a transport, bounded by
  ``max_seconds`` and ``max_clients``; :class:`ServerThread` runs it in a
  thread.  It serves one client after another on one socket, as upstream's
  ``programs/ssl/dtls_server.c`` does (cookies on, client transport id set
  from the peer's address by the server).
* :class:`UDPClient` runs a client ``Context`` over a socket against
  ``host:port`` with real-time DTLS timers (retransmissions included);
  :func:`run_client` is the whole exchange in one call (handshake, write, read,
  close_notify).

The sample's sockets
--------------------
``mbedtls_net_accept()`` connects the listening UDP socket to the client and
binds a fresh listening socket, and ``mbedtls_net_free()`` at the sample's
``reset:`` closes the connected one: datagrams the old client sent that reached
the server *before* the reset die with that socket; only those arriving *after*
it reach the next ``mbedtls_ssl_handshake()``.  With one socket, Python sees
both kinds.  :func:`serve` with ``per_client_socket=True`` (the default) does
what the sample's sockets do: when a connection ends, the old peer's datagrams
already queued in the kernel are taken out and dropped (a ``discard`` event
each).  ``per_client_socket=False`` hands them to the server instead.
"""

from __future__ import annotations

import collections
import ipaddress
import math
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .context import Context, RealClock
from .errors import Err, as_err
from .records import parse_datagram
from .samples import DTLSServer, Event

__all__ = [
    "UDPTransport",
    "UDPClient",
    "ClientResult",
    "ServeResult",
    "ServerThread",
    "serve",
    "run_client",
    "is_loopback",
    "check_host",
    "resolve",
    "addr_str",
    "parse_hostport",
]

_FLOW = (Err.SSL_WANT_READ, Err.SSL_WANT_WRITE)
_MAX_UDP = 65535


# --------------------------------------------------------------------------- addresses


def is_loopback(host: str) -> bool:
    """True if every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]).is_loopback for info in infos)


def check_host(host: str, allow_remote: bool = False) -> None:
    """Raise ``ValueError`` unless ``host`` is loopback or ``allow_remote`` is set."""
    if not isinstance(host, str) or not host:
        raise ValueError("host must be a non-empty string")
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"{host!r} is not a loopback address; this tool stays on loopback "
                         "(127.0.0.1, ::1) unless allow_remote/--allow-remote is given")


def resolve(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """``(family, (address, port))`` of the first UDP address of ``host:port``."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be 0 .. 65535, not {port!r}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, (str(sockaddr[0]), int(sockaddr[1]))


def addr_str(addr: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a socket address."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(addr)


def parse_hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"H:P"``, ``"[v6]:P"`` or ``"P"`` -> ``(host, port)``."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"bad address {text!r}; write [::1]:4433")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" not in text:
        host, port_text = default_host, text
    else:
        raise ValueError(f"bad address {text!r}; write an IPv6 address as [::1]:4433")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port in {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host or default_host, port


def _norm(addr: Any) -> Any:
    # IPv6 recvfrom gives (host, port, flowinfo, scope_id); keep it short when it can be.
    if isinstance(addr, tuple) and len(addr) == 4 and not addr[2] and not addr[3]:
        return (addr[0], addr[1])
    return addr


# --------------------------------------------------------------------------- transport


class UDPTransport:
    """A non-blocking UDP socket with the ``DTLSServer`` transport interface.

    ``host`` decides the family (IPv6 when it contains ``:`` or resolves only to
    IPv6); ``port=0`` picks a free one (see :attr:`address`).  Refuses
    non-loopback addresses unless ``allow_remote``.  ``recvfrom`` returns
    ``(data, addr)`` with IPv6 addresses as ``(host, port)`` or ``None`` when
    nothing is queued; ``sendto`` never raises for a lost datagram (errors are
    counted in :attr:`send_errors`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 allow_remote: bool = False, rcvbuf: int | None = None) -> None:
        check_host(host, allow_remote)
        family, sockaddr = resolve(host, port)
        self.family = family
        self.clock = RealClock()
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if rcvbuf:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self._sock.bind(sockaddr)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            raise
        self._pushback: collections.deque[tuple[bytes, Any]] = collections.deque()
        self.sent = 0
        self.received = 0
        self.send_errors: list[str] = []

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        name = self._sock.getsockname()
        return str(name[0]), int(name[1])

    @property
    def port(self) -> int:
        """The bound port."""
        return self.address[1]

    def fileno(self) -> int:
        """The socket's file descriptor (for ``select``)."""
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        return self._sock.fileno() < 0

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send one datagram; a failure is recorded, not raised (UDP may lose it anyway)."""
        try:
            self._sock.sendto(data, addr)
            self.sent += 1
        except OSError as exc:
            self.send_errors.append(f"sendto {addr_str(addr)}: {exc}")

    def recvfrom(self) -> tuple[bytes, Any] | None:
        """The next datagram and its sender, or ``None`` (never blocks)."""
        if self._pushback:
            return self._pushback.popleft()
        for _ in range(64):  # skip ICMP errors reported on the socket
            try:
                data, addr = self._sock.recvfrom(_MAX_UDP)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                continue
            self.received += 1
            return data, _norm(addr)
        return None

    def pending(self) -> bool:
        """Whether a datagram can be read now."""
        if self._pushback:
            return True
        r, _, _ = select.select([self._sock], [], [], 0)
        return bool(r)

    def wait(self, deadline_ms: float | None, max_wait_ms: float = 1000.0) -> bool:
        """Block until a datagram is readable or the clock reaches ``deadline_ms``
        (at most ``max_wait_ms``); return whether one is readable."""
        if self._pushback:
            return True
        timeout = max_wait_ms
        if deadline_ms is not None:
            timeout = min(timeout, deadline_ms - self.clock.now_ms)
        r, _, _ = select.select([self._sock], [], [], max(0.0, timeout) / 1000.0)
        return bool(r)

    def discard_from(self, peer: Any) -> list[bytes]:
        """Take every datagram from ``peer`` queued now (in the kernel and pushed
        back) and return them; datagrams from others stay queued, in order."""
        keep: list[tuple[bytes, Any]] = []
        gone: list[bytes] = []
        for _ in range(100_000):  # bounded: a flood cannot keep us here
            item = self.recvfrom()
            if item is None:
                break
            if item[1] == peer:
                gone.append(item[0])
            else:
                keep.append(item)
        self._pushback.extend(keep)
        return gone

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self._sock.close()
        self._pushback.clear()

    def __enter__(self) -> UDPTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<UDPTransport closed>"
        return f"<UDPTransport {addr_str(self.address)}>"


# --------------------------------------------------------------------------- server loop


@dataclass
class ServeResult:
    """How a :func:`serve` loop ended."""

    served: int
    errors: int
    dropped: int
    discarded: int
    seconds: float
    reason: str  # "max_clients" | "max_seconds" | "stopped"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return dict(self.__dict__)


def serve(server: DTLSServer, transport: UDPTransport | None = None, *,
          max_seconds: float = 60.0, max_clients: int | None = None,
          stop: threading.Event | None = None, per_client_socket: bool = True,
          settle_ms: float = 0.0, tick_ms: float = 50.0) -> ServeResult:
    """Run ``server`` over ``transport`` (default: ``server.transport``) until
    ``max_clients`` connections were served (and nothing is lingering), ``stop``
    is set, or ``max_seconds`` pass.

    ``settle_ms``: after the last client, keep serving that long for late
    datagrams.  ``per_client_socket``: the sample's connected per-client
    sockets: real ones when ``transport`` is a
    :class:`~mbedtls_py.sample_sockets.SampleSockets` (connected on ``accept``,
    closed at the end of the connection), else the older emulation (see the
    module docstring; it decides at the Python reset event which datagrams
    die, a bias the real sockets do not have).  ``tick_ms`` bounds each wait, so a
    ``stop`` is seen within that time.
    """
    transport = transport if transport is not None else server.transport
    if not isinstance(max_seconds, (int, float)) or not math.isfinite(max_seconds) \
            or max_seconds <= 0:
        raise ValueError("max_seconds must be a positive finite number")
    if max_clients is not None and max_clients < 1:
        raise ValueError("max_clients must be >= 1")
    clock = transport.clock
    start = time.monotonic()
    end_ms = clock.now_ms + max_seconds * 1000.0
    discarded = 0
    user_cb = server.on_event
    last_kind: dict[str, str] = {}  # emulation only; one entry per peer

    real_sockets = per_client_socket and hasattr(transport, "accept") \
        and hasattr(transport, "release_from")

    def report_discard(peer: str, data: bytes, note: str) -> None:
        nonlocal discarded
        discarded += 1
        emit = Event(int(clock.now_ms), "discard", peer, None, note,
                     {"records": [repr(r) for r in parse_datagram(data).records],
                      "datagram": data.hex()})
        server.events.append(emit)
        if user_cb is not None:
            user_cb(emit)

    def on_event(ev: Event) -> None:
        if user_cb is not None:
            user_cb(ev)
        if not per_client_socket or ev.peer is None:
            return
        if real_sockets:
            # The sample's sockets (SampleSockets): connect on accept, free at the
            # end of the connection ("reset"; "ignored" with a code is the end of
            # a connection that kept no state).
            if ev.event == "accept":
                transport.accept(parse_hostport(ev.peer))  # type: ignore[attr-defined]
            elif ev.event == "reset" or ev.event == "ignored" and ev.rc is not None:
                # Each with its real sender: another peer's datagram queued before
                # the connect dies here too.
                for data, src in transport.release_from():  # type: ignore[attr-defined]
                    report_discard(addr_str(src), data, "queued on the client's socket "
                                   "when it was freed (mbedtls_net_free)")
            return
        if len(last_kind) > 4096:  # bounded under a flood of addresses
            last_kind.clear()
        previous = last_kind.get(ev.peer)
        last_kind[ev.peer] = ev.event
        # The end of a connection (not the cookie round, not a lingering one).
        if ev.event == "reset" and previous not in ("hello_verify", "linger", None):
            for data in transport.discard_from(parse_hostport(ev.peer)):
                report_discard(ev.peer, data, "arrived before the reset; freed with the "
                               "connection's socket (emulated)")

    server.on_event = on_event
    reason = "max_seconds"
    settle_until: float | None = None
    try:
        while True:
            server.poll()
            now = clock.now_ms
            if stop is not None and stop.is_set():
                reason = "stopped"
                break
            if max_clients is not None and server.served >= max_clients \
                    and server.next_deadline() is None:
                if settle_until is None:
                    settle_until = now + settle_ms
                if now >= settle_until:
                    reason = "max_clients"
                    break
            if now >= end_ms:
                break
            deadline = server.next_deadline()
            target = end_ms if deadline is None else min(deadline, end_ms)
            if settle_until is not None:
                target = min(target, settle_until)
            transport.wait(target, max_wait_ms=tick_ms)
    finally:
        server.on_event = user_cb
    return ServeResult(server.served, server.errors.total, server.dropped.total, discarded,
                       time.monotonic() - start, reason)


class ServerThread:
    """:func:`serve` in a background thread: ``start()``, then ``stop()`` (or use
    it as a context manager).  ``result`` is the :class:`ServeResult` once the
    loop ended; an exception in the loop is re-raised by ``stop()``."""

    def __init__(self, server: DTLSServer, transport: UDPTransport | None = None,
                 **serve_args: Any) -> None:
        self.server = server
        self.transport = transport if transport is not None else server.transport
        self._args = serve_args
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.result: ServeResult | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.result = serve(self.server, self.transport, stop=self._stop, **self._args)
        except BaseException as exc:  # noqa: BLE001 - handed to stop()
            self.error = exc

    def start(self) -> ServerThread:
        """Start the loop."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="dtls-serve", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the loop still runs."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> ServeResult | None:
        """Wait for the loop to end by itself (``max_clients``/``max_seconds``)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    def stop(self, timeout: float = 5.0) -> ServeResult | None:
        """Ask the loop to stop, wait for it, re-raise its exception if it had one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("the server loop did not stop")
        if self.error is not None:
            raise self.error
        return self.result

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- client


@dataclass
class ClientResult:
    """What :func:`run_client` did; every ``*_rc`` is the Mbed TLS return code."""

    handshake_rc: int
    write_rc: int | None = None
    read_rc: int | None = None
    received: bytes = b""
    peer_closed: bool = False
    close_rc: int | None = None
    ciphersuite: str | None = None
    verify_result: int | None = None
    elapsed_ms: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Handshake done and the write went through."""
        return self.handshake_rc == 0 and (self.write_rc is None or self.write_rc >= 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        d = dict(self.__dict__)
        d["received"] = self.received.decode("latin-1")
        for key in ("handshake_rc", "write_rc", "read_rc", "close_rc"):
            if d[key] is not None:
                d[key] = int(d[key])
        return d


class UDPClient:
    """A DTLS client ``Context`` on its own UDP socket, talking to ``host:port``.

    Each call drives the context with real-time timers until it completes or
    its ``timeout`` (seconds) runs out, and returns Mbed TLS's code unchanged
    (``SSL_WANT_READ`` when the time ran out waiting).  Datagrams from any
    address other than the server's are ignored.
    """

    def __init__(self, config: Config, host: str, port: int, *,
                 hostname: str | None = None, bind_host: str | None = None,
                 allow_remote: bool = False, mtu: int | None = None, name: str = "client",
                 on_event: Callable[[Event], None] | None = None) -> None:
        if config.endpoint != "client":
            raise ValueError("UDPClient needs a client Config")
        check_host(host, allow_remote)
        family, self.server = resolve(host, port)
        if bind_host is None:
            bind_host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.transport = UDPTransport(bind_host, 0, allow_remote=allow_remote)
        try:
            self.ctx = Context(config, clock=self.transport.clock, name=name)
            if hostname is not None:
                rc = self.ctx.set_hostname(hostname)
                if rc:
                    raise ValueError(f"set_hostname({hostname!r}) returned {rc!r}")
            if mtu is not None:
                self.ctx.set_mtu(mtu)
        except BaseException:
            self.transport.close()
            raise
        self.clock = self.transport.clock
        self.on_event = on_event
        self.events: list[Event] = []
        self.peer_closed = False
        self.ignored = 0
        self._t0 = self.clock.now_ms

    def _emit(self, event: str, rc: int | None = None, note: str = "", **data: Any) -> None:
        ev = Event(int(self.clock.now_ms - self._t0), event, addr_str(self.server),
                   None if rc is None else as_err(rc), note, data)
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def _flush(self) -> None:
        while (d := self.ctx.pop()) is not None:
            self.transport.sendto(d, self.server)

    def _receive(self) -> None:
        while (item := self.transport.recvfrom()) is not None:
            data, src = item
            if src != self.server:
                self.ignored += 1
                continue
            self.ctx.push(data)

    def _drive(self, call: Callable[[], int], timeout: float) -> int:
        end = self.clock.now_ms + timeout * 1000.0
        while True:
            self._receive()
            queued = self.ctx.pending_in
            rc = call()
            self._flush()
            if rc not in _FLOW:
                return rc
            now = self.clock.now_ms
            if now >= end:
                return rc
            timer = self.ctx.timer_deadline()
            target = end if timer is None else min(timer, end)
            left = self.ctx.pending_in
            if left == 0 or left >= queued:  # nothing queued, or nothing taken: wait
                self.transport.wait(target, max_wait_ms=max(1.0, end - now))

    def handshake(self, timeout: float = 10.0) -> int:
        """Handshake (cookies and retransmissions included); 0 when done."""
        rc = self._drive(self.ctx.handshake, timeout)
        note = self.ctx.ciphersuite or "" if rc == 0 else ""
        self._emit("handshake", rc, note)
        return rc

    def write(self, data: bytes, timeout: float = 5.0) -> int:
        """``mbedtls_ssl_write``: bytes written or the code."""
        rc = self._drive(lambda: self.ctx.write(data), timeout)
        self._emit("write", rc, f"{rc} bytes written" if rc >= 0 else "write failed")
        return rc

    def read(self, timeout: float = 5.0, size: int = 16384) -> tuple[int, bytes]:
        """``mbedtls_ssl_read``: ``(rc, data)``; ``rc`` is the byte count, or
        ``SSL_PEER_CLOSE_NOTIFY``, or ``SSL_WANT_READ`` when ``timeout`` ran out."""
        buf = bytearray(size)
        rc = self._drive(lambda: self.ctx.read_into(buf), timeout)
        data = bytes(buf[:rc]) if rc > 0 else b""
        if rc == Err.SSL_PEER_CLOSE_NOTIFY:
            self.peer_closed = True
            self._emit("read", rc, "connection closed by peer")
        elif rc > 0:
            self._emit("read", rc, f"{rc} bytes read", data=data.decode("latin-1"))
        else:
            self._emit("read", rc, "nothing read" if rc in _FLOW else "read failed")
        return rc, data

    def close_notify(self, timeout: float = 2.0) -> int:
        """Send close_notify; 0 on success."""
        rc = self._drive(self.ctx.close_notify, timeout)
        self._emit("close_notify", rc)
        return rc

    def close(self) -> None:
        """Free the context and close the socket (idempotent)."""
        self.ctx.close()
        self.transport.close()

    def __enter__(self) -> UDPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_client(config: Config, host: str, port: int, data: bytes = b"GET / HTTP/1.0\r\n\r\n",
               *, hostname: str | None = None, timeout: float = 10.0,
               expect_reply: bool = True, wait_close_ms: float = 0.0,
               send_close_notify: bool = True, allow_remote: bool = False,
               on_event: Callable[[Event], None] | None = None) -> ClientResult:
    """One client exchange: handshake, write ``data``, read the reply (if
    ``expect_reply``), wait up to ``wait_close_ms`` for the server's
    close_notify, then send close_notify (if ``send_close_notify``).  Always
    closes the socket.  ``timeout`` bounds each step (seconds)."""
    start = time.monotonic()
    with UDPClient(config, host, port, hostname=hostname, allow_remote=allow_remote,
                   on_event=on_event) as client:
        result = ClientResult(handshake_rc=client.handshake(timeout))
        if result.handshake_rc == 0:
            result.ciphersuite = client.ctx.ciphersuite
            result.verify_result = client.ctx.verify_result
            result.write_rc = client.write(data, timeout)
            if result.write_rc >= 0 and expect_reply:
                rc, got = client.read(timeout)
                result.read_rc, result.received = rc, got
            if wait_close_ms > 0 and not client.peer_closed:
                rc, got = client.read(wait_close_ms / 1000.0)
                result.received += got
                if result.read_rc is None or rc == Err.SSL_PEER_CLOSE_NOTIFY:
                    result.read_rc = rc
            result.peer_closed = client.peer_closed
            if send_close_notify:
                result.close_rc = client.close_notify()
        result.events = [e.to_dict() for e in client.events]
    result.elapsed_ms = (time.monotonic() - start) * 1000.0
    return result
