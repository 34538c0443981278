"""mbedtls_py.bindings.errors: the generated error table and the exceptions."""

import pytest

from mbedtls_py import Err, MbedTLSError, WantRead, check, strerror
from mbedtls_py.bindings import lib
from mbedtls_py.bindings.errors import HelloVerifyRequired, PeerCloseNotify, Timeout, WantWrite, error_for

from _versions import MBEDTLS_4

# Values as written in the pinned headers: a cross-check of the generated table.
KNOWN = [
    ("SSL_UNEXPECTED_MESSAGE", -0x7700),
    ("SSL_WANT_READ", -0x6900),
    ("SSL_WANT_WRITE", -0x6880),
    ("SSL_TIMEOUT", -0x6800),
    ("SSL_PEER_CLOSE_NOTIFY", -0x7880),
    ("SSL_HELLO_VERIFY_REQUIRED", -0x6A80),
    # 4.x: an alias of PSA_ERROR_INVALID_ARGUMENT, whose name is then canonical
    ("SSL_BAD_INPUT_DATA", -0x7100) if not MBEDTLS_4 else ("PSA_ERROR_INVALID_ARGUMENT", -135),
    ("SSL_UNEXPECTED_RECORD", -0x6700),
    ("SSL_FATAL_ALERT_MESSAGE", -0x7780),
    ("SSL_INVALID_MAC", -0x7180),
    ("X509_CERT_VERIFY_FAILED", -0x2700),
    ("PK_KEY_INVALID_FORMAT", -0x3D00),
]
if MBEDTLS_4:
    KNOWN += [("SSL_BAD_INPUT_DATA", -135)]  # checked by value only: an alias


@pytest.mark.parametrize("name,value", KNOWN)
def test_known_codes(name: str, value: int) -> None:
    """Err members carry the exact values of the pinned headers."""
    assert Err[name] == value
    if not name.startswith("SSL_BAD_INPUT") or not MBEDTLS_4:
        assert Err(value).name == name


def test_every_header_code_is_a_member() -> None:
    """Every MBEDTLS_ERR_* / PSA_ERROR_* the compiler knows is reachable through Err."""
    names = [n for n in dir(lib) if n.startswith(("MBEDTLS_ERR_", "PSA_ERROR_"))]
    # 4.x moved most low-level codes to PSA_ERROR_* (157 names in 4.0.0)
    assert len(names) > (150 if MBEDTLS_4 else 200)
    for n in names:
        assert Err(getattr(lib, n)) == getattr(lib, n)
    assert int(Err.PSA_ERROR_GENERIC_ERROR) == -132


def test_repr_shows_name_and_hex() -> None:
    """repr(Err.X) shows the name and the negative hex, as Mbed TLS prints codes."""
    assert repr(Err.SSL_UNEXPECTED_MESSAGE) == "<Err.SSL_UNEXPECTED_MESSAGE: -0x7700>"
    assert str(Err.SSL_WANT_READ) == "SSL_WANT_READ (-0x6900)"


def test_strerror_is_mbedtls_text() -> None:
    """strerror() returns mbedtls_strerror's text and rejects non-ints."""
    assert "unexpected message" in strerror(-0x7700).lower()
    with pytest.raises(TypeError):
        strerror("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        strerror(1 << 40)


def test_exception_fields() -> None:
    """MbedTLSError carries .code (an Err), .name and .message."""
    e = MbedTLSError(-0x7700)
    assert e.code is Err.SSL_UNEXPECTED_MESSAGE
    assert e.name == "MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE"
    assert "-0x7700" in str(e) and e.message
    unknown = MbedTLSError(-0x7FF1)
    assert unknown.code == -0x7FF1 and unknown.name == "-0x7FF1"


@pytest.mark.parametrize("code,cls", [
    (Err.SSL_WANT_READ, WantRead), (Err.SSL_WANT_WRITE, WantWrite),
    (Err.SSL_HELLO_VERIFY_REQUIRED, HelloVerifyRequired),
    (Err.SSL_PEER_CLOSE_NOTIFY, PeerCloseNotify), (Err.SSL_TIMEOUT, Timeout),
    (Err.SSL_UNEXPECTED_MESSAGE, MbedTLSError),
])
def test_flow_control_subclasses(code: Err, cls: type[MbedTLSError]) -> None:
    """check() raises the flow-control subclass matching each code."""
    assert type(error_for(code)) is cls
    with pytest.raises(cls):
        check(code)
    assert check(5) == 5 and check(0) == 0
