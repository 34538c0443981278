"""The simulator: a seeded, virtual-clock network of Mbed TLS contexts.

:class:`~mbedtls_py.sim.network.Network` moves datagrams between endpoints
under the rule language of :mod:`mbedtls_py.wire.rules`; ``pki_det`` makes
certificates that replay byte for byte from a seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names' real types, for type checkers only
    from .network import Network as Network
    from .driving import SOFT_CODES as SOFT_CODES
    from .links import Link as Link
    from .endpoints import Process as Process
    from .endpoints import ContextEndpoint as ContextEndpoint
    from .endpoints import SimSocket as SimSocket
    from .endpoints import Held as Held
    from .trace import Trace as Trace
    from .trace import TraceEvent as TraceEvent
    from .trace import Stalled as Stalled
    from .trace import RunResult as RunResult
    from .trace import HandshakeResult as HandshakeResult
    from .hooks import Interceptor as Interceptor
    from .pump import pump as pump
    from .pump import handshake_pair as handshake_pair
    from .pump import new_pair as new_pair

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "Network": "network", "SOFT_CODES": "driving", "Link": "links", "Process": "endpoints",
    "ContextEndpoint": "endpoints", "SimSocket": "endpoints", "Held": "endpoints",
    "Trace": "trace", "TraceEvent": "trace", "Stalled": "trace", "RunResult": "trace",
    "HandshakeResult": "trace", "Interceptor": "hooks",
    "pump": "pump", "handshake_pair": "pump", "new_pair": "pump",
})
