"""Real UDP sockets: addresses, the transport and serve loop, the client,
the per-sample sockets and the impairment proxy.

``udp.addresses`` and ``udp.proxy`` need only :mod:`mbedtls_py.wire` (no
compiled extension); the rest drives :mod:`mbedtls_py.server` over sockets.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "is_loopback": "addresses", "check_host": "addresses", "resolve": "addresses",
    "addr_str": "addresses", "parse_hostport": "addresses", "pick_free_udp_port": "addresses",
    "udp_port_free": "addresses", "UDPTransport": "transport", "ServeResult": "loop",
    "serve": "loop", "ServerThread": "loop", "ClientResult": "client", "UDPClient": "client",
    "run_client": "client", "UDPProxy": "proxy", "HeldDatagram": "proxy",
    "SampleSockets": "sample_sockets", "_norm": "addresses",
})
