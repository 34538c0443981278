"""``Duo``: a seeded client and server on one virtual clock, driven over a
lossless in-memory link, with every call's return code logged.

The off-path scenarios (``mbedtls_py.attacks``) and the datagram fuzzer
(``mbedtls_py.fuzz``) both need the same thing: a real handshake that can be
stopped at any point, a hostile datagram pushed into one side, and then the
legitimate traffic resumed until it succeeds or provably cannot.  A finished
endpoint keeps calling ``read`` (as an application does), so it still answers
its peer's retransmissions; when nothing is in flight the clock jumps to the
next DTLS timer, so retransmission schedules cost no real time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..bindings.config import Config
from ..bindings.context import Context, VirtualClock, reset_after_hello_verify
from ..bindings.errors import Err, as_err
from ..creds.det import make_det_pki
from ..creds.pki import PKI
from ..creds.configs import psk_configs
from ..bindings.x509 import CertificateChain, PrivateKey
from ..sim.pump import Pair

__all__ = ["Duo", "Call", "Kind", "UNIX_TIME", "TRANSPORT_ID", "det_pki", "DebugCapture"]

Kind = Literal["psk", "ecdsa"]
UNIX_TIME = 1_700_000_000          # what Mbed TLS reads as "now" (ServerHello random, cookies)
TRANSPORT_ID = b"192.0.2.1:5684"   # the client's address as the server binds it into cookies
_FLOW = (int(Err.SSL_WANT_READ), int(Err.SSL_WANT_WRITE))


@functools.lru_cache(maxsize=1)
def det_pki() -> PKI:
    """The deterministic ECDSA PKI every ``Duo(kind="ecdsa")`` uses (same bytes in
    every process, so a seed replays byte for byte)."""
    return make_det_pki("mbedtls-py/attacks")


@functools.lru_cache(maxsize=1)
def _parsed_pki() -> tuple[CertificateChain, PrivateKey, CertificateChain]:
    # Parsing the PEMs costs more than a PSK handshake; the parsed objects are
    # read-only in Mbed TLS and can back any number of configs.
    pki = det_pki()
    return CertificateChain(pki.chain_pems), PrivateKey(pki.key_pem), CertificateChain(pki.ca_pem)


def _ecdsa_configs(seed: str, cookies: bool) -> tuple[Config, Config]:
    chain, key, ca = _parsed_pki()
    server = Config("server", seed=f"{seed}/server", cookies=cookies)
    server.set_certificate(chain, key)
    client = Config("client", seed=f"{seed}/client")
    client.set_ca_chain(ca)
    client.set_authmode("required")
    return client, server


@dataclass(frozen=True)
class Call:
    """One call into Mbed TLS: virtual time, endpoint, call name, return code."""

    t_ms: int
    who: str
    call: str
    rc: int

    def __str__(self) -> str:
        return f"{self.t_ms:>7} ms {self.who:<6} {self.call:<9} -> {as_err(self.rc)}"


@dataclass
class Duo:
    """A client and a server context (PSK or ECDSA certificates, cookies on or
    off) seeded by ``seed``; drive it with ``step``/``run``, attack it with
    ``inject``.  ``timeout`` is the handshake retransmission timeout (min, max)
    in ms; the handshake fails with ``SSL_TIMEOUT`` after max.

    The driving is a ``sim.pump.Pair`` (``pair``); the Duo adds the seeded
    configs, the log of calls, the wire record, injection and the next client."""

    kind: Kind = "psk"
    cookies: bool = False
    seed: int | str = 0
    timeout: tuple[int, int] = (1000, 8000)
    log_calls: bool = True
    pair: Pair = field(init=False, repr=False)
    clock: VirtualClock = field(init=False)
    calls: list[Call] = field(init=False, default_factory=list)
    wire: list[tuple[str, bytes]] = field(init=False, default_factory=list)
    record_wire: bool = False
    reset_on_error: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("psk", "ecdsa"):
            raise ValueError(f"kind must be 'psk' or 'ecdsa', not {self.kind!r}")
        seed = f"attacks/{self.kind}/{int(self.cookies)}/{self.seed}"
        if self.kind == "psk":
            cc, sc = psk_configs(seed=seed, cookies=self.cookies)
        else:
            cc, sc = _ecdsa_configs(seed, self.cookies)
        for conf in (cc, sc):
            conf.set_handshake_timeout(*self.timeout)
        self.clock = VirtualClock()
        client = Context(cc, clock=self.clock, name="client")
        server = Context(sc, clock=self.clock, name="server")
        if self.kind == "ecdsa":
            client.set_hostname(det_pki().hostname)
        self.pair = Pair(client, server, transport_id=TRANSPORT_ID,
                         reset_on_error=self.reset_on_error, on_call=self._log,
                         tap=self._record if self.record_wire else None, unix_time=UNIX_TIME)

    # -- the pieces -------------------------------------------------------------

    @property
    def client(self) -> Context:
        """The client context."""
        return self.pair.client

    @property
    def server(self) -> Context:
        """The server context."""
        return self.pair.server

    @property
    def failed(self) -> dict[str, int]:
        """The sides that failed, with the code."""
        return self.pair.failed

    @property
    def received(self) -> dict[str, bytearray]:
        """The application data each side has read."""
        return self.pair.received

    @property
    def done(self) -> dict[str, bool]:
        """Whether each side's handshake completed."""
        return self.pair.done

    @property
    def resets(self) -> list[int]:
        """The handshake errors the server was reset after (``reset_on_error``)."""
        return self.pair.resets

    def ctx(self, who: str) -> Context:
        """The context named ``who`` (``client`` or ``server``)."""
        return self.pair.ctx(who)

    def peer(self, who: str) -> str:
        """The other endpoint's name."""
        return self.pair.peer(who)

    def configs(self) -> tuple[Config, Config]:
        """(client config, server config)."""
        return self.client.config, self.server.config

    def _log(self, who: str, call: str, rc: int) -> None:
        if self.log_calls:
            self.calls.append(Call(self.clock.now_ms, who, call, int(rc)))

    def _record(self, who: str, datagram: bytes) -> None:
        self.wire.append((who, datagram))

    def step(self, who: str) -> int | None:
        """Let ``who`` act once: ``handshake()`` until it completes, then
        ``read`` (whose data goes to ``received``).  Returns the code, or ``None``
        when the endpoint has already failed.  Mbed TLS reads ``UNIX_TIME``
        meanwhile (the Hello randoms carry it); the thread's own setting
        is back afterwards."""
        return self.pair.step(who)

    def write(self, who: str, data: bytes) -> int:
        """``write`` on an established endpoint (the code is logged)."""
        rc = self.ctx(who).write(data)
        self._log(who, "write", rc)
        if rc < 0 and rc not in _FLOW:
            self.failed.setdefault(who, int(rc))
        return rc

    def flush(self) -> int:
        """Move every queued datagram to the other side; return how many."""
        return self.pair.flush()

    def inject(self, who: str, datagram: bytes, *, step: bool = True) -> int | None:
        """Push a datagram no legitimate peer sent into ``who``'s inbound queue
        and (with ``step``) let ``who`` read it at once.  Returns that call's code."""
        self.ctx(who).push(datagram)
        self._log(who, "inject", len(datagram))
        return self.step(who) if step else None

    def new_client(self) -> None:
        """Replace the client by a fresh context on the same config (the next
        client of a server that was reset)."""
        self.client.close()
        self.pair.client = Context(self.client.config, clock=self.clock, name="client")
        if self.kind == "ecdsa":
            self.client.set_hostname(det_pki().hostname)
        self.pair.forget("client")

    def reset_server(self) -> None:
        """``session_reset`` the server (after its connection ended), as the
        dtls_server sample does before waiting for the next client."""
        reset_after_hello_verify(self.server, TRANSPORT_ID)
        self.pair.forget("server")

    # -- driving ------------------------------------------------------------------

    def established(self) -> bool:
        """Both handshakes completed."""
        return self.pair.established()

    def run(self, until: Callable[[], bool] | None = None, *, max_ms: int = 120_000,
            max_rounds: int = 400) -> bool:
        """Alternate the two endpoints until ``until()`` (default: both
        established) holds; ``False`` when an endpoint failed, or neither the
        timers nor the wire can make progress, or a bound ran out."""
        return self.pair.run(until, max_ms=max_ms, max_rounds=max_rounds)

    def handshake(self, **bounds: int) -> bool:
        """Run until both sides are established."""
        return self.run(self.established, **bounds)

    def exchange(self, who: str, data: bytes, **bounds: int) -> bool:
        """``who`` writes ``data``; run until the peer has received all of it."""
        peer = self.peer(who)
        start = len(self.received[peer])
        if self.write(who, data) < 0:
            return False
        return self.run(lambda: len(self.received[peer]) >= start + len(data), **bounds)


class DebugCapture(logging.Handler):
    """Collects Mbed TLS debug lines (``Config.set_debug``) while active:
    ``with DebugCapture(duo, level=1) as cap: ...; cap.lines``."""

    def __init__(self, duo: Duo, level: int = 1) -> None:
        super().__init__(logging.DEBUG)
        self.duo, self.level, self.lines = duo, level, []  # type: ignore[var-annotated]
        self._logger = logging.getLogger("mbedtls_py.mbedtls")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> DebugCapture:
        self._old = (self._logger.level, self._logger.propagate)
        self._logger.setLevel(logging.DEBUG)
        self._logger.propagate = False
        self._logger.addHandler(self)
        for conf in self.duo.configs():
            conf.set_debug(self.level)
        return self

    def __exit__(self, *exc: object) -> None:
        for conf in self.duo.configs():
            conf.set_debug(0)
        self._logger.removeHandler(self)
        self._logger.setLevel(self._old[0])
        self._logger.propagate = self._old[1]
