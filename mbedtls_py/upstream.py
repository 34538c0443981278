"""Upstream's sample programs ``programs/ssl/dtls_server`` and
``programs/ssl/dtls_client``, built from the pinned source, as peers.

:func:`build` compiles the two samples, unmodified, from
``vendor/mbedtls/programs/ssl/*.c`` and the test certificates they embed from
``vendor/mbedtls/tests/src/certs.c``, and links them against the same static
archive as the extension (``csrc/mbedtls_build.py``, same config header), into the
git-ignored ``.build/upstream/<key>/``.  It runs on demand (needs a source
checkout and a C compiler) and is not part of the wheel.

The samples hard-code their addresses: ``dtls_server`` binds ``::`` (every
interface, IPv4 too) port 4433, ``dtls_client`` connects to 127.0.0.1:4433 and
checks the name ``localhost``.  The binaries are linked with
``-Wl,--wrap=mbedtls_net_bind,--wrap=mbedtls_net_connect`` and a small shim
(:data:`SHIM_C`, generated here) that only rewrites those two calls'
address and port arguments:

* the bind address becomes loopback (``MBEDTLS_PY_UPSTREAM_HOST``, default
  ``127.0.0.1``), so nothing listens beyond this machine;
* the port becomes ``MBEDTLS_PY_UPSTREAM_PORT`` when set (default: the
  sample's 4433), so tests can run several samples without sharing 4433;
* the client's address becomes ``MBEDTLS_PY_UPSTREAM_HOST`` when set.

The shim also installs the wall clock with ``mbedtls_platform_set_time()``:
the project's config has ``MBEDTLS_PLATFORM_TIME_ALT`` (so the extension can
own time), under which an unset clock reads 0 (1970) and the samples' test
certificates would not be valid yet.  Nothing else differs from upstream.

What the samples support: certificates only (no PSK), the server always uses
HelloVerifyRequest cookies, its certificate is the library's built-in test
server certificate (RSA, CN=localhost, from ``certs.c``), and the client
verifies with ``MBEDTLS_SSL_VERIFY_OPTIONAL`` against the built-in test CAs
(a failed verification is printed, and the client goes on).
:func:`test_certificates` returns those PEMs, read from a helper built from
``certs.c`` (the test CA list, the server certificate and key).

The drivers (:class:`UpstreamServer`, :class:`UpstreamClient`) run the
binaries as bounded subprocesses in their own process groups, parse their
output, and always kill and reap them; :func:`live_children` lists any left.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .interop import children_named

__all__ = [
    "SAMPLE_PORT",
    "SHIM_C",
    "UpstreamBuild",
    "UpstreamServer",
    "UpstreamClient",
    "UpstreamClientResult",
    "ServerConnection",
    "build",
    "available",
    "test_certificates",
    "live_children",
    "parse_server_output",
]

SAMPLE_PORT = 4433
"""The port both samples hard-code."""

ROOT = Path(__file__).resolve().parent.parent
ENV_HOST = "MBEDTLS_PY_UPSTREAM_HOST"
ENV_PORT = "MBEDTLS_PY_UPSTREAM_PORT"

SHIM_C = r"""
/* mbedtls-py: link-time shim for upstream's programs/ssl/dtls_{server,client}.
 * Linked with -Wl,--wrap=mbedtls_net_bind -Wl,--wrap=mbedtls_net_connect:
 * keeps the samples on loopback and lets the harness choose the port. */
#include <stdlib.h>
#include <time.h>
#include "mbedtls/build_info.h"
#include "mbedtls/net_sockets.h"
#include "mbedtls/platform_time.h"

int __real_mbedtls_net_bind(mbedtls_net_context *ctx, const char *bind_ip,
                            const char *port, int proto);
int __real_mbedtls_net_connect(mbedtls_net_context *ctx, const char *host,
                               const char *port, int proto);

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : fallback;
}

int __wrap_mbedtls_net_bind(mbedtls_net_context *ctx, const char *bind_ip,
                            const char *port, int proto)
{
    (void) bind_ip; /* the sample's "::" would be every interface */
    return __real_mbedtls_net_bind(ctx, env_or("MBEDTLS_PY_UPSTREAM_HOST", "127.0.0.1"),
                                   env_or("MBEDTLS_PY_UPSTREAM_PORT", port), proto);
}

