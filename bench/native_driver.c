/*
 *  Native benchmark driver for mbedtls-py: the reference the Python-driven
 *  figures are divided by.
 *
 *  A DTLS 1.2 server and client context in one thread, joined by the glue's
 *  datagram queues (csrc/glue.c, the same file the extension links), timers
 *  reading a fake clock, deterministic RNGs, a fixed wall-clock time.  It is
 *  compiled with the extension's flags and configuration header and linked
 *  with the same static Mbed TLS archive, so both sides run identical code.
 *
 *  Every row does exactly what bench/py_driver.py does through mbedtls_py's
 *  public API, call for call.  Prints one JSON object on stdout.
 *
 *  Usage: native_driver PKI_DIR SECONDS ROW[,ROW...]
 *         native_driver PKI_DIR serve        (reads "ROW SECONDS" lines)
 *         native_driver PKI_DIR memory PAIRS psk|cert
 *         native_driver PKI_DIR lifecycles N
 *
 *  Rates are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID), so
 *  that other load on a shared machine does not count; wall-clock figures are
 *  printed too.
 */
#include "glue.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "mbedtls/pk.h"
#include "mbedtls/sha256.h"
#include "mbedtls/ssl_cookie.h"
#include "mbedtls/x509_crt.h"

#define FIXED_TIME      1700000000      /* what Mbed TLS reads as "now" */
#define PSK_SUITE       "TLS-PSK-WITH-AES-128-GCM-SHA256"
#define CERT_SUITE      "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
#define MAX_QUEUE       1024
#define LOST_FLIGHTS    3

static const unsigned char psk[] = "0123456789abcdef";     /* 16 bytes */
static const char psk_identity[] = "Client_identity";
static const char tid1[] = "127.0.0.1:40001";
static const char tid2[] = "127.0.0.1:40002";
static const char request[] = "GET / HTTP/1.0\r\n\r\n";

static mpy_clock clk;
static mbedtls_x509_crt ca, srv_crt;
static mbedtls_pk_context srv_key;
static mpy_rng key_rng;
static const char *pki_dir;

#define FAIL(what, ret)                                                        \
    do {                                                                       \
        fprintf(stderr, "native_driver: failed: %s returned -0x%04x (%s:%d)\n",\
                (what), (unsigned) -(ret), __FILE__, __LINE__);                \
        exit(1);                                                               \
    } while (0)

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* Rates are per CPU second of this process (the machine may be shared);
 * wall-clock time is reported too. */
typedef struct {
    double wall0, cpu0, wall, cpu;
} stopwatch;

static void sw_start(stopwatch *sw)
{
    sw->wall0 = clock_s(CLOCK_MONOTONIC);
    sw->cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int sw_before(stopwatch *sw, double secs)
{
    sw->cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - sw->cpu0;
    sw->wall = clock_s(CLOCK_MONOTONIC) - sw->wall0;
    return sw->cpu < secs;
}

/* Prints the figures common to every row, leaving the object open. */
static void print_rates(const char *name, long n, const stopwatch *sw, double bytes_per_op)
{
    printf("\"%s\": {\"ops\": %ld, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
           "\"per_s\": %.3f, \"wall_per_s\": %.3f", name, n, sw->wall, sw->cpu,
           n / sw->cpu, n / sw->wall);
    if (bytes_per_op > 0) {
        printf(", \"mb_per_s\": %.3f, \"wall_mb_per_s\": %.3f",
               n * bytes_per_op / sw->cpu / 1e6, n * bytes_per_op / sw->wall / 1e6);
    }
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
        fprintf(stderr, "native_driver: cannot read /proc/self/statm\n");
        exit(1);
    }
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* ---- configurations (what mbedtls_py.Config does, in the same order) ---- */

enum { KIND_PSK, KIND_CERT };

typedef struct {
    mbedtls_ssl_config conf;
    mpy_rng rng;
    mbedtls_ssl_cookie_ctx cookie;
    int suites[2];
} bench_conf;

static void load_pki(void)
{
    char path[1024];
    int ret;
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&srv_crt);
    mbedtls_pk_init(&srv_key);
    if ((ret = mpy_rng_init_system(&key_rng)) != 0) {
        FAIL("mpy_rng_init_system", ret);
    }
    snprintf(path, sizeof(path), "%s/ca.crt", pki_dir);
    if ((ret = mbedtls_x509_crt_parse_file(&ca, path)) != 0) {
        FAIL("mbedtls_x509_crt_parse_file(ca.crt)", ret);
    }
    snprintf(path, sizeof(path), "%s/server.crt", pki_dir);
    if ((ret = mbedtls_x509_crt_parse_file(&srv_crt, path)) != 0) {
        FAIL("mbedtls_x509_crt_parse_file(server.crt)", ret);
    }
    snprintf(path, sizeof(path), "%s/server.key", pki_dir);
    if ((ret = mbedtls_pk_parse_keyfile(&srv_key, path, NULL, mpy_rng_random, &key_rng)) != 0) {
        FAIL("mbedtls_pk_parse_keyfile(server.key)", ret);
    }
}

