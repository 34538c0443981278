"""Real peers run as subprocesses: the OpenSSL command line (``interop``) and
Mbed TLS's own sample programs (``upstream``), with one process registry
(``processes``) that starts, tracks and reaps them."""
