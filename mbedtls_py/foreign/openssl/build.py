"""Building the in-process OpenSSL peer's extension, on demand, cached.

Why link Debian's static archives (``libssl-dev``: ``libssl.a``,
``libcrypto.a``) rather than build OpenSSL from its source package: they are
the very library the ``openssl`` command of ``--real-peers`` runs (same
Debian version, so in-process and real verdicts compare), and linking them
takes seconds where compiling OpenSSL takes minutes of CI's budget.  OpenSSL's
DTLS timer reads ``gettimeofday`` with no hook (3.0's ``ssl/d1_lib.c``), so
the link wraps ``gettimeofday``, ``clock_gettime`` and ``time`` for the
archives' objects (``-Wl,--wrap=...``, see ``csrc/openssl_sim/osim.c``) and
keeps every OpenSSL symbol local (``-Wl,--exclude-libs,ALL``): the system
``libssl.so`` that Python's ``ssl`` module loads never meets this copy.

The datagram queues are the Mbed TLS glue's own code (``csrc/dgram_queue.c``,
compiled into this extension too).  The result lives in
``cache_dir("peers")/openssl-sim-<key>/``, the key hashing the sources, the
archives and the compiler flags, so a changed input rebuilds and two
checkouts never share a stale build.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import shutil
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

from ..._csrc import CHECKOUT_ROOT, csrc_dir
from ...cachedir import cache_dir
from .. import PeerUnavailable

__all__ = ["MissingOpenSSL", "build", "load", "archives", "CSRC"]

# the checkout's csrc/, or the copy an installed wheel carries (mbedtls_py/_build/csrc)
CSRC = csrc_dir() or CHECKOUT_ROOT / "csrc"
_SOURCES = (CSRC / "openssl_sim" / "osim.c", CSRC / "dgram_queue.c")
_HEADERS = (CSRC / "openssl_sim" / "osim.h", CSRC / "dgram_queue.h")
_WRAPPED = ("gettimeofday", "clock_gettime", "time")
MODULE = "_openssl_sim"
_INSTALL = "apt-get install libssl-dev"

CDEF = """
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct ssl_method_st SSL_METHOD;
typedef struct bio_st BIO;
typedef struct x509_st X509;
typedef struct X509_name_st X509_NAME;
typedef struct ssl_cipher_st SSL_CIPHER;
typedef struct ssl_session_st SSL_SESSION;
typedef struct { const char *name; unsigned long id; } SRTP_PROTECTION_PROFILE;
typedef struct osim_link osim_link;

void osim_set_clock_ms(int64_t unix_ms);
int64_t osim_clock_ms(void);
int osim_rand_seed(const unsigned char *key, size_t len);
uint64_t osim_rand_drawn(void);
osim_link *osim_link_new(size_t max_queue);
void osim_link_free(osim_link *l);
int osim_link_push(osim_link *l, const unsigned char *data, size_t len);
int osim_link_peek_out(const osim_link *l, const unsigned char **data);
int osim_link_pop_out(osim_link *l);
size_t osim_link_pending_in(const osim_link *l);
void osim_link_clear(osim_link *l);
uint64_t osim_link_datagrams_in(const osim_link *l);
uint64_t osim_link_reads(const osim_link *l);
BIO *osim_link_bio(osim_link *l);
long osim_get_timeout_ms(SSL *s);
int osim_handle_timeout(SSL *s);
int osim_set_link_mtu(SSL *s, long mtu);
void osim_set_cookie_cbs(SSL_CTX *ctx);
void osim_set_verify(SSL_CTX *ctx, int mode);
unsigned long osim_version_num(void);

const SSL_METHOD *DTLS_client_method(void);
const SSL_METHOD *DTLS_server_method(void);
SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth);
void SSL_CTX_free(SSL_CTX *ctx);
int SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
int SSL_CTX_set_cipher_list(SSL_CTX *ctx, const char *str);
int SSL_CTX_use_certificate_chain_file(SSL_CTX *ctx, const char *file);
int SSL_CTX_use_PrivateKey_file(SSL_CTX *ctx, const char *file, int type);
int SSL_CTX_load_verify_locations(SSL_CTX *ctx, const char *CAfile, const char *CApath);
int SSL_CTX_set_default_verify_paths(SSL_CTX *ctx);
void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, void *cb);
void SSL_CTX_set_verify_depth(SSL_CTX *ctx, int depth);
uint64_t SSL_CTX_set_options(SSL_CTX *ctx, uint64_t op);
int SSL_CTX_set_session_id_context(SSL_CTX *ctx, const unsigned char *sid_ctx,
                                   unsigned int sid_ctx_len);
