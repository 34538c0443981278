"""Built-in scenarios for the explorer, and how a user's scenario is found.

A built-in scenario is a ``build(net, policy) -> Setup`` function (parties on
a network with 50 ms links each way) plus :func:`finish`, which drives the
network to the end; an emitted regression test calls the same two, so it
replays exactly what the explorer ran.  Any function ``fn(probe, policy)``
is a scenario too (``module:function`` on the command line): it builds its
network with ``probe.network(...)``, hands its parties to ``probe.watch``
and drives the network to the end.

Not built-in scenarios yet: session resumption and renegotiation (the
bindings have them, ``Context.get_session``/``set_session`` and
``renegotiate``; write them as ``module:function`` scenarios meanwhile).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..bindings.config import Config
from ..sim import Network
from ..server import POLICIES, DTLSServer
from ..server.policies import as_policy
from ..creds.psk import DEFAULT_PSK as PSK
from ..creds.psk import DEFAULT_PSK_IDENTITY as PSK_IDENTITY
from ..creds.psk import DEFAULT_PSK_SUITE as PSK_SUITE
from ..parties import CidServer, Client
from .probe import Probe

__all__ = ["Setup", "Scenario", "SCENARIOS", "UNSUPPORTED", "finish", "get_scenario",
           "build_two_clients", "build_cookie", "build_cert_chain", "build_cid",
           "build_openssl_client", "ONE_WAY_MS",
           "run_scenario"]

ONE_WAY_MS = 50
SERVICE_MS = 20  # the server's time between its close_notify and its session_reset
END_MS = 120_000  # virtual time limit of a run
QUIET_MS = 3_000  # after the last client is done: late datagrams still arrive


@dataclass
class Setup:
    """The parties of a built-in scenario."""

    server: Any
    clients: list[Client]

    def close(self) -> None:
        """Free every context."""
        self.server.close()
        for c in self.clients:
            c.close()


def _links(net: Network, names: list[str]) -> None:
    for name in names:
        net.link(name, "server", delay_ms=ONE_WAY_MS)
        net.link("server", name, delay_ms=ONE_WAY_MS)


def _psk(net: Network, cookies: bool, **options: Any) -> tuple[Config, Config]:
    server = Config("server", seed=net.seed_for("server"), cookies=cookies,
                    psk=(PSK, PSK_IDENTITY), ciphersuites=[PSK_SUITE], **options)
    client = Config("client", seed=net.seed_for("client"), psk=(PSK, PSK_IDENTITY),
                    ciphersuites=[PSK_SUITE], **options)
    return client, server


def _server(net: Network, config: Config, policy: str) -> DTLSServer:
    server = DTLSServer(config, net.socket("server"), policy=as_policy(policy),
                        rtt_ms=2 * ONE_WAY_MS, service_ms=SERVICE_MS)
    net.add_process(server)
    return server


def build_two_clients(net: Network, policy: str = "none") -> Setup:
    """The ``dtls_server`` sample's loop (PSK, cookies on) and two echo
    clients in sequence: ``client2`` starts 100 ms after ``client`` is done."""
    client_conf, server_conf = _psk(net, cookies=True)
    _links(net, ["client", "client2"])
    server = _server(net, server_conf, policy)
    c1 = Client(net, "client", client_conf)
    c2 = Client(net, "client2", client_conf, after=c1)
    for c in (c1, c2):
        net.add_process(c)
    return Setup(server, [c1, c2])


def build_cookie(net: Network, policy: str = "none") -> Setup:
    """One PSK handshake through the cookie exchange (HelloVerifyRequest)."""
    client_conf, server_conf = _psk(net, cookies=True)
    _links(net, ["client"])
    server = _server(net, server_conf, policy)
    c1 = Client(net, "client", client_conf)
    net.add_process(c1)
    return Setup(server, [c1])


@functools.lru_cache(maxsize=2)
def build_gnutls_client(net: Network, policy: str = "none") -> Setup:
    """``two-clients`` with GnuTLS (libgnutls in process, gnutls-cli's flow) as
    the first client: its close_notify is ``gnutls_bye``'s; ``client2`` is Mbed TLS."""
    from ..parties.gnutls_client import GnuTLSClient
    client_conf, server_conf = _psk(net, cookies=True)
    _links(net, ["client", "client2"])
    server = _server(net, server_conf, policy)
    c1 = GnuTLSClient(net, "client", psk=(PSK, PSK_IDENTITY))
    c2 = Client(net, "client2", client_conf, after=c1)
    for c in (c1, c2):
        net.add_process(c)
    return Setup(server, [c1, c2])


def _pki(seed: int) -> Any:
    from ..creds.det import make_det_pki
    return make_det_pki(seed)


def build_cert_chain(net: Network, policy: str = "none") -> Setup:
    """One ECDHE-ECDSA handshake: the server sends its certificate, the client
    verifies the chain up to its CA (authmode required); no cookies."""
    pki = _pki(0)
    server_conf = Config("server", seed=net.seed_for("server"))
    server_conf.set_certificate(pki.chain_pems, pki.key_pem)
    client_conf = Config("client", seed=net.seed_for("client"), ca_chain=pki.ca_pem,
                         authmode="required")
    _links(net, ["client"])
    server = _server(net, server_conf, policy)
    c1 = Client(net, "client", client_conf, hostname=pki.hostname)
    net.add_process(c1)
    return Setup(server, [c1])


def build_openssl_client(net: Network, policy: str = "none") -> Setup:
    """The seed's pair: ``echo "GET / HTTP/1.0" | openssl s_client -dtls1_2``
    (the in-process OpenSSL 3.0: request, then close_notify at once) against
    the ``dtls_server`` loop (ECDSA certificate, cookies on), then an Mbed TLS
    client 100 ms after it is done."""
    from ..parties.openssl import OpenSSLClient
    pki = _pki(0)
    server_conf = Config("server", seed=net.seed_for("server"), cookies=True)
    server_conf.set_certificate(pki.chain_pems, pki.key_pem)
    client_conf = Config("client", seed=net.seed_for("client2"), ca_chain=pki.ca_pem,
                         authmode="required")
    _links(net, ["client", "client2"])
    server = _server(net, server_conf, policy)
    c1: Any = OpenSSLClient(net, "client", seed=net.seed)
    c2 = Client(net, "client2", client_conf, after=c1, hostname=pki.hostname)
    for c in (c1, c2):
        net.add_process(c)
    return Setup(server, [c1, c2])


CID = b"\x0c\x1d\x00\x01"


def build_cid(net: Network, policy: str = "none") -> Setup:
    """A PSK handshake with connection IDs (RFC 9146) after which the client
    changes address (``client`` -> ``client-moved``) and sends its request
    and close_notify from there; the server routes by CID.  (The
    ``DTLSServer`` loop routes by address, so ``policy`` does not apply.)"""
    client_conf, server_conf = _psk(net, cookies=False, cid=len(CID))
    _links(net, ["client", "client-moved"])
    server = CidServer(net, server_conf, cid=CID)
    net.add_process(server)
    c1 = Client(net, "client", client_conf, cid=CID, move_to="client-moved")
    net.add_process(c1)
    return Setup(server, [c1])


def finish(net: Network, setup: Setup) -> None:
    """Drive the network until every client is done (or the virtual limit),
    then ``QUIET_MS`` more so that late datagrams still arrive."""
    net.run(until=lambda: all(c.done for c in setup.clients), deadline_ms=END_MS)
    net.run(deadline_ms=min(END_MS, net.clock.now_ms + QUIET_MS))


@dataclass(frozen=True)
class Scenario:
    """A scenario by name: ``run(probe, policy)``; ``build`` for built-ins."""

    name: str
    description: str
    run: Callable[[Probe, str], None]
    build: Callable[[Network, str], Setup] | None = None
    net_kwargs: dict[str, Any] = field(default_factory=dict)
    uses_policy: bool = True


def _builtin(name: str, build: Callable[[Network, str], Setup], uses_policy: bool = True,
             **net_kwargs: Any) -> Scenario:
    def run(probe: Probe, policy: str) -> None:
        net = probe.network(**net_kwargs)
        setup = build(net, policy)
        probe.watch(setup.server, server=True)
        for c in setup.clients:
            probe.watch(c)
        try:
            finish(net, setup)
        finally:
            probe.finished = setup
    doc = (build.__doc__ or name).split("\n\n")[0]
    return Scenario(name, " ".join(doc.split()), run, build, net_kwargs, uses_policy)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    _builtin("two-clients", build_two_clients),
    _builtin("cookie", build_cookie),
    _builtin("cert-chain", build_cert_chain),
    _builtin("cid", build_cid, uses_policy=False, cid_len=len(CID)),
    _builtin("openssl-client", build_openssl_client),
    _builtin("gnutls-client", build_gnutls_client),
)}

