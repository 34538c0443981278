"""Build (once) and load the GnuTLS peer extension, ``_gnutls_peer``.

Compiled on demand against the system's libgnutls with cffi (API mode), into
``cache_dir("peers")/gnutls-<key>``, where the key hashes this file, the C glue,
the GnuTLS version of the headers and the Python ABI: a changed glue or a new
libgnutls rebuilds, anything else loads the cached module (no compiler then)."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from types import ModuleType

from ...cachedir import cache_dir
from .. import PeerUnavailable

__all__ = ["load", "INSTALL_HINT", "build_seconds", "header_version"]

HERE = Path(__file__).resolve().parent
HEADER = Path("/usr/include/gnutls/gnutls.h")
INSTALL_HINT = ("the in-process GnuTLS peer needs libgnutls with its headers and a C compiler: "
                "apt-get install libgnutls28-dev gcc (Debian/Ubuntu)")
MODULE = "_gnutls_peer"

CDEF = """
typedef struct gnutls_session_int *gnutls_session_t;
typedef struct gnutls_certificate_credentials_st *gnutls_certificate_credentials_t;
typedef void *gnutls_transport_ptr_t;
typedef struct { unsigned char *data; unsigned int size; } gnutls_datum_t;
typedef struct { ...; } gnutls_dtls_prestate_st;
typedef struct { gnutls_session_t session; void *inq; void *outq; ...; } gnt_conn;

#define GNUTLS_SERVER ...
#define GNUTLS_CLIENT ...
#define GNUTLS_DATAGRAM ...
#define GNUTLS_NONBLOCK ...
#define GNUTLS_POST_HANDSHAKE_AUTH ...
#define GNUTLS_ENABLE_RAWPK ...
#define GNUTLS_COOKIE_KEY_SIZE ...
#define GNUTLS_E_SUCCESS ...
#define GNUTLS_E_AGAIN ...
#define GNUTLS_E_INTERRUPTED ...
#define GNUTLS_E_REHANDSHAKE ...
#define GNUTLS_E_TIMEDOUT ...
#define GNUTLS_E_PREMATURE_TERMINATION ...
#define GNUTLS_E_WARNING_ALERT_RECEIVED ...
#define GNUTLS_E_FATAL_ALERT_RECEIVED ...
#define GNUTLS_E_HEARTBEAT_PING_RECEIVED ...
static const int GNUTLS_X509_FMT_PEM;
static const int GNUTLS_CRD_CERTIFICATE;
static const int GNUTLS_CERT_IGNORE;
static const int GNUTLS_CERT_REQUEST;
static const int GNUTLS_CERT_REQUIRE;
static const int GNUTLS_SHUT_WR;
static const int GNUTLS_SHUT_RDWR;

const char *gnutls_check_version(const char *req_version);
int gnutls_init(gnutls_session_t *session, unsigned int flags);
void gnutls_deinit(gnutls_session_t session);
int gnutls_set_default_priority(gnutls_session_t session);
int gnutls_priority_set_direct(gnutls_session_t session, const char *priorities,
                               const char **err_pos);
int gnutls_certificate_allocate_credentials(gnutls_certificate_credentials_t *res);
void gnutls_certificate_free_credentials(gnutls_certificate_credentials_t sc);
int gnutls_certificate_set_x509_key_file(gnutls_certificate_credentials_t res,
                                         const char *certfile, const char *keyfile, int type);
int gnutls_certificate_set_x509_trust_file(gnutls_certificate_credentials_t cred,
                                           const char *cafile, int type);
int gnutls_credentials_set(gnutls_session_t session, int type, void *cred);
typedef struct gnutls_psk_client_credentials_st *gnutls_psk_client_credentials_t;
static const int GNUTLS_CRD_PSK;
static const int GNUTLS_PSK_KEY_RAW;
static const int GNUTLS_NAME_DNS;
int gnutls_psk_allocate_client_credentials(gnutls_psk_client_credentials_t *sc);
void gnutls_psk_free_client_credentials(gnutls_psk_client_credentials_t sc);
int gnutls_psk_set_client_credentials(gnutls_psk_client_credentials_t res, const char *username,
                                      const gnutls_datum_t *key, int flags);
int gnutls_certificate_set_x509_trust_mem(gnutls_certificate_credentials_t res,
                                          const gnutls_datum_t *ca, int type);
int gnutls_server_name_set(gnutls_session_t session, int type, const void *name,
                           size_t name_length);
void gnutls_certificate_server_set_request(gnutls_session_t session, int req);
void gnutls_handshake_set_private_extensions(gnutls_session_t session, int allow);
void gnutls_handshake_set_timeout(gnutls_session_t session, unsigned int ms);
int gnutls_session_ticket_key_generate(gnutls_datum_t *key);
int gnutls_session_ticket_enable_server(gnutls_session_t session, const gnutls_datum_t *key);
int gnutls_key_generate(gnutls_datum_t *key, unsigned int key_size);
void gnutls_dtls_set_mtu(gnutls_session_t session, unsigned int mtu);
unsigned int gnutls_dtls_get_data_mtu(gnutls_session_t session);
unsigned int gnutls_dtls_get_timeout(gnutls_session_t session);
int gnutls_dtls_cookie_verify(gnutls_datum_t *key, void *client_data, size_t client_data_size,
                              void *_msg, size_t msg_size, gnutls_dtls_prestate_st *prestate);
