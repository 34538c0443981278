"""GnuTLS (the system libgnutls) as an in-process DTLS peer."""
