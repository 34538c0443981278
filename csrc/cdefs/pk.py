"""mbedtls/pk.h: private keys."""

INCLUDES = """
#include "mbedtls/pk.h"
"""

TYPES = """
typedef struct { ...; } mbedtls_pk_context;
typedef int mbedtls_f_rng_t(void *p_rng, unsigned char *output, size_t output_size);
typedef enum { MBEDTLS_PK_NONE, MBEDTLS_PK_RSA, MBEDTLS_PK_ECKEY, MBEDTLS_PK_ECKEY_DH,
               MBEDTLS_PK_ECDSA, ... } mbedtls_pk_type_t;
"""

FUNCTIONS = """
void mbedtls_pk_init(mbedtls_pk_context *ctx);
void mbedtls_pk_free(mbedtls_pk_context *ctx);
int mbedtls_pk_parse_key(mbedtls_pk_context *ctx,
                         const unsigned char *key, size_t keylen,
                         const unsigned char *pwd, size_t pwdlen,
                         mbedtls_f_rng_t *f_rng, void *p_rng);
mbedtls_pk_type_t mbedtls_pk_get_type(const mbedtls_pk_context *ctx);
const char *mbedtls_pk_get_name(const mbedtls_pk_context *ctx);
size_t mbedtls_pk_get_bitlen(const mbedtls_pk_context *ctx);
int mbedtls_pk_check_pair(const mbedtls_pk_context *pub, const mbedtls_pk_context *prv,
                          mbedtls_f_rng_t *f_rng, void *p_rng);
"""
