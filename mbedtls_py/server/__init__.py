"""The application server, independent of any transport.

:class:`~mbedtls_py.server.server.DTLSServer` models upstream's
``dtls_server`` sample loop with its mitigation policies; ``staleness``
classifies datagrams that reach a closed connection; ``eventlog`` keeps the
bounded event log; ``concurrent`` serves many clients on one socket.
Transports (the simulator, :mod:`mbedtls_py.udp`) feed it datagrams.
"""