int __wrap_mbedtls_net_connect(mbedtls_net_context *ctx, const char *host,
                               const char *port, int proto)
{
    return __real_mbedtls_net_connect(ctx, env_or("MBEDTLS_PY_UPSTREAM_HOST", host),
                                      env_or("MBEDTLS_PY_UPSTREAM_PORT", port), proto);
}

#if defined(MBEDTLS_HAVE_TIME) && defined(MBEDTLS_PLATFORM_TIME_ALT)
static mbedtls_time_t wall_clock(mbedtls_time_t *out)
{
    time_t now = time(NULL);
    if (out != NULL) {
        *out = (mbedtls_time_t) now;
    }
    return (mbedtls_time_t) now;
}

__attribute__((constructor)) static void mbedtls_py_set_wall_clock(void)
{
    mbedtls_platform_set_time(wall_clock);
}
#endif
"""

_CERTS_TOOL_C = r"""
/* mbedtls-py: write the test certificates compiled from tests/src/certs.c. */
#include <stdio.h>
#include <string.h>
#include "test/certs.h"

static int put(const char *dir, const char *name, const char *text)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL) {
        return 1;
    }
    fwrite(text, 1, strlen(text), f);
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    return put(argv[1], "cas.pem", mbedtls_test_cas_pem)
           | put(argv[1], "srv_crt.pem", mbedtls_test_srv_crt)
           | put(argv[1], "srv_key.pem", mbedtls_test_srv_key)
           | put(argv[1], "ca_crt.pem", mbedtls_test_ca_crt);
}
"""


# --------------------------------------------------------------------------- build


def _csrc_build() -> Any:
    path = ROOT / "csrc" / "mbedtls_build.py"
    if not path.is_file():
        raise RuntimeError("the upstream sample programs are built from a source checkout "
                           f"of mbedtls-py (csrc/mbedtls_build.py not found under {ROOT})")
    name = "_mbedtls_py_csrc_build"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class UpstreamBuild:
    """Paths of the built samples."""

    directory: Path
    dtls_server: Path
    dtls_client: Path
    certs_tool: Path


_BUILD_LOCK = threading.Lock()
_BUILT: UpstreamBuild | None = None


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"build step failed:\n{' '.join(cmd)}\n{proc.stderr}")


def build(verbose: bool = False) -> UpstreamBuild:
    """Build ``dtls_server``, ``dtls_client`` and the certificate helper (once;
    reused while the sources, archive and flags are unchanged)."""
    global _BUILT
    with _BUILD_LOCK:
        if _BUILT is not None and all(p.exists() for p in
                                      (_BUILT.dtls_server, _BUILT.dtls_client,
                                       _BUILT.certs_tool)):
            return _BUILT
        b = _csrc_build()
        archive = Path(b.build_static_library(verbose=verbose))
        src = Path(b.mbedtls_source())
        cc = b.compiler()
        cflags = [*b.library_cflags(src), f"-I{src / 'tests' / 'include'}"]
        sources = {
            "dtls_server": src / "programs" / "ssl" / "dtls_server.c",
            "dtls_client": src / "programs" / "ssl" / "dtls_client.c",
            "certs": src / "tests" / "src" / "certs.c",
        }
        key = hashlib.sha256()
        for part in (str(archive), " ".join(cc + cflags), SHIM_C,
                     _CERTS_TOOL_C):
            key.update(part.encode() if isinstance(part, str) else part)
        key.update(str(archive.stat().st_mtime_ns).encode())
        for path in sources.values():
            key.update(path.read_bytes())
        out = ROOT / ".build" / "upstream" / key.hexdigest()[:12]
        result = UpstreamBuild(out, out / "dtls_server", out / "dtls_client",
                               out / "print_test_certs")
        out.mkdir(parents=True, exist_ok=True)
        with open(out / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building too
            try:
                if not all(p.exists() for p in (result.dtls_server, result.dtls_client,
                                                 result.certs_tool)):
                    if verbose:
                        print(f"mbedtls-py: building upstream dtls_server/dtls_client in {out}",
                              file=sys.stderr)
                    (out / "shim.c").write_text(SHIM_C)
                    (out / "print_test_certs.c").write_text(_CERTS_TOOL_C)
                    objs = {}
                    for name, path in [*sources.items(), ("shim", out / "shim.c"),
                                       ("print_test_certs", out / "print_test_certs.c")]:
                        obj = out / f"{name}.o"
                        _run([*cc, *cflags, "-c", str(path), "-o", str(obj)])
                        objs[name] = obj
                    wrap = ["-Wl,--wrap=mbedtls_net_bind", "-Wl,--wrap=mbedtls_net_connect"]
                    for prog, target in (("dtls_server", result.dtls_server),
                                         ("dtls_client", result.dtls_client),
                                         ("print_test_certs", result.certs_tool)):
                        tmp = target.with_suffix(".tmp")
                        extra = [str(objs["shim"])] + wrap if prog != "print_test_certs" else []
                        _run([*cc, str(objs[prog]), *extra, str(objs["certs"]), str(archive),
                              "-lpthread", "-o", str(tmp)])
                        tmp.replace(target)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        _BUILT = result
        return result


def available() -> str | None:
    """``None`` if the samples can be built here, else the reason they cannot."""
    try:
        build()
    except (RuntimeError, SystemExit, OSError) as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class TestCertificates:
    """The PEMs the samples embed (from ``tests/src/certs.c``)."""

    __test__ = False

    cas_pem: bytes  # mbedtls_test_cas_pem: every test CA (what dtls_client trusts)
    ca_pem: bytes  # mbedtls_test_ca_crt
    srv_crt_pem: bytes  # mbedtls_test_srv_crt: dtls_server's certificate (CN=localhost)
    srv_key_pem: bytes  # mbedtls_test_srv_key


_CERTS: TestCertificates | None = None


def test_certificates() -> TestCertificates:
    """The samples' built-in test certificates, as PEM bytes."""
    global _CERTS
    if _CERTS is None:
        tool = build().certs_tool
        with tempfile.TemporaryDirectory(prefix="mbedtls-py-certs-") as d:
            subprocess.run([str(tool), d], check=True, timeout=10)
            read = lambda name: (Path(d) / name).read_bytes()  # noqa: E731
            _CERTS = TestCertificates(read("cas.pem"), read("ca_crt.pem"),
                                      read("srv_crt.pem"), read("srv_key.pem"))
    return _CERTS