UNSUPPORTED = {
    "resumption": "no built-in scenario yet; Context.get_session/set_session "
                  "(mbedtls_ssl_get_session/set_session) can drive one as module:function",
    "renegotiation": "no built-in scenario yet; Context.renegotiate "
                     "(mbedtls_ssl_renegotiate) can drive one as module:function",
}


def get_scenario(spec: str) -> Scenario:
    """A built-in scenario by name, or ``module:function`` (a function
    ``fn(probe, policy)``).  Raises ``ValueError`` with the reason."""
    if spec in SCENARIOS:
        return SCENARIOS[spec]
    if spec in UNSUPPORTED:
        raise ValueError(f"scenario {spec!r} is not available: {UNSUPPORTED[spec]}")
    if ":" not in spec:
        raise ValueError(f"unknown scenario {spec!r}; choose from "
                         f"{', '.join(SCENARIOS)} or give module:function")
    mod_name, _, fn_name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load scenario {spec!r}: {e}") from None
    if not callable(fn):
        raise ValueError(f"{spec!r} is not callable")
    return Scenario(spec, (fn.__doc__ or spec).strip().split("\n")[0], fn)


def run_scenario(spec: str, policy: str, probe: Probe) -> Probe:
    """Run scenario ``spec`` under ``policy`` with ``probe`` (its faults)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    scenario = get_scenario(spec)
    try:
        scenario.run(probe, policy)
    finally:
        setup = getattr(probe, "finished", None)
        if setup is not None:
            setup.close()
    return probe
