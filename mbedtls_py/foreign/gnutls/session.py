"""One GnuTLS DTLS session in process: its datagrams in the main extension's
queues, its clock the harness's ``VirtualClock``, its randomness from a seed.

Every GnuTLS call of a session runs on the session's own worker thread.  GnuTLS
keeps its DRBG per thread (lib/random.c, ``_Thread_local``) and seeds it from
``getrandom()`` on the thread's first random byte; the glue points libgnutls's
``getrandom`` at a seeded stream for that thread, so a fresh, seeded thread
gives a session whose every random byte comes from its seed.  Without that hook
(``rng_owned`` false) runs replay schedule for schedule, not byte for byte.

Calls never block: the session is ``GNUTLS_NONBLOCK``, an empty inbound queue
reads as ``GNUTLS_E_AGAIN``, and the caller resumes after a datagram arrives or
``timeout_ms()`` (``gnutls_dtls_get_timeout``) of virtual time has passed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ...bindings import ffi as mffi
from ...bindings import lib as mlib
from ...bindings.clock import VirtualClock
from .build import load

__all__ = ["GnuTLSSession", "Credentials", "rng_owned", "version", "E"]

T = TypeVar("T")
_MAX_DATAGRAM = 65507
_INIT = threading.Lock()
_READY: list[Any] = []


def _g() -> Any:
    """The extension, wired to the main extension's queue functions once."""
    if _READY:
        return _READY[0]
    with _INIT:
        if not _READY:
            g = load()
            ops = [g.ffi.cast("void *", int(mffi.cast("uintptr_t", mffi.addressof(mlib, n))))
                   for n in ("mpy_queue_push", "mpy_queue_peek", "mpy_queue_pop")]
            g.lib.gnt_set_queue_ops(*ops)
            g.lib.gnt_rng_hook()
            _READY.append(g)
    return _READY[0]


def version() -> str:
    """The loaded libgnutls's version (``gnutls_check_version(NULL)``)."""
    g = _g()
    return str(g.ffi.string(g.lib.gnutls_check_version(g.ffi.NULL)).decode())


def rng_owned() -> bool:
    """Whether libgnutls's ``getrandom`` is redirected (runs replay byte for byte)."""
    return bool(_g().lib.gnt_rng_hook() > 0)


class _Codes:
    """GnuTLS's return codes used by the programs (from the headers)."""

    def __getattr__(self, name: str) -> int:
        return int(getattr(_g().lib, "GNUTLS_E_" + name))


E = _Codes()


class Credentials:
    """``gnutls_certificate_credentials_t`` (``ptr``, freed when the session
    closes) with an optional key pair and CA file."""

    def __init__(self, session: GnuTLSSession, cert: Path | None = None,
                 key: Path | None = None, ca: Path | None = None) -> None:
        g = _g()
        self.loaded_ca = 0
        box = g.ffi.new("gnutls_certificate_credentials_t *")
        session.call(g.lib.gnutls_certificate_allocate_credentials, box)
        self.ptr = box[0]
        session.at_close(g.lib.gnutls_certificate_free_credentials, self.ptr)
        fmt = g.lib.GNUTLS_X509_FMT_PEM
        self.key_rc = 0
        if cert is not None and key is not None:
            self.key_rc = session.call(g.lib.gnutls_certificate_set_x509_key_file, self.ptr,
                                       str(cert).encode(), str(key).encode(), fmt)
        if ca is not None:
            self.loaded_ca = session.call(g.lib.gnutls_certificate_set_x509_trust_file,
                                          self.ptr, str(ca).encode(), fmt)