static void conf_setup(bench_conf *b, int endpoint, int kind, int cookies, const char *seed)
{
    int ret;
    mbedtls_ssl_config_init(&b->conf);
    mbedtls_ssl_cookie_init(&b->cookie);
    if ((ret = mbedtls_ssl_config_defaults(&b->conf, endpoint, MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        FAIL("mbedtls_ssl_config_defaults", ret);
    }
    if ((ret = mpy_rng_init_seeded(&b->rng, (const unsigned char *) seed, strlen(seed))) != 0) {
        FAIL("mpy_rng_init_seeded", ret);
    }
    mpy_conf_rng(&b->conf, &b->rng);
    if (endpoint == MBEDTLS_SSL_IS_SERVER) {
        mpy_conf_cookies(&b->conf, NULL);
    }
    if (kind == KIND_PSK) {
        if ((ret = mbedtls_ssl_conf_psk(&b->conf, psk, sizeof(psk) - 1,
                                        (const unsigned char *) psk_identity,
                                        strlen(psk_identity))) != 0) {
            FAIL("mbedtls_ssl_conf_psk", ret);
        }
        b->suites[0] = mbedtls_ssl_get_ciphersuite_id(PSK_SUITE);
    } else {
        if (endpoint == MBEDTLS_SSL_IS_SERVER) {
            if ((ret = mbedtls_ssl_conf_own_cert(&b->conf, &srv_crt, &srv_key)) != 0) {
                FAIL("mbedtls_ssl_conf_own_cert", ret);
            }
        } else {
            mbedtls_ssl_conf_ca_chain(&b->conf, &ca, NULL);
        }
        b->suites[0] = mbedtls_ssl_get_ciphersuite_id(CERT_SUITE);
    }
    b->suites[1] = 0;
    mbedtls_ssl_conf_ciphersuites(&b->conf, b->suites);
    if (cookies) {
        if ((ret = mbedtls_ssl_cookie_setup(&b->cookie, mpy_rng_random, &b->rng)) != 0) {
            FAIL("mbedtls_ssl_cookie_setup", ret);
        }
        mpy_conf_cookies(&b->conf, &b->cookie);
    }
}

static void conf_free(bench_conf *b)
{
    mbedtls_ssl_config_free(&b->conf);
    mbedtls_ssl_cookie_free(&b->cookie);
    mpy_rng_free(&b->rng);
}

static mpy_conn *conn_new(bench_conf *b, int client)
{
    int ret;
    mpy_conn *c = mpy_conn_new(MAX_QUEUE, MPY_MAX_DATAGRAM);
    if (c == NULL) {
        FAIL("mpy_conn_new", MPY_NO_MEMORY);
    }
    if ((ret = mpy_conn_setup(c, &b->conf, &clk)) != 0) {
        FAIL("mpy_conn_setup", ret);
    }
    if (client && (ret = mbedtls_ssl_set_hostname(&c->ssl, "localhost")) != 0) {
        FAIL("mbedtls_ssl_set_hostname", ret);
    }
    return c;
}

/* ---- moving datagrams, optionally losing the first sending of flights ---- */

typedef struct {
    int max_drops;          /* 0: deliver everything */
    int drops;
    int nseen;
    uint32_t seen[64];
    mbedtls_sha256_context *transcript;     /* non-NULL: hash every datagram */
} network;

/* A flight is named by its sender and its first record: the handshake
 * message_seq for a handshake record, else the content type. */
static uint32_t flight_key(int from_server, const unsigned char *d, int len)
{
    uint32_t key = (uint32_t) from_server << 24;
    if (len >= 19 && d[0] == 22) {
        return key | (22u << 16) | ((uint32_t) d[17] << 8) | d[18];
    }
    return key | ((uint32_t) (len > 0 ? d[0] : 0) << 16) | 0xffff;
}

static int deliver(network *net, mpy_conn *from, mpy_conn *to, int from_server)
{
    int delivered = 0, ret;
    const unsigned char *data;
    while (from->outq.head != NULL) {
        if (net->max_drops || net->transcript) {
            int len = mpy_queue_peek(&from->outq, &data);
            if (net->transcript) {
                mbedtls_sha256_update(net->transcript, data, (size_t) len);
            }
            if (net->max_drops) {
                uint32_t key = flight_key(from_server, data, len);
                int i, seen = 0;
                for (i = 0; i < net->nseen; i++) {
                    seen |= net->seen[i] == key;
                }
                if (!seen && net->nseen < 64) {
                    net->seen[net->nseen++] = key;
                }
                if (!seen && net->drops < net->max_drops) {
                    net->drops++;
                    mpy_queue_pop(&from->outq);
                    continue;
                }
            }
        }
        if ((ret = mpy_queue_move(&from->outq, &to->inq)) < 0) {
            FAIL("mpy_queue_move", ret);
        }
        delivered++;
    }
    return delivered;
}

static void advance_to_next_deadline(mpy_conn *a, mpy_conn *b)
{
    int64_t da = mpy_conn_timer_deadline(a), db = mpy_conn_timer_deadline(b);
    int64_t next = da < 0 ? db : (db < 0 || da < db ? da : db);
    if (next < 0) {
        fprintf(stderr, "native_driver: failed: handshake stalled with no timer running\n");
        exit(1);
    }
    if ((uint64_t) next > clk.now_ms) {
        clk.now_ms = (uint64_t) next;
    }
}

static void server_reset(mpy_conn *srv, const char *tid)
{
    int ret;
    if ((ret = mbedtls_ssl_session_reset(&srv->ssl)) != 0) {
        FAIL("mbedtls_ssl_session_reset", ret);
    }
    if ((ret = mbedtls_ssl_set_client_transport_id(&srv->ssl, (const unsigned char *) tid,
                                                   strlen(tid))) != 0) {
        FAIL("mbedtls_ssl_set_client_transport_id", ret);
    }
}

/* Both handshakes to completion: client step, deliver, server step, deliver.
 * A HelloVerifyRequest resets the server as the dtls_server sample does. */
static void handshake(network *net, mpy_conn *cli, mpy_conn *srv, const char *tid)
{
    int cdone = 0, sdone = 0, ret, round;
    for (round = 0; round < 1000; round++) {
        int moved = 0;
        if (!cdone) {
            ret = mbedtls_ssl_handshake(&cli->ssl);
            if (ret == 0) {
                cdone = 1;
            } else if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE) {
                FAIL("mbedtls_ssl_handshake (client)", ret);
            }
        }
        moved += deliver(net, cli, srv, 0);
        if (!sdone) {
            ret = mbedtls_ssl_handshake(&srv->ssl);
            if (ret == 0) {
                sdone = 1;
            } else if (ret == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
                server_reset(srv, tid);
            } else if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE) {
                FAIL("mbedtls_ssl_handshake (server)", ret);
            }
        }
        moved += deliver(net, srv, cli, 1);
        if (cdone && sdone) {
            return;
        }
        if (moved == 0) {
            advance_to_next_deadline(cli, srv);
        }
    }
    fprintf(stderr, "native_driver: failed: handshake did not finish in 1000 rounds\n");
    exit(1);
}

