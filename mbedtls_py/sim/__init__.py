"""The simulator: a seeded, virtual-clock network of Mbed TLS contexts.

:class:`~mbedtls_py.sim.network.Network` moves datagrams between endpoints
under the rule language of :mod:`mbedtls_py.wire.rules`; ``pki_det`` makes
certificates that replay byte for byte from a seed.
"""

from .endpoints import ContextEndpoint, Held, Process, SimSocket
from .links import Link
from .network import SOFT_CODES, Network
from .trace import HandshakeResult, RunResult, Stalled, Trace, TraceEvent

__all__ = ["Network", "SOFT_CODES", "Link", "ContextEndpoint", "SimSocket", "Held", "Process",
           "Trace", "TraceEvent", "RunResult", "HandshakeResult", "Stalled"]