class GnuTLSSession:
    """A GnuTLS DTLS client or server session on the harness's queues and clock.

    ``seed`` (bytes): the session's randomness; ``None``: the system's.
    ``base_unix``: the wall-clock seconds GnuTLS reads at virtual 0 ms."""

    def __init__(self, server: bool, clock: VirtualClock, seed: bytes | None = None, *,
                 base_unix: int = 1_700_000_000, max_queue: int = 4096,
                 name: str = "gnutls") -> None:
        g = _g()
        self.g, self.server, self.clock, self.name = g, server, clock, name
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"gnutls-{name}")
        conn = mlib.mpy_conn_new(max_queue, _MAX_DATAGRAM)
        if conn == mffi.NULL:
            raise MemoryError("could not allocate the datagram queues")
        self._queues = mffi.gc(conn, mlib.mpy_conn_free)
        self._inq = mffi.addressof(self._queues, "inq")
        self._outq = mffi.addressof(self._queues, "outq")
        self._peek = mffi.new("unsigned char **")
        self._gconn = g.ffi.new("gnt_conn *")
        self._session: Any = None
        self._keep: list[Any] = []
        self._cleanup: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._closed = False
        now = g.ffi.cast("uint64_t *", int(mffi.cast("uintptr_t",
                                                     mffi.addressof(clock.c_pointer, "now_ms"))))
        self._keep.append(clock)

        def setup() -> None:
            if seed is not None:
                g.lib.gnt_rng_seed(seed, len(seed))
            g.lib.gnt_use_clock(now, base_unix)
        self._pool.submit(setup).result()

    # -- calls on the session's thread -----------------------------------------

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the session's thread (every GnuTLS call goes here)."""
        return self._pool.submit(fn, *args).result()

    def init(self, flags: int) -> int:
        """``gnutls_init`` (plus ``GNUTLS_DATAGRAM | GNUTLS_NONBLOCK``) and the
        transport on this session's queues; a previous session is deinitialised."""
        g = self.g
        self.deinit()
        box = g.ffi.new("gnutls_session_t *")
        flags |= g.lib.GNUTLS_DATAGRAM | g.lib.GNUTLS_NONBLOCK
        rc = int(self.call(g.lib.gnutls_init, box, flags))
        if rc == 0:
            self._session = box[0]
            self.call(g.lib.gnt_conn_bind, self._gconn, self._session,
                      self._cast(self._inq), self._cast(self._outq))
        return rc

    def _cast(self, p: Any) -> Any:
        return self.g.ffi.cast("void *", int(mffi.cast("uintptr_t", p)))

    @property
    def session(self) -> Any:
        """The ``gnutls_session_t`` (raises if there is none)."""
        if self._session is None:
            raise RuntimeError(f"{self.name}: no GnuTLS session (call init first)")
        return self._session

    def fn(self, name: str, *args: Any) -> Any:
        """``gnutls_<name>(session, *args)`` on the session's thread."""
        return self.call(getattr(self.g.lib, "gnutls_" + name), self.session, *args)

    def handshake(self) -> int:
        """``gnutls_handshake``: 0, ``E.AGAIN`` or an error code."""
        return int(self.fn("handshake"))

    def send(self, data: bytes) -> int:
        """``gnutls_record_send``."""
        return int(self.fn("record_send", data, len(data)))

    def recv(self, size: int) -> tuple[int, bytes, bytes]:
        """``gnutls_record_recv_seq``: (return code, data, sequence number)."""
        buf = self.g.ffi.new("unsigned char[]", max(1, size))
        seq = self.g.ffi.new("unsigned char[8]")
        rc = int(self.fn("record_recv_seq", buf, size, seq))
        data = bytes(self.g.ffi.buffer(buf, rc)) if rc > 0 else b""
        return rc, data, bytes(self.g.ffi.buffer(seq, 8))

    def bye(self, how: int) -> int:
        """``gnutls_bye``."""
        return int(self.fn("bye", how))

    def timeout_ms(self) -> int:
        """``gnutls_dtls_get_timeout``: ms until the next retransmission."""
        return int(self.fn("dtls_get_timeout"))

    def description(self) -> str:
        """``gnutls_session_get_desc``, e.g. ``(DTLS1.2)-(ECDHE-SECP256R1)-...``."""
        p = self.call(self.g.lib.gnt_session_desc, self.session)
        if p == self.g.ffi.NULL:
            return ""
        text = self.g.ffi.string(p).decode()
        self.call(self.g.lib.gnt_free, p)
        return str(text)

    def deinit(self) -> None:
        """``gnutls_deinit`` of the current session (if any)."""
        if self._session is not None:
            s, self._session = self._session, None
            self.call(self.g.lib.gnutls_deinit, s)

    def at_close(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the session's thread when it closes, after
        ``gnutls_deinit`` (credentials, keys GnuTLS allocated)."""
        self._cleanup.append((fn, args))

    def close(self) -> None:
        """Deinitialise the session, free what ``at_close`` registered and let
        the thread end.  Never waits for the thread: a generator's ``finally``
        may run this from the garbage collector, on any thread."""
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            s, self._session = self._session, None
            self._pool.submit(self.g.lib.gnutls_deinit, s)
        cleanup, self._cleanup = self._cleanup, []
        for fn, args in reversed(cleanup):
            self._pool.submit(fn, *args)
        self._pool.shutdown(wait=False)

    # -- datagrams (no GnuTLS call: the caller's thread) ------------------------

    def push(self, datagram: bytes) -> bool:
        """Queue an inbound datagram; False when the queue is full (lost)."""
        return bool(mlib.mpy_queue_push(self._inq, datagram, len(datagram)) == 0)

    def drain(self) -> list[bytes]:
        """Every datagram GnuTLS sent since the last drain, oldest first."""
        out: list[bytes] = []
        while (n := mlib.mpy_queue_peek(self._outq, self._peek)) >= 0:
            out.append(mffi.buffer(self._peek[0], n)[:])
            mlib.mpy_queue_pop(self._outq)
        return out

    def discard_inbound(self) -> None:
        """Drop every queued inbound datagram."""
        mlib.mpy_queue_clear(self._inq)

    @property
    def pending_in(self) -> int:
        """Inbound datagrams GnuTLS has not read yet."""
        return int(self._inq.count)

    @property
    def out_conn(self) -> Any:
        """The transport pointer ``gnt_push`` sends through (for cookie exchange)."""
        return self._gconn

    def bind_queues_only(self) -> None:
        """Point the transport at the queues before any session exists (a
        listening server answers ClientHellos with a cookie through it)."""
        g = self.g
        self._gconn.inq = self._cast(self._inq)
        self._gconn.outq = self._cast(self._outq)
        self._gconn.session = g.ffi.NULL
