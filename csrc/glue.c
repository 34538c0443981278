/* mbedtls-py C glue; see glue.h for what each part is for. */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS

#include "glue.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbedtls/platform.h"
#include "mbedtls/platform_time.h"
#include "mbedtls/ssl_cookie.h"
#include "mbedtls/ssl_ciphersuites.h"
#include "mbedtls/md.h"
#include "psa/crypto.h"

#include "compat.h"   /* sha256.h and cipher.h, from where this version keeps them */

#if MPY_MBEDTLS_4
#include <sys/random.h>
#endif

/* ---- reference-counted objects ---------------------------------------- */

typedef struct {
    size_t refs;
    mpy_dtor *dtor;
} ref_header;

/* The payload starts 32 bytes in: aligned for any type the glue stores. */
#define REF_HDR 32

static size_t live_conns;

/* Every live ref's payload address, in an open-addressing hash set: retain,
 * release and count look a pointer up here before touching the header in
 * front of it, so a pointer that is no ref (or no longer one) is refused
 * without reading memory that is not ours.  One lock around it: refs are
 * made and dropped when objects are set up or freed, never per datagram. */
#define REG_TOMB ((void *) 1)
static struct {
    void **slots;
    size_t cap;         /* a power of two, or 0 */
    size_t used;        /* live entries */
    size_t filled;      /* live entries + tombstones */
} reg;
static volatile int reg_lock;

static void reg_acquire(void)
{
    while (__atomic_exchange_n(&reg_lock, 1, __ATOMIC_ACQUIRE)) {
        /* held for a lookup or an insert: spin */
    }
}

static void reg_release(void)
{
    __atomic_store_n(&reg_lock, 0, __ATOMIC_RELEASE);
}

static size_t reg_hash(const void *p, size_t cap)
{
    uint64_t h = (uint64_t) (uintptr_t) p >> 4;
    h *= 0x9E3779B97F4A7C15u;
    return (size_t) (h >> 32) & (cap - 1);
}

/* The slot holding p, or NULL. Called with the lock held. */
static void **reg_find(const void *p)
{
    if (reg.cap == 0) {
        return NULL;
    }
    for (size_t i = reg_hash(p, reg.cap), n = 0; n < reg.cap; i = (i + 1) & (reg.cap - 1), n++) {
        if (reg.slots[i] == NULL) {
            return NULL;
        }
        if (reg.slots[i] == p) {
            return &reg.slots[i];
        }
    }
    return NULL;
}

/* Called with the lock held; 0 or MPY_NO_MEMORY. */
static int reg_insert(void *p)
{
    if ((reg.filled + 1) * 2 > reg.cap) {
        size_t cap = reg.cap ? reg.cap : 64;
        while ((reg.used + 1) * 2 > cap) {
            cap *= 2;
        }
        if ((reg.used + 1) * 4 > cap) {
            cap *= 2;  /* room to grow before the next rebuild */
        }
        void **slots = calloc(cap, sizeof(*slots));
        if (slots == NULL) {
            return MPY_NO_MEMORY;
        }
        for (size_t i = 0; i < reg.cap; i++) {
            void *q = reg.slots[i];
            if (q != NULL && q != REG_TOMB) {
                size_t j = reg_hash(q, cap);
                while (slots[j] != NULL) {
                    j = (j + 1) & (cap - 1);
                }
                slots[j] = q;
            }
        }
        free(reg.slots);
        reg.slots = slots;
        reg.cap = cap;
        reg.filled = reg.used;
    }
    size_t i = reg_hash(p, reg.cap);
    while (reg.slots[i] != NULL && reg.slots[i] != REG_TOMB) {
        i = (i + 1) & (reg.cap - 1);
    }
    if (reg.slots[i] == NULL) {
        reg.filled++;
    }
    reg.slots[i] = p;
    reg.used++;
    return 0;
}

static ref_header *ref_hdr(const void *payload)
{
    return (ref_header *) ((unsigned char *) payload - REF_HDR);
}

void *mpy_ref_new(size_t size, mpy_dtor *dtor)
{
    unsigned char *block = calloc(1, REF_HDR + size);
    if (block == NULL) {
        return NULL;
    }
    ref_header *h = (ref_header *) block;
    h->refs = 1;
    h->dtor = dtor;
    reg_acquire();
    int ret = reg_insert(block + REF_HDR);
    reg_release();
    if (ret != 0) {
        free(block);
        return NULL;
    }
    return block + REF_HDR;
}

