/* mbedtls-py C glue; see glue.h for what each part is for. */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS

#include "glue.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbedtls/platform.h"
#include "mbedtls/platform_time.h"
#include "mbedtls/sha256.h"
#include "mbedtls/ssl_cookie.h"
#include "psa/crypto.h"

/* ---- queues ------------------------------------------------------------ */

static void queue_append(mpy_queue *q, mpy_datagram *d)
{
    if (q->tail != NULL) {
        q->tail->next = d;
    } else {
        q->head = d;
    }
    q->tail = d;
    q->count++;
    q->bytes += d->len;
}

int mpy_queue_push(mpy_queue *q, const unsigned char *data, size_t len)
{
    if (len == 0 || len > q->max_datagram) {
        return MPY_DATAGRAM_SIZE;
    }
    if (q->count >= q->max_count) {
        return MPY_QUEUE_FULL;
    }
    mpy_datagram *d = malloc(sizeof(*d) + len);
    if (d == NULL) {
        return MPY_NO_MEMORY;
    }
    d->next = NULL;
    d->len = len;
    memcpy(d->data, data, len);
    queue_append(q, d);
    return 0;
}

static mpy_datagram *queue_take(mpy_queue *q)
{
    mpy_datagram *d = q->head;
    if (d != NULL) {
        q->head = d->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->count--;
        q->bytes -= d->len;
        d->next = NULL;
    }
    return d;
}

int mpy_queue_peek(const mpy_queue *q, const unsigned char **data)
{
    if (q->head == NULL) {
        *data = NULL;
        return MPY_QUEUE_EMPTY;
    }
    *data = q->head->data;
    return (int) q->head->len;
}

int mpy_queue_pop(mpy_queue *q)
{
    mpy_datagram *d = queue_take(q);
    if (d == NULL) {
        return MPY_QUEUE_EMPTY;
    }
    int len = (int) d->len;
    free(d);
    return len;
}

/* Hands the head of one queue to another without copying it. */
int mpy_queue_move(mpy_queue *from, mpy_queue *to)
{
    if (from->head == NULL) {
        return MPY_QUEUE_EMPTY;
    }
    if (to->count >= to->max_count) {
        return MPY_QUEUE_FULL;
    }
    if (from->head->len > to->max_datagram) {
        return MPY_DATAGRAM_SIZE;
    }
    mpy_datagram *d = queue_take(from);
    queue_append(to, d);
    return (int) d->len;
}

void mpy_queue_clear(mpy_queue *q)
{
    mpy_datagram *d;
    while ((d = queue_take(q)) != NULL) {
        free(d);
    }
}

/* ---- BIO ------------------------------------------------------------- */

int mpy_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    mpy_conn *c = ctx;
    int ret = mpy_queue_push(&c->outq, buf, len);
    if (ret == MPY_QUEUE_FULL) {
        /* Nobody is draining the queue: ask the caller to come back. */
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    }
    if (ret == MPY_NO_MEMORY) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    if (ret != 0) {
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
    }
    c->datagrams_out++;
    return (int) len;
}

static int bio_recv(mpy_conn *c, unsigned char *buf, size_t len, int empty_ret)
{
    mpy_datagram *d = queue_take(&c->inq);
    if (d == NULL) {
        return empty_ret;
    }
    /* Like a UDP socket: a datagram larger than the buffer is truncated. */
    size_t n = d->len < len ? d->len : len;
    memcpy(buf, d->data, n);
    free(c->last_in);
    c->last_in = d;
    c->datagrams_in++;
    return (int) n;
}

int mpy_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    return bio_recv(ctx, buf, len, MBEDTLS_ERR_SSL_WANT_READ);
}

int mpy_bio_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
    mpy_conn *c = ctx;
    /* With timeout mode on, an empty queue means "the wait ran out", as a
     * blocking socket read with a timeout would report. */
    int empty = (c->recv_timeout_mode && timeout != 0)
                ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_SSL_WANT_READ;
    return bio_recv(c, buf, len, empty);
}

int mpy_conn_last_in(const mpy_conn *c, const unsigned char **data)
{
    if (c->last_in == NULL) {
        *data = NULL;
        return MPY_QUEUE_EMPTY;
    }
    *data = c->last_in->data;
    return (int) c->last_in->len;
}

