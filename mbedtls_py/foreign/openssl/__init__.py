"""OpenSSL as a peer inside the simulated network, in virtual time.

Debian's static OpenSSL (the ``openssl`` command's own library) is linked
into a separate cffi extension, built on demand and cached
(:mod:`.build`); its clock, datagrams and randomness are the harness's
(:mod:`.conn`).  ``s_client``/``s_server`` are modelled on top of it in
:mod:`mbedtls_py.sslopt.openssl_progs` and :mod:`mbedtls_py.parties.openssl`."""