static void client_reset(mpy_conn *cli)
{
    int ret;
    if ((ret = mbedtls_ssl_session_reset(&cli->ssl)) != 0) {
        FAIL("mbedtls_ssl_session_reset (client)", ret);
    }
}

/* ---- the rows ------------------------------------------------------------ */

typedef struct {
    bench_conf srv, cli;
    mpy_conn *s, *c;
    int cookies;
} pair;

static void pair_setup(pair *p, int kind, int cookies)
{
    conf_setup(&p->srv, MBEDTLS_SSL_IS_SERVER, kind, cookies, "bench-server");
    conf_setup(&p->cli, MBEDTLS_SSL_IS_CLIENT, kind, 0, "bench-client");
    p->s = conn_new(&p->srv, 0);
    p->c = conn_new(&p->cli, 1);
    p->cookies = cookies;
}

static void pair_free(pair *p)
{
    mpy_conn_free(p->s);
    mpy_conn_free(p->c);
    conf_free(&p->srv);
    conf_free(&p->cli);
}

/* One full handshake on a reused pair (both sides reset first). */
static void one_handshake(pair *p, network *net)
{
    if (p->cookies) {
        server_reset(p->s, tid1);
    } else {
        int ret = mbedtls_ssl_session_reset(&p->s->ssl);
        if (ret != 0) {
            FAIL("mbedtls_ssl_session_reset", ret);
        }
    }
    client_reset(p->c);
    handshake(net, p->c, p->s, tid1);
}

