"""The simulator: a seeded, virtual-clock network of Mbed TLS contexts.

:class:`~mbedtls_py.sim.network.Network` moves datagrams between endpoints
under the rule language of :mod:`mbedtls_py.wire.rules`; ``pki_det`` makes
certificates that replay byte for byte from a seed.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "Network": "network", "SOFT_CODES": "driving", "Link": "links", "Process": "endpoints",
    "ContextEndpoint": "endpoints", "SimSocket": "endpoints", "Held": "endpoints",
    "Trace": "trace", "TraceEvent": "trace", "Stalled": "trace", "RunResult": "trace",
    "HandshakeResult": "trace", "Interceptor": "hooks",
    "pump": "pump", "handshake_pair": "pump", "new_pair": "pump",
})
