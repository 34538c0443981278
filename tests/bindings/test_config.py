"""mbedtls_py.Config, CertificateChain, PrivateKey and Rng: options and misuse."""

from collections.abc import Callable

import pytest

from mbedtls_py import (
    CertificateChain,
    Config,
    Context,
    Err,
    MbedTLSError,
    PrivateKey,
    Rng,
    available_ciphersuites,
    ciphersuite_id,
    get_time,
    set_time,
)
from mbedtls_py.creds.pki import PKI
from mbedtls_py.testing import handshake_pair, new_pair, psk_configs


def test_every_option_by_keyword(mbedtls_pki: PKI) -> None:
    """Every documented option is accepted as a keyword and the config still handshakes."""
    server = Config("server", seed=1, cookies=True, authmode="none", version=("1.2", "1.2"),
                    handshake_timeout=(500, 4000), read_timeout=0, anti_replay=True,
                    badmac_limit=3, cid=4, debug=0,
                    ciphersuites=["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"])
    server.do_set_certificate(mbedtls_pki.chain_pems, mbedtls_pki.key_pem)
    client = Config("client", seed=2, ca_chain=mbedtls_pki.ca_pem, authmode="required", cid=4)
    c, s, _ = new_pair(client, server)
    assert c.set_cid(True, b"\x01\x02\x03\x04") == 0
    assert s.set_cid(True, b"\x05\x06\x07\x08") == 0
    assert handshake_pair(c, s) == (0, 0)
    assert c.ciphersuite == "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
    assert c.peer_cid() == b"\x05\x06\x07\x08" and s.peer_cid() == b"\x01\x02\x03\x04"


def test_ciphersuite_names() -> None:
    """Cipher suites resolve by Mbed TLS name, IANA name and id; unknown ones are refused."""
    a = ciphersuite_id("TLS-PSK-WITH-AES-128-GCM-SHA256")
    assert a == ciphersuite_id("TLS_PSK_WITH_AES_128_GCM_SHA256") == 0x00A8
    assert ciphersuite_id(a) == a
    assert "TLS-PSK-WITH-AES-128-CCM-8" in available_ciphersuites()
    for bad in ("TLS-NOPE", 0xFFFF):
        with pytest.raises(ValueError):
            ciphersuite_id(bad)
    with pytest.raises(TypeError):
        ciphersuite_id(1.5)  # type: ignore[arg-type]


def test_hostname_mismatch_fails_verification(mbedtls_pki: PKI) -> None:
    """A client checking the wrong host name fails with X509_CERT_VERIFY_FAILED."""
    client = Config("client", ca_chain=mbedtls_pki.ca_pem)
    server = Config("server")
    server.do_set_certificate(mbedtls_pki.chain_pems, mbedtls_pki.key_pem)
    c, s, _ = new_pair(client, server, hostname="other.example")
    rc_c, _ = handshake_pair(c, s)
    assert rc_c == Err.X509_CERT_VERIFY_FAILED
    assert c.verify_result != 0


def test_der_certificate_and_key(mbedtls_pki: PKI) -> None:
    """Certificates and keys load from DER as well as PEM."""
    chain = CertificateChain(mbedtls_pki.chain_pems)
    der = chain.der()
    assert len(der) == len(chain) >= 1
    assert CertificateChain(der).der() == der
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(mbedtls_pki.key_pem, None)
    der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    assert PrivateKey(der_key).kind == "EC"
    assert PrivateKey(mbedtls_pki.key_pem).bits == 256
    assert "localhost" in chain.info() or "CN" in chain.info()


@pytest.mark.parametrize("call,exc", [
    (lambda: Config("middle"), ValueError),  # type: ignore[arg-type]
    (lambda: Config("client", transport="carrier-pigeon"), ValueError),
    (lambda: Config("client", nonsense=1), TypeError),
    (lambda: Config("client", authmode="sometimes"), ValueError),
    (lambda: Config("client", version=("1.3", "1.3")), ValueError),
    (lambda: Config("client", psk=b""), ValueError),
    (lambda: Config("client", psk=b"x" * 100), ValueError),
    (lambda: Config("client", ciphersuites=[]), ValueError),
    (lambda: Config("client", cookies=True), ValueError),
    (lambda: Config("client", handshake_timeout=(5000, 1000)), ValueError),
    (lambda: Config("client", badmac_limit=-1), ValueError),
    (lambda: Config("client", cid=300), ValueError),
    (lambda: Config("client", debug=9), ValueError),
    (lambda: Config("client", seed=1.5), TypeError),  # type: ignore[arg-type]
    (lambda: CertificateChain(b"not a certificate"), MbedTLSError),
    (lambda: CertificateChain(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
     MbedTLSError),
    (lambda: CertificateChain([]), ValueError),
    (lambda: CertificateChain(42), TypeError),  # type: ignore[arg-type]
    (lambda: PrivateKey(b"\x30\x03\x02\x01\x00"), MbedTLSError),
    (lambda: PrivateKey(""), ValueError),
    (lambda: set_time(-5), ValueError),
])
def test_config_misuse(call: Callable[[], object], exc: type[Exception]) -> None:
    """Bad options and inputs raise a clear Python exception (never crash)."""
    with pytest.raises(exc):
        call()


def test_pk_error_code() -> None:
    """A bad key reports Mbed TLS's exact code."""
    with pytest.raises(MbedTLSError) as info:
        PrivateKey(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert info.value.code < 0 and info.value.name.startswith("MBEDTLS_ERR_")


def test_seeded_rng_is_deterministic() -> None:
    """The same seed gives the same bytes; a different seed different ones."""
    assert Rng(7).random(3000) == Rng(7).random(3000)
    assert Rng(7).random(64) != Rng(8).random(64)
    assert Rng().random(32) != Rng().random(32)


def test_seeded_handshake_is_byte_identical() -> None:
    """Same seeds and fixed time: two PSK handshakes produce identical datagrams."""
    def run() -> list[bytes]:
        set_time(1_700_000_000)
        try:
            c, s, _ = new_pair(*psk_configs(seed=42), hostname=None)
            wire: list[bytes] = []
            assert handshake_pair(c, s, tap=lambda _, d: wire.append(d)) == (0, 0)
            return wire
        finally:
            set_time(None)

    assert run() == run()


def test_time_is_settable() -> None:
    """set_time fixes the time Mbed TLS reads; None returns to the system clock."""
    set_time(1234)
    assert get_time() == 1234
    set_time(None)
    assert get_time() > 1_600_000_000


def test_config_outlives_its_owner() -> None:
    """A context keeps its config (and what the config points at) alive."""
    import gc

    cc, sc = psk_configs()
    c = Context(cc)
    del cc
    gc.collect()
    assert c.handshake() == Err.SSL_WANT_READ
