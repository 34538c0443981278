"""cffi declarations, one module per Mbed TLS header (and one for the glue).

Each module has ``INCLUDES`` (C text for the compiled source), ``TYPES``
(types and constants; every value is ``...`` so the compiler supplies it) and
``FUNCTIONS``.  ``csrc/mbedtls_build.py`` joins them in ``MODULES`` order.
"""

MODULES = [
    "platform",
    "error",
    "version",
    "psa",
    "pk",
    "x509_crt",
    "ssl",
    "ssl_cookie",
    "debug",
    "glue",
    "compat",
    "ssl_options",
]
