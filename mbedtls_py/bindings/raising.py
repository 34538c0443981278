"""The raising forms of the bindings' Mbed TLS calls: the rule.

The rule (README, "Return codes and exceptions"): a method named after an
Mbed TLS call (``handshake`` for ``mbedtls_ssl_handshake``) returns its int
unchanged, an ``Err`` member where the code is known, and never raises for a
code.  Its raising form is ``do_`` + the same name with the same arguments:
it raises the matching ``MbedTLSError`` (``WantRead``, ``PeerCloseNotify``...)
for a negative code and returns the count where the call returns one
(``do_write``, ``do_read_into``), else ``None``.  ``read(n) -> bytes`` is the
one Python-shaped convenience (the raising read, with its own buffer).

Each class keeps its raising forms beside its raw calls (``Context``,
``sessions.SessionCalls``, ``Config``); ``tests/bindings/test_api_rules.py`` checks
the rule over ``RAW_CALLS``.
"""

__all__ = ["READ_BUF"]

# One mbedtls_ssl_read returns at most one record's payload.
READ_BUF = 16384 + 2048
