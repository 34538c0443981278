/*
 * The in-process OpenSSL peer's glue (mbedtls_py.peers.openssl_sim).
 *
 * Linked with Debian's static libssl.a/libcrypto.a into its own extension,
 * with every OpenSSL symbol kept local (-Wl,--exclude-libs,ALL), so it never
 * meets the shared libssl that Python's ssl module loads.  Three things the
 * harness owns here:
 *
 *  - time: the link wraps gettimeofday (ssl/d1_lib.c's DTLS timer),
 *    clock_gettime and time (sessions, certificate validity) for the archives'
 *    objects (-Wl,--wrap=...); the wrappers read osim_clock_ms when it is set;
 *  - datagrams: a BIO_METHOD over two datagram queues (csrc/dgram_queue.c,
 *    the code the Mbed TLS contexts use), one datagram per BIO_write, one per
 *    BIO_read, answering the datagram BIO's ctrls (MTU, overhead) the way
 *    bss_dgram.c does for a UDP socket on loopback;
 *  - randomness: a RAND_METHOD (every RAND_bytes_ex/RAND_priv_bytes_ex in
 *    3.0 goes through it while it is set) drawing SHA-256(key || counter).
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "dgram_queue.h"
#include "osim.h"

/* ---- time ------------------------------------------------------------ */

static int64_t clock_ms = -1;   /* virtual Unix time in ms; -1: the real clock */

void osim_set_clock_ms(int64_t unix_ms)
{
    clock_ms = unix_ms;
}

int64_t osim_clock_ms(void)
{
    return clock_ms;
}

int __real_gettimeofday(struct timeval *tv, void *tz);
int __real_clock_gettime(clockid_t id, struct timespec *ts);
time_t __real_time(time_t *t);

int __wrap_gettimeofday(struct timeval *tv, void *tz)
{
    if (clock_ms < 0) {
        return __real_gettimeofday(tv, tz);
    }
    tv->tv_sec = (time_t) (clock_ms / 1000);
    tv->tv_usec = (suseconds_t) ((clock_ms % 1000) * 1000);
    return 0;
}

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
    if (clock_ms < 0) {
        return __real_clock_gettime(id, ts);
    }
    ts->tv_sec = (time_t) (clock_ms / 1000);
    ts->tv_nsec = (long) ((clock_ms % 1000) * 1000000);
    return 0;
}

time_t __wrap_time(time_t *t)
{
    if (clock_ms < 0) {
        return __real_time(t);
    }
    time_t now = (time_t) (clock_ms / 1000);
    if (t != NULL) {
        *t = now;
    }
    return now;
}

/* ---- randomness -------------------------------------------------------- */

static unsigned char rng_key[32];
static uint64_t rng_counter;
static uint64_t rng_drawn;
static unsigned char rng_block[32];
static size_t rng_left;

static int rand_bytes(unsigned char *buf, int num)
{
    for (int i = 0; i < num; i++) {
        if (rng_left == 0) {
            unsigned char in[40];
            memcpy(in, rng_key, 32);
            for (int k = 0; k < 8; k++) {
                in[32 + k] = (unsigned char) (rng_counter >> (8 * k));
            }
            rng_counter++;
            SHA256(in, sizeof(in), rng_block);
            rng_left = sizeof(rng_block);
        }
        buf[i] = rng_block[sizeof(rng_block) - rng_left--];
    }
    rng_drawn += (uint64_t) num;
    return 1;
}

static int rand_seed(const void *buf, int num)
{
    (void) buf;
    (void) num;
    return 1;   /* the stream depends on the harness's key alone */
}

static int rand_add(const void *buf, int num, double entropy)
{
    (void) buf;
    (void) num;
    (void) entropy;
    return 1;
}

static int rand_status(void)
{
    return 1;
}

static RAND_METHOD det_rand = {
    rand_seed, rand_bytes, NULL, rand_add, rand_bytes, rand_status
};

int osim_rand_seed(const unsigned char *key, size_t len)
{
    if (len != sizeof(rng_key)) {
        return 0;
    }
    memcpy(rng_key, key, sizeof(rng_key));
    rng_counter = 0;
    rng_left = 0;
    rng_drawn = 0;
    return RAND_set_rand_method(&det_rand);
}

uint64_t osim_rand_drawn(void)
{
    return rng_drawn;
}

/* ---- the datagram BIO -------------------------------------------------- */

struct osim_link {
    mpy_queue inq;      /* datagrams for OpenSSL to read */
    mpy_queue outq;     /* datagrams OpenSSL wrote */
    long mtu;           /* BIO_CTRL_DGRAM_SET_MTU's value (0: none) */
    long query_mtu;     /* what BIO_CTRL_DGRAM_QUERY_MTU answers */
    uint64_t datagrams_in;
    uint64_t datagrams_out;
    uint64_t reads;     /* BIO_read calls, empty queue included (a blocking recvfrom each) */
};

/* IPv4 + UDP headers: bss_dgram.c's dgram_get_mtu_overhead for AF_INET. */
#define OSIM_MTU_OVERHEAD 28
/* loopback's IP_MTU (65536) less that overhead, as bss_dgram.c computes it */
#define OSIM_LOOPBACK_MTU (65536 - OSIM_MTU_OVERHEAD)

osim_link *osim_link_new(size_t max_queue)
{
    osim_link *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return NULL;
    }
    l->inq.max_count = l->outq.max_count = max_queue;
    l->inq.max_datagram = l->outq.max_datagram = MPY_MAX_DATAGRAM;
    l->query_mtu = OSIM_LOOPBACK_MTU;
    return l;
}

void osim_link_free(osim_link *l)
{
    if (l != NULL) {
        mpy_queue_clear(&l->inq);
        mpy_queue_clear(&l->outq);
        free(l);
    }
}