void *mpy_ref_retain(void *payload)
{
    if (payload == NULL) {
        return NULL;
    }
    reg_acquire();
    if (reg_find(payload) != NULL) {
        ref_hdr(payload)->refs++;
    }
    reg_release();
    return payload;
}

void mpy_ref_release(void *payload)
{
    if (payload == NULL) {
        return;
    }
    reg_acquire();
    void **slot = reg_find(payload);
    ref_header *h = NULL;
    if (slot != NULL && --ref_hdr(payload)->refs == 0) {
        h = ref_hdr(payload);
        *slot = REG_TOMB;     /* no longer a ref: later calls with it are refused */
        reg.used--;
    }
    reg_release();
    if (h == NULL) {
        return;     /* still referenced, or not ours: leaking beats corrupting */
    }
    if (h->dtor != NULL) {
        h->dtor(payload);   /* outside the lock: it releases what it holds */
    }
    free(h);
}

size_t mpy_ref_count(const void *payload)
{
    size_t n = 0;
    if (payload == NULL) {
        return 0;
    }
    reg_acquire();
    if (reg_find(payload) != NULL) {
        n = ref_hdr(payload)->refs;
    }
    reg_release();
    return n;
}

size_t mpy_ref_live(void)
{
    reg_acquire();
    size_t n = reg.used;
    reg_release();
    return n;
}

static void conf_dtor(void *payload)
{
    mpy_conf *c = payload;
    /* The config first: mbedtls_ssl_config_free() reads what it points at. */
    mbedtls_ssl_config_free(&c->conf);
    for (size_t i = 0; i < c->n_held; i++) {
        mpy_ref_release(c->held[i].ref);
    }
    free(c->held);
}

mpy_conf *mpy_conf_new(void)
{
    mpy_conf *c = mpy_ref_new(sizeof(*c), conf_dtor);
    if (c != NULL) {
        mbedtls_ssl_config_init(&c->conf);
    }
    return c;
}

int mpy_conf_hold(mpy_conf *c, void *ref)
{
    int ret = 0;
    while (__atomic_exchange_n(&c->hold_lock, 1, __ATOMIC_ACQUIRE)) {
        /* held[] is touched only for a few instructions: spin */
    }
    for (size_t i = 0; i < c->n_held; i++) {
        if (c->held[i].ref == ref) {
            c->held[i].holds++;     /* held already: one more hold, same slot */
            goto out;
        }
    }
    if (c->n_held == c->cap_held) {
        size_t cap = c->cap_held ? 2 * c->cap_held : 8;
        struct mpy_held *held = realloc(c->held, cap * sizeof(*held));
        if (held == NULL) {
            ret = MPY_NO_MEMORY;
            goto out;
        }
        c->held = held;
        c->cap_held = cap;
    }
    c->held[c->n_held].ref = mpy_ref_retain(ref);
    c->held[c->n_held++].holds = 1;
out:
    __atomic_store_n(&c->hold_lock, 0, __ATOMIC_RELEASE);
    return ret;
}

void mpy_conf_unhold(mpy_conf *c, void *ref)
{
    void *found = NULL;
    while (__atomic_exchange_n(&c->hold_lock, 1, __ATOMIC_ACQUIRE)) {
    }
    for (size_t i = 0; i < c->n_held; i++) {
        if (c->held[i].ref == ref) {
            if (--c->held[i].holds == 0) {
                found = ref;
                c->held[i] = c->held[--c->n_held];
            }
            break;
        }
    }
    __atomic_store_n(&c->hold_lock, 0, __ATOMIC_RELEASE);
    mpy_ref_release(found);
}

size_t mpy_conf_held(const mpy_conf *c)
{
    return c->n_held;
}

void mpy_conf_set_name(mpy_conf *c, const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof(c->name)) {
        n = sizeof(c->name) - 1;
    }
    memcpy(c->name, name, n);
    c->name[n] = '\0';
}

mpy_clock *mpy_clock_new(void)
{
    return mpy_ref_new(sizeof(mpy_clock), NULL);
}

static void rng_dtor(void *payload)
{
    mpy_rng_free(payload);
}

mpy_rng *mpy_rng_new(void)
{
    return mpy_ref_new(sizeof(mpy_rng), rng_dtor);
}

static void crt_dtor(void *payload)
{
    mbedtls_x509_crt_free(payload);
}

