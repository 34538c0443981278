"""Certificate chains and private keys, parsed by Mbed TLS itself."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ._lib import ffi, lib
from ._owned import COwner
from .errors import check
from .rng import Rng

__all__ = ["CertificateChain", "PrivateKey", "check_pair"]


def _as_bytes(data: bytes | bytearray | memoryview | str, what: str) -> bytes:
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeEncodeError as e:
            raise ValueError(f"{what} given as str must be ASCII PEM text; character "
                             f"{data[e.start]!r} at position {e.start} is not ASCII (pass "
                             "bytes for anything else)") from None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes or str (PEM or DER), not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValueError(f"{what} is empty")
    return data


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


class CertificateChain(COwner):
    """An ``mbedtls_x509_crt`` chain from PEM (one or more certificates) or DER.

    Pass several certificates as one PEM text, or as a list of PEM/DER items.
    """

    _C_FIELDS = ("_crt",)

    def __init__(self, data: bytes | str | Iterable[bytes | str]) -> None:
        # C-owned and reference-counted, so a config can outlive this object.
        crt = lib.mpy_crt_new()
        if crt == ffi.NULL:
            raise MemoryError("could not allocate a certificate chain")
        self._crt = ffi.gc(crt, lib.mpy_ref_release)
        if isinstance(data, (bytes, bytearray, memoryview, str)):
            items = [data]
        elif isinstance(data, Iterable):
            items = list(data)
        else:
            raise TypeError("certificates must be PEM/DER bytes or str, or a list of them, "
                            f"not {type(data).__name__}")
        if not items:
            raise ValueError("a certificate chain needs at least one certificate")
        for item in items:
            raw = _as_bytes(item, "certificate")
            if _is_pem(raw):
                # mbedtls_x509_crt_parse() wants PEM NUL-terminated, length included.
                rc = lib.mbedtls_x509_crt_parse(self._crt, raw + b"\0", len(raw) + 1)
                if rc > 0:
                    raise ValueError(f"{rc} certificate(s) in the PEM text could not be parsed")
            else:
                rc = lib.mbedtls_x509_crt_parse_der(self._crt, raw, len(raw))
            check(rc, "parsing a certificate")

    def __len__(self) -> int:
        n, crt = 0, self._crt
        while crt != ffi.NULL and crt.raw.len:
            n, crt = n + 1, crt.next
        return n

    def der(self) -> list[bytes]:
        """The DER encoding of every certificate, leaf first."""
        out, crt = [], self._crt
        while crt != ffi.NULL and crt.raw.len:
            out.append(bytes(ffi.buffer(crt.raw.p, crt.raw.len)))
            crt = crt.next
        return out

    def info(self) -> str:
        """Mbed TLS's human-readable description of the first certificate."""
        buf = ffi.new("char[]", 4096)
        check(lib.mbedtls_x509_crt_info(buf, 4096, b"", self._crt))
        return str(ffi.string(buf).decode("utf-8", "replace"))

    def __repr__(self) -> str:
        return f"<CertificateChain of {len(self)}>"


class PrivateKey(COwner):
    """An ``mbedtls_pk_context`` from a PEM or DER private key (ECDSA or RSA)."""

    _C_FIELDS = ("_pk",)

    def __init__(self, data: bytes | str, password: bytes | str | None = None) -> None:
        raw = _as_bytes(data, "private key")
        if _is_pem(raw):
            raw += b"\0"
        pwd = password.encode() if isinstance(password, str) else (password or b"")
        self._digest = hashlib.sha256(len(pwd).to_bytes(4, "big") + pwd + raw).digest()
        pk = lib.mpy_pk_new()  # C-owned, reference-counted (as the chain)
        if pk == ffi.NULL:
            raise MemoryError("could not allocate a private key")
        self._pk = ffi.gc(pk, lib.mpy_ref_release)
        # RSA private-key checks use blinding, which needs an RNG.
        rng = Rng()
        check(lib.mbedtls_pk_parse_key(self._pk, raw, len(raw), pwd or ffi.NULL, len(pwd),
                                       lib.mpy_rng_random, rng._ptr), "parsing a private key")

    @property
    def kind(self) -> str:
        """``"RSA"``, ``"EC"`` or another Mbed TLS key type name."""
        return str(ffi.string(lib.mbedtls_pk_get_name(self._pk)).decode())

    @property
    def bits(self) -> int:
        """The key size in bits."""
        return int(lib.mbedtls_pk_get_bitlen(self._pk))

    def __repr__(self) -> str:
        return f"<PrivateKey {self.kind} {self.bits} bits>"


# Verdicts of check_pair by (leaf, key) digest: an ECDSA check costs ~0.4 ms
# (a scalar multiplication), and scenarios set the same pair up on every run.
_PAIRS: dict[tuple[bytes, bytes], int] = {}


def check_pair(chain: CertificateChain, key: PrivateKey) -> int:
    """``mbedtls_pk_check_pair`` of the leaf certificate's public key and
    ``key``: 0 when they form a pair, else the code."""
    leaf = chain._crt
    digest = (hashlib.sha256(ffi.buffer(leaf.raw.p, leaf.raw.len)).digest(), key._digest)
    rc = _PAIRS.get(digest)
    if rc is None:
        rng = Rng()  # blinding (RSA in 3.x); not the config's seeded stream
        rc = int(lib.mbedtls_pk_check_pair(ffi.addressof(leaf, "pk"), key._pk,
                                           lib.mpy_rng_random, rng._ptr))
        if len(_PAIRS) >= 256:
            _PAIRS.clear()
        _PAIRS[digest] = rc
    return rc