static void print_transcript(const char *name, mbedtls_sha256_context *h, int *first)
{
    unsigned char digest[32];
    mbedtls_sha256_finish(h, digest);
    printf("%s\"%s\": \"", *first ? "" : ", ", name);
    for (int i = 0; i < 8; i++) {
        printf("%02x", digest[i]);
    }
    printf("\"");
    *first = 0;
}

/* The first handshake of a fresh pair, hashed: the Python driver must produce
 * the same bytes, which shows that both run the same handshake. */
static void transcript(const char *name, int kind, int cookies, int drops, int *first)
{
    pair p;
    mbedtls_sha256_context h;
    network net = { 0 };
    mbedtls_sha256_init(&h);
    mbedtls_sha256_starts(&h, 0);
    net.transcript = &h;
    net.max_drops = drops;
    clk.now_ms = 0;
    pair_setup(&p, kind, cookies);
    one_handshake(&p, &net);
    print_transcript(name, &h, first);
    pair_free(&p);
}

static void row_handshakes(const char *name, int kind, int cookies, double secs)
{
    pair p;
    network net = { 0 };
    long n = 0;
    pair_setup(&p, kind, cookies);
    one_handshake(&p, &net);                        /* warm-up */
    stopwatch sw;
    sw_start(&sw);
    do {
        one_handshake(&p, &net);
        n++;
    } while (sw_before(&sw, secs));
    print_rates(name, n, &sw, 0);
    printf("}");
    pair_free(&p);
}

static void row_records(const char *name, size_t size, double secs)
{
    static unsigned char out[16384], in[16384];
    pair p;
    network net = { 0 };
    long n = 0;
    int ret;
    memset(out, 'x', sizeof(out));
    pair_setup(&p, KIND_PSK, 0);
    one_handshake(&p, &net);
    stopwatch sw;
    sw_start(&sw);
    do {
        for (int k = 0; k < 64; k++) {
            if ((ret = mbedtls_ssl_write(&p.c->ssl, out, size)) != (int) size) {
                FAIL("mbedtls_ssl_write", ret);
            }
            if ((ret = mpy_queue_move(&p.c->outq, &p.s->inq)) < 0) {
                FAIL("mpy_queue_move", ret);
            }
            if ((ret = mbedtls_ssl_read(&p.s->ssl, in, sizeof(in))) != (int) size) {
                FAIL("mbedtls_ssl_read", ret);
            }
        }
        n += 64;
    } while (sw_before(&sw, secs));
    print_rates(name, n, &sw, (double) size);
    printf("}");
    pair_free(&p);
}

