"""The application server, independent of any transport.

:class:`~mbedtls_py.server.server.DTLSServer` models upstream's
``dtls_server`` sample loop with its mitigation policies; ``staleness``
classifies datagrams that reach a closed connection; ``eventlog`` keeps the
bounded event log; ``concurrent`` serves many clients on one socket.
Transports (the simulator, :mod:`mbedtls_py.udp`) feed it datagrams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the lazy names' real types, for type checkers only
    from .server import DTLSServer as DTLSServer
    from .policies import Policy as Policy
    from .policies import POLICIES as POLICIES
    from .policies import PEER_TIMEOUT_MS as PEER_TIMEOUT_MS
    from .events import Address as Address
    from .events import DatagramTransport as DatagramTransport
    from .events import Event as Event
    from .staleness import Classification as Classification
    from .staleness import ClosedConnection as ClosedConnection
    from .staleness import classify_datagram as classify_datagram
    from .concurrent import ConcurrentServer as ConcurrentServer
    from .eventlog import BoundedLog as BoundedLog
    from .eventlog import EVENT_WINDOW as EVENT_WINDOW
    from .connection import Connection as Connection

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "DTLSServer": "server", "Policy": "policies", "POLICIES": "policies",
    "PEER_TIMEOUT_MS": "policies", "Address": "events", "DatagramTransport": "events",
    "Event": "events", "Classification": "staleness", "ClosedConnection": "staleness",
    "classify_datagram": "staleness", "ConcurrentServer": "concurrent", "BoundedLog": "eventlog",
    "EVENT_WINDOW": "eventlog", "Connection": "connection",
})
