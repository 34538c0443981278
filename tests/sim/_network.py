"""A seeded client and server on a simulated Network, for the ``test_network_*`` tests."""

from __future__ import annotations

import functools
from typing import Any

from mbedtls_py import Config, Context
from mbedtls_py.sim.endpoints import ContextEndpoint
from mbedtls_py.sim.trace import TraceEvent
from mbedtls_py.sim.network import Network
from mbedtls_py.creds.det import make_det_pki
from mbedtls_py.creds.pki import PKI
from mbedtls_py.wire.records import Datagram

PSK = bytes(range(16))
PSK_ID = b"mbedtls-py"
PSK_SUITE = "TLS-PSK-WITH-AES-128-GCM-SHA256"


@functools.cache
def det_pki(seed: int | str | bytes = 1) -> PKI:
    return make_det_pki(seed)


def make_net(seed: int | str | bytes = 1, kind: str = "psk", *, cookies: bool = False,
             **options: Any) -> tuple[Network, ContextEndpoint, ContextEndpoint]:
    """A network with a seeded client and server on it."""
    net = Network(seed=seed)
    client_cfg = Config("client", seed=net.seed_for("client"), **options)
    server_cfg = Config("server", seed=net.seed_for("server"), cookies=cookies, **options)
    if kind == "psk":
        for cfg in (client_cfg, server_cfg):
            cfg.do_set_psk(PSK, PSK_ID)
            cfg.set_ciphersuites([PSK_SUITE])
    else:
        det_pki(seed).configure(client_cfg, server_cfg)
    client = Context(client_cfg, name="client")
    client.set_hostname("localhost")
    c = net.add("client", client)
    s = net.add("server", Context(server_cfg, name="server"))
    return net, c, s


def parsed(e: TraceEvent) -> Datagram:
    """The records of a datagram event (always parsed for datagram kinds)."""
    assert e.records is not None, e
    return e.records
