"""``ConfHandle``: a C config (``mpy_conf``) as the parts of a ``Config``
see it.  Internal."""

from __future__ import annotations

from typing import Any

from ._lib import ffi, lib
from .errors import error_for

__all__ = ["ConfHandle"]


class ConfHandle:
    """A new reference-counted ``mpy_conf``: ``owner`` (the C struct, released
    by the garbage collector), ``conf`` (its ``mbedtls_ssl_config *``), and the
    ``endpoint`` and ``name`` of the ``Config`` it belongs to."""

    __slots__ = ("owner", "conf", "endpoint", "name", "current")  # not a COwner: only Config makes one

    def __init__(self, endpoint: str, name: str) -> None:
        owner = lib.mpy_conf_new()
        if owner == ffi.NULL:
            raise MemoryError("could not allocate a DTLS config")
        self.owner: Any = ffi.gc(owner, lib.mpy_ref_release)
        self.conf: Any = ffi.addressof(self.owner, "conf")
        self.endpoint = endpoint
        self.name = name
        lib.mpy_conf_set_name(owner, name.encode("utf-8", "replace").replace(b"\0", b"?"))
        # Everything the C config points at is a reference-counted C object
        # it holds (hold, counted per object) until it is freed.  What a
        # setter replaces is let go of (replace) once the config no longer
        # points at it: the last object of each such setter, by name
        # ("suites", "ca_chain", ...); each call holds the new object and
        # lets go of the old, so repeated calls do not grow what it holds.
        self.current: dict[str, Any] = {}

    def hold(self, ref: Any) -> None:
        """Have the C config retain ``ref`` (a reference-counted C object) until
        it is freed, or until :meth:`replace` lets go of this hold (holds are
        counted: another setter's hold of the same object stays)."""
        if lib.mpy_conf_hold(self.owner, ref) != 0:
            raise MemoryError("out of memory")

    def replace(self, what: str, new: Any) -> None:
        """The config now points at ``new`` (just held for ``what``, or
        ``None``) for ``what``, no longer at what it pointed at before: let
        go of that hold (of ``new``'s previous hold, when it is the same
        object again).  Only for objects no handshake keeps a pointer to once
        the config points elsewhere (suite lists, CA chains, RNGs, cookie,
        ticket and cache contexts, SNI entries: C retains the one a
        handshake picked)."""
        old = self.current.pop(what, None)
        if new is not None:
            self.current[what] = new
        if old is not None:
            lib.mpy_conf_unhold(self.owner, old)

    def check_server(self, what: str) -> None:
        """A ``ValueError`` unless this is a server config (``what`` is for servers)."""
        if self.endpoint != "server":
            raise ValueError(f"{what} applies to a server config only")

    def raise_for(self, rc: int, call: str) -> None:
        """The raising forms' rule: the ``MbedTLSError`` for a negative ``rc``, naming ``call``."""
        if rc < 0:
            raise error_for(rc, f"{self.name}: {call}")
