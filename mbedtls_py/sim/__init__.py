"""The simulator: a seeded, virtual-clock network of Mbed TLS contexts.

:class:`~mbedtls_py.sim.network.Network` moves datagrams between endpoints
under the rule language of :mod:`mbedtls_py.wire.rules`; ``pki_det`` makes
certificates that replay byte for byte from a seed.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module; loaded on first use, so ``mbedtls_py.sim.pump`` does not pull in the network
_EXPORTS = {
    "Network": "network", "SOFT_CODES": "driving", "Link": "links",
    "ContextEndpoint": "endpoints", "SimSocket": "endpoints", "Held": "endpoints",
    "Process": "endpoints", "Trace": "trace", "TraceEvent": "trace", "RunResult": "trace",
    "HandshakeResult": "trace", "Stalled": "trace",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
