"""The application server, independent of any transport.

:class:`~mbedtls_py.server.server.DTLSServer` models upstream's
``dtls_server`` sample loop with its mitigation policies; ``staleness``
classifies datagrams that reach a closed connection; ``eventlog`` keeps the
bounded event log; ``concurrent`` serves many clients on one socket.
Transports (the simulator, :mod:`mbedtls_py.udp`) feed it datagrams.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# name -> the module that defines it; imported on first use
__getattr__, __all__ = lazy_exports(__name__, {
    "DTLSServer": "server", "Policy": "policies", "POLICIES": "policies",
    "PEER_TIMEOUT_MS": "policies", "Address": "events", "DatagramTransport": "events",
    "Event": "events", "Classification": "staleness", "ClosedConnection": "staleness",
    "classify_datagram": "staleness", "ConcurrentServer": "concurrent", "BoundedLog": "eventlog",
    "EVENT_WINDOW": "eventlog", "_Conn": "server", "_addr_str": "events",
})
