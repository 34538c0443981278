/* See sslopt_glue.c. */
#ifndef MBEDTLS_PY_SSLOPT_GLUE_H
#define MBEDTLS_PY_SSLOPT_GLUE_H

#include "glue.h"
#include "mbedtls/ssl_cache.h"
#include "mbedtls/ssl_ticket.h"
#include "mbedtls/x509_crt.h"

void mpy_conf_session_cache(mbedtls_ssl_config *conf, mbedtls_ssl_cache_context *cache);
int mpy_ticket_setup(mbedtls_ssl_ticket_context *ticket, mpy_rng *rng, uint32_t lifetime_s);
void mpy_conf_session_tickets_cb(mbedtls_ssl_config *conf, mbedtls_ssl_ticket_context *ticket);
int mpy_conn_reinit(mpy_conn *c, const mbedtls_ssl_config *conf);
void mpy_conf_allow_sha1(mbedtls_ssl_config *conf);
void mpy_set_ms_time(int64_t ms);
size_t mpy_build_config_count(void);
const char *mpy_build_config_name(size_t i);
const char *mpy_build_config_value(size_t i);

#endif