int SSL_CTX_set_tlsext_use_srtp(SSL_CTX *ctx, const char *profiles);
long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg);
SSL *SSL_new(SSL_CTX *ctx);
void SSL_free(SSL *ssl);
void SSL_set_bio(SSL *s, BIO *rbio, BIO *wbio);
void SSL_set_connect_state(SSL *s);
void SSL_set_accept_state(SSL *s);
uint64_t SSL_set_options(SSL *s, uint64_t op);
int SSL_do_handshake(SSL *s);
int SSL_read(SSL *ssl, void *buf, int num);
int SSL_write(SSL *ssl, const void *buf, int num);
int SSL_shutdown(SSL *s);
int SSL_get_error(const SSL *s, int ret_code);
int SSL_is_init_finished(const SSL *s);
int SSL_in_init(const SSL *s);
int SSL_has_pending(const SSL *s);
int SSL_pending(const SSL *s);
int SSL_get_shutdown(const SSL *ssl);
const char *SSL_get_version(const SSL *s);
const SSL_CIPHER *SSL_get_current_cipher(const SSL *s);
const char *SSL_CIPHER_get_name(const SSL_CIPHER *c);
int SSL_CIPHER_get_bits(const SSL_CIPHER *c, int *alg_bits);
X509 *SSL_get1_peer_certificate(const SSL *s);
void X509_free(X509 *a);
X509_NAME *X509_get_subject_name(const X509 *a);
X509_NAME *X509_get_issuer_name(const X509 *a);
char *X509_NAME_oneline(const X509_NAME *a, char *buf, int size);
long SSL_get_verify_result(const SSL *ssl);
const char *X509_verify_cert_error_string(long n);
int SSL_session_reused(const SSL *s);
SSL_SESSION *SSL_get1_session(SSL *ssl);
int SSL_set_session(SSL *to, SSL_SESSION *session);
void SSL_SESSION_free(SSL_SESSION *ses);
int i2d_SSL_SESSION(SSL_SESSION *in, unsigned char **pp);
SSL_SESSION *d2i_SSL_SESSION(SSL_SESSION **a, const unsigned char **pp, long length);
const unsigned char *SSL_SESSION_get_id(const SSL_SESSION *s, unsigned int *len);
int SSL_SESSION_has_ticket(const SSL_SESSION *s);
SRTP_PROTECTION_PROFILE *SSL_get_selected_srtp_profile(SSL *s);
int SSL_export_keying_material(SSL *s, unsigned char *out, size_t olen, const char *label,
                               size_t llen, const unsigned char *context, size_t contextlen,
                               int use_context);
int SSL_get_secure_renegotiation_support(SSL *ssl);
unsigned long ERR_get_error_all(const char **file, int *line, const char **func,
                                const char **data, int *flags);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
void ERR_clear_error(void);
"""


class MissingOpenSSL(PeerUnavailable):
    """The OpenSSL development files (static archives, headers) are missing."""


def archives() -> tuple[Path, Path]:
    """Debian's ``libssl.a`` and ``libcrypto.a``, or :class:`MissingOpenSSL`
    naming the package to install."""
    libdir = Path(sysconfig.get_config_var("LIBDIR") or "/usr/lib")
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for d in (libdir / multiarch, libdir, Path("/usr/lib") / multiarch, Path("/usr/lib")):
        ssl, crypto = d / "libssl.a", d / "libcrypto.a"
        if ssl.is_file() and crypto.is_file():
            if not Path("/usr/include/openssl/ssl.h").is_file():
                break
            return ssl, crypto
    raise MissingOpenSSL("the in-process OpenSSL peer needs OpenSSL's static libraries and "
                         f"headers (libssl.a, libcrypto.a, openssl/ssl.h); install with: {_INSTALL}")


def _key(ssl: Path, crypto: Path) -> str:
    h = hashlib.sha256()
    for p in (*_SOURCES, *_HEADERS, Path(__file__)):
        h.update(p.read_bytes())
    for p in (ssl, crypto):
        st = p.stat()
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(sys.version.split()[0].encode())
    return h.hexdigest()[:16]


def _find(directory: Path) -> Path | None:
    for p in sorted(directory.glob(f"{MODULE}*.so")):
        return p
    return None


def build(verbose: bool = False) -> Path:
    """The extension's path, built first if the cache has none for these
    inputs (a lock keeps concurrent builders from colliding)."""
    missing = [p for p in (*_SOURCES, *_HEADERS) if not p.is_file()]
    if missing:
        raise MissingOpenSSL(f"the in-process OpenSSL peer's C sources are missing ({missing[0]});"
                             " it needs a source checkout of mbedtls-py")
    ssl, crypto = archives()
    out = cache_dir("peers", f"openssl-sim-{_key(ssl, crypto)}")
    found = _find(out)
    if found is not None:
        return found
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _find(out)
        if found is not None:
            return found
        import cffi  # type: ignore[import-untyped]
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        wrap = ",".join(f"--wrap={f}" for f in _WRAPPED)
        ffi.set_source(
            MODULE, '#include "osim.h"\n#include <openssl/err.h>\n',
            sources=[str(p) for p in _SOURCES],
            include_dirs=[str(CSRC / "openssl_sim"), str(CSRC)],
            extra_objects=[str(ssl), str(crypto)],
            extra_compile_args=["-O2", "-Wall", "-Wno-deprecated-declarations",
                                "-fvisibility=hidden"],
            extra_link_args=[f"-Wl,{wrap}", "-Wl,--exclude-libs,ALL"],
            libraries=["pthread", "dl"])
        if verbose:
            print(f"mbedtls-py: building the in-process OpenSSL peer into {out}", file=sys.stderr)
        tmp = out / "tmp"
        built = Path(ffi.compile(tmpdir=str(tmp), verbose=False))
        final = out / built.name
        shutil.move(str(built), final)
        shutil.rmtree(tmp, ignore_errors=True)
        return final


_loaded: ModuleType | None = None


def load() -> ModuleType:
    """The extension module (built on first use), with ``ffi`` and ``lib``."""
    global _loaded
    if _loaded is None:
        path = build(verbose=True)
        spec = importlib.util.spec_from_file_location(MODULE, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _loaded = mod
    return _loaded
