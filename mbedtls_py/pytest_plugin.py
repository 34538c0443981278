"""pytest fixtures for tests that drive Mbed TLS through mbedtls-py.

Installed as a pytest plugin (entry point ``pytest11``), so a project that
depends on ``mbedtls-py`` gets these fixtures without any import:

- ``mbedtls_pki`` / ``mbedtls_rsa_pki``: a trustme CA and a ``localhost``
  server certificate (ECDSA P-256 / RSA), one per test session;
- ``dtls_cert_configs`` / ``dtls_psk_configs``: ``(client, server)`` configs;
- ``dtls_pair``: a certificate-authenticated ``(client, server, clock)`` of
  contexts on one virtual clock, ready to handshake;
- ``dtls_network``: a fresh simulated ``Network`` seeded from the test's node
  id (so a failing test replays byte for byte); override the seed with
  ``@pytest.mark.dtls_seed(N)``;
- ``--mbedtls-ssl-opt REGEX``: upstream ssl-opt.sh's DTLS cases as test items
  (``mbedtls_py.sslopt.pytest_items``).
"""

from __future__ import annotations

import pytest

from .sslopt.pytest_items import pytest_addoption, pytest_collection_modifyitems  # noqa: F401
from .testing import TestPKI, cert_configs, make_pki, new_pair, psk_configs


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dtls_seed(seed): the seed of the dtls_network fixture")


@pytest.fixture(scope="session")
def mbedtls_pki() -> TestPKI:
    """A trustme ECDSA P-256 CA and ``localhost`` leaf, shared by the session."""
    return make_pki("ecdsa")


@pytest.fixture(scope="session")
def mbedtls_rsa_pki() -> TestPKI:
    """A trustme RSA CA and ``localhost`` leaf, shared by the session."""
    return make_pki("rsa")


@pytest.fixture
def dtls_cert_configs(mbedtls_pki: TestPKI):
    """(client, server) configs authenticating the server with ``mbedtls_pki``."""
    return cert_configs(mbedtls_pki)


@pytest.fixture
def dtls_psk_configs():
    """(client, server) configs sharing a PSK (TLS-PSK-WITH-AES-128-GCM-SHA256)."""
    return psk_configs()


@pytest.fixture
def dtls_pair(dtls_cert_configs):
    """(client, server, clock): fresh contexts on one ``VirtualClock``; closed afterwards."""
    client, server, clock = new_pair(*dtls_cert_configs)
    yield client, server, clock
    client.close()
    server.close()


@pytest.fixture
def dtls_network(request: pytest.FixtureRequest):
    """A simulated ``Network`` whose seed is the test's node id (or ``dtls_seed``)."""
    from .net import Network
    from .timeutil import set_time

    marker = request.node.get_closest_marker("dtls_seed")
    seed = marker.args[0] if marker else request.node.nodeid
    net = Network(seed=seed)
    yield net
    set_time(None)  # the network fixed Mbed TLS's process-wide time