/* The seed scenario: handshake, request and echo, the server closes and
 * resets, the client's close_notify arrives late and makes the server's next
 * handshake call fail with -0x7700; the server resets and serves a second
 * client. */
typedef struct {
    bench_conf srv, cli;
    mpy_conn *s, *c1, *c2;
} race;

static void race_once(race *r, network *net)
{
    unsigned char buf[1024];
    int ret;
    client_reset(r->c1);
    client_reset(r->c2);
    server_reset(r->s, tid1);
    handshake(net, r->c1, r->s, tid1);
    if ((ret = mbedtls_ssl_write(&r->c1->ssl, (const unsigned char *) request,
                                 sizeof(request) - 1)) != (int) sizeof(request) - 1) {
        FAIL("mbedtls_ssl_write (client)", ret);
    }
    deliver(net, r->c1, r->s, 0);
    if ((ret = mbedtls_ssl_read(&r->s->ssl, buf, sizeof(buf))) != (int) sizeof(request) - 1) {
        FAIL("mbedtls_ssl_read (server)", ret);
    }
    if ((ret = mbedtls_ssl_write(&r->s->ssl, buf, (size_t) ret)) != (int) sizeof(request) - 1) {
        FAIL("mbedtls_ssl_write (server)", ret);
    }
    deliver(net, r->s, r->c1, 1);
    if ((ret = mbedtls_ssl_read(&r->c1->ssl, buf, sizeof(buf))) != (int) sizeof(request) - 1) {
        FAIL("mbedtls_ssl_read (client)", ret);
    }
    if ((ret = mbedtls_ssl_close_notify(&r->s->ssl)) != 0) {
        FAIL("mbedtls_ssl_close_notify (server)", ret);
    }
    deliver(net, r->s, r->c1, 1);
    if ((ret = mbedtls_ssl_read(&r->c1->ssl, buf, sizeof(buf))) !=
        MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        FAIL("mbedtls_ssl_read (client, expecting PEER_CLOSE_NOTIFY)", ret);
    }
    if ((ret = mbedtls_ssl_close_notify(&r->c1->ssl)) != 0) {
        FAIL("mbedtls_ssl_close_notify (client)", ret);
    }
    /* the client's alert is late: the server resets first */
    server_reset(r->s, tid1);
    deliver(net, r->c1, r->s, 0);
    if ((ret = mbedtls_ssl_handshake(&r->s->ssl)) != MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE) {
        FAIL("mbedtls_ssl_handshake (server, expecting -0x7700)", ret);
    }
    server_reset(r->s, tid2);
    handshake(net, r->c2, r->s, tid2);
}

static void row_race(const char *name, int kind, double secs)
{
    race r;
    network net = { 0 };
    long n = 0;
    conf_setup(&r.srv, MBEDTLS_SSL_IS_SERVER, kind, 1, "bench-server");
    conf_setup(&r.cli, MBEDTLS_SSL_IS_CLIENT, kind, 0, "bench-client");
    r.s = conn_new(&r.srv, 0);
    r.c1 = conn_new(&r.cli, 1);
    r.c2 = conn_new(&r.cli, 1);
    race_once(&r, &net);                            /* warm-up */
    stopwatch sw;
    sw_start(&sw);
    do {
        race_once(&r, &net);
        n++;
    } while (sw_before(&sw, secs));
    print_rates(name, n, &sw, 0);
    printf("}");
    mpy_conn_free(r.s);
    mpy_conn_free(r.c1);
    mpy_conn_free(r.c2);
    conf_free(&r.srv);
    conf_free(&r.cli);
}