/* ---- timer ----------------------------------------------------------- */

uint64_t mpy_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static uint64_t timer_now(const mpy_timer *t)
{
    return t->clock != NULL ? t->clock->now_ms : mpy_monotonic_ms();
}

void mpy_timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
    mpy_timer *t = ctx;
    t->int_ms = int_ms;
    t->fin_ms = fin_ms;
    if (fin_ms != 0) {
        t->start_ms = timer_now(t);
    }
}

/* The contract of mbedtls_ssl_get_timer_t: -1 cancelled, 0 none expired,
 * 1 intermediate expired, 2 final expired. */
int mpy_timer_get(void *ctx)
{
    const mpy_timer *t = ctx;
    if (t->fin_ms == 0) {
        return -1;
    }
    uint64_t elapsed = timer_now(t) - t->start_ms;
    if (elapsed >= t->fin_ms) {
        return 2;
    }
    if (elapsed >= t->int_ms) {
        return 1;
    }
    return 0;
}

int64_t mpy_conn_timer_deadline(const mpy_conn *c)
{
    if (c->timer.fin_ms == 0) {
        return -1;
    }
    return (int64_t) (c->timer.start_ms + c->timer.fin_ms);
}

/* ---- key export ------------------------------------------------------ */

static void export_keys(void *ctx, mbedtls_ssl_key_export_type type,
                        const unsigned char *secret, size_t secret_len,
                        const unsigned char client_random[32],
                        const unsigned char server_random[32],
                        mbedtls_tls_prf_types tls_prf_type)
{
    mpy_conn *c = ctx;
    if (type != MBEDTLS_SSL_KEY_EXPORT_TLS12_MASTER_SECRET
        || secret_len != sizeof(c->master_secret)) {
        return;
    }
    memcpy(c->master_secret, secret, secret_len);
    memcpy(c->client_random, client_random, 32);
    memcpy(c->server_random, server_random, 32);
    c->tls_prf_type = (int) tls_prf_type;
    c->keys_ready = 1;
    if (c->keys_notify != NULL) {
        c->keys_notify(c, c->keys_arg);
    }
}

void mpy_conn_wipe_keys(mpy_conn *c)
{
    mbedtls_platform_zeroize(c->master_secret, sizeof(c->master_secret));
    mbedtls_platform_zeroize(c->client_random, sizeof(c->client_random));
    mbedtls_platform_zeroize(c->server_random, sizeof(c->server_random));
    c->keys_ready = 0;
}

void mpy_conn_export_keys(mpy_conn *c, int on, mpy_keys_fn *notify, void *arg)
{
    /* Off by default: Mbed TLS hands secrets only to a registered callback. */
    mbedtls_ssl_set_export_keys_cb(&c->ssl, on ? export_keys : NULL, on ? c : NULL);
    c->keys_notify = on ? notify : NULL;
    c->keys_arg = on ? arg : NULL;
    if (!on) {
        mpy_conn_wipe_keys(c);
    }
}

/* ---- connections ----------------------------------------------------- */

mpy_conn *mpy_conn_new(size_t max_queue, size_t max_datagram)
{
    if (max_queue == 0 || max_datagram == 0 || max_datagram > MPY_MAX_DATAGRAM) {
        return NULL;
    }
    mpy_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    mbedtls_ssl_init(&c->ssl);
    c->inq.max_count = c->outq.max_count = max_queue;
    c->inq.max_datagram = c->outq.max_datagram = max_datagram;
    return c;
}

int mpy_conn_setup(mpy_conn *c, const mbedtls_ssl_config *conf, const mpy_clock *clock)
{
    int ret = mbedtls_ssl_setup(&c->ssl, conf);
    if (ret != 0) {
        return ret;
    }
    c->timer.clock = clock;
    mbedtls_ssl_set_bio(&c->ssl, c, mpy_bio_send, mpy_bio_recv, mpy_bio_recv_timeout);
    mbedtls_ssl_set_timer_cb(&c->ssl, &c->timer, mpy_timer_set, mpy_timer_get);
    return 0;
}

void mpy_conn_set_clock(mpy_conn *c, const mpy_clock *clock)
{
    c->timer.clock = clock;
    c->timer.fin_ms = 0;
}

