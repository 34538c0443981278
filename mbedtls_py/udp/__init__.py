"""Real UDP sockets: addresses, the transport and serve loop, the client,
the per-sample sockets and the impairment proxy.

``udp.addresses`` and ``udp.proxy`` need only :mod:`mbedtls_py.wire` (no
compiled extension); the rest drives :mod:`mbedtls_py.server` over sockets.
"""
