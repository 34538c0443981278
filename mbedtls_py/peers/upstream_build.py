"""Building upstream's ``dtls_server``/``dtls_client`` samples from the pinned
source, with a small address shim.

:func:`build` compiles the two samples, unmodified, from
``vendor/mbedtls/programs/ssl/*.c`` and the test certificates they embed from
``vendor/mbedtls/tests/src/certs.c``, and links them against the same static
archive as the extension (``csrc/mbedtls_build.py``, same config header), into the
git-ignored ``.build/upstream/<key>/`` (installed: the per-user cache's
``build/upstream/<key>/``, from the source fetched into the cache).  It runs
on demand and needs a C compiler.

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
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._csrc import build_dir, load_build
from ..creds.pki import PKI

__all__ = ["build", "build_test_programs", "TEST_PROGRAMS", "available", "test_certificates", "UpstreamBuild", "ROOT", "SHIM_C", "SAMPLE_PORT",
           "ENV_HOST", "ENV_PORT"]


SAMPLE_PORT = 4433
"""The port both samples hard-code."""


ROOT = Path(__file__).resolve().parents[2]  # the checkout: mbedtls_py/peers/ -> root


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


def _csrc_build() -> Any:
    try:
        return load_build()
    except RuntimeError as e:
        raise RuntimeError(f"the upstream sample programs cannot be built here: {e}") from None


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
        out = build_dir("upstream", key.hexdigest()[:12])
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


TEST_PROGRAMS = ("ssl/ssl_server2", "ssl/ssl_client2", "test/udp_proxy")
"""The programs ssl-opt.sh runs, as ``programs/`` paths."""


def build_test_programs(verbose: bool = False) -> Path:
    """Build upstream's ssl_server2, ssl_client2 and udp_proxy with upstream's
    own Makefile and default configuration (as upstream's CI runs ssl-opt.sh),
    unmodified, in a copy of the pinned source under
    ``.build/upstream-programs/<key>/mbedtls``; returns that tree (ssl-opt.sh's
    commands run in its ``tests/``).  Built once per source."""
    import shutil
    src = Path(_csrc_build().mbedtls_source())
    key = hashlib.sha256(str(src.resolve()).encode())
    for rel in TEST_PROGRAMS:
        key.update((src / "programs" / f"{rel}.c").read_bytes())
    out = ROOT / ".build" / "upstream-programs" / key.hexdigest()[:12]
    tree = out / "mbedtls"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building too
        try:
            if not all((tree / "programs" / rel).exists() for rel in TEST_PROGRAMS):
                if verbose:
                    print(f"mbedtls-py: building {', '.join(TEST_PROGRAMS)} in {tree}",
                          file=sys.stderr)
                if not tree.exists():
                    shutil.copytree(src, tree, symlinks=True)
                _run(["make", "-C", str(tree), "-j2", "lib"])
                _run(["make", "-C", str(tree / "programs"), "-j2", *TEST_PROGRAMS])
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return tree


def available() -> str | None:
    """``None`` if the samples can be built here, else the reason they cannot."""
    try:
        build()
    except (RuntimeError, SystemExit, OSError) as exc:
        return str(exc)
    return None


_CERTS: PKI | None = None


def test_certificates() -> PKI:
    """The samples' built-in test certificates (``tests/src/certs.c``) as a
    :class:`~mbedtls_py.creds.pki.PKI`: ``ca_pem`` is every test CA (what
    ``dtls_client`` trusts), ``cert_pem``/``key_pem`` ``dtls_server``'s
    certificate (CN=localhost) and key; no client certificate."""
    global _CERTS
    if _CERTS is None:
        tool = build().certs_tool
        with tempfile.TemporaryDirectory(prefix="mbedtls-py-certs-") as d:
            subprocess.run([str(tool), d], check=True, timeout=10)
            def read(name: str) -> bytes:
                return (Path(d) / name).read_bytes()
            key = read("srv_key.pem")
            _CERTS = PKI(kind="rsa" if b"RSA" in key else "ecdsa", hostname="localhost",
                         ca_pem=read("cas.pem"), cert_pem=read("srv_crt.pem"), chain_pem=b"",
                         key_pem=key)
    return _CERTS


test_certificates.__test__ = False  # type: ignore[attr-defined]