mbedtls_x509_crt *mpy_crt_new(void)
{
    mbedtls_x509_crt *crt = mpy_ref_new(sizeof(*crt), crt_dtor);
    if (crt != NULL) {
        mbedtls_x509_crt_init(crt);
    }
    return crt;
}

static void pk_dtor(void *payload)
{
    mbedtls_pk_free(payload);
}

mbedtls_pk_context *mpy_pk_new(void)
{
    mbedtls_pk_context *pk = mpy_ref_new(sizeof(*pk), pk_dtor);
    if (pk != NULL) {
        mbedtls_pk_init(pk);
    }
    return pk;
}

static void cookie_dtor(void *payload)
{
    mbedtls_ssl_cookie_free(payload);
}

mbedtls_ssl_cookie_ctx *mpy_cookie_new(void)
{
    mbedtls_ssl_cookie_ctx *ck = mpy_ref_new(sizeof(*ck), cookie_dtor);
    if (ck != NULL) {
        mbedtls_ssl_cookie_init(ck);
    }
    return ck;
}

int *mpy_ints_new(size_t n)
{
    if (n == 0 || n > (SIZE_MAX - REF_HDR) / sizeof(int)) {
        return NULL;
    }
    return mpy_ref_new(n * sizeof(int), NULL);
}

/* ---- BIO ------------------------------------------------------------- */

static uint64_t sent_total;

uint64_t mpy_datagrams_sent(void)
{
    return __atomic_load_n(&sent_total, __ATOMIC_RELAXED);
}

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
    /* every datagram any context sends: a simulator that saw no change since
     * its last look has nothing to collect (relaxed: only "changed" matters) */
    __atomic_fetch_add(&sent_total, 1, __ATOMIC_RELAXED);
    return (int) len;
}

static int bio_recv(mpy_conn *c, unsigned char *buf, size_t len, int empty_ret)
{
    mpy_datagram *d = mpy_queue_take(&c->inq);
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
        t->start_ms = (int64_t) timer_now(t);
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
    int64_t elapsed = (int64_t) timer_now(t) - t->start_ms;
    if (elapsed >= (int64_t) t->fin_ms) {
        return 2;
    }
    if (elapsed >= (int64_t) t->int_ms) {
        return 1;
    }
    return 0;
}

