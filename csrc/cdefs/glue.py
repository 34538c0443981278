"""csrc/glue.h: queues, timer, RNG, time, owned objects and helpers (see glue.h)."""

INCLUDES = """
#include "glue.h"
"""

TYPES = """
#define MPY_QUEUE_EMPTY ...
#define MPY_QUEUE_FULL ...
#define MPY_DATAGRAM_SIZE ...
#define MPY_NO_MEMORY ...
#define MPY_MAX_DATAGRAM ...

typedef struct {
    size_t count;
    size_t bytes;
    size_t max_count;
    size_t max_datagram;
    ...;
} mpy_queue;

typedef struct {
    uint64_t now_ms;
} mpy_clock;

typedef struct {
    int64_t start_ms;
    uint32_t int_ms;
    uint32_t fin_ms;
    ...;
} mpy_timer;

struct mpy_conn;
typedef void mpy_keys_fn(const struct mpy_conn *c, void *arg);

typedef struct mpy_conn {
    mbedtls_ssl_context ssl;
    mpy_queue inq;
    mpy_queue outq;
    mpy_timer timer;
    int recv_timeout_mode;
    uint64_t datagrams_in;
    uint64_t datagrams_out;
    mpy_keys_fn *keys_notify;
    void *keys_arg;
    int keys_ready;
    int tls_prf_type;
    unsigned char client_random[32];
    unsigned char server_random[32];
    unsigned char master_secret[48];
    ...;
} mpy_conn;

typedef struct { ...; } mpy_rng;

typedef struct {
    mbedtls_ssl_config conf;
    ...;
} mpy_conf;

typedef void mpy_debug_fn(void *, int, const char *, int, const char *);
"""

FUNCTIONS = """
int mpy_global_init(void);
const char *mpy_package_version(void);
const char *mpy_pinned_mbedtls_version(void);

void *mpy_ref_new(size_t size, void (*dtor)(void *));
void *mpy_ref_retain(void *payload);
void mpy_ref_release(void *payload);
size_t mpy_ref_count(const void *payload);
size_t mpy_ref_live(void);

mpy_conf *mpy_conf_new(void);
int mpy_conf_hold(mpy_conf *c, void *ref);
void mpy_conf_unhold(mpy_conf *c, void *ref);
size_t mpy_conf_held(const mpy_conf *c);
void mpy_conf_set_name(mpy_conf *c, const char *name);
mpy_clock *mpy_clock_new(void);
mpy_rng *mpy_rng_new(void);
mbedtls_x509_crt *mpy_crt_new(void);
mbedtls_pk_context *mpy_pk_new(void);
mbedtls_ssl_cookie_ctx *mpy_cookie_new(void);
int *mpy_ints_new(size_t n);

mpy_conn *mpy_conn_new(size_t max_queue, size_t max_datagram);
int mpy_conn_setup(mpy_conn *c, const mbedtls_ssl_config *conf, const mpy_clock *clock);
int mpy_conn_setup_owned(mpy_conn *c, mpy_conf *conf, mpy_clock *clock);
void mpy_conn_set_clock(mpy_conn *c, mpy_clock *clock);
void mpy_conn_free(mpy_conn *c);
void mpy_conn_clear(mpy_conn *c);
size_t mpy_conn_live(void);
int mpy_conn_min_mtu(mpy_conn *c);
void mpy_conn_export_keys(mpy_conn *c, int on, mpy_keys_fn *notify, void *arg);
void mpy_conn_wipe_keys(mpy_conn *c);
extern "Python" void _mpy_keys_exported(const struct mpy_conn *c, void *arg);

int mpy_queue_push(mpy_queue *q, const unsigned char *data, size_t len);
int mpy_queue_peek(const mpy_queue *q, const unsigned char **data);
int mpy_queue_pop(mpy_queue *q);
int mpy_queue_move(mpy_queue *from_, mpy_queue *to);
void mpy_queue_clear(mpy_queue *q);
int mpy_conn_last_in(const mpy_conn *c, const unsigned char **data);

int64_t mpy_conn_timer_deadline(const mpy_conn *c);
int mpy_timer_get(void *ctx);
uint64_t mpy_monotonic_ms(void);

int mpy_rng_init_system(mpy_rng *r);
int mpy_rng_init_seeded(mpy_rng *r, const unsigned char *seed, size_t seed_len);
int mpy_rng_random(void *ctx, unsigned char *out, size_t len);
void mpy_rng_free(mpy_rng *r);
void mpy_conf_rng(mbedtls_ssl_config *conf, mpy_rng *r);

void mpy_set_time(int64_t unix_seconds);
int64_t mpy_get_time(void);
int64_t mpy_get_fixed_time(void);
uint64_t mpy_datagrams_sent(void);

void mpy_conf_cookies(mbedtls_ssl_config *conf, void *cookie_ctx);
void mpy_conf_dbg(mbedtls_ssl_config *conf, mpy_debug_fn *fn, void *arg);
void mpy_conf_dbg_named(mpy_conf *c, mpy_debug_fn *fn);

int mpy_ssl_state(const mbedtls_ssl_context *ssl);
const char *mpy_ssl_state_name(int state);
"""
