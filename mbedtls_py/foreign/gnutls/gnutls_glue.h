/* mbedtls-py: the C side of the in-process GnuTLS peer (gnutls_glue.c). */
#ifndef MBEDTLS_PY_GNUTLS_GLUE_H
#define MBEDTLS_PY_GNUTLS_GLUE_H

#include <stdint.h>
#include <sys/types.h>
#include <gnutls/gnutls.h>
#include <gnutls/dtls.h>

/* The main extension's queue functions (csrc/glue.h), as pointers. */
typedef int gnt_q_push_fn(void *q, const unsigned char *data, size_t len);
typedef int gnt_q_peek_fn(const void *q, const unsigned char **data);
typedef int gnt_q_pop_fn(void *q);

typedef struct {
    gnutls_session_t session;
    void *inq;                  /* an mpy_queue of the main extension */
    void *outq;
    uint64_t sent;
    uint64_t received;
    uint64_t dropped_out;
} gnt_conn;

void gnt_set_queue_ops(void *push, void *peek, void *pop);
void gnt_conn_bind(gnt_conn *c, gnutls_session_t session, void *inq, void *outq);
ssize_t gnt_push(gnutls_transport_ptr_t p, const void *data, size_t len);
void gnt_use_clock(const uint64_t *clock_ms, int64_t unix_at_zero);
void gnt_rng_seed(const unsigned char *seed, size_t len);
uint64_t gnt_rng_bytes(void);
int gnt_rng_hook(void);
char *gnt_session_desc(gnutls_session_t session);
void gnt_free(void *p);

#endif
