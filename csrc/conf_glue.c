/*
 * mbedtls-py C glue for configuration features that take C callbacks or
 * objects Mbed TLS reads during handshakes (used by the ssl-opt runner and
 * the bindings' Config):
 *  - session cache and session tickets wired to Mbed TLS's own
 *    implementations (mbedtls_ssl_cache_*, mbedtls_ssl_ticket_*);
 *  - the certificate profile and signature algorithms that upstream's test
 *    programs use when SHA-1 is allowed (kept in the config, see glue.h);
 *  - Mbed TLS's own default cookie callbacks;
 *  - SNI as ssl_server2 does it.
 */
#define MBEDTLS_ALLOW_PRIVATE_ACCESS
#include <string.h>

#include "glue.h"
#include "conf_glue.h"
#include "compat.h"

/* ---- owned objects (see glue.h: mpy_ref_new, mpy_conf_hold) ---------- */

static void cache_dtor(void *payload)
{
    mbedtls_ssl_cache_free(payload);
}

mbedtls_ssl_cache_context *mpy_cache_new(void)
{
    mbedtls_ssl_cache_context *cache = mpy_ref_new(sizeof(*cache), cache_dtor);
    if (cache != NULL) {
        mbedtls_ssl_cache_init(cache);
    }
    return cache;
}

/* A ticket context and the RNG it draws its keys from (it rotates them). */
typedef struct {
    mbedtls_ssl_ticket_context ticket;      /* first: the payload is a ticket context */
    mpy_rng *rng;
} mpy_ticket;

static void ticket_dtor(void *payload)
{
    mpy_ticket *t = payload;
    mbedtls_ssl_ticket_free(&t->ticket);
    mpy_ref_release(t->rng);
}

mbedtls_ssl_ticket_context *mpy_ticket_new(void)
{
    mpy_ticket *t = mpy_ref_new(sizeof(*t), ticket_dtor);
    if (t != NULL) {
        mbedtls_ssl_ticket_init(&t->ticket);
    }
    return t != NULL ? &t->ticket : NULL;
}

static void crl_dtor(void *payload)
{
    mbedtls_x509_crl_free(payload);
}

mbedtls_x509_crl *mpy_crl_new(void)
{
    mbedtls_x509_crl *crl = mpy_ref_new(sizeof(*crl), crl_dtor);
    if (crl != NULL) {
        mbedtls_x509_crl_init(crl);
    }
    return crl;
}

static void sni_entry_dtor(void *payload)
{
    mpy_sni_entry *e = payload;
    mpy_ref_release(e->cert);
    mpy_ref_release(e->key);
    mpy_ref_release(e->ca);
    mpy_ref_release(e->crl);
    mpy_ref_release(e->next);
}

mpy_sni_entry *mpy_sni_entry_new(const char *name, mbedtls_x509_crt *cert,
                                 mbedtls_pk_context *key, mbedtls_x509_crt *ca,
                                 mbedtls_x509_crl *crl, int authmode, mpy_sni_entry *next)
{
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(((mpy_sni_entry *) NULL)->name)) {
        return NULL;
    }
    mpy_sni_entry *e = mpy_ref_new(sizeof(*e), sni_entry_dtor);
    if (e == NULL) {
        return NULL;
    }
    memcpy(e->name, name, n + 1);
    e->cert = mpy_ref_retain(cert);
    e->key = mpy_ref_retain(key);
    e->ca = mpy_ref_retain(ca);
    e->crl = mpy_ref_retain(crl);
    e->authmode = authmode;
    e->next = mpy_ref_retain(next);
    return e;
}

/* ---- wiring ------------------------------------------------------------ */

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
    mpy_ticket *t = (mpy_ticket *) ticket;  /* from mpy_ticket_new */
    mpy_ref_release(t->rng);
    t->rng = mpy_ref_retain(rng);
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

/* Allow SHA-1 in certificates and signatures, as ssl_client2/ssl_server2 do
 * with allow_sha1=1 (every ssl-opt.sh run passes it). */
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

void mpy_conf_allow_sha1(mpy_conf *c)
{
    /* In the config itself: handshakes on other threads read it. */
    c->cert_profile = mbedtls_x509_crt_profile_default;
    c->cert_profile.allowed_mds |= MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA1);
    mbedtls_ssl_conf_cert_profile(&c->conf, &c->cert_profile);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    mbedtls_ssl_conf_sig_algs(&c->conf, sha1_sig_algs);     /* const: shared safely */
#else
    mpy_compat_sig_hashes(c->sig_hashes, sizeof(c->sig_hashes) / sizeof(c->sig_hashes[0]),
                          sha1_sig_algs);
    mbedtls_ssl_conf_sig_hashes(&c->conf, c->sig_hashes);
#endif
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

/* SNI as ssl_server2 does it: the SNI callback refuses a name it has no
 * entry for; the certificate callback, later in the same ClientHello, finds
 * the entry for the handshake's name again and sets the handshake's
 * certificate, CA chain and authmode from it.  The handshake keeps pointers
 * to those until it ends, so the connection (every context of the bindings
 * is a mpy_conn, ssl first) retains the entry it picked, which retains
 * them, until its next pick or its free: the config may let go of replaced
 * entries at once. */
static const mpy_sni_entry *sni_find(const mpy_sni_entry *cur, const unsigned char *name,
                                     size_t name_len)
{
    for (; cur != NULL; cur = cur->next) {
        if (name_len == strlen(cur->name) && memcmp(name, cur->name, name_len) == 0) {
            return cur;
        }
    }
    return NULL;
}

static int mpy_sni_cb(void *p_info, mbedtls_ssl_context *ssl,
                      const unsigned char *name, size_t name_len)
{
    return sni_find(p_info, name, name_len) != NULL ? 0 : -1;
}

static int mpy_cert_cb(mbedtls_ssl_context *ssl)
{
    size_t name_len;
    const unsigned char *name = mbedtls_ssl_get_hs_sni(ssl, &name_len);
    if (name == NULL) {
        return 0;   /* no SNI: the config's certificate */
    }
    const mpy_sni_entry *cur = sni_find(ssl->conf->p_sni, name, name_len);
    if (cur == NULL) {
        return 0;
    }
    mpy_conn *c = (mpy_conn *) ssl;
    if (c->sni_entry != cur) {
        mpy_ref_retain((void *) cur);
        mpy_ref_release(c->sni_entry);
        c->sni_entry = (void *) cur;
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