int gnutls_dtls_cookie_send(gnutls_datum_t *key, void *client_data, size_t client_data_size,
                            gnutls_dtls_prestate_st *prestate, gnutls_transport_ptr_t ptr,
                            ssize_t (*push_func)(gnutls_transport_ptr_t, const void *, size_t));
void gnutls_dtls_prestate_set(gnutls_session_t session, gnutls_dtls_prestate_st *prestate);
int gnutls_handshake(gnutls_session_t session);
ssize_t gnutls_record_send(gnutls_session_t session, const void *data, size_t data_size);
ssize_t gnutls_record_recv_seq(gnutls_session_t session, void *data, size_t data_size,
                               unsigned char *seq);
size_t gnutls_record_check_pending(gnutls_session_t session);
int gnutls_bye(gnutls_session_t session, int how);
int gnutls_alert_get(gnutls_session_t session);
const char *gnutls_alert_get_name(int alert);
const char *gnutls_strerror(int error);
const char *gnutls_strerror_name(int error);
int gnutls_error_is_fatal(int error);
int gnutls_session_is_resumed(gnutls_session_t session);
int gnutls_alert_send_appropriate(gnutls_session_t session, int err);

void gnt_set_queue_ops(void *push, void *peek, void *pop);
void gnt_conn_bind(gnt_conn *c, gnutls_session_t session, void *inq, void *outq);
ssize_t gnt_push(gnutls_transport_ptr_t p, const void *data, size_t len);
void gnt_use_clock(const uint64_t *clock_ms, int64_t unix_at_zero);
void gnt_rng_seed(const unsigned char *seed, size_t len);
uint64_t gnt_rng_bytes(void);
int gnt_rng_hook(void);
char *gnt_session_desc(gnutls_session_t session);
void gnt_free(void *p);
"""

_SOURCES = ("gnutls_glue.c", "gnutls_glue.h")
_LOADED: list[ModuleType] = []
_BUILD_S = [0.0]


def header_version() -> str:
    """The GnuTLS version of the installed headers ("" when there are none)."""
    try:
        text = HEADER.read_text(errors="replace")
    except OSError:
        return ""
    m = re.search(r'#define GNUTLS_VERSION "([^"]+)"', text)
    return m.group(1) if m else "unknown"


def _header_version() -> str:
    version = header_version()
    if not version:
        raise PeerUnavailable(f"{HEADER} not found: {INSTALL_HINT}")
    return version


def _key(version: str) -> str:
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((HERE / name).read_bytes())
    h.update(CDEF.encode())
    h.update(f"{version} {sys.implementation.cache_tag} {sysconfig.get_platform()}".encode())
    return h.hexdigest()[:16]


def _find(out: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = out / (MODULE + suffix)
        if p.is_file():
            return p
    return None


def _compile(out: Path) -> None:
    try:
        import cffi  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - cffi is a dependency
        raise PeerUnavailable(f"cffi is missing: {e}") from None
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source(MODULE, '#include "gnutls_glue.h"\n',
                   sources=[str(HERE / "gnutls_glue.c")], include_dirs=[str(HERE)],
                   libraries=["gnutls"], extra_compile_args=["-O2", "-Wall"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    t0 = time.perf_counter()
    try:
        ffi.compile(tmpdir=str(tmp), verbose=False)
    except Exception as e:  # noqa: BLE001 - any compiler/linker failure names the fix
        raise PeerUnavailable(f"building the GnuTLS peer failed ({e}); {INSTALL_HINT}") from None
    built = _find(tmp)
    if built is None:
        raise PeerUnavailable(f"building the GnuTLS peer produced no module in {tmp}")
    out.mkdir(parents=True, exist_ok=True)
    os.replace(built, out / built.name)  # atomic: parallel builders leave one complete file
    shutil.rmtree(tmp, ignore_errors=True)
    _BUILD_S[0] = time.perf_counter() - t0


def load() -> ModuleType:
    """The ``_gnutls_peer`` module (``.ffi``, ``.lib``), built first if needed."""
    if _LOADED:
        return _LOADED[0]
    out = cache_dir("peers", f"gnutls-{_key(_header_version())}")
    path = _find(out)
    if path is None:
        _compile(out)
        path = _find(out)
        assert path is not None
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:
        raise PeerUnavailable(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except ImportError as e:
        raise PeerUnavailable(f"loading {path} failed ({e}); {INSTALL_HINT}") from None
    _LOADED.append(mod)
    return mod


def build_seconds() -> float:
    """How long this process spent compiling the extension (0.0: it was cached)."""
    return _BUILD_S[0]
