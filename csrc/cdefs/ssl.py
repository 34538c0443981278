"""mbedtls/ssl.h and mbedtls/ssl_ciphersuites.h: the TLS/DTLS API."""

INCLUDES = """
#include "mbedtls/ssl.h"
#include "mbedtls/ssl_ciphersuites.h"
"""

TYPES = """
#define MBEDTLS_SSL_IS_CLIENT ...
#define MBEDTLS_SSL_IS_SERVER ...
#define MBEDTLS_SSL_TRANSPORT_STREAM ...
#define MBEDTLS_SSL_TRANSPORT_DATAGRAM ...
#define MBEDTLS_SSL_PRESET_DEFAULT ...
#define MBEDTLS_SSL_PRESET_SUITEB ...
#define MBEDTLS_SSL_VERIFY_NONE ...
#define MBEDTLS_SSL_VERIFY_OPTIONAL ...
#define MBEDTLS_SSL_VERIFY_REQUIRED ...
#define MBEDTLS_SSL_ANTI_REPLAY_DISABLED ...
#define MBEDTLS_SSL_ANTI_REPLAY_ENABLED ...
#define MBEDTLS_SSL_DTLS_TIMEOUT_DFL_MIN ...
#define MBEDTLS_SSL_DTLS_TIMEOUT_DFL_MAX ...
#define MBEDTLS_SSL_CID_IN_LEN_MAX ...
#define MBEDTLS_SSL_CID_OUT_LEN_MAX ...
#define MBEDTLS_SSL_CID_ENABLED ...
#define MBEDTLS_SSL_CID_DISABLED ...
#define MBEDTLS_SSL_UNEXPECTED_CID_IGNORE ...
#define MBEDTLS_SSL_UNEXPECTED_CID_FAIL ...
#define MBEDTLS_SSL_IN_CONTENT_LEN ...
#define MBEDTLS_SSL_OUT_CONTENT_LEN ...
#define MBEDTLS_SSL_MAX_HOST_NAME_LEN ...
#define MBEDTLS_PSK_MAX_LEN ...

typedef enum {
    MBEDTLS_SSL_VERSION_UNKNOWN,
    MBEDTLS_SSL_VERSION_TLS1_2,
    MBEDTLS_SSL_VERSION_TLS1_3,
    ...
} mbedtls_ssl_protocol_version;

typedef struct mbedtls_ssl_config { ...; } mbedtls_ssl_config;
typedef struct mbedtls_ssl_context { ...; } mbedtls_ssl_context;
"""

