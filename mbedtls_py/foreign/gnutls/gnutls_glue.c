/*
 * mbedtls-py: GnuTLS (the system's libgnutls) as an in-process DTLS peer.
 *
 *  - transport: gnutls_transport_set_push/pull/pull_timeout functions that
 *    move whole datagrams through the datagram queues of the main extension
 *    (csrc/glue.c: mpy_queue_push/peek/pop, handed over as function pointers
 *    by gnt_set_queue_ops, so there is one queue implementation);
 *  - time: gnutls_global_set_time_function and the private
 *    _gnutls_global_set_gettime_function (GNUTLS_PRIVATE_3_4, what GnuTLS's
 *    own tests/virt-time.h uses) read the harness's virtual milliseconds, so
 *    retransmission timers and gnutls_dtls_get_timeout run on virtual time;
 *  - randomness: libgnutls seeds its per-thread DRBG (lib/nettle/rnd.c) from
 *    getrandom(); gnt_rng_hook() points libgnutls's GOT entry for getrandom
 *    at a function that, on a thread seeded with gnt_rng_seed(), returns
 *    SHA-256(seed || counter) blocks (the real getrandom otherwise).  A fresh
 *    thread seeded before its first GnuTLS call therefore draws every random
 *    byte (randoms, ECDHE keys, ECDSA nonces, cookies) from the seed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/dtls.h>

#include "gnutls_glue.h"

/* ---- the main extension's queues ------------------------------------- */

static gnt_q_push_fn *q_push;
static gnt_q_peek_fn *q_peek;
static gnt_q_pop_fn *q_pop;

void gnt_set_queue_ops(void *push, void *peek, void *pop)
{
    q_push = (gnt_q_push_fn *) push;
    q_peek = (gnt_q_peek_fn *) peek;
    q_pop = (gnt_q_pop_fn *) pop;
}

ssize_t gnt_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
    gnt_conn *c = p;
    if (q_push(c->outq, data, len) != 0) {
        c->dropped_out++;       /* a full queue: lost, as by a full socket buffer */
    }
    c->sent++;
    return (ssize_t) len;
}

static ssize_t gnt_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    gnt_conn *c = p;
    const unsigned char *d;
    int n = q_peek(c->inq, &d);
    if (n < 0) {
        if (c->session != NULL) {
            gnutls_transport_set_errno(c->session, EAGAIN);
        }
        errno = EAGAIN;
        return -1;
    }
    size_t m = (size_t) n < len ? (size_t) n : len;   /* recvfrom truncates */
    memcpy(buf, d, m);
    q_pop(c->inq);
    c->received++;
    return (ssize_t) m;
}

static int gnt_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
    gnt_conn *c = p;
    const unsigned char *d;
    (void) ms;      /* never waits: the harness resumes the call later */
    return q_peek(c->inq, &d) >= 0 ? 1 : 0;
}

void gnt_conn_bind(gnt_conn *c, gnutls_session_t session, void *inq, void *outq)
{
    c->session = session;
    c->inq = inq;
    c->outq = outq;
    gnutls_transport_set_ptr(session, c);
    gnutls_transport_set_push_function(session, gnt_push);
    gnutls_transport_set_pull_function(session, gnt_pull);
    gnutls_transport_set_pull_timeout_function(session, gnt_pull_timeout);
}

/* ---- time -------------------------------------------------------------- */

/* The clock of the calling thread's run (a thread-local pointer to the
 * harness's virtual ms), so runs on several threads do not share one. */
static _Thread_local const uint64_t *now_ms;
static _Thread_local int64_t base_unix;
static int time_hooked;

typedef void gnt_gettime_fn(struct timespec *);
extern void _gnutls_global_set_gettime_function(gnt_gettime_fn *fn);

static void virt_gettime(struct timespec *t)
{
    if (now_ms == NULL) {
        clock_gettime(CLOCK_REALTIME, t);
        return;
    }
    uint64_t ms = *now_ms;
    t->tv_sec = (time_t) (base_unix + (int64_t) (ms / 1000));
    t->tv_nsec = (long) (ms % 1000) * 1000000L;
}

static time_t virt_time(time_t *out)
{
    struct timespec t;
    virt_gettime(&t);
    if (out != NULL) {
        *out = t.tv_sec;
    }
    return t.tv_sec;
}

void gnt_use_clock(const uint64_t *clock_ms, int64_t unix_at_zero)
{
    now_ms = clock_ms;
    base_unix = unix_at_zero;
    if (!time_hooked) {
        gnutls_global_set_time_function(virt_time);
        _gnutls_global_set_gettime_function(virt_gettime);
        time_hooked = 1;
    }
}

/* ---- randomness --------------------------------------------------------- */

static _Thread_local int rng_seeded;
static _Thread_local unsigned char rng_seed[32];
static _Thread_local uint64_t rng_counter;
static _Thread_local unsigned char rng_block[32];
static _Thread_local size_t rng_left;
static _Thread_local uint64_t rng_bytes;

