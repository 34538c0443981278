/*
 * mbedtls-py C glue for the parts of the API that take C callbacks or
 * replace a context in place (used by the ssl-opt runner and the bindings):
 *  - session cache and session tickets wired to Mbed TLS's own
 *    implementations (mbedtls_ssl_cache_*, mbedtls_ssl_ticket_*);
 *  - freeing and re-initialising a connection's ssl context in place,
 *    keeping its datagram queues, BIO and timer (context serialization);
 *  - the certificate profile and signature algorithms that upstream's test
 *    programs use when SHA-1 is allowed;
 *  - the compiled configuration, as query_compile_time_config lists it.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include <string.h>

#include "glue.h"
#include "sslopt_glue.h"
#include "compat.h"

void mpy_conf_session_cache(mbedtls_ssl_config *conf, mbedtls_ssl_cache_context *cache)
{
    if (cache != NULL) {
        mbedtls_ssl_conf_session_cache(conf, cache, mbedtls_ssl_cache_get, mbedtls_ssl_cache_set);
    } else {
        mbedtls_ssl_conf_session_cache(conf, NULL, NULL, NULL);
    }
}

int mpy_ticket_setup(mbedtls_ssl_ticket_context *ticket, mpy_rng *rng, uint32_t lifetime_s)
{
#if MPY_MBEDTLS_4
    (void) rng;   /* 4.x: the ticket key comes from the PSA RNG (the thread's stream) */
    return mbedtls_ssl_ticket_setup(ticket, PSA_ALG_GCM, PSA_KEY_TYPE_AES, 256, lifetime_s);
#else
    return mbedtls_ssl_ticket_setup(ticket, mpy_rng_random, rng, MBEDTLS_CIPHER_AES_256_GCM,
                                    lifetime_s);
#endif
}

void mpy_conf_session_tickets_cb(mbedtls_ssl_config *conf, mbedtls_ssl_ticket_context *ticket)
{
    if (ticket != NULL) {
        mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write,
                                            mbedtls_ssl_ticket_parse, ticket);
    } else {
        mbedtls_ssl_conf_session_tickets_cb(conf, NULL, NULL, NULL);
    }
}

/* mbedtls_ssl_free + mbedtls_ssl_init + mbedtls_ssl_setup on the same
 * connection, then BIO and timer as mpy_conn_setup sets them. */
int mpy_conn_reinit(mpy_conn *c, const mbedtls_ssl_config *conf)
{
    const mpy_clock *clock = c->timer.clock;
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_init(&c->ssl);
    c->timer.fin_ms = 0;
    return mpy_conn_setup(c, conf, clock);
}

/* Allow SHA-1 in certificates and signatures, as ssl_client2/ssl_server2 do
 * with allow_sha1=1 (every ssl-opt.sh run passes it). */
static mbedtls_x509_crt_profile sha1_profile;
static const uint16_t sha1_sig_algs[] = {
#define MPY_SIG(hash) (uint16_t) (((hash) << 8) | MBEDTLS_SSL_SIG_ECDSA), \
    (uint16_t) (((hash) << 8) | MBEDTLS_SSL_SIG_RSA)
#if defined(MBEDTLS_MD_CAN_SHA512)
    MPY_SIG(MBEDTLS_SSL_HASH_SHA512),
#endif
#if defined(MBEDTLS_MD_CAN_SHA384)
    MPY_SIG(MBEDTLS_SSL_HASH_SHA384),
#endif
#if defined(MBEDTLS_MD_CAN_SHA256)
    MPY_SIG(MBEDTLS_SSL_HASH_SHA256),
#endif
#if defined(MBEDTLS_MD_CAN_SHA224)
    MPY_SIG(MBEDTLS_SSL_HASH_SHA224),
#endif
#if defined(MBEDTLS_MD_CAN_SHA1)
    MPY_SIG(MBEDTLS_SSL_HASH_SHA1),
#endif
#undef MPY_SIG
    MBEDTLS_TLS1_3_SIG_NONE
};

void mpy_conf_allow_sha1(mbedtls_ssl_config *conf)
{
    sha1_profile = mbedtls_x509_crt_profile_default;
    sha1_profile.allowed_mds |= MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA1);
    mbedtls_ssl_conf_cert_profile(conf, &sha1_profile);
    mbedtls_ssl_conf_sig_algs(conf, sha1_sig_algs);
}