test_certificates.__test__ = False  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- processes

_LOCK = threading.Lock()
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_NAMES = ("dtls_server", "dtls_client")


def _reap(proc: subprocess.Popen[bytes], grace: float) -> None:
    try:
        try:
            proc.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 10.0)):
                if proc.returncode is None:
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        pass
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
    finally:
        if proc.returncode is not None:
            with _LOCK:
                _CHILDREN.pop(proc.pid, None)


def live_children() -> list[int]:
    """PIDs of sample processes started by this process that run or are unreaped."""
    with _LOCK:
        pids = {p.pid for p in _CHILDREN.values() if p.poll() is None}
    pids.update(children_named(*_NAMES))
    return sorted(pids)


@atexit.register
def _kill_all() -> None:
    with _LOCK:
        procs = list(_CHILDREN.values())
    for p in procs:
        try:
            _reap(p, 0.0)
        except Exception:  # noqa: BLE001 - at exit, keep going
            pass


class _Proc:
    """A sample binary in its own process group, output in temp files."""

    def __init__(self, argv: list[str], host: str, port: int) -> None:
        from .udp import check_host

        check_host(host)
        self._tmp = tempfile.TemporaryDirectory(prefix="mbedtls-py-upstream-")
        self._out = Path(self._tmp.name) / "stdout"
        self._err = Path(self._tmp.name) / "stderr"
        env = dict(os.environ)
        env[ENV_HOST] = host
        env[ENV_PORT] = str(port)
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         start_new_session=True, close_fds=True, env=env)
        with _LOCK:
            _CHILDREN[self.proc.pid] = self.proc
        self.started = time.monotonic()
        self.ended: float | None = None
        self.killed = False
        self.stdout_final: bytes | None = None
        self.stderr_final: bytes | None = None

    @property
    def stdout(self) -> bytes:
        if self.stdout_final is not None:
            return self.stdout_final
        try:
            return self._out.read_bytes()
        except OSError:
            return b""

    @property
    def stderr(self) -> bytes:
        if self.stderr_final is not None:
            return self.stderr_final
        try:
            return self._err.read_bytes()
        except OSError:
            return b""

    def finish(self, grace: float) -> None:
        if self.stdout_final is not None:
            return
        if self.proc.poll() is None and grace <= 0:
            self.killed = True
        try:
            _reap(self.proc, grace)
        finally:
            if self.proc.returncode is not None and self.proc.returncode < 0:
                self.killed = True
            self.ended = time.monotonic()
            self.stdout_final, self.stderr_final = self.stdout, self.stderr
            self._tmp.cleanup()


