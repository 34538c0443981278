"""The options of mbedtls/ssl.h beyond a plain DTLS connection (sessions,
renegotiation, serialization, extensions), mbedtls/ssl_cache.h,
mbedtls/ssl_ticket.h and csrc/conf_glue.h: the rest of the DTLS surface
(what upstream's ssl_client2/ssl_server2 set)."""

INCLUDES = """
#include "mbedtls/ssl_cache.h"
#include "mbedtls/ssl_ticket.h"
#include "conf_glue.h"
"""

TYPES = """
#define MBEDTLS_SSL_RENEGOTIATION_ENABLED ...
#define MBEDTLS_SSL_RENEGOTIATION_DISABLED ...
#define MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION ...
#define MBEDTLS_SSL_LEGACY_ALLOW_RENEGOTIATION ...
#define MBEDTLS_SSL_LEGACY_BREAK_HANDSHAKE ...
#define MBEDTLS_SSL_RENEGO_MAX_RECORDS_DEFAULT ...
#define MBEDTLS_SSL_MAX_FRAG_LEN_NONE ...
#define MBEDTLS_SSL_MAX_FRAG_LEN_512 ...
#define MBEDTLS_SSL_MAX_FRAG_LEN_1024 ...
#define MBEDTLS_SSL_MAX_FRAG_LEN_2048 ...
#define MBEDTLS_SSL_MAX_FRAG_LEN_4096 ...
#define MBEDTLS_SSL_ETM_DISABLED ...
#define MBEDTLS_SSL_ETM_ENABLED ...
#define MBEDTLS_SSL_EXTENDED_MS_DISABLED ...
#define MBEDTLS_SSL_EXTENDED_MS_ENABLED ...
#define MBEDTLS_SSL_SESSION_TICKETS_DISABLED ...
#define MBEDTLS_SSL_SESSION_TICKETS_ENABLED ...

typedef struct mbedtls_ssl_session { ...; } mbedtls_ssl_session;
typedef struct mpy_sni_entry {
    struct mpy_sni_entry *next;
    char name[256];
    mbedtls_x509_crt *cert;
    mbedtls_pk_context *key;
    mbedtls_x509_crt *ca;
    mbedtls_x509_crl *crl;
    int authmode;
} mpy_sni_entry;
typedef struct mbedtls_ssl_cache_context { ...; } mbedtls_ssl_cache_context;
typedef struct mbedtls_ssl_ticket_context { ...; } mbedtls_ssl_ticket_context;
"""

FUNCTIONS = """
void mbedtls_ssl_conf_renegotiation(mbedtls_ssl_config *conf, int renegotiation);
void mbedtls_ssl_conf_legacy_renegotiation(mbedtls_ssl_config *conf, int allow_legacy);
void mbedtls_ssl_conf_renegotiation_enforced(mbedtls_ssl_config *conf, int max_records);
void mbedtls_ssl_conf_renegotiation_period(mbedtls_ssl_config *conf,
                                           const unsigned char period[8]);
int mbedtls_ssl_renegotiate(mbedtls_ssl_context *ssl);
int mbedtls_ssl_conf_max_frag_len(mbedtls_ssl_config *conf, unsigned char mfl_code);
void mbedtls_ssl_conf_encrypt_then_mac(mbedtls_ssl_config *conf, char etm);
void mbedtls_ssl_conf_extended_master_secret(mbedtls_ssl_config *conf, char ems);
void mbedtls_ssl_conf_session_tickets(mbedtls_ssl_config *conf, int use_tickets);
void mbedtls_ssl_conf_cert_req_ca_list(mbedtls_ssl_config *conf, char cert_req_ca_list);
int mbedtls_ssl_get_own_cid(mbedtls_ssl_context *ssl, int *enabled,
                            unsigned char *own_cid, size_t *own_cid_len);

void mbedtls_ssl_session_init(mbedtls_ssl_session *session);
void mbedtls_ssl_session_free(mbedtls_ssl_session *session);
int mbedtls_ssl_get_session(const mbedtls_ssl_context *ssl, mbedtls_ssl_session *session);
int mbedtls_ssl_set_session(mbedtls_ssl_context *ssl, const mbedtls_ssl_session *session);
int mbedtls_ssl_session_save(const mbedtls_ssl_session *session, unsigned char *buf,
                             size_t buf_len, size_t *olen);
int mbedtls_ssl_session_load(mbedtls_ssl_session *session, const unsigned char *buf,
                             size_t len);
int mbedtls_ssl_context_save(mbedtls_ssl_context *ssl, unsigned char *buf, size_t buf_len,
                             size_t *olen);
int mbedtls_ssl_context_load(mbedtls_ssl_context *ssl, const unsigned char *buf, size_t len);

void mbedtls_ssl_cache_init(mbedtls_ssl_cache_context *cache);
void mbedtls_ssl_cache_free(mbedtls_ssl_cache_context *cache);
void mbedtls_ssl_cache_set_max_entries(mbedtls_ssl_cache_context *cache, int max);
void mbedtls_ssl_cache_set_timeout(mbedtls_ssl_cache_context *cache, int32_t timeout);

void mbedtls_ssl_ticket_init(mbedtls_ssl_ticket_context *ctx);
void mbedtls_ssl_ticket_free(mbedtls_ssl_ticket_context *ctx);

void mbedtls_x509_crl_init(mbedtls_x509_crl *crl);
void mbedtls_x509_crl_free(mbedtls_x509_crl *crl);
int mbedtls_x509_crl_parse(mbedtls_x509_crl *chain, const unsigned char *buf, size_t buflen);

void mpy_conf_cookies_library_default(mbedtls_ssl_config *conf);
mbedtls_ssl_cache_context *mpy_cache_new(void);
mbedtls_ssl_ticket_context *mpy_ticket_new(void);
mbedtls_x509_crl *mpy_crl_new(void);
mpy_sni_entry *mpy_sni_entry_new(const char *name, mbedtls_x509_crt *cert,
                                 mbedtls_pk_context *key, mbedtls_x509_crt *ca,
                                 mbedtls_x509_crl *crl, int authmode, mpy_sni_entry *next);
void mpy_conf_sni(mbedtls_ssl_config *conf, mpy_sni_entry *entries);
void mpy_conf_session_cache(mbedtls_ssl_config *conf, mbedtls_ssl_cache_context *cache);
int mpy_ticket_setup(mbedtls_ssl_ticket_context *ticket, mpy_rng *rng, uint32_t lifetime_s);
void mpy_conf_session_tickets_cb(mbedtls_ssl_config *conf, mbedtls_ssl_ticket_context *ticket);
int mpy_conn_reinit(mpy_conn *c, const mbedtls_ssl_config *conf);
void mpy_conf_allow_sha1(mpy_conf *c);
void mpy_set_ms_time(int64_t ms);
size_t mpy_build_config_count(void);
const char *mpy_build_config_name(size_t i);
const char *mpy_build_config_value(size_t i);
"""