int64_t mpy_conn_timer_deadline(const mpy_conn *c)
{
    if (c->timer.fin_ms == 0) {
        return -1;
    }
    int64_t deadline = c->timer.start_ms + (int64_t) c->timer.fin_ms;
    return deadline < 0 ? 0 : deadline;     /* due before the clock's zero */
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
    __atomic_add_fetch(&live_conns, 1, __ATOMIC_RELAXED);
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

int mpy_conn_setup_owned(mpy_conn *c, mpy_conf *conf, mpy_clock *clock)
{
    if (c->owner != NULL) {
        return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;     /* set up once only */
    }
    /* Retained first: even a failed mbedtls_ssl_setup() leaves ssl->conf
     * set, and mbedtls_ssl_free() reads it. */
    c->owner = mpy_ref_retain(conf);
    c->clock_ref = mpy_ref_retain(clock);
    return mpy_conn_setup(c, &conf->conf, clock);
}

int mpy_conn_reinit(mpy_conn *c, const mbedtls_ssl_config *conf)
{
    const mpy_clock *clock = c->timer.clock;
#if MPY_HAS_KEY_EXPORT
    mbedtls_ssl_export_keys_t *export_cb = c->ssl.f_export_keys;
    void *export_arg = c->ssl.p_export_keys;
#endif
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_init(&c->ssl);
    c->timer.fin_ms = 0;
    c->mtu_floor = 0;   /* mpy_conn_min_mtu's cache: the CID setting is gone */
    int ret = mpy_conn_setup(c, conf, clock);
#if MPY_HAS_KEY_EXPORT
    if (ret == 0) {
        mbedtls_ssl_set_export_keys_cb(&c->ssl, export_cb, export_arg);
    }
#endif
    return ret;
}

void mpy_conn_set_clock(mpy_conn *c, mpy_clock *clock)
{
    mpy_timer *t = &c->timer;
    if (t->fin_ms != 0) {
        /* Re-base: the time already elapsed stays elapsed on the new clock. */
        int64_t elapsed = (int64_t) timer_now(t) - t->start_ms;
        t->clock = clock;
        t->start_ms = (int64_t) timer_now(t) - elapsed;
    } else {
        t->clock = clock;
    }
    if (c->owner != NULL) {
        mpy_ref_retain(clock);
        mpy_ref_release(c->clock_ref);
        c->clock_ref = clock;
    }
}

/* ---- the smallest usable MTU --------------------------------------------
 * ssl_flight_transmit() (ssl_msg.c) fills each datagram with handshake
 * fragments; when even an empty datagram has no room for a 12-byte handshake
 * header plus one byte after the record expansion, it flushes nothing and
 * retries forever (100 % CPU, never returns).  So a usable MTU is at least
 *   record expansion + 12 + 1
 * where the expansion (mbedtls_ssl_get_record_expansion()) is the 13-byte
 * DTLS header plus, once encrypting: explicit IV + tag (AEAD), or MAC + IV +
 * up to one block of padding (CBC), plus the CID and its padding when a
 * connection ID is in use.  The suite is negotiated later, so the bound is
 * the largest over the suites the config allows. */

#define DTLS_HDR 13
#define HS_HDR 12

static int suite_expansion(int id)
{
    const mbedtls_ssl_ciphersuite_t *cs = mbedtls_ssl_ciphersuite_from_id(id);
    if (cs == NULL) {
        return 0;
    }
    const mbedtls_cipher_info_t *ci = mbedtls_cipher_info_from_type(cs->cipher);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(cs->mac);
    int maclen = md != NULL ? (int) mbedtls_md_get_size(md) : 0;
    if (ci == NULL) {
        return maclen;
    }
    int block = (int) mbedtls_cipher_info_get_block_size(ci);
    switch (mbedtls_cipher_info_get_mode(ci)) {
        case MBEDTLS_MODE_GCM:
        case MBEDTLS_MODE_CCM:
            return 8 + ((cs->flags & MBEDTLS_CIPHERSUITE_SHORT_TAG) ? 8 : 16);
        case MBEDTLS_MODE_CHACHAPOLY:
            return 16;
        case MBEDTLS_MODE_CBC:
            return maclen + 2 * block;
        default:            /* NULL cipher: MAC only */
            return maclen;
    }
}

int mpy_conn_min_mtu(mpy_conn *c)
{
    const mbedtls_ssl_config *conf = c->ssl.conf;
    if (conf == NULL) {
        return 0;
    }
    /* 2.x has one list per minor version (compat.h); the key is the last one. */
    const int *list = mpy_conf_suite_list(conf, MPY_CONF_SUITE_LISTS - 1);
    int cid = 0;
#if defined(MBEDTLS_SSL_DTLS_CONNECTION_ID)
    cid = c->ssl.negotiate_cid == MBEDTLS_SSL_CID_ENABLED;
#endif
    /* A suite list is never changed in place (the config holds every list
     * it was given), so its address is a valid cache key. */
    if (c->mtu_floor != 0 && list == c->mtu_list && cid == c->mtu_cid) {
        return c->mtu_floor;
    }
    int worst = 0;
    for (int i = 0; i < MPY_CONF_SUITE_LISTS; i++) {
        for (const int *p = mpy_conf_suite_list(conf, i); p != NULL && *p != 0; p++) {
            int e = suite_expansion(*p);
            if (e > worst) {
                worst = e;
            }
        }
    }
    if (cid) {
        worst += MBEDTLS_SSL_CID_OUT_LEN_MAX + MBEDTLS_SSL_CID_TLS1_3_PADDING_GRANULARITY;
    }
    c->mtu_list = list;
    c->mtu_cid = cid;
    c->mtu_floor = DTLS_HDR + worst + HS_HDR + 1;
    return c->mtu_floor;
}

size_t mpy_conn_live(void)
{
    return __atomic_load_n(&live_conns, __ATOMIC_RELAXED);
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
    /* mbedtls_ssl_free() still reads ssl->conf: release the config after. */
    mbedtls_ssl_free(&c->ssl);
    mpy_ref_release(c->sni_entry);
    mpy_ref_release(c->owner);
    mpy_ref_release(c->clock_ref);
    mpy_conn_clear(c);  /* wipes the exported keys */
    free(c);
    __atomic_sub_fetch(&live_conns, 1, __ATOMIC_RELAXED);
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

#if MPY_MBEDTLS_4
/* 4.x has no entropy module in its public build (the PSA RNG is external,
 * below): the system stream is the same CTR_DRBG, seeded from getrandom(). */
static int system_entropy(void *ctx, unsigned char *out, size_t len)
{
    (void) ctx;
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0);
        if (n <= 0) {
            return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
        }
        out += n;
        len -= (size_t) n;
    }
    return 0;
}
#endif