def _pick_port(host: str) -> int:
    from .interop import pick_free_udp_port

    return pick_free_udp_port(host)


# --------------------------------------------------------------------------- server


@dataclass
class ServerConnection:
    """One pass of the sample's loop (one ``Waiting for a remote connection``)."""

    accepted: bool = False
    hello_verify: bool = False
    handshake_rc: int | None = None  # 0 ok, negative: what mbedtls_ssl_handshake returned
    read: int | None = None  # bytes read, or the negative code
    request: bytes = b""
    written: int | None = None
    closed_gracefully: bool = False  # the client's close_notify came before the request
    close_notify: bool = False  # the server sent its close_notify

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        d = dict(self.__dict__)
        d["request"] = self.request.decode("latin-1")
        return d


_WAIT = b"  . Waiting for a remote connection ..."


def parse_server_output(stdout: bytes) -> list[ServerConnection]:
    """Split ``dtls_server`` output into passes of its loop."""
    conns = []
    for seg in stdout.split(_WAIT)[1:]:
        c = ServerConnection()
        c.accepted = seg.startswith(b" ok")
        c.hello_verify = b"hello verification requested" in seg
        m = re.search(rb"mbedtls_ssl_handshake returned -0x([0-9a-fA-F]+)", seg)
        if m:
            c.handshake_rc = -int(m.group(1), 16)
        elif b"Performing the DTLS handshake... ok" in seg:
            c.handshake_rc = 0
        m = re.search(rb"< Read from client: (\d+) bytes read\n\n(.*?)\n\n", seg, re.S)
        if m:
            c.read, c.request = int(m.group(1)), m.group(2)
        else:
            m = re.search(rb"mbedtls_ssl_read returned -0x([0-9a-fA-F]+)", seg)
            if m:
                c.read = -int(m.group(1), 16)
        c.closed_gracefully = b"connection was closed gracefully" in seg
        m = re.search(rb"> Write to client: (\d+) bytes written", seg)
        if m:
            c.written = int(m.group(1))
        c.close_notify = b"Closing the connection... done" in seg
        conns.append(c)
    return conns


