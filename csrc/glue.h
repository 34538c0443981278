/*
 * mbedtls-py C glue: what sits between Mbed TLS's callbacks and Python.
 *
 *  - per-connection datagram queues behind mbedtls_ssl_set_bio(), so Python
 *    moves whole datagrams and never runs inside a BIO callback;
 *  - a DTLS timer behind mbedtls_ssl_set_timer_cb() that reads a clock owned
 *    by the harness (virtual milliseconds) or the real monotonic clock;
 *  - an RNG for mbedtls_ssl_conf_rng(): CTR_DRBG over system entropy, or over
 *    a deterministic stream derived from a seed;
 *  - the wall-clock time Mbed TLS reads (mbedtls_time), settable per thread;
 *  - key export, only when asked (mpy_conn_export_keys): the TLS 1.2 master
 *    secret is recorded and handed on, and wiped on reset, clear and free.
 *  - reference-counted owners for everything an ssl context points at
 *    (config, RNG, cookie context, certificates, keys, cipher-suite lists,
 *    clocks), so C frees them in a safe order whatever order Python's
 *    garbage collector finalises their wrappers in.
 *
 * The same file is linked into the extension and the native benchmark driver.
 */
#ifndef MBEDTLS_PY_GLUE_H
#define MBEDTLS_PY_GLUE_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/ssl.h"
#include "mbedtls/version.h"
#if MBEDTLS_VERSION_NUMBER >= 0x04000000
#include "mbedtls/private/ctr_drbg.h"   /* 4.x: TF-PSA-Crypto's private interface */
#else
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#endif
#include "mbedtls/ssl_cookie.h"
#include "mbedtls/x509_crt.h"
#include "mbedtls/pk.h"

/* Thread-local storage, the one spelling the glue uses: C11's _Thread_local
 * (the glue is compiled with -std=c11), or the GCC and Clang keyword when a
 * driver compiles it as C99. */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define MPY_THREAD_LOCAL _Thread_local
#else
#define MPY_THREAD_LOCAL __thread
#endif

#include "dgram_queue.h"

struct mpy_conn;
/* Called (when set) right after Mbed TLS exported a connection's keys. */
typedef void mpy_keys_fn(const struct mpy_conn *c, void *arg);

/* A clock the harness owns; several connections may share one. */
typedef struct {
    uint64_t now_ms;
} mpy_clock;

typedef struct {
    const mpy_clock *clock;     /* NULL: the real monotonic clock */
    int64_t start_ms;           /* may lie before 0 after a clock change */
    uint32_t int_ms;
    uint32_t fin_ms;            /* 0: no timer running */
} mpy_timer;

/* ---- reference-counted objects ---------------------------------------
 * mpy_ref_new() allocates a payload behind a hidden header holding a
 * reference count (1) and a destructor run on the payload when the count
 * drops to 0.  Python wraps each with ffi.gc(p, mpy_ref_release); C owners
 * (a config, a connection) retain what they point at.  NULL, and any
 * pointer that is not a live ref (a registry is asked first, no memory
 * outside the glue's own is read), is ignored by retain, release and count. */
typedef void mpy_dtor(void *payload);
void *mpy_ref_new(size_t size, mpy_dtor *dtor);
void *mpy_ref_retain(void *payload);
void mpy_ref_release(void *payload);
size_t mpy_ref_count(const void *payload);
size_t mpy_ref_live(void);      /* objects alive in the process (leak checks) */

/* A config that owns what it points at: every object handed to it with
 * mpy_conf_hold() lives until the config is freed or as many
 * mpy_conf_unhold() calls let go of it, and the config lives until the last
 * connection set up on it with mpy_conn_setup_owned() is freed (after
 * mbedtls_ssl_free, which still reads ssl->conf).  Holds are counted per
 * object (two setters may hold the same certificate): one held[] slot each,
 * so a setter that holds the new object and lets go of the old one grows
 * nothing however often it runs.
 * What the config points at itself (the SHA-1 certificate profile, 2.x's
 * signature hash list) lives in it, never in a static shared with other
 * configs. */
#define MPY_CONF_NAME_LEN 64
typedef struct {
    mbedtls_ssl_config conf;    /* first: a mpy_conf * is a mbedtls_ssl_config * */
    struct mpy_held { void *ref; size_t holds; } *held;
    size_t n_held;
    size_t cap_held;
    volatile int hold_lock;     /* spin lock around held[] */
    char name[MPY_CONF_NAME_LEN];   /* the debug callback's context */
    mbedtls_x509_crt_profile cert_profile;  /* set by mpy_conf_allow_sha1 */
    int sig_hashes[16];         /* 2.x: the hash list of mpy_conf_allow_sha1 */
} mpy_conf;

typedef struct mpy_conn {
    mbedtls_ssl_context ssl;
    mpy_queue inq;              /* datagrams waiting for mbedtls_ssl_*() to read */
    mpy_queue outq;             /* datagrams Mbed TLS has sent */
    mpy_timer timer;
    mpy_conf *owner;            /* retained config (NULL: borrowed, native driver) */
    mpy_clock *clock_ref;       /* retained clock of an owned connection */
    const int *mtu_list;        /* cache key of mpy_conn_min_mtu() */
    int mtu_cid;
    int mtu_floor;
    mpy_datagram *last_in;      /* the datagram most recently read by Mbed TLS */
    int recv_timeout_mode;      /* empty inbound queue: TIMEOUT instead of WANT_READ */
    uint64_t datagrams_in;
    uint64_t datagrams_out;
    void *sni_entry;            /* retained SNI entry the last handshake picked (conf_glue.c) */
    /* key export (TLS 1.2 master secret): only while export is on */
    mpy_keys_fn *keys_notify;
    void *keys_arg;
    int keys_ready;
    int tls_prf_type;
    unsigned char client_random[32];
    unsigned char server_random[32];
    unsigned char master_secret[48];
} mpy_conn;