/* Empties both queues and forgets the last datagram and exported keys. */
void mpy_conn_clear(mpy_conn *c)
{
    mpy_queue_clear(&c->inq);
    mpy_queue_clear(&c->outq);
    free(c->last_in);
    c->last_in = NULL;
    mpy_conn_wipe_keys(c);
}

void mpy_conn_free(mpy_conn *c)
{
    if (c == NULL) {
        return;
    }
    mbedtls_ssl_free(&c->ssl);
    mpy_conn_clear(c);  /* wipes the exported keys */
    free(c);
}

/* ---- RNG ------------------------------------------------------------- */

/* The deterministic "entropy": SHA-256(seed || counter) blocks. */
static int seeded_entropy(void *ctx, unsigned char *out, size_t len)
{
    mpy_rng *r = ctx;
    unsigned char block[32], input[40];
    while (len > 0) {
        memcpy(input, r->seed, 32);
        for (int i = 0; i < 8; i++) {
            input[32 + i] = (unsigned char) (r->counter >> (8 * i));
        }
        r->counter++;
        int ret = mbedtls_sha256(input, sizeof(input), block, 0);
        if (ret != 0) {
            return ret;
        }
        size_t n = len < sizeof(block) ? len : sizeof(block);
        memcpy(out, block, n);
        out += n;
        len -= n;
    }
    return 0;
}

int mpy_rng_init_system(mpy_rng *r)
{
    static const unsigned char pers[] = "mbedtls-py";
    memset(r, 0, sizeof(*r));
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    return mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                                 pers, sizeof(pers) - 1);
}

int mpy_rng_init_seeded(mpy_rng *r, const unsigned char *seed, size_t seed_len)
{
    static const unsigned char pers[] = "mbedtls-py seeded";
    memset(r, 0, sizeof(*r));
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    r->seeded = 1;
    int ret = mbedtls_sha256(seed, seed_len, r->seed, 0);
    if (ret != 0) {
        return ret;
    }
    return mbedtls_ctr_drbg_seed(&r->drbg, seeded_entropy, r, pers, sizeof(pers) - 1);
}

int mpy_rng_random(void *ctx, unsigned char *out, size_t len)
{
    mpy_rng *r = ctx;
    return mbedtls_ctr_drbg_random(&r->drbg, out, len);
}

void mpy_rng_free(mpy_rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
    mbedtls_platform_zeroize(r->seed, sizeof(r->seed));
}

void mpy_conf_rng(mbedtls_ssl_config *conf, mpy_rng *r)
{
    mbedtls_ssl_conf_rng(conf, mpy_rng_random, r);
}

/* ---- time ------------------------------------------------------------ */

static volatile int64_t fixed_time = -1;

static mbedtls_time_t mpy_time(mbedtls_time_t *t)
{
    int64_t now = fixed_time;
    mbedtls_time_t value = now >= 0 ? (mbedtls_time_t) now : time(NULL);
    if (t != NULL) {
        *t = value;
    }
    return value;
}

void mpy_set_time(int64_t unix_seconds)
{
    fixed_time = unix_seconds < 0 ? -1 : unix_seconds;
}

int64_t mpy_get_time(void)
{
    return (int64_t) mpy_time(NULL);
}

int mpy_global_init(void)
{
    mbedtls_platform_set_time(mpy_time);
    return (int) psa_crypto_init();
}

/* ---- config helpers -------------------------------------------------- */

void mpy_conf_cookies(mbedtls_ssl_config *conf, void *cookie_ctx)
{
    if (cookie_ctx != NULL) {
        mbedtls_ssl_conf_dtls_cookies(conf, mbedtls_ssl_cookie_write,
                                      mbedtls_ssl_cookie_check, cookie_ctx);
    } else {
        mbedtls_ssl_conf_dtls_cookies(conf, NULL, NULL, NULL);
    }
}

void mpy_conf_dbg(mbedtls_ssl_config *conf, mpy_debug_fn *fn, void *arg)
{
    mbedtls_ssl_conf_dbg(conf, fn, arg);
}

int mpy_ssl_state(const mbedtls_ssl_context *ssl)
{
    return ssl->state;
}

/* mpy_ssl_state_name(), generated from the pinned ssl.h by csrc/build.py. */
#include "_generated/ssl_states.h"
