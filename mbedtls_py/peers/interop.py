"""Real OpenSSL command-line DTLS peers: locating ``openssl`` and ``s_client``
(:class:`OpenSSLClient`); ``s_server`` is in :mod:`mbedtls_py.peers.openssl_server`,
the process plumbing both share in :mod:`mbedtls_py.peers.openssl_peer`, output
parsing in :mod:`mbedtls_py.peers.openssl_output`, certificates in
:mod:`mbedtls_py.creds`.

Pure Python: nothing here needs the C extension.

Facts about the OpenSSL 3.0 DTLS command line that this module relies on (checked against
OpenSSL 3.0.19; see the tests in ``tests/peers/test_interop_openssl.py``):

* ``s_client``, without ``-quiet``/``-ign_eof``, sends what it reads from stdin once the
  handshake is done and, at stdin EOF, prints ``DONE`` (stderr), sends an encrypted
  close_notify (alert record, epoch 1), calls ``shutdown(SHUT_WR)`` and then keeps reading
  and discarding datagrams for 500 ms before it exits.  Every run therefore lasts at least
  ~0.5 s.  ``-quiet`` implies ``-ign_eof`` (the client then never closes on its own), which is
  why the seed mode must not use it.  ``-brief`` does not imply ``-ign_eof``: it moves a short
  summary to stderr and leaves only the peer's application data on stdout.
* ``s_client`` prints ``closed`` on stdout when the server's close_notify arrives *before* its
  own stdin EOF (the case that, against Mbed TLS's ``dtls_server``, loses the race).  Without
  ``-brief`` it prints its session block, ``Cipher is ...`` included, even when the handshake
  failed half-way (exit status 1), so the cipher line alone does not prove a handshake.
* ``s_server`` reports a failed handshake only on stderr (``ERROR`` and the error stack).
* ``s_server`` turns on DTLS cookie exchange (HelloVerifyRequest) for every connection; it
  cannot be turned off.  ``-listen`` only changes *how*: the stateless ``DTLSv1_listen()``
  before any connection state exists, after which the server calls ``connect()`` on its UDP
  socket with that client's address and turns ``-listen`` off for the rest of the process, so
  one ``-listen`` server serves one client address (others get ICMP port unreachable: s_client
  says ``write:errno=111``).  Without ``-listen`` it serves clients one after another.
* ``s_server`` has no echo for DTLS (``-rev`` says "Can't use -rev with DTLS"); it prints the
  application data it receives on stdout, between its connection summary and ``DONE``, and
  sends whatever it reads on its own stdin to the client.  A read of at most 2 bytes starting
  with a command letter (``q``, ``Q``, ``r``, ``R``, ...) is a command, not data.
* ``s_server`` exits at stdin EOF (so its stdin is kept open as a pipe), and on stdin EOF or
  ``q``/``Q`` it closes its UDP socket *before* sending close_notify (the ``sendto`` fails with
  EBADF): s_server never sends a close_notify of its own in DTLS 1.2; it only answers one.
* A failed bind (``Address already in use`` on stderr) still exits with status 0.  s_server
  sets ``SO_REUSEADDR``, so a second socket that also sets it can bind the same UDP port;
  :func:`udp_port_free` probes without it.
* ``-psk`` with ``-nocert`` works at the default security level: the default cipher list
  negotiates ``DHE-PSK-AES256-GCM-SHA384``, and ``-cipher PSK-AES128-GCM-SHA256`` (plain PSK)
  needs no ``@SECLEVEL=0``.
* ``-timeout`` sets 250 ms ``SO_RCVTIMEO``/``SO_SNDTIMEO`` on the datagram socket; it is not
  an overall time limit.  ``-mtu N`` fixes the link MTU (no path MTU discovery).
* ``-msg`` does not decode DTLS 1.2 records in 3.0 ("Not TLS data or unknown version").
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections.abc import Sequence

from ..creds.pki import PKI
from ..creds.psk import PSK
from . import processes
from .openssl_output import PeerResult, _parse_client
from .openssl_peer import _common_args, _hostport, _Peer

__all__ = [
    "SEED_INPUT",
    "OpenSSLClient",
    "openssl_available",
    "openssl_path",
    "openssl_version",
    "live_children",
]

SEED_INPUT = b"GET / HTTP/1.0\n"
"""What ``echo "GET / HTTP/1.0"`` writes into the seed's s_client."""