static ssize_t hooked_getrandom(void *buf, size_t len, unsigned int flags)
{
    if (!rng_seeded) {
        return syscall(SYS_getrandom, buf, len, flags);
    }
    unsigned char *out = buf;
    size_t done = 0;
    while (done < len) {
        if (rng_left == 0) {
            unsigned char in[40];
            memcpy(in, rng_seed, 32);
            for (int i = 0; i < 8; i++) {
                in[32 + i] = (unsigned char) (rng_counter >> (8 * i));
            }
            rng_counter++;
            if (gnutls_hash_fast(GNUTLS_DIG_SHA256, in, sizeof(in), rng_block) < 0) {
                errno = EIO;
                return -1;
            }
            rng_left = sizeof(rng_block);
        }
        size_t take = len - done < rng_left ? len - done : rng_left;
        memcpy(out + done, rng_block + sizeof(rng_block) - rng_left, take);
        rng_left -= take;
        done += take;
    }
    rng_bytes += len;
    return (ssize_t) len;
}

void gnt_rng_seed(const unsigned char *seed, size_t len)
{
    memset(rng_seed, 0, sizeof(rng_seed));
    memcpy(rng_seed, seed, len < sizeof(rng_seed) ? len : sizeof(rng_seed));
    rng_counter = 0;
    rng_left = 0;
    rng_bytes = 0;
    rng_seeded = 1;
}

uint64_t gnt_rng_bytes(void)
{
    return rng_bytes;
}

struct got_search {
    const char *lib;
    const char *sym;
    void *repl;
    int patched;
};

static uintptr_t dyn_ptr(uintptr_t base, uintptr_t v)
{
    return v < base ? v + base : v;    /* relocated by ld.so, or not */
}

static int patch_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct got_search *s = arg;
    (void) size;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, s->lib) == NULL) {
        return 0;
    }
    uintptr_t base = info->dlpi_addr;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *) (base + info->dlpi_phdr[i].p_vaddr);
        }
    }
    if (dyn == NULL) {
        return 0;
    }
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *rel[2] = { NULL, NULL };
    size_t relsz[2] = { 0, 0 };
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB: symtab = (const void *) dyn_ptr(base, dyn->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const void *) dyn_ptr(base, dyn->d_un.d_ptr); break;
        case DT_JMPREL: rel[0] = (const void *) dyn_ptr(base, dyn->d_un.d_ptr); break;
        case DT_PLTRELSZ: relsz[0] = dyn->d_un.d_val; break;
        case DT_RELA: rel[1] = (const void *) dyn_ptr(base, dyn->d_un.d_ptr); break;
        case DT_RELASZ: relsz[1] = dyn->d_un.d_val; break;
        default: break;
        }
    }
    if (symtab == NULL || strtab == NULL) {
        return 0;
    }
    long page = sysconf(_SC_PAGESIZE);
    for (int k = 0; k < 2; k++) {
        if (rel[k] == NULL) {
            continue;
        }
        for (size_t i = 0; i < relsz[k] / sizeof(ElfW(Rela)); i++) {
            size_t idx = ELF64_R_SYM(rel[k][i].r_info);
            if (idx == 0 || strcmp(strtab + symtab[idx].st_name, s->sym) != 0) {
                continue;
            }
            void **slot = (void **) (base + rel[k][i].r_offset);
            uintptr_t start = (uintptr_t) slot & ~(uintptr_t) (page - 1);
            if (mprotect((void *) start, (size_t) page, PROT_READ | PROT_WRITE) != 0) {
                return 0;
            }
            *slot = s->repl;
            mprotect((void *) start, (size_t) page, PROT_READ);
            s->patched++;
        }
    }
    return 1;
}

/* Redirects libgnutls's getrandom() (the DRBG's seed) and time() (read
 * directly by lib/dtls.h's _dtls_async_timer_check, which compares it with a
 * deadline set from gnutls_time(): without this the server's retransmission
 * state of its last flight expires at once whenever the virtual wall clock
 * lies behind the real one).  Returns the number of GOT slots patched. */
int gnt_rng_hook(void)
{
    static int result = -1;
    if (result >= 0) {
        return result;
    }
    struct got_search s = { "libgnutls.so", "getrandom", (void *) hooked_getrandom, 0 };
    dl_iterate_phdr(patch_one, &s);
    struct got_search t = { "libgnutls.so", "time", (void *) virt_time, 0 };
    dl_iterate_phdr(patch_one, &t);
    result = s.patched > 0 && t.patched > 0 ? s.patched + t.patched : 0;
    return result;
}

/* ---- small helpers for Python ---------------------------------------- */

char *gnt_session_desc(gnutls_session_t session)
{
    return gnutls_session_get_desc(session);
}

void gnt_free(void *p)
{
    gnutls_free(p);
}
