"""An in-process model of upstream's ``programs/test/udp_proxy`` with its
exact semantics, driven by the simulated network in virtual time.

Every decision is made the way ``udp_proxy.c`` (3.6) makes it, including the
order in which it draws from C's ``rand()`` (reproduced: glibc's
``srand``/``rand``), so the same ``seed=`` over the same datagram sequence
makes the same choices as the real proxy.

=================  ==========================================================
udp_proxy option   this model (``UdpProxy``)
=================  ==========================================================
``drop=N``         drop a datagram when ``rand() % N == 0`` — never CID or
                   ApplicationData, never a protected one, never one already
                   held twice (``held[len % 2048] < 2``)
``delay=N``        hold it when ``rand() % N == 0`` (same exceptions); held
                   datagrams go out right after the next *forwarded* one
                   (reordering, not time); at most 5 held, a 6th is lost
``delay_ccs=1``    hold every ChangeCipherSpec (no rand(), no held limit)
``delay_cli=T``    hold the first client datagram whose first record is
``delay_srv=T``    handshake message T (unencrypted); each use once, up to 10
``duplicate=N``    after forwarding, send again when ``rand() % N == 0``
                   (not ApplicationData); also applies to released datagrams
``mtu=N``          drop datagrams longer than N bytes (counted as held)
``pack=T``         coalesce datagrams per direction, flushed T ms after the
                   first one of the buffer (or when 18 KiB would overflow)
``bad_ad=1``       before each ApplicationData datagram, send a copy with
                   byte 13 incremented
``bad_cid=N``      before a CID datagram, when ``rand() % N == 0``, send a
                   copy with byte 11 (the CID) xor 1
``protect_hvr=1``  never drop/delay HelloVerifyRequest
``protect_len=L``  never drop/delay a datagram of exactly L bytes
``inject_clihlo``  remember the first ClientHello; after the first
                   ApplicationData sent, send it again (once)
``seed=S``         ``srand(S)``; a run's seed is used when none is given
new client         a datagram from a new client address resets the proxy:
                   held datagrams lost, hold counts cleared (``goto accept``)
=================  ==========================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["GlibcRand", "ProxyOptions", "UdpProxy", "msg_type", "parse_proxy_args"]

MAX_MSG_SIZE = 16384 + 2048
MAX_DELAYED_MSG = 5
MAX_DELAYED_HS = 10
HOLD_MAX = 2

_HS_TYPES = {0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 3: "HelloVerifyRequest",
             4: "NewSessionTicket", 11: "Certificate", 12: "ServerKeyExchange",
             13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify",
             16: "ClientKeyExchange", 20: "Finished"}


class GlibcRand:
    """glibc's ``srand(seed)``/``rand()`` (the TYPE_3 additive generator)."""

    def __init__(self, seed: int) -> None:
        seed &= 0xFFFFFFFF
        if seed == 0:
            seed = 1
        r = [0] * 34
        r[0] = seed - (1 << 32) if seed >= 1 << 31 else seed
        for i in range(1, 31):
            hi, lo = divmod(r[i - 1], 127773) if r[i - 1] >= 0 else (-((-r[i - 1]) // 127773),
                                                                      -((-r[i - 1]) % 127773))
            word = 16807 * lo - 2836 * hi
            if word < 0:
                word += 2147483647
            r[i] = word
        for i in range(31, 34):
            r[i] = r[i - 31]
        self._r = [x & 0xFFFFFFFF for x in r]
        for _ in range(310):
            self._next()

    def _next(self) -> int:
        r = self._r
        value = (r[-31] + r[-3]) & 0xFFFFFFFF
        r.append(value)
        if len(r) > 64:
            del r[:-34]
        return value >> 1

    def rand(self) -> int:
        """The next ``rand()`` value (0 .. 2**31-1)."""
        return self._next()


def msg_type(data: bytes) -> str:
    """udp_proxy's ``msg_type``: the type of the first record of a datagram."""
    if len(data) < 1:
        return "Invalid"
    t = data[0]
    names = {20: "ChangeCipherSpec", 21: "Alert", 23: "ApplicationData", 25: "CID"}
    if t in names:
        return names[t]
    if t != 22:
        return "Unknown"
    if len(data) < 13 + 12:
        return "Invalid handshake"
    if data[14] or data[19] or data[22]:
        return "Encrypted handshake"
    return _HS_TYPES.get(data[13], "Unknown handshake")


@dataclass
class ProxyOptions:
    """The udp_proxy options (same names, same defaults)."""

    duplicate: int = 0
    delay: int = 0
    delay_ccs: int = 0
    delay_cli: list[str] = field(default_factory=list)
    delay_srv: list[str] = field(default_factory=list)
    drop: int = 0
    mtu: int = 0
    bad_ad: int = 0
    bad_cid: int = 0
    protect_hvr: int = 0
    protect_len: int = -1
    inject_clihlo: int = 0
    pack: int = 0
    seed: int = 0


def _integer(key: str, text: str) -> int:
    # udp_proxy reads numbers with atoi(), so "drop=abc" would silently mean
    # drop=0 (off); a value that is not a decimal integer is refused instead.
    try:
        if not text.strip().lstrip("+-").isdigit():
            raise ValueError
        return int(text)
    except ValueError:
        raise ValueError(f"option {key}: illegal value: {text} (not a decimal integer)") from None


def parse_proxy_args(args: list[str]) -> ProxyOptions:
    """Parse ``udp_proxy`` arguments (``key=value``) with its validation;
    raises ``ValueError`` where udp_proxy exits with its usage message."""
    o = ProxyOptions()
    ranges = {"duplicate": (0, 20), "delay": (0, 20), "delay_ccs": (0, 1), "drop": (0, 20),
              "mtu": (0, MAX_MSG_SIZE), "bad_ad": (0, 1), "protect_hvr": (0, 1),
              "inject_clihlo": (0, 1)}
    for arg in args:
        if "=" not in arg:
            raise ValueError(f"unknown option or missing value: {arg}")
        key, value = arg.split("=", 1)
        if key in ("server_addr", "server_port", "listen_addr", "listen_port"):
            continue
        if key in ("delay_cli", "delay_srv"):
            lst = getattr(o, key)
            if len(lst) == MAX_DELAYED_HS:
                raise ValueError(f"too many uses of {key}: only {MAX_DELAYED_HS} allowed")
            lst.append(value)
        elif key in ranges:
            n = _integer(key, value)
            lo, hi = ranges[key]
            if n < lo or n > hi or (key in ("delay", "drop") and n == 1):
                raise ValueError(f"option {key}: illegal value: {value}")
            setattr(o, key, n)
        elif key in ("bad_cid", "pack"):
            setattr(o, key, _integer(key, value) & 0xFFFFFFFF)
        elif key == "protect_len":
            n = _integer(key, value)
            if n < 0:
                raise ValueError(f"option {key}: illegal value: {value}")
            o.protect_len = n
        elif key == "seed":
            n = _integer(key, value)
            if n == 0:
                raise ValueError(f"option {key}: illegal value: {value}")
            o.seed = n
        else:
            raise ValueError(f"unknown option or missing value: {key}")
    return o


@dataclass
class _Packet:
    way: str
    type: str
    data: bytes
    tag: object = None  # set by an ``observe`` hook (the schedule search names datagrams)


class UdpProxy:
    """The proxy's decision logic.  ``send(way, data)`` is called for every
    datagram it dispatches (``way`` is ``"S <- C"`` toward the server or
    ``"S -> C"`` toward the client); ``now()`` gives virtual milliseconds and
    ``call_at(ms, fn)`` schedules the ``pack`` flush.  ``log`` collects lines
    in udp_proxy's own format."""

    def __init__(self, options: ProxyOptions, send: Callable[[str, bytes], None],
                 now: Callable[[], int] = lambda: 0,
                 call_at: Callable[[int, Callable[[], None]], None] | None = None) -> None:
        self.o = options
        self._send = send
        self._now = now
        self._call_at = call_at
        self.rng = GlibcRand(options.seed or 1)
        self.delay_cli: list[str | None] = list(options.delay_cli)
        self.delay_srv: list[str | None] = list(options.delay_srv)
        self.log: list[str] = []
        self.client: object = None
        self.held = [0] * 2048
        self.prev: list[_Packet] = []
        self.ich_state = 0  # 0 init, 1 cached, 2 injected
        self.initial_clihlo: _Packet | None = None
        self.packbuf: dict[str, tuple[bytearray, int, int]] = {}
        # Hooks for the schedule search (mbedtls_py.search), both None by default:
        # ``observe(packet)`` sees every datagram received; ``chooser(kind, n, packet)``
        # decides a random choice (``drop``, ``delay``, ``duplicate``, ``bad_cid``)
        # instead of ``rand() % n == 0`` (None: roll as udp_proxy does).
        self.observe: Callable[[_Packet], None] | None = None
        self.chooser: Callable[[str, int, _Packet], bool | None] | None = None

    # -- connection tracking -------------------------------------------------

    def from_client(self, addr: object, data: bytes) -> None:
        """A datagram from a client address.  A new address is accepted as
        the client (udp_proxy's ``goto accept``): held datagrams and hold
        counts are forgotten."""
        if addr != self.client:
            if self.client is not None:
                self._print("  . Waiting for a remote connection ... ok")
            self.client = addr
            self.prev = []
            self.held = [0] * 2048
            self.packbuf = {}
        self.handle("S <- C", data)

    def from_server(self, data: bytes) -> None:
        """A datagram from the server (dropped when no client is connected)."""
        if self.client is None:
            return
        self.handle("S -> C", data)

    # -- udp_proxy.c, handle_message and friends ------------------------------

    def _print(self, line: str) -> None:
        self.log.append(line)

    def _roll(self, kind: str, n: int, p: _Packet) -> bool:
        """udp_proxy's ``rand() % n == 0`` for option ``kind``, unless the chooser decides."""
        if self.chooser is not None:
            forced = self.chooser(kind, n, p)
            if forced is not None:
                return forced
        return self.rng.rand() % n == 0

    def _print_packet(self, p: _Packet, why: str | None) -> None:
        t = self._now() % 100000
        self._print(f"  {t:05d} dispatch {p.way} {p.type} ({len(p.data)} bytes)"
                    + (f": {why}" if why else ""))

    def _dispatch(self, way: str, data: bytes) -> None:
        if self.o.pack > 0:
            buf, first, count = self.packbuf.get(way, (bytearray(), 0, 0))
            if len(buf) + len(data) > MAX_MSG_SIZE and count:
                self._flush(way)
                buf, first, count = bytearray(), 0, 0
            if count == 0:
                first = self._now()
                if self._call_at is not None:
                    self._call_at(first + self.o.pack, functools.partial(self._flush_due, way, first))
            buf += data
            self.packbuf[way] = (buf, first, count + 1)
            return
        self._send(way, data)

    def _flush_due(self, way: str, first: int) -> None:
        entry = self.packbuf.get(way)
        if entry and entry[2] and entry[1] == first:
            self._flush(way)

    def _flush(self, way: str) -> None:
        buf, first, count = self.packbuf.pop(way)
        self._print(f"  {self._now() % 100000:05d} flush    {way}: {len(buf)} bytes, {count} "
                    f"datagrams, last {self._now() - first} ms")
        self._send(way, bytes(buf))

    def _send_packet(self, p: _Packet, why: str) -> None:
        o = self.o
        if o.inject_clihlo and self.ich_state == 0 and p.type == "ClientHello":
            self.initial_clihlo = p
            self.ich_state = 1
        if o.bad_cid and p.type == "CID" and self._roll("bad_cid", o.bad_cid, p):
            bad = bytearray(p.data)
            bad[11] ^= 1
            self._print_packet(p, "modified CID")
            self._dispatch(p.way, bytes(bad))
        if o.bad_ad and p.type == "ApplicationData":
            bad = bytearray(p.data)
            if len(p.data) <= 13:
                self._print("  ! can't corrupt empty AD record")
            else:
                bad[13] = (bad[13] + 1) & 0xFF
                self._print_packet(p, "corrupted")
            self._dispatch(p.way, bytes(bad))
        self._print_packet(p, why)
        self._dispatch(p.way, p.data)
        if o.duplicate and p.type != "ApplicationData" and self._roll("duplicate", o.duplicate, p):
            self._print_packet(p, "duplicated")
            self._dispatch(p.way, p.data)
        if o.inject_clihlo and self.ich_state == 1 and p.type == "ApplicationData":
            assert self.initial_clihlo is not None
            self._print_packet(self.initial_clihlo, "injected")
            self._dispatch(p.way, self.initial_clihlo.data)
            self.ich_state = 2

    def _delay(self, p: _Packet) -> None:
        if len(self.prev) < MAX_DELAYED_MSG:
            self.prev.append(p)

    def _send_delayed(self) -> None:
        prev, self.prev = self.prev, []
        for p in prev:
            self._send_packet(p, "delayed")

    def handle(self, way: str, data: bytes) -> str:
        """Decide about one received datagram: returns ``"delay"``,
        ``"drop"`` or ``"forward"`` (and dispatches accordingly)."""
        o = self.o
        cur = _Packet(way, msg_type(data), data)
        if self.observe is not None:
            self.observe(cur)
        self._print_packet(cur, None)
        ident = len(data) % 2048
        dlist = self.delay_cli if way == "S <- C" else self.delay_srv
        for i, wanted in enumerate(dlist):
            if wanted is not None and wanted == cur.type:
                self._delay(cur)
                dlist[i] = None
                return "delay"
        protected = (cur.type in ("CID", "ApplicationData")
                     or (o.protect_hvr and cur.type == "HelloVerifyRequest")
                     or len(data) == o.protect_len or self.held[ident] >= HOLD_MAX)
        if (o.mtu and len(data) > o.mtu) or \
                (o.drop and not protected and self._roll("drop", o.drop, cur)):
            self.held[ident] += 1
            return "drop"
        if (o.delay_ccs == 1 and cur.type == "ChangeCipherSpec") or \
                (o.delay and not protected and self._roll("delay", o.delay, cur)):
            self.held[ident] += 1
            self._delay(cur)
            return "delay"
        self._send_packet(cur, "forwarded")
        self._send_delayed()
        return "forward"