/* Mbed TLS's own default cookie callbacks (the "dummy" ones that make every
 * cookie check fail), copied from a freshly defaulted server config: they
 * are static in ssl_tls.c. */
void mpy_conf_cookies_library_default(mbedtls_ssl_config *conf)
{
    mbedtls_ssl_config tmp;
    mbedtls_ssl_config_init(&tmp);
    if (mbedtls_ssl_config_defaults(&tmp, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) == 0) {
        conf->f_cookie_write = tmp.f_cookie_write;
        conf->f_cookie_check = tmp.f_cookie_check;
        conf->p_cookie = tmp.p_cookie;
    }
    mbedtls_ssl_config_free(&tmp);
}

/* SNI as ssl_server2 does it: the SNI callback finds the entry by name and
 * remembers it in the context's user data; the certificate callback then
 * sets the handshake's certificate, CA chain and authmode from it. */
static int mpy_sni_cb(void *p_info, mbedtls_ssl_context *ssl,
                      const unsigned char *name, size_t name_len)
{
    mpy_sni_entry *cur = p_info;
    for (; cur != NULL; cur = cur->next) {
        if (name_len == strlen(cur->name) && memcmp(name, cur->name, name_len) == 0) {
            mbedtls_ssl_set_user_data_p(ssl, cur);
            return 0;
        }
    }
    return -1;
}

static int mpy_cert_cb(mbedtls_ssl_context *ssl)
{
    const mpy_sni_entry *cur = mbedtls_ssl_get_user_data_p(ssl);
    size_t name_len;
    const unsigned char *name;
    if (cur == NULL) {
        return 0;
    }
    name = mbedtls_ssl_get_hs_sni(ssl, &name_len);
    if (strlen(cur->name) != name_len || memcmp(cur->name, name, name_len) != 0) {
        return MBEDTLS_ERR_SSL_DECODE_ERROR;
    }
    if (cur->ca != NULL) {
        mbedtls_ssl_set_hs_ca_chain(ssl, cur->ca, cur->crl);
    }
    if (cur->authmode >= 0) {
        mbedtls_ssl_set_hs_authmode(ssl, cur->authmode);
    }
    return mbedtls_ssl_set_hs_own_cert(ssl, cur->cert, cur->key);
}

void mpy_conf_sni(mbedtls_ssl_config *conf, mpy_sni_entry *entries)
{
    mbedtls_ssl_conf_sni(conf, entries != NULL ? mpy_sni_cb : NULL, entries);
    mbedtls_ssl_conf_cert_cb(conf, entries != NULL ? mpy_cert_cb : NULL);
}

/* mbedtls_ms_time(): TLS 1.2 session tickets record their creation time with
 * it, so the harness owns it too.  The extension is linked with
 * -Wl,--wrap=mbedtls_ms_time (csrc/mbedtls_build.py): every call from the library
 * lands here and reads a value set by the harness (virtual milliseconds), or
 * Mbed TLS's own clock when none is set (-1).  The static library and its
 * configuration are unchanged, so other programs linked with it are too. */
/* Per thread, like mbedtls_time (glue.c): Mbed TLS reads it on the calling thread. */
static __thread int64_t fixed_ms_time = -1;

mbedtls_ms_time_t __real_mbedtls_ms_time(void);
mbedtls_ms_time_t __wrap_mbedtls_ms_time(void);

void mpy_set_ms_time(int64_t ms)
{
    fixed_ms_time = ms < 0 ? -1 : ms;
}

mbedtls_ms_time_t __wrap_mbedtls_ms_time(void)
{
    int64_t now = fixed_ms_time;
    return now >= 0 ? (mbedtls_ms_time_t) now : __real_mbedtls_ms_time();
}

/* The compiled configuration: generated by csrc/mbedtls_build.py from the macro list
 * of the pinned programs/test/query_config.c. */
#include "_generated/build_config.h"

size_t mpy_build_config_count(void)
{
    return sizeof(mpy_build_config_table) / sizeof(mpy_build_config_table[0]);
}

const char *mpy_build_config_name(size_t i)
{
    return i < mpy_build_config_count() ? mpy_build_config_table[i].name : NULL;
}

const char *mpy_build_config_value(size_t i)
{
    return i < mpy_build_config_count() ? mpy_build_config_table[i].value : NULL;
}
