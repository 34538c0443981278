"""mbedtls/x509_crt.h: certificate chains."""

INCLUDES = """
#include "mbedtls/x509_crt.h"
"""

TYPES = """
typedef struct {
    int tag;
    size_t len;
    unsigned char *p;
} mbedtls_x509_buf;

typedef struct mbedtls_x509_crt {
    mbedtls_x509_buf raw;
    struct mbedtls_x509_crt *next;
    mbedtls_pk_context pk;
    ...;
} mbedtls_x509_crt;

typedef struct { ...; } mbedtls_x509_crl;

#define MBEDTLS_X509_BADCERT_EXPIRED ...
#define MBEDTLS_X509_BADCERT_REVOKED ...
#define MBEDTLS_X509_BADCERT_CN_MISMATCH ...
#define MBEDTLS_X509_BADCERT_NOT_TRUSTED ...
#define MBEDTLS_X509_BADCERT_MISSING ...
#define MBEDTLS_X509_BADCERT_SKIP_VERIFY ...
#define MBEDTLS_X509_BADCERT_OTHER ...
#define MBEDTLS_X509_BADCERT_FUTURE ...
#define MBEDTLS_X509_BADCERT_KEY_USAGE ...
#define MBEDTLS_X509_BADCERT_EXT_KEY_USAGE ...
#define MBEDTLS_X509_BADCERT_BAD_MD ...
#define MBEDTLS_X509_BADCERT_BAD_PK ...
#define MBEDTLS_X509_BADCERT_BAD_KEY ...
"""

FUNCTIONS = """
void mbedtls_x509_crt_init(mbedtls_x509_crt *crt);
void mbedtls_x509_crt_free(mbedtls_x509_crt *crt);
int mbedtls_x509_crt_parse(mbedtls_x509_crt *chain, const unsigned char *buf, size_t buflen);
int mbedtls_x509_crt_parse_der(mbedtls_x509_crt *chain, const unsigned char *buf, size_t buflen);
int mbedtls_x509_crt_info(char *buf, size_t size, const char *prefix,
                          const mbedtls_x509_crt *crt);
int mbedtls_x509_crt_verify_info(char *buf, size_t size, const char *prefix,
                                 uint32_t flags);
"""
