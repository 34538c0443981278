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
  ``@pytest.mark.dtls_seed(N)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

# Nothing from mbedtls_py is imported here: pytest loads this plugin in every
# session of every environment that has mbedtls-py installed, so each fixture
# imports what it needs (the extension, the simulator) only when it is used.
if TYPE_CHECKING:
    from ..config import Config
    from ..context import Context, VirtualClock
    from ..sim.network import Network
    from . import TestPKI


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dtls_seed(seed): the seed of the dtls_network fixture")


@pytest.fixture(scope="session")
def mbedtls_pki() -> TestPKI:
    """A trustme ECDSA P-256 CA and ``localhost`` leaf, shared by the session."""
    from . import make_pki

    return make_pki("ecdsa")


@pytest.fixture(scope="session")
def mbedtls_rsa_pki() -> TestPKI:
    """A trustme RSA CA and ``localhost`` leaf, shared by the session."""
    from . import make_pki

    return make_pki("rsa")


@pytest.fixture
def dtls_cert_configs(mbedtls_pki: TestPKI) -> tuple[Config, Config]:
    """(client, server) configs authenticating the server with ``mbedtls_pki``."""
    from . import cert_configs

    return cert_configs(mbedtls_pki)


@pytest.fixture
def dtls_psk_configs() -> tuple[Config, Config]:
    """(client, server) configs sharing a PSK (TLS-PSK-WITH-AES-128-GCM-SHA256)."""
    from . import psk_configs

    return psk_configs()


@pytest.fixture
def dtls_pair(dtls_cert_configs: tuple[Config, Config]) -> Iterator[tuple[Context, Context, VirtualClock]]:
    """(client, server, clock): fresh contexts on one ``VirtualClock``; closed afterwards."""
    from . import new_pair

    client, server, clock = new_pair(*dtls_cert_configs)
    yield client, server, clock
    client.close()
    server.close()


@pytest.fixture
def dtls_network(request: pytest.FixtureRequest) -> Iterator[Network]:
    """A simulated ``Network`` whose seed is the test's node id (or ``dtls_seed``)."""
    from ..sim.network import Network

    marker = request.node.get_closest_marker("dtls_seed")
    seed = marker.args[0] if marker else request.node.nodeid
    with Network(seed=seed) as net:  # restores the thread's Mbed TLS time
        yield net
