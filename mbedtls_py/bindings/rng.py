"""The random number generator handed to Mbed TLS (``mbedtls_ssl_conf_rng``)."""

from __future__ import annotations

from ._lib import ffi, lib
from ._owned import COwner
from .errors import check

__all__ = ["Rng", "seed_bytes"]


def seed_bytes(seed: int | str | bytes) -> bytes:
    """The canonical bytes of a seed: bytes as given, str as UTF-8, int in decimal."""
    if isinstance(seed, bool):
        raise TypeError("seed must be an int, str or bytes, not bool")
    if isinstance(seed, int):
        return str(seed).encode()
    if isinstance(seed, str):
        return seed.encode()
    if isinstance(seed, (bytes, bytearray, memoryview)):
        return bytes(seed)
    raise TypeError(f"seed must be an int, str or bytes, not {type(seed).__name__}")


class Rng(COwner):
    """CTR_DRBG over system entropy, or, with a seed, over a deterministic
    stream derived from it (same seed, same bytes)."""

    _C_FIELDS = ("_ptr",)

    def __init__(self, seed: int | str | bytes | None = None) -> None:
        self.seed = seed
        # C-owned and reference-counted: a config holds it for as long as
        # any context set up on the config lives (see csrc/glue.h).
        ptr = lib.mpy_rng_new()
        if ptr == ffi.NULL:
            raise MemoryError("could not allocate an RNG")
        self._ptr = ffi.gc(ptr, lib.mpy_ref_release)
        if seed is None:
            rc = lib.mpy_rng_init_system(ptr)
        else:
            material = seed_bytes(seed)
            rc = lib.mpy_rng_init_seeded(ptr, material, len(material))
        check(rc, "seeding the RNG")

    def random(self, n: int) -> bytes:
        """``n`` bytes from the generator."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 1 << 30:
            raise ValueError("n must be an int 0 .. 2**30")
        buf = ffi.new("unsigned char[]", n)
        # CTR_DRBG serves at most 1024 bytes per request.
        for off in range(0, n, 1024):
            check(lib.mpy_rng_random(self._ptr, buf + off, min(1024, n - off)))
        return bytes(ffi.buffer(buf, n))

    def __repr__(self) -> str:
        return f"<Rng {'seed=' + repr(self.seed) if self.seed is not None else 'system'}>"
