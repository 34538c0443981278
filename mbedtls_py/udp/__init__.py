"""Real UDP sockets: addresses, the transport and serve loop, the client,
the per-sample sockets and the impairment proxy.

``udp.addresses`` and ``udp.proxy`` need only :mod:`mbedtls_py.wire` (no
compiled extension); the rest drives :mod:`mbedtls_py.server` over sockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names' real types, for type checkers only
    from .addresses import is_loopback as is_loopback
    from .addresses import check_host as check_host
    from .addresses import resolve as resolve
    from .addresses import addr_str as addr_str
    from .addresses import parse_hostport as parse_hostport
    from .addresses import pick_free_udp_port as pick_free_udp_port
    from .addresses import udp_port_free as udp_port_free
    from .transport import UDPTransport as UDPTransport
    from .loop import ServeResult as ServeResult
    from .loop import serve as serve
    from .loop import ServerThread as ServerThread
    from .client import ClientResult as ClientResult
    from .client import UDPClient as UDPClient
    from .client import run_client as run_client
    from .proxy import UDPProxy as UDPProxy
    from .proxy_sessions import HeldDatagram as HeldDatagram
    from .sample_sockets import SampleSockets as SampleSockets
    from .addresses import _norm as _norm

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "is_loopback": "addresses", "check_host": "addresses", "resolve": "addresses",
    "addr_str": "addresses", "parse_hostport": "addresses", "pick_free_udp_port": "addresses",
    "udp_port_free": "addresses", "UDPTransport": "transport", "ServeResult": "loop",
    "serve": "loop", "ServerThread": "loop", "ClientResult": "client", "UDPClient": "client",
    "run_client": "client", "UDPProxy": "proxy", "HeldDatagram": "proxy_sessions",
    "SampleSockets": "sample_sockets", "_norm": "addresses",
})
