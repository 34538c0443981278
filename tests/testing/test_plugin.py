"""The pytest plugin's fixtures, as a downstream test would use them."""

import pytest

from mbedtls_py import Config, Context, Err, VirtualClock, get_time
from mbedtls_py.creds.pki import PKI
from mbedtls_py.sim.network import Network
from mbedtls_py.testing import handshake_pair


def test_dtls_pair_handshakes(dtls_pair: tuple[Context, Context, VirtualClock]) -> None:
    """dtls_pair gives a client and server on one virtual clock, ready to handshake."""
    client, server, clock = dtls_pair
    assert client.clock is server.clock is clock
    assert handshake_pair(client, server) == (0, 0)


@pytest.mark.dtls_seed(42)
def test_dtls_network_is_seeded(dtls_network: Network,
                                dtls_psk_configs: tuple[Config, Config]) -> None:
    """dtls_network is seeded (marker or node id) and fixes Mbed TLS's time."""
    assert dtls_network.seed_for("x") == type(dtls_network)(seed=42).seed_for("x")
    cc, sc = dtls_psk_configs
    cli = dtls_network.add("client", Context(cc))
    srv = dtls_network.add("server", Context(sc))
    assert dtls_network.handshake(cli, srv) == (0, 0)
    assert get_time() == 1_700_000_000 + dtls_network.clock.now_ms // 1000


def test_fixtures_are_distinct(mbedtls_pki: PKI, mbedtls_rsa_pki: PKI) -> None:
    """The ECDSA and RSA PKIs are different CAs."""
    assert mbedtls_pki.ca_pem != mbedtls_rsa_pki.ca_pem
    assert mbedtls_rsa_pki.kind == "rsa"
    assert Err.SSL_WANT_READ < 0