int osim_link_push(osim_link *l, const unsigned char *data, size_t len)
{
    return mpy_queue_push(&l->inq, data, len);
}

int osim_link_peek_out(const osim_link *l, const unsigned char **data)
{
    return mpy_queue_peek(&l->outq, data);
}

int osim_link_pop_out(osim_link *l)
{
    return mpy_queue_pop(&l->outq);
}

size_t osim_link_pending_in(const osim_link *l)
{
    return l->inq.count;
}

void osim_link_clear(osim_link *l)
{
    mpy_queue_clear(&l->inq);
    mpy_queue_clear(&l->outq);
}

uint64_t osim_link_datagrams_in(const osim_link *l)
{
    return l->datagrams_in;
}

uint64_t osim_link_reads(const osim_link *l)
{
    return l->reads;
}

static int link_write(BIO *b, const char *in, int inl)
{
    osim_link *l = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (inl <= 0) {
        return 0;
    }
    int ret = mpy_queue_push(&l->outq, (const unsigned char *) in, (size_t) inl);
    if (ret == MPY_QUEUE_FULL) {
        BIO_set_retry_write(b);
        return -1;
    }
    if (ret != 0) {
        return -1;
    }
    l->datagrams_out++;
    return inl;
}

static int link_read(BIO *b, char *out, int outl)
{
    osim_link *l = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    l->reads++;
    mpy_datagram *d = mpy_queue_take(&l->inq);
    if (d == NULL) {
        BIO_set_retry_read(b);
        return -1;
    }
    /* like recv() on a UDP socket: a datagram larger than the buffer is cut */
    size_t n = d->len < (size_t) outl ? d->len : (size_t) outl;
    memcpy(out, d->data, n);
    free(d);
    l->datagrams_in++;
    return (int) n;
}

static long link_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    osim_link *l = BIO_get_data(b);
    (void) ptr;
    switch (cmd) {
        case BIO_CTRL_FLUSH:
        case BIO_CTRL_DGRAM_SET_CONNECTED:
        case BIO_CTRL_DGRAM_CONNECT:
            return 1;
        case BIO_CTRL_DGRAM_QUERY_MTU:
            return l->query_mtu;
        case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
            return 576 - OSIM_MTU_OVERHEAD;
        case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
            return OSIM_MTU_OVERHEAD;
        case BIO_CTRL_DGRAM_SET_MTU:
            l->mtu = num;
            return num;
        case BIO_CTRL_DGRAM_GET_MTU:
            return l->mtu;
        case BIO_CTRL_PENDING:
            return l->inq.head != NULL ? (long) l->inq.head->len : 0;
        case BIO_CTRL_WPENDING:
        case BIO_CTRL_DGRAM_MTU_EXCEEDED:
        case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
        default:
            return 0;
    }
}

static BIO_METHOD *link_method;

BIO *osim_link_bio(osim_link *l)
{
    if (link_method == NULL) {
        link_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x70, "mbedtls-py datagram queues");
        if (link_method == NULL) {
            return NULL;
        }
        BIO_meth_set_write(link_method, link_write);
        BIO_meth_set_read(link_method, link_read);
        BIO_meth_set_ctrl(link_method, link_ctrl);
    }
    BIO *b = BIO_new(link_method);
    if (b != NULL) {
        BIO_set_data(b, l);
        BIO_set_init(b, 1);
    }
    return b;
}

/* ---- small accessors for what OpenSSL spells as macros ------------------ */

long osim_get_timeout_ms(SSL *s)
{
    struct timeval tv;
    if (!DTLSv1_get_timeout(s, &tv)) {
        return -1;
    }
    return (long) tv.tv_sec * 1000 + (long) ((tv.tv_usec + 999) / 1000);
}

int osim_handle_timeout(SSL *s)
{
    return (int) DTLSv1_handle_timeout(s);
}

int osim_set_link_mtu(SSL *s, long mtu)
{
    return (int) DTLS_set_link_mtu(s, mtu);
}

/* s_server's cookie callbacks: a fixed cookie derived from the peer's name
 * would need the peer; like apps/lib/s_cb.c, an HMAC-free stand-in keyed by
 * the harness's RNG at start (deterministic under osim_rand_seed). */
static unsigned char cookie_secret[16];
static int cookie_ready;

static int cookie_gen(SSL *s, unsigned char *cookie, unsigned int *len)
{
    (void) s;
    if (!cookie_ready) {
        RAND_bytes(cookie_secret, sizeof(cookie_secret));
        cookie_ready = 1;
    }
    SHA256(cookie_secret, sizeof(cookie_secret), cookie);
    *len = 16;
    return 1;
}

static int cookie_verify(SSL *s, const unsigned char *cookie, unsigned int len)
{
    unsigned char want[SHA256_DIGEST_LENGTH];
    (void) s;
    if (!cookie_ready || len != 16) {
        return 0;
    }
    SHA256(cookie_secret, sizeof(cookie_secret), want);
    return memcmp(want, cookie, 16) == 0;
}

void osim_set_cookie_cbs(SSL_CTX *ctx)
{
    cookie_ready = 0;
    SSL_CTX_set_cookie_generate_cb(ctx, cookie_gen);
    SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify);
}

unsigned long osim_version_num(void)
{
    return OpenSSL_version_num();
}

/* s_client/s_server's verify_callback (apps/lib/s_cb.c) without
 * -verify_return_error: report, and go on whatever the result. */
static int verify_go_on(int ok, X509_STORE_CTX *store)
{
    (void) ok;
    (void) store;
    return 1;
}

void osim_set_verify(SSL_CTX *ctx, int mode)
{
    SSL_CTX_set_verify(ctx, mode, verify_go_on);
}