int mpy_rng_init_system(mpy_rng *r)
{
    static const unsigned char pers[] = "mbedtls-py";
    memset(r, 0, sizeof(*r));
    mbedtls_ctr_drbg_init(&r->drbg);
#if MPY_MBEDTLS_4
    return mbedtls_ctr_drbg_seed(&r->drbg, system_entropy, NULL, pers, sizeof(pers) - 1);
#else
    mbedtls_entropy_init(&r->entropy);
    return mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                                 pers, sizeof(pers) - 1);
#endif
}

int mpy_rng_init_seeded(mpy_rng *r, const unsigned char *seed, size_t seed_len)
{
    static const unsigned char pers[] = "mbedtls-py seeded";
    memset(r, 0, sizeof(*r));
#if !MPY_MBEDTLS_4
    mbedtls_entropy_init(&r->entropy);
#endif
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

#if MPY_MBEDTLS_4
/* The PSA RNG of a 4.x build (MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG): the calling
 * thread's current stream, the RNG last "configured" on it (compat.h maps
 * mbedtls_ssl_conf_rng here); without one, a per-thread system stream.  Per
 * thread as the 3.x per-config RNGs are: a network on one thread replays
 * byte for byte whatever other threads do. */
static MPY_THREAD_LOCAL mpy_rng *current_rng;
static MPY_THREAD_LOCAL mpy_rng *system_rng;

void mpy_rng_make_current(void *rng)
{
    /* The thread holds a reference: a config freed elsewhere (another
     * thread's garbage collection) never leaves it a dangling stream. */
    if (rng != NULL) {
        mpy_ref_retain(rng);
    }
    mpy_rng *old = current_rng;
    current_rng = rng;
    if (old != NULL) {
        mpy_ref_release(old);
    }
}

void *mpy_rng_swap_current(void *rng)
{
    mpy_rng *old = current_rng;
    current_rng = rng;
    return old;
}

psa_status_t mbedtls_psa_external_get_random(mbedtls_psa_external_random_context_t *context,
                                             uint8_t *output, size_t output_size,
                                             size_t *output_length)
{
    (void) context;
    mpy_rng *r = current_rng;
    if (r == NULL) {
        if (system_rng == NULL) {
            mpy_rng *fresh = calloc(1, sizeof(*fresh));
            if (fresh == NULL || mpy_rng_init_system(fresh) != 0) {
                free(fresh);
                return PSA_ERROR_INSUFFICIENT_ENTROPY;
            }
            system_rng = fresh;   /* one per thread, for the process's life */
        }
        r = system_rng;
    }
    /* CTR_DRBG gives at most MBEDTLS_CTR_DRBG_MAX_REQUEST bytes a call. */
    size_t done = 0;
    while (done < output_size) {
        size_t n = output_size - done;
        if (n > MBEDTLS_CTR_DRBG_MAX_REQUEST) {
            n = MBEDTLS_CTR_DRBG_MAX_REQUEST;
        }
        if (mbedtls_ctr_drbg_random(&r->drbg, output + done, n) != 0) {
            return PSA_ERROR_INSUFFICIENT_ENTROPY;
        }
        done += n;
    }
    *output_length = output_size;
    return PSA_SUCCESS;
}
#endif

void mpy_rng_free(mpy_rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
#if !MPY_MBEDTLS_4
    mbedtls_entropy_free(&r->entropy);
#endif
    mbedtls_platform_zeroize(r->seed, sizeof(r->seed));
}

void mpy_conf_rng(mbedtls_ssl_config *conf, mpy_rng *r)
{
    mbedtls_ssl_conf_rng(conf, mpy_rng_random, r);
}

/* ---- time ------------------------------------------------------------ */

/* Per thread: Mbed TLS calls mbedtls_time() on the thread that called it,
 * so networks on different threads each see their own virtual time. */
static MPY_THREAD_LOCAL int64_t fixed_time = -1;

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

int64_t mpy_get_fixed_time(void)
{
    return fixed_time;
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

void mpy_conf_dbg_named(mpy_conf *c, mpy_debug_fn *fn)
{
    mbedtls_ssl_conf_dbg(&c->conf, fn, fn != NULL ? c->name : NULL);
}

int mpy_ssl_state(const mbedtls_ssl_context *ssl)
{
    return ssl->state;
}

/* mpy_ssl_state_name(), generated from the pinned ssl.h by csrc/mbedtls_build.py. */
#include "_generated/ssl_states.h"