static void row_lost(const char *name, int kind, double secs)
{
    pair p;
    long n = 0;
    uint64_t virtual_ms = 0;
    pair_setup(&p, kind, 0);
    network warm = { .max_drops = LOST_FLIGHTS };
    one_handshake(&p, &warm);
    stopwatch sw;
    sw_start(&sw);
    do {
        network net = { .max_drops = LOST_FLIGHTS };
        uint64_t start = clk.now_ms;
        one_handshake(&p, &net);
        if (net.drops != LOST_FLIGHTS) {
            fprintf(stderr, "native_driver: failed: only %d flights lost\n", net.drops);
            exit(1);
        }
        virtual_ms += clk.now_ms - start;
        n++;
    } while (sw_before(&sw, secs));
    /* the speed-up is against real (wall-clock) time */
    print_rates(name, n, &sw, 0);
    printf(", \"real_ms\": %.6f, \"cpu_ms\": %.6f, \"virtual_ms\": %.3f, \"speedup\": %.1f}",
           sw.wall * 1e3 / n, sw.cpu * 1e3 / n, (double) virtual_ms / n,
           ((double) virtual_ms / n) / (sw.wall * 1e3 / n));
    pair_free(&p);
}

/* ---- memory ---------------------------------------------------------------- */

static void memory(long pairs, int kind)
{
    bench_conf srv, cli;
    network net = { 0 };
    conf_setup(&srv, MBEDTLS_SSL_IS_SERVER, kind, 0, "bench-server");
    conf_setup(&cli, MBEDTLS_SSL_IS_CLIENT, kind, 0, "bench-client");
    mpy_conn **s = calloc((size_t) pairs, sizeof(*s)), **c = calloc((size_t) pairs, sizeof(*c));
    /* one pair first, so one-time allocations are not counted */
    mpy_conn *ws = conn_new(&srv, 0), *wc = conn_new(&cli, 1);
    handshake(&net, wc, ws, tid1);
#if defined(__GLIBC__)
    malloc_trim(0);     /* free heap pages out of RSS, so new pairs show up in it */
#endif
    long before = rss_bytes();
    for (long i = 0; i < pairs; i++) {
        s[i] = conn_new(&srv, 0);
        c[i] = conn_new(&cli, 1);
        handshake(&net, c[i], s[i], tid1);
    }
    long after = rss_bytes();
    printf("\"memory\": {\"suite\": \"%s\", \"pairs\": %ld, \"rss_before\": %ld, "
           "\"rss_after\": %ld, \"bytes_per_pair\": %.0f}",
           kind == KIND_PSK ? "psk" : "cert", pairs, before, after,
           (double) (after - before) / pairs);
}

static void lifecycles(long n)
{
    bench_conf srv, cli;
    network net = { 0 };
    long warm = n / 10, rss_warm = 0;
    double t0 = clock_s(CLOCK_MONOTONIC);
    conf_setup(&srv, MBEDTLS_SSL_IS_SERVER, KIND_PSK, 0, "bench-server");
    conf_setup(&cli, MBEDTLS_SSL_IS_CLIENT, KIND_PSK, 0, "bench-client");
    for (long i = 0; i < n; i++) {
        mpy_conn *s = conn_new(&srv, 0), *c = conn_new(&cli, 1);
        handshake(&net, c, s, tid1);
        int ret = mbedtls_ssl_close_notify(&c->ssl);
        if (ret != 0) {
            FAIL("mbedtls_ssl_close_notify", ret);
        }
        deliver(&net, c, s, 0);
        unsigned char buf[64];
        if ((ret = mbedtls_ssl_read(&s->ssl, buf, sizeof(buf))) !=
            MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            FAIL("mbedtls_ssl_read (expecting PEER_CLOSE_NOTIFY)", ret);
        }
        mpy_conn_free(s);
        mpy_conn_free(c);
        if (i + 1 == warm) {
            rss_warm = rss_bytes();
        }
    }
    long rss_end = rss_bytes();
    printf("\"lifecycles\": {\"n\": %ld, \"rss_after_10pct\": %ld, \"rss_end\": %ld, "
           "\"growth\": %ld, \"seconds\": %.3f}", n, rss_warm, rss_end, rss_end - rss_warm,
           clock_s(CLOCK_MONOTONIC) - t0);
}

/* ---- main ------------------------------------------------------------------ */

