"""Python benchmark driver: the rows of bench/native_driver.c, driven through
mbedtls_py's public API the way a user would write them (``Context``
methods, ``move_to``, ``VirtualClock``), call for call the same as the C.

Usage: python bench/py_driver.py PKI_DIR SECONDS ROW[,ROW...]   one JSON object
       python bench/py_driver.py PKI_DIR serve    reads "ROW SECONDS" lines,
                                                  one JSON object per line
The same shape as the native driver's output.  Rates are per CPU second of
this process (``time.process_time``, the same clock as the native driver's),
so that other load on a shared machine does not count; wall-clock figures
are printed too.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sim_rows  # bench/sim_rows.py (this directory is on sys.path when run as a script)
from mbedtls_py import Config, Context, Err, VirtualClock, set_time

FIXED_TIME = 1_700_000_000
PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"
CERT_SUITE = "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
PSK = b"0123456789abcdef"
TID1 = b"127.0.0.1:40001"
TID2 = b"127.0.0.1:40002"
REQUEST = b"GET / HTTP/1.0\r\n\r\n"
LOST_FLIGHTS = 3

WANT_READ = Err.SSL_WANT_READ
WANT_WRITE = Err.SSL_WANT_WRITE
HELLO_VERIFY_REQUIRED = Err.SSL_HELLO_VERIFY_REQUIRED

clock = VirtualClock()
PKI: dict[str, bytes] = {}


class Failed(Exception):
    pass


def fail(what: str, rc: int) -> None:
    raise Failed(f"py_driver: failed: {what} returned {rc!r}")


def make_config(endpoint: str, kind: str, cookies: bool, seed: str) -> Config:
    conf = Config(endpoint, seed=seed)
    if kind == "psk":
        conf.do_set_psk(PSK)
        conf.set_ciphersuites([PSK_SUITE])
    else:
        if endpoint == "server":
            conf.do_set_certificate(PKI["server.crt"], PKI["server.key"])
        else:
            conf.set_ca_chain(PKI["ca.crt"])
        conf.set_ciphersuites([CERT_SUITE])
    if cookies:
        conf.do_set_cookies(True)
    return conf


def new_context(conf: Config, client: bool) -> Context:
    ctx = Context(conf, clock=clock)
    if client:
        rc = ctx.set_hostname("localhost")
        if rc:
            fail("set_hostname", rc)
    return ctx


# -- moving datagrams, optionally losing the first sending of flights ---------

class Network:
    def __init__(self, max_drops: int = 0, transcript: bool = False) -> None:
        self.max_drops = max_drops
        self.drops = 0
        self.seen: set[tuple] = set()
        self.hash = hashlib.sha256() if transcript else None
        self.slow = bool(max_drops or transcript)

    @staticmethod
    def flight_key(from_server: int, d: bytes) -> tuple:
        if len(d) >= 19 and d[0] == 22:
            return (from_server, 22, d[17], d[18])
        return (from_server, d[0], None, None)

    def deliver(self, src: Context, dst: Context, from_server: int) -> int:
        delivered = 0
        if not self.slow:
            while src.move_to(dst):
                delivered += 1
            return delivered
        while (d := src.peek()) is not None:
            if self.hash is not None:
                self.hash.update(d)
            if self.max_drops:
                key = self.flight_key(from_server, d)
                new = key not in self.seen
                self.seen.add(key)
                if new and self.drops < self.max_drops:
                    self.drops += 1
                    src.pop()
                    continue
            src.move_to(dst)
            delivered += 1
        return delivered


def advance_to_next_deadline(a: Context, b: Context) -> None:
    deadlines = [d for d in (a.timer_deadline(), b.timer_deadline()) if d is not None]
    if not deadlines:
        raise Failed("py_driver: failed: handshake stalled with no timer running")
    nxt = min(deadlines)
    if nxt > clock.now_ms:
        clock.now_ms = nxt


def server_reset(srv: Context, tid: bytes) -> None:
    rc = srv.session_reset()
    if rc:
        fail("session_reset", rc)
    rc = srv.set_client_transport_id(tid)
    if rc:
        fail("set_client_transport_id", rc)


def handshake(net: Network, cli: Context, srv: Context, tid: bytes) -> None:
    """Client step, deliver, server step, deliver, until both are done; a
    HelloVerifyRequest resets the server as the dtls_server sample does."""
    cdone = sdone = False
    for _ in range(1000):
        moved = 0
        if not cdone:
            rc = cli.handshake()
            if rc == 0:
                cdone = True
            elif rc != WANT_READ and rc != WANT_WRITE:
                fail("handshake (client)", rc)
        moved += net.deliver(cli, srv, 0)
        if not sdone:
            rc = srv.handshake()
            if rc == 0:
                sdone = True
            elif rc == HELLO_VERIFY_REQUIRED:
                server_reset(srv, tid)
            elif rc != WANT_READ and rc != WANT_WRITE:
                fail("handshake (server)", rc)
        moved += net.deliver(srv, cli, 1)
        if cdone and sdone:
            return
        if not moved:
            advance_to_next_deadline(cli, srv)
    raise Failed("py_driver: failed: handshake did not finish in 1000 rounds")


class Pair:
    def __init__(self, kind: str, cookies: bool) -> None:
        self.s = new_context(make_config("server", kind, cookies, "bench-server"), False)
        self.c = new_context(make_config("client", kind, False, "bench-client"), True)
        self.cookies = cookies

    def handshake(self, net: Network) -> None:
        """One full handshake on the reused pair (both sides reset first)."""
        if self.cookies:
            server_reset(self.s, TID1)
        else:
            rc = self.s.session_reset()
            if rc:
                fail("session_reset", rc)
        rc = self.c.session_reset()
        if rc:
            fail("session_reset (client)", rc)
        handshake(net, self.c, self.s, TID1)


def transcript(kind: str, cookies: bool, drops: int) -> str:
    net = Network(max_drops=drops, transcript=True)
    Pair(kind, cookies).handshake(net)
    return net.hash.hexdigest()[:16]


# -- the rows -------------------------------------------------------------------

class Stopwatch:
    def __init__(self) -> None:
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.wall = self.cpu = 0.0

    def before(self, secs: float) -> bool:
        self.cpu = time.process_time() - self.cpu0
        self.wall = time.perf_counter() - self.wall0
        return self.cpu < secs

    def rates(self, n: int, bytes_per_op: int = 0) -> dict:
        out = {"ops": n, "seconds": self.wall, "cpu_seconds": self.cpu,
               "per_s": n / self.cpu, "wall_per_s": n / self.wall}
        if bytes_per_op:
            out["mb_per_s"] = n * bytes_per_op / self.cpu / 1e6
            out["wall_mb_per_s"] = n * bytes_per_op / self.wall / 1e6
        return out


def timed(once: Callable[[int], object], secs: float) -> tuple[Stopwatch, int, int]:
    """Warm up with ``once(0)``, then call ``once(1)``, ``once(2)``, ... for
    ``secs`` of CPU: (the stopwatch, how many completed, how many were tried);
    ``once`` returns False for a try that did not complete."""
    once(0)
    done = tried = 0
    sw = Stopwatch()
    while True:
        tried += 1
        done += once(tried) is not False
        if not sw.before(secs):
            break
    return sw, done, tried


def row_handshakes(kind: str, cookies: bool, secs: float) -> dict:
    p = Pair(kind, cookies)
    net = Network()
    sw, n, _ = timed(lambda _: p.handshake(net), secs)
    return sw.rates(n)


def row_records(size: int, secs: float) -> dict:
    p = Pair("psk", False)
    p.handshake(Network())
    out = b"x" * size
    buf = bytearray(16384)
    cli, srv = p.c, p.s
    n = 0
    sw = Stopwatch()
    while True:
        for _ in range(64):
            rc = cli.write(out)
            if rc != size:
                fail("write", rc)
            if cli.move_to(srv) <= 0:
                fail("move_to", 0)
            rc = srv.read_into(buf)
            if rc != size:
                fail("read_into", rc)
        n += 64
        if not sw.before(secs):
            break
    return sw.rates(n, size)


class Race:
    """The seed scenario: handshake, request and echo, the server closes and
    resets, the client's close_notify arrives late and the server's next
    handshake call returns -0x7700; the server resets and serves a second client."""

    def __init__(self, kind: str) -> None:
        self.s = new_context(make_config("server", kind, True, "bench-server"), False)
        cli_conf = make_config("client", kind, False, "bench-client")
        self.c1 = new_context(cli_conf, True)
        self.c2 = new_context(cli_conf, True)
        self.buf = bytearray(1024)

    def once(self, net: Network) -> None:
        s, c1, c2, buf = self.s, self.c1, self.c2, self.buf
        for c in (c1, c2):
            rc = c.session_reset()
            if rc:
                fail("session_reset (client)", rc)
        server_reset(s, TID1)
        handshake(net, c1, s, TID1)
        if (rc := c1.write(REQUEST)) != len(REQUEST):
            fail("write (client)", rc)
        net.deliver(c1, s, 0)
        if (rc := s.read_into(buf)) != len(REQUEST):
            fail("read_into (server)", rc)
        if (rc := s.write(buf[:rc])) != len(REQUEST):
            fail("write (server)", rc)
        net.deliver(s, c1, 1)
        if (rc := c1.read_into(buf)) != len(REQUEST):
            fail("read_into (client)", rc)
        if (rc := s.close_notify()) != 0:
            fail("close_notify (server)", rc)
        net.deliver(s, c1, 1)
        if (rc := c1.read_into(buf)) != Err.SSL_PEER_CLOSE_NOTIFY:
            fail("read_into (client, expecting PEER_CLOSE_NOTIFY)", rc)
        if (rc := c1.close_notify()) != 0:
            fail("close_notify (client)", rc)
        # the client's alert is late: the server resets first
        server_reset(s, TID1)
        net.deliver(c1, s, 0)
        if (rc := s.handshake()) != Err.SSL_UNEXPECTED_MESSAGE:
            fail("handshake (server, expecting -0x7700)", rc)
        server_reset(s, TID2)
        handshake(net, c2, s, TID2)


def row_race(kind: str, secs: float) -> dict:
    r = Race(kind)
    net = Network()
    sw, n, _ = timed(lambda _: r.once(net), secs)
    return sw.rates(n)


def row_lost(kind: str, secs: float) -> dict:
    p = Pair(kind, False)
    p.handshake(Network(max_drops=LOST_FLIGHTS))  # warm-up
    n = 0
    virtual_ms = 0
    sw = Stopwatch()
    while True:
        net = Network(max_drops=LOST_FLIGHTS)
        start = clock.now_ms
        p.handshake(net)
        if net.drops != LOST_FLIGHTS:
            raise Failed(f"py_driver: failed: only {net.drops} flights lost")
        virtual_ms += clock.now_ms - start
        n += 1
        if not sw.before(secs):
            break
    # the speed-up is against real (wall-clock) time
    real_ms = sw.wall * 1e3 / n
    return dict(sw.rates(n), real_ms=real_ms, cpu_ms=sw.cpu * 1e3 / n,
                virtual_ms=virtual_ms / n, speedup=(virtual_ms / n) / real_ms)


def transcripts(_secs: float) -> dict:
    return {"cert": transcript("cert", False, 0),
            "cookie": transcript("cert", True, 0),
            "psk": transcript("psk", False, 0),
            "lost_flight_psk": transcript("psk", False, LOST_FLIGHTS)}


ROWS = {
    "transcripts": transcripts,
    "cert_handshake": lambda s: row_handshakes("cert", False, s),
    "cookie_handshake": lambda s: row_handshakes("cert", True, s),
    "psk_handshake": lambda s: row_handshakes("psk", False, s),
    "record_1k": lambda s: row_records(1000, s),
    "record_16k": lambda s: row_records(16000, s),
    "race_cert": lambda s: row_race("cert", s),
    "race_psk": lambda s: row_race("psk", s),
    "lost_flight_psk": lambda s: row_lost("psk", s),
    "lost_flight_cert": lambda s: row_lost("cert", s),
}


ROWS.update(sim_rows.rows(timed))


def load_pki(directory: str) -> None:
    for name in ("ca.crt", "server.crt", "server.key"):
        PKI[name] = (Path(directory) / name).read_bytes()


def main(argv: list[str]) -> int:
    serve = len(argv) == 2 and argv[1] == "serve"
    if not (serve or len(argv) == 3) or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    load_pki(argv[0])
    set_time(FIXED_TIME)
    if serve:
        for line in sys.stdin:
            row, secs = line.split()
            if row not in ROWS:
                print(f"py_driver: unknown row {row}", file=sys.stderr)
                return 2
            print(json.dumps({row: ROWS[row](float(secs))}), flush=True)
        return 0
    secs = float(argv[1])
    out: dict = {}
    for row in argv[2].split(","):
        if row not in ROWS:
            print(f"py_driver: unknown row {row}", file=sys.stderr)
            return 2
        out[row] = ROWS[row](secs)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (Failed, sim_rows.Failed) as e:
        print(e, file=sys.stderr)
        sys.exit(1)
