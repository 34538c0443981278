"""mbedtls/ssl_cookie.h: HelloVerifyRequest cookies."""

INCLUDES = """
#include "mbedtls/ssl_cookie.h"
"""

TYPES = """
typedef struct { ...; } mbedtls_ssl_cookie_ctx;
#define MBEDTLS_SSL_COOKIE_TIMEOUT ...
"""

FUNCTIONS = """
void mbedtls_ssl_cookie_init(mbedtls_ssl_cookie_ctx *ctx);
int mbedtls_ssl_cookie_setup(mbedtls_ssl_cookie_ctx *ctx, mbedtls_f_rng_t *f_rng, void *p_rng);
void mbedtls_ssl_cookie_set_timeout(mbedtls_ssl_cookie_ctx *ctx, unsigned long delay);
void mbedtls_ssl_cookie_free(mbedtls_ssl_cookie_ctx *ctx);
"""