FUNCTIONS = """
void mbedtls_ssl_config_init(mbedtls_ssl_config *conf);
int mbedtls_ssl_config_defaults(mbedtls_ssl_config *conf, int endpoint, int transport, int preset);
void mbedtls_ssl_config_free(mbedtls_ssl_config *conf);

void mbedtls_ssl_conf_endpoint(mbedtls_ssl_config *conf, int endpoint);
void mbedtls_ssl_conf_transport(mbedtls_ssl_config *conf, int transport);
void mbedtls_ssl_conf_authmode(mbedtls_ssl_config *conf, int authmode);
void mbedtls_ssl_conf_min_tls_version(mbedtls_ssl_config *conf,
                                      mbedtls_ssl_protocol_version tls_version);
void mbedtls_ssl_conf_max_tls_version(mbedtls_ssl_config *conf,
                                      mbedtls_ssl_protocol_version tls_version);
void mbedtls_ssl_conf_ca_chain(mbedtls_ssl_config *conf, mbedtls_x509_crt *ca_chain,
                               mbedtls_x509_crl *ca_crl);
int mbedtls_ssl_conf_own_cert(mbedtls_ssl_config *conf, mbedtls_x509_crt *own_cert,
                              mbedtls_pk_context *pk_key);
int mbedtls_ssl_conf_psk(mbedtls_ssl_config *conf,
                         const unsigned char *psk, size_t psk_len,
                         const unsigned char *psk_identity, size_t psk_identity_len);
void mbedtls_ssl_conf_ciphersuites(mbedtls_ssl_config *conf, const int *ciphersuites);
void mbedtls_ssl_conf_handshake_timeout(mbedtls_ssl_config *conf, uint32_t min, uint32_t max);
void mbedtls_ssl_conf_read_timeout(mbedtls_ssl_config *conf, uint32_t timeout);
void mbedtls_ssl_conf_dtls_anti_replay(mbedtls_ssl_config *conf, char mode);
void mbedtls_ssl_conf_dtls_badmac_limit(mbedtls_ssl_config *conf, unsigned limit);
int mbedtls_ssl_conf_cid(mbedtls_ssl_config *conf, size_t len, int ignore_other_cids);

const int *mbedtls_ssl_list_ciphersuites(void);
const char *mbedtls_ssl_get_ciphersuite_name(const int ciphersuite_id);
int mbedtls_ssl_get_ciphersuite_id(const char *ciphersuite_name);

void mbedtls_ssl_init(mbedtls_ssl_context *ssl);
int mbedtls_ssl_setup(mbedtls_ssl_context *ssl, const mbedtls_ssl_config *conf);
int mbedtls_ssl_session_reset(mbedtls_ssl_context *ssl);
void mbedtls_ssl_free(mbedtls_ssl_context *ssl);

int mbedtls_ssl_handshake(mbedtls_ssl_context *ssl);
int mbedtls_ssl_handshake_step(mbedtls_ssl_context *ssl);
int mbedtls_ssl_is_handshake_over(mbedtls_ssl_context *ssl);
int mbedtls_ssl_read(mbedtls_ssl_context *ssl, unsigned char *buf, size_t len);
int mbedtls_ssl_write(mbedtls_ssl_context *ssl, const unsigned char *buf, size_t len);
int mbedtls_ssl_close_notify(mbedtls_ssl_context *ssl);
int mbedtls_ssl_send_alert_message(mbedtls_ssl_context *ssl, unsigned char level,
                                   unsigned char message);

int mbedtls_ssl_set_client_transport_id(mbedtls_ssl_context *ssl,
                                        const unsigned char *info, size_t ilen);
int mbedtls_ssl_set_hostname(mbedtls_ssl_context *ssl, const char *hostname);
void mbedtls_ssl_set_mtu(mbedtls_ssl_context *ssl, uint16_t mtu);
void mbedtls_ssl_set_datagram_packing(mbedtls_ssl_context *ssl, unsigned allow_packing);
int mbedtls_ssl_set_cid(mbedtls_ssl_context *ssl, int enable,
                        const unsigned char *own_cid, size_t own_cid_len);
int mbedtls_ssl_get_peer_cid(mbedtls_ssl_context *ssl, int *enabled,
                             unsigned char *peer_cid, size_t *peer_cid_len);

int mbedtls_ssl_check_pending(const mbedtls_ssl_context *ssl);
int mbedtls_ssl_check_record(mbedtls_ssl_context const *ssl, unsigned char *buf, size_t buflen);
size_t mbedtls_ssl_get_bytes_avail(const mbedtls_ssl_context *ssl);
uint32_t mbedtls_ssl_get_verify_result(const mbedtls_ssl_context *ssl);
int mbedtls_ssl_get_ciphersuite_id_from_ssl(const mbedtls_ssl_context *ssl);
const char *mbedtls_ssl_get_ciphersuite(const mbedtls_ssl_context *ssl);
const char *mbedtls_ssl_get_version(const mbedtls_ssl_context *ssl);
mbedtls_ssl_protocol_version mbedtls_ssl_get_version_number(const mbedtls_ssl_context *ssl);
int mbedtls_ssl_get_record_expansion(const mbedtls_ssl_context *ssl);
int mbedtls_ssl_get_max_out_record_payload(const mbedtls_ssl_context *ssl);
int mbedtls_ssl_get_max_in_record_payload(const mbedtls_ssl_context *ssl);
const mbedtls_x509_crt *mbedtls_ssl_get_peer_cert(const mbedtls_ssl_context *ssl);
"""
