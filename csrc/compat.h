/*
 * mbedtls-py's version compatibility layer (the pyca "customizations" way).
 *
 * The declarations in csrc/cdefs are written against Mbed TLS 3.6.  Where an
 * older library spells a call differently, this header provides the 3.6
 * spelling on top of the old one, so nothing else forks; where it lacks a
 * feature, an MPY_HAS_* flag is 0 and the Python layer raises
 * NotAvailableError ("not available in this variant").  Included by the
 * glue and by the extension's preamble (csrc/cdefs/compat.py), after the
 * Mbed TLS headers.  See docs/variants.md for what each flag covers and for
 * what Mbed TLS 4.x would add here.
 */
#ifndef MPY_COMPAT_H
#define MPY_COMPAT_H

#include "mbedtls/version.h"
#include "mbedtls/ssl.h"
#include "mbedtls/pk.h"
#include "mbedtls/sha256.h"

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
/* Per-context key export (mbedtls_ssl_set_export_keys_cb, 3.0+). */
#define MPY_HAS_KEY_EXPORT 1
/* mbedtls_ssl_get_max_in_record_payload (3.0+). */
#define MPY_HAS_MAX_IN_RECORD_PAYLOAD 1
#else
#define MPY_HAS_KEY_EXPORT 0
#define MPY_HAS_MAX_IN_RECORD_PAYLOAD 0
#endif

#if MBEDTLS_VERSION_NUMBER < 0x03000000
/* 2.x: the int-returning SHA-256 is mbedtls_sha256_ret (mbedtls_sha256 is void). */
#define mbedtls_sha256 mbedtls_sha256_ret

/* 2.x: key export is per configuration only (mbedtls_ssl_conf_export_keys_ext_cb,
 * without the context); the glue's per-context callback is never called. */
typedef int mbedtls_ssl_key_export_type;
#define MBEDTLS_SSL_KEY_EXPORT_TLS12_MASTER_SECRET 0
#define mbedtls_ssl_set_export_keys_cb(ssl, cb, ctx) ((void) (ssl), (void) (cb), (void) (ctx))

static inline int mpy_compat_max_in_unavailable(const mbedtls_ssl_context *ssl)
{
    (void) ssl;
    return MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE;
}
#define mbedtls_ssl_get_max_in_record_payload mpy_compat_max_in_unavailable

/* 3.0 added the RNG arguments (used for blinding); 2.x parses without them. */
static inline int mpy_compat_pk_parse_key(mbedtls_pk_context *ctx,
                                          const unsigned char *key, size_t keylen,
                                          const unsigned char *pwd, size_t pwdlen,
                                          int (*f_rng)(void *, unsigned char *, size_t),
                                          void *p_rng)
{
    (void) f_rng;
    (void) p_rng;
    return mbedtls_pk_parse_key(ctx, key, keylen, pwd, pwdlen);
}
#define mbedtls_pk_parse_key mpy_compat_pk_parse_key
#endif /* < 3.0 */

#if MBEDTLS_VERSION_NUMBER < 0x03020000
/* 3.2 introduced mbedtls_ssl_protocol_version and the calls below; the
 * values are the wire versions, as in 3.2+. */
typedef enum {
    MBEDTLS_SSL_VERSION_UNKNOWN,
    MBEDTLS_SSL_VERSION_TLS1_2 = 0x0303,
    MBEDTLS_SSL_VERSION_TLS1_3 = 0x0304,
} mbedtls_ssl_protocol_version;

static inline void mbedtls_ssl_conf_min_tls_version(mbedtls_ssl_config *conf,
                                                    mbedtls_ssl_protocol_version v)
{
    mbedtls_ssl_conf_min_version(conf, (int) (v >> 8), (int) (v & 0xFF));
}

static inline void mbedtls_ssl_conf_max_tls_version(mbedtls_ssl_config *conf,
                                                    mbedtls_ssl_protocol_version v)
{
    mbedtls_ssl_conf_max_version(conf, (int) (v >> 8), (int) (v & 0xFF));
}

static inline int mbedtls_ssl_is_handshake_over(mbedtls_ssl_context *ssl)
{
    return ssl->state == MBEDTLS_SSL_HANDSHAKE_OVER;
}

static inline mbedtls_ssl_protocol_version
mbedtls_ssl_get_version_number(const mbedtls_ssl_context *ssl)
{
    /* The negotiated version as the DTLS 1.2 context stores it (3.3 on the wire). */
    return (mbedtls_ssl_protocol_version) ((ssl->major_ver << 8) | ssl->minor_ver);
}

static inline int mbedtls_ssl_get_ciphersuite_id_from_ssl(const mbedtls_ssl_context *ssl)
{
    const char *name = mbedtls_ssl_get_ciphersuite(ssl);
    return name == NULL ? 0 : mbedtls_ssl_get_ciphersuite_id(name);
}
#endif /* < 3.2 */

#endif /* MPY_COMPAT_H */