_INSTALL_HINT = "install it with `apt-get install openssl` (or put `openssl` on PATH)"

# --------------------------------------------------------------------------- locating openssl


def openssl_path(openssl: str | None = None) -> str:
    """Return the absolute path of the ``openssl`` CLI (``openssl`` if given, else ``PATH``).

    Raises ``RuntimeError`` with an installation hint when it cannot be found.
    """
    found = shutil.which(openssl or "openssl")
    if found is None:
        name = openssl or "openssl"
        raise RuntimeError(f"OpenSSL command-line tool {name!r} not found; {_INSTALL_HINT}")
    return found


def openssl_available(openssl: str | None = None) -> bool:
    """True if the ``openssl`` CLI can be found and runs ``openssl version``."""
    try:
        openssl_version(openssl)
    except RuntimeError:
        return False
    return True


@functools.lru_cache(maxsize=8)
def _version_of(path: str) -> str:
    try:
        out = subprocess.run([path, "version"], capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{path} version failed: {exc}; {_INSTALL_HINT}") from exc
    return out.stdout.decode(errors="replace").strip()


def openssl_version(openssl: str | None = None) -> str:
    """Return the output of ``openssl version``, e.g. ``"OpenSSL 3.0.19 27 Jan 2026 (...)"``."""
    return _version_of(openssl_path(openssl))


# --------------------------------------------------------------------------- processes

_NAMES = ("openssl",)


def _feed(proc: subprocess.Popen[bytes], data: bytes, delay: float, cut: threading.Event) -> None:
    # s_client reads stdin only after the handshake: a write larger than the pipe buffer
    # blocks until then, or until the process dies, so it happens off the caller's thread.
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
    except (OSError, ValueError):
        pass  # it already exited; wait() reports how
    cut.wait(delay)
    processes.close_stdin(proc)


def live_children() -> list[int]:
    """PIDs of OpenSSL processes started by this process that are running or not yet reaped
    (the registry of :mod:`mbedtls_py.peers.processes` plus a ``/proc`` scan for ``openssl``
    children, zombies included), so a test can assert that nothing was left behind."""
    return processes.live_children("openssl", *_NAMES)


class OpenSSLClient:
    """``openssl s_client -dtls1_2`` run once against ``host:port`` on loopback.

    Modes:

    * default: ``s_client`` with its full output (session block on stdout, then the data it
      received, then ``closed`` if the server's close_notify came before stdin EOF).
    * ``brief=True``: ``-brief``; summary on stderr, stdout is only the received data.
    * ``seed=True``: exactly the seed's command (:meth:`seed_command`), nothing else added.

    ``input`` is written to its stdin; stdin is closed ``eof_delay`` seconds later, and at EOF
    s_client sends an encrypted close_notify and exits ~0.5 s later.  ``wait_for_close``
    adds ``-ign_eof``: the client then ignores stdin EOF and runs until the server closes the
    connection (or the timeout kills it; note that s_server itself never sends a close_notify).

    With ``pki``, the server is verified against ``pki.ca_pem`` (``-CAfile -verify 10
    -verify_return_error -verify_hostname``) unless ``verify=False``; ``client_cert`` presents
    ``pki``'s client certificate.  With ``psk``: ``-psk HEX -psk_identity ID``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        input: bytes = SEED_INPUT,  # noqa: A002 - the name the callers use
        *,
        pki: PKI | None = None,
        psk: PSK | None = None,
        verify: bool = True,
        client_cert: bool = False,
        brief: bool = False,
        seed: bool = False,
        wait_for_close: bool = False,
        eof_delay: float = 0.0,
        mtu: int | None = None,
        cipher: str | None = None,
        dtls_timeouts: bool = False,
        extra_args: Sequence[str] = (),
        openssl: str | None = None,
    ) -> None:
        extras = (pki, brief, wait_for_close, mtu, cipher, dtls_timeouts, client_cert)
        if seed and any(x not in (None, False) for x in extras):
            raise ValueError(
                "seed=True reproduces the seed command exactly; "
                "only psk and extra_args may be added"
            )
        if client_cert and pki is None:
            raise ValueError("client_cert=True needs pki")
        if eof_delay < 0:
            raise ValueError("eof_delay must be >= 0")
        self.host, self.port, self.input = host, port, bytes(input)
        self.pki, self.psk, self.verify, self.client_cert = pki, psk, verify, client_cert
        self.brief, self.seed = brief, seed
        self.wait_for_close, self.eof_delay = wait_for_close, eof_delay
        self.mtu, self.cipher, self.dtls_timeouts = mtu, cipher, dtls_timeouts
        self.extra_args = list(extra_args)
        self._peer = _Peer(openssl_path(openssl))
        self._feeder: threading.Thread | None = None
        self._cut = threading.Event()
        self.result: PeerResult | None = None

    @staticmethod
    def seed_command(
        host: str, port: int, *, psk: PSK | None = None, openssl: str | None = None
    ) -> list[str]:
        """The seed's client: ``openssl s_client -dtls1_2 -connect HOST:PORT``.

        Fed :data:`SEED_INPUT` on stdin, as ``echo "GET / HTTP/1.0" | ...`` does.  (Mbed TLS's
        ssl-opt.sh runs the same thing as ``s_client -connect 127.0.0.1:PORT -dtls1_2``, with no
        ``-CAfile``: the certificate is not verified.)  With ``psk``, ``-psk HEX -psk_identity
        ID`` are appended, needed only against a PSK-only server.
        """
        argv = [openssl_path(openssl), "s_client", "-dtls1_2", "-connect", _hostport(host, port)]
        if psk is not None:
            argv += ["-psk", psk.hex, "-psk_identity", psk.identity]
        return argv

    def command(self) -> list[str]:
        """The argv this client runs (certificate paths point into its temp dir)."""
        if self.seed:
            openssl = self._peer._openssl
            seed = self.seed_command(self.host, self.port, psk=self.psk, openssl=openssl)
            return seed + self.extra_args
        target = _hostport(self.host, self.port)
        argv = [self._peer._openssl, "s_client", "-dtls1_2", "-connect", target]
        if self.brief:
            argv.append("-brief")
        if self.wait_for_close:
            argv.append("-ign_eof")
        if self.pki is not None:
            paths = self.pki.write(self._peer._workdir() / "pki")
            if self.verify:
                argv += ["-CAfile", str(paths.ca), "-verify", "10", "-verify_return_error"]
                argv += ["-verify_hostname", self.pki.hostname]
            if self.client_cert:
                argv += ["-cert", str(paths.client_cert), "-key", str(paths.client_key)]
        if self.psk is not None:
            argv += ["-psk", self.psk.hex, "-psk_identity", self.psk.identity]
        return argv + _common_args(self.mtu, self.cipher, self.dtls_timeouts, self.extra_args)

    def start(self) -> OpenSSLClient:
        """Start s_client in the background and feed it ``input``; see :meth:`wait`."""
        if self._peer._proc is not None:
            raise RuntimeError("this client was already started; make a new one")
        self._peer._launch(self.command())
        proc = self._peer._proc
        assert proc is not None
        self._feeder = threading.Thread(
            target=_feed, args=(proc, self.input, self.eof_delay, self._cut), daemon=True
        )
        self._feeder.start()
        return self

    def _stop_feeder(self) -> None:
        self._cut.set()
        if self._feeder is not None:
            self._feeder.join(timeout=2.0)

    def wait(self, timeout: float = 10.0) -> PeerResult:
        """Wait up to ``timeout`` s for s_client to exit (then kill it) and return the result."""
        proc = self._peer._proc
        if proc is None:
            raise RuntimeError("start() the client first")
        try:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            self._peer._finish(grace=0.0)
        finally:
            self._stop_feeder()
        result = self._peer._result()
        _parse_client(result, brief=self.brief)
        self.result = result
        self._peer._cleanup_files()
        return result

    def run(self, timeout: float = 10.0) -> PeerResult:
        """Start, wait up to ``timeout`` s, always reap; return the :class:`PeerResult`."""
        self.start()
        try:
            return self.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        """Kill and reap the process if it still runs, and remove temp files."""
        try:
            self._peer._finish(grace=0.0)
        finally:
            self._stop_feeder()
            self._peer._cleanup_files()

    @property
    def pid(self) -> int | None:
        """PID of the s_client process once started."""
        return self._peer.pid

    def __enter__(self) -> OpenSSLClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