typedef struct {
    mbedtls_ctr_drbg_context drbg;
#if MBEDTLS_VERSION_NUMBER < 0x04000000
    mbedtls_entropy_context entropy;
#endif
    int seeded;                 /* 1: deterministic stream from seed */
    unsigned char seed[32];
    uint64_t counter;
} mpy_rng;

/* Once per process: time hook and PSA crypto.  Returns a PSA status. */
int mpy_global_init(void);

/* Owned objects: each returns an initialised payload with one reference. */
mpy_conf *mpy_conf_new(void);
int mpy_conf_hold(mpy_conf *c, void *ref);
/* Lets go of one hold of ref: only once the config no longer points at it
 * for that hold's setter (a replaced cookie context, cipher-suite list, CA
 * chain), never something a handshake may still read.  Not held: nothing
 * happens. */
void mpy_conf_unhold(mpy_conf *c, void *ref);
size_t mpy_conf_held(const mpy_conf *c);   /* how many distinct objects c holds */
void mpy_conf_set_name(mpy_conf *c, const char *name);
mpy_clock *mpy_clock_new(void);
mpy_rng *mpy_rng_new(void);
mbedtls_x509_crt *mpy_crt_new(void);
mbedtls_pk_context *mpy_pk_new(void);
mbedtls_ssl_cookie_ctx *mpy_cookie_new(void);
int *mpy_ints_new(size_t n);

/* Connections.  mpy_conn_setup borrows conf and clock (the caller keeps
 * them alive); mpy_conn_setup_owned retains both (objects from
 * mpy_conf_new/mpy_clock_new) and releases them in mpy_conn_free. */
mpy_conn *mpy_conn_new(size_t max_queue, size_t max_datagram);
int mpy_conn_setup(mpy_conn *c, const mbedtls_ssl_config *conf, const mpy_clock *clock);
int mpy_conn_setup_owned(mpy_conn *c, mpy_conf *conf, mpy_clock *clock);
/* mbedtls_ssl_free + mbedtls_ssl_init + mbedtls_ssl_setup on the same
 * connection, as upstream's programs do for context serialization: the
 * connection's own settings (MTU, CID, hostname, datagram packing) are back
 * to their defaults, while the glue's wiring stays: queues, BIO, timer and
 * clock, and key export (the harness's recording, not a setting of the
 * connection). */
int mpy_conn_reinit(mpy_conn *c, const mbedtls_ssl_config *conf);
/* Moves the timer to another clock, keeping a running timer running: the
 * time already elapsed on the old clock counts on the new one. */
void mpy_conn_set_clock(mpy_conn *c, mpy_clock *clock);
void mpy_conn_free(mpy_conn *c);
void mpy_conn_clear(mpy_conn *c);
size_t mpy_conn_live(void);     /* connections alive in the process */

/* The smallest MTU with which this connection can send every handshake
 * message under any cipher suite its config allows (see glue.c). */
int mpy_conn_min_mtu(mpy_conn *c);

/* Key export: on (register Mbed TLS's export callback; notify may be NULL)
 * or off (unregister).  Off, and every wipe, zeroises the recorded secret. */
void mpy_conn_export_keys(mpy_conn *c, int on, mpy_keys_fn *notify, void *arg);
void mpy_conn_wipe_keys(mpy_conn *c);

/* Queues: push copies, peek borrows, pop discards, move hands over. */
int mpy_conn_last_in(const mpy_conn *c, const unsigned char **data);

/* The BIO callbacks (also usable by a native driver). */
int mpy_bio_send(void *ctx, const unsigned char *buf, size_t len);
int mpy_bio_recv(void *ctx, unsigned char *buf, size_t len);
int mpy_bio_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout);

/* Timer */
void mpy_timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms);
int mpy_timer_get(void *ctx);
int64_t mpy_conn_timer_deadline(const mpy_conn *c);
uint64_t mpy_monotonic_ms(void);

/* RNG */
int mpy_rng_init_system(mpy_rng *r);
int mpy_rng_init_seeded(mpy_rng *r, const unsigned char *seed, size_t seed_len);
int mpy_rng_random(void *ctx, unsigned char *out, size_t len);
void mpy_rng_free(mpy_rng *r);
void mpy_conf_rng(mbedtls_ssl_config *conf, mpy_rng *r);

/* Wall-clock time read by Mbed TLS, per thread (Mbed TLS reads it on the
 * calling thread): a fixed value, or the system's (-1). */
void mpy_set_time(int64_t unix_seconds);
int64_t mpy_get_time(void);
int64_t mpy_get_fixed_time(void);   /* the setting itself: -1 = system clock */

/* Datagrams sent by every context of the process so far (it only grows). */
uint64_t mpy_datagrams_sent(void);

/* Cookies: wire a real mbedtls_ssl_cookie context into a config (NULL: off). */
void mpy_conf_cookies(mbedtls_ssl_config *conf, void *cookie_ctx);

/* Debug: forward to a callback (NULL: off). */
typedef void mpy_debug_fn(void *, int, const char *, int, const char *);
void mpy_conf_dbg(mbedtls_ssl_config *conf, mpy_debug_fn *fn, void *arg);
/* The same with the config's own name (a C string it owns) as context. */
void mpy_conf_dbg_named(mpy_conf *c, mpy_debug_fn *fn);

/* The handshake state (ssl->state is private in Mbed TLS 3). */
int mpy_ssl_state(const mbedtls_ssl_context *ssl);
const char *mpy_ssl_state_name(int state);

#endif /* MBEDTLS_PY_GLUE_H */