class UpstreamServer:
    """``dtls_server`` in the background on ``host:port`` (loopback).

    ``port=0`` picks a free port; ``port=4433`` is the sample's own.  The sample
    loops forever; :meth:`stop` ends it (SIGTERM, then SIGKILL) and reaps it.
    Use as a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or _pick_port(host)
        self._p: _Proc | None = None

    def start(self, ready_timeout: float = 10.0) -> UpstreamServer:
        """Start and wait until the sample waits for its first client."""
        binary = build().dtls_server
        self._p = _Proc([str(binary)], self.host, self.port)
        try:
            self.wait_for(_WAIT, timeout=ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def stdout(self) -> bytes:
        """Output so far."""
        return self._p.stdout if self._p is not None else b""

    @property
    def pid(self) -> int | None:
        """The process id."""
        return self._p.proc.pid if self._p is not None else None

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._p is not None and self._p.proc.poll() is None

    def connections(self) -> list[ServerConnection]:
        """The passes of the loop so far."""
        return parse_server_output(self.stdout)

    def handshake_failures(self) -> list[int]:
        """Codes of every failed ``mbedtls_ssl_handshake`` so far."""
        return [c.handshake_rc for c in self.connections()
                if c.handshake_rc is not None and c.handshake_rc != 0]

    def wait_for(self, pattern: bytes, timeout: float = 5.0, count: int = 1) -> None:
        """Wait until ``pattern`` occurs ``count`` times in the output."""
        if self._p is None:
            raise RuntimeError("start() first")
        end = time.monotonic() + timeout
        while self.stdout.count(pattern) < count:
            if self._p.proc.poll() is not None:
                raise RuntimeError(f"dtls_server exited ({self._p.proc.returncode}): "
                                   f"{self.stdout[-2000:].decode(errors='replace')}")
            if time.monotonic() >= end:
                raise TimeoutError(f"dtls_server: no {pattern!r} x{count} within {timeout} s")
            time.sleep(0.005)

    def wait_idle(self, passes: int, timeout: float = 5.0) -> None:
        """Wait until the loop has started its ``passes``-th wait for a client."""
        self.wait_for(_WAIT, timeout=timeout, count=passes)

    def stop(self) -> list[ServerConnection]:
        """Kill and reap it; return the parsed passes (safe to call twice)."""
        if self._p is not None:
            self._p.finish(grace=0.0)
        return self.connections()

    def __enter__(self) -> UpstreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- client


@dataclass
class UpstreamClientResult:
    """What ``dtls_client`` did, parsed from its output."""

    returncode: int | None
    stdout: bytes
    elapsed: float
    timed_out: bool
    handshake_rc: int | None = None
    verify_ok: bool | None = None
    written: int | None = None
    received: bytes = b""
    read_rc: int | None = None
    closed: bool = False  # reached "Closing the connection... done"
    last_error: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Exit 0 after an echo and a close."""
        return self.returncode == 0 and self.handshake_rc == 0 and self.closed


def _parse_client(res: UpstreamClientResult) -> None:
    out = res.stdout
    m = re.search(rb"mbedtls_ssl_handshake returned -0x([0-9a-fA-F]+)", out)
    if m:
        res.handshake_rc = -int(m.group(1), 16)
    elif b"Performing the DTLS handshake... ok" in out:
        res.handshake_rc = 0
    if b"Verifying peer X.509 certificate... ok" in out:
        res.verify_ok = True
    elif b"Verifying peer X.509 certificate... failed" in out:
        res.verify_ok = False
    m = re.search(rb"> Write to server: (\d+) bytes written", out)
    if m:
        res.written = int(m.group(1))
    m = re.search(rb"< Read from server: (\d+) bytes read\n\n(.*?)\n\n", out, re.S)
    if m:
        res.read_rc, res.received = int(m.group(1)), m.group(2)
    else:
        m = re.search(rb"mbedtls_ssl_read returned -0x([0-9a-fA-F]+)", out)
        if m:
            res.read_rc = -int(m.group(1), 16)
        elif b"connection was closed gracefully" in out:
            res.read_rc = -0x7880
    res.closed = b"Closing the connection... done" in out
    m = re.search(rb"Last error was: (-?\d+)", out)
    if m:
        res.last_error = int(m.group(1))


class UpstreamClient:
    """``dtls_client`` once against ``host:port`` (it sends ``Echo this``, reads
    the echo, sends close_notify and exits)."""

    def __init__(self, host: str = "127.0.0.1", port: int = SAMPLE_PORT) -> None:
        self.host, self.port = host, port
        self._p: _Proc | None = None
        self.result: UpstreamClientResult | None = None

    def start(self) -> UpstreamClient:
        """Start it in the background."""
        if self._p is not None:
            raise RuntimeError("already started; make a new one")
        self._p = _Proc([str(build().dtls_client)], self.host, self.port)
        return self

    def wait(self, timeout: float = 15.0) -> UpstreamClientResult:
        """Wait up to ``timeout`` s (then kill), reap, parse."""
        if self._p is None:
            raise RuntimeError("start() first")
        self._p.finish(grace=timeout)
        p = self._p
        res = UpstreamClientResult(p.proc.returncode, p.stdout,
                                   (p.ended or time.monotonic()) - p.started, p.killed)
        _parse_client(res)
        self.result = res
        return res

    def run(self, timeout: float = 15.0) -> UpstreamClientResult:
        """Start, wait, return the result."""
        self.start()
        return self.wait(timeout)

    def close(self) -> None:
        """Kill and reap if still running."""
        if self._p is not None:
            self._p.finish(grace=0.0)

    def __enter__(self) -> UpstreamClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