/* Runs one row and prints it as a JSON member; 0 if the row is unknown. */
static int run_row(const char *row, double secs)
{
    int first = 1;
    clk.now_ms = 0;
    if (strcmp(row, "transcripts") == 0) {
        printf("\"transcripts\": {");
        transcript("cert", KIND_CERT, 0, 0, &first);
        transcript("cookie", KIND_CERT, 1, 0, &first);
        transcript("psk", KIND_PSK, 0, 0, &first);
        transcript("lost_flight_psk", KIND_PSK, 0, LOST_FLIGHTS, &first);
        printf("}");
    } else if (strcmp(row, "cert_handshake") == 0) {
        row_handshakes(row, KIND_CERT, 0, secs);
    } else if (strcmp(row, "cookie_handshake") == 0) {
        row_handshakes(row, KIND_CERT, 1, secs);
    } else if (strcmp(row, "psk_handshake") == 0) {
        row_handshakes(row, KIND_PSK, 0, secs);
    } else if (strcmp(row, "record_1k") == 0) {
        row_records(row, 1000, secs);
    } else if (strcmp(row, "record_16k") == 0) {
        row_records(row, 16000, secs);
    } else if (strcmp(row, "race_cert") == 0) {
        row_race(row, KIND_CERT, secs);
    } else if (strcmp(row, "race_psk") == 0) {
        row_race(row, KIND_PSK, secs);
    } else if (strcmp(row, "lost_flight_psk") == 0) {
        row_lost(row, KIND_PSK, secs);
    } else if (strcmp(row, "lost_flight_cert") == 0) {
        row_lost(row, KIND_CERT, secs);
    } else {
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    int ret;
    if (argc < 3 || (argc < 4 && strcmp(argv[2], "serve") != 0)) {
        fprintf(stderr, "usage: %s PKI_DIR SECONDS ROW[,ROW...]   one JSON object\n"
                        "       %s PKI_DIR serve     reads \"ROW SECONDS\" lines, one JSON "
                        "object per line\n"
                        "       %s PKI_DIR memory PAIRS psk|cert\n"
                        "       %s PKI_DIR lifecycles N\n"
                        "rows: transcripts cert_handshake cookie_handshake psk_handshake "
                        "record_1k record_16k race_cert race_psk lost_flight_psk "
                        "lost_flight_cert\n", argv[0], argv[0], argv[0], argv[0]);
        return 2;
    }
    pki_dir = argv[1];
    if ((ret = mpy_global_init()) != 0) {
        FAIL("mpy_global_init (psa_crypto_init)", ret);
    }
    mpy_set_time(FIXED_TIME);
    load_pki();
    if (strcmp(argv[2], "serve") == 0) {
        char line[256], row[64];
        double secs;
        while (fgets(line, sizeof(line), stdin) != NULL) {
            if (sscanf(line, "%63s %lf", row, &secs) != 2) {
                fprintf(stderr, "native_driver: bad command: %s", line);
                return 2;
            }
            printf("{");
            if (!run_row(row, secs)) {
                fprintf(stderr, "native_driver: unknown row %s\n", row);
                return 2;
            }
            printf("}\n");
            fflush(stdout);
        }
        return 0;
    }
    printf("{");
    if (strcmp(argv[2], "memory") == 0) {
        memory(atol(argv[3]), argc > 4 && strcmp(argv[4], "cert") == 0 ? KIND_CERT : KIND_PSK);
        printf("}\n");
        return 0;
    }
    if (strcmp(argv[2], "lifecycles") == 0) {
        lifecycles(atol(argv[3]));
        printf("}\n");
        return 0;
    }
    double secs = atof(argv[2]);
    char *row;
    int first = 1;
    for (row = strtok(argv[3], ","); row != NULL; row = strtok(NULL, ",")) {
        printf("%s", first ? "" : ", ");
        first = 0;
        if (!run_row(row, secs)) {
            fprintf(stderr, "native_driver: unknown row %s\n", row);
            return 2;
        }
    }
    printf("}\n");
    return 0;
}
