/* See conf_glue.c (and ms_time.c, build_config.c for the last three). */
#ifndef MBEDTLS_PY_CONF_GLUE_H
#define MBEDTLS_PY_CONF_GLUE_H

#include "glue.h"
#include "mbedtls/ssl_cache.h"
#include "mbedtls/ssl_ticket.h"
#include "mbedtls/x509_crt.h"

#include "mbedtls/x509_crl.h"

typedef struct mpy_sni_entry {
    struct mpy_sni_entry *next;
    char name[256];
    mbedtls_x509_crt *cert;
    mbedtls_pk_context *key;
    mbedtls_x509_crt *ca;       /* NULL: keep the config's */
    mbedtls_x509_crl *crl;
    int authmode;               /* -1: keep the config's */
} mpy_sni_entry;

/* Reference-counted (glue.h): Python wraps each with ffi.gc(p, mpy_ref_release)
 * and the config holds what it points at.  An SNI entry retains its
 * certificate, key, CA, CRL and the next entry; a ticket context the RNG
 * given to mpy_ticket_setup. */
mbedtls_ssl_cache_context *mpy_cache_new(void);
mbedtls_ssl_ticket_context *mpy_ticket_new(void);
mbedtls_x509_crl *mpy_crl_new(void);
mpy_sni_entry *mpy_sni_entry_new(const char *name, mbedtls_x509_crt *cert,
                                 mbedtls_pk_context *key, mbedtls_x509_crt *ca,
                                 mbedtls_x509_crl *crl, int authmode, mpy_sni_entry *next);

void mpy_conf_cookies_library_default(mbedtls_ssl_config *conf);
void mpy_conf_sni(mbedtls_ssl_config *conf, mpy_sni_entry *entries);
void mpy_conf_session_cache(mbedtls_ssl_config *conf, mbedtls_ssl_cache_context *cache);
int mpy_ticket_setup(mbedtls_ssl_ticket_context *ticket, mpy_rng *rng, uint32_t lifetime_s);
void mpy_conf_session_tickets_cb(mbedtls_ssl_config *conf, mbedtls_ssl_ticket_context *ticket);
void mpy_conf_allow_sha1(mpy_conf *c);
/* ms_time.c: what mbedtls_ms_time() returns on this thread (-1: its own clock). */
void mpy_set_ms_time(int64_t ms);
/* build_config.c */
size_t mpy_build_config_count(void);
const char *mpy_build_config_name(size_t i);
const char *mpy_build_config_value(size_t i);

#endif
