"""``Context.check_record`` (``mbedtls_ssl_check_record``) and its raising form, on a
real established pair: what classify's proof of staleness rests on."""

from collections.abc import Iterator

from mbedtls_py.bindings.context import Context
import pytest

from mbedtls_py import Err
from mbedtls_py.bindings.errors import ClosedError, MbedTLSError
from mbedtls_py.testing import handshake_pair, new_pair, psk_configs


@pytest.fixture
def pair() -> Iterator[tuple[Context, Context]]:
    client, server, _ = new_pair(*psk_configs(seed=1), hostname=None)
    assert handshake_pair(client, server) == (0, 0)
    yield client, server
    client.close()
    server.close()


def test_authentic_record_checks_zero_and_leaves_the_context_alone(pair: tuple[Context, Context]) -> None:
    client, server = pair
    assert client.write(b"hello") == 5
    record = client.pop()
    assert record is not None
    assert server.check_record(record) == 0
    assert server.check_record(record) == 0  # no state change: still unseen
    server.do_check_record(record)  # raising form: no exception
    server.push(record)
    assert server.read(100) == b"hello"


def test_forged_replayed_and_plaintext_records_do_not_check(pair: tuple[Context, Context]) -> None:
    client, server = pair
    client.write(b"hello")
    record = client.pop()
    assert record is not None
    forged = record[:-1] + bytes([record[-1] ^ 1])  # one bit of the tag
    assert server.check_record(forged) == Err.SSL_INVALID_MAC
    with pytest.raises(MbedTLSError) as info:
        server.do_check_record(forged)
    assert info.value.code == Err.SSL_INVALID_MAC
    server.push(record)
    server.read(100)
    assert server.check_record(record) == Err.SSL_UNEXPECTED_RECORD  # a replay now
    plaintext = bytes([21, 0xFE, 0xFD, 0, 0]) + bytes(6) + bytes([0, 2, 1, 0])
    assert server.check_record(plaintext) == Err.SSL_UNEXPECTED_RECORD  # epoch 0
    bad_header = bytes([0x47, 0, 0, 0x20, 0x20]) + bytes(6) + bytes([0, 12]) + bytes(12)
    assert server.check_record(bad_header) == Err.SSL_INVALID_RECORD  # type 0x47, version 0


def test_check_record_rejects_bad_arguments(pair: tuple[Context, Context]) -> None:
    _, server = pair
    with pytest.raises(ValueError):
        server.check_record(b"")
    with pytest.raises(TypeError):
        server.check_record(12)  # type: ignore[arg-type]
    server.close()
    with pytest.raises(ClosedError):
        server.check_record(b"\x17" * 20)
