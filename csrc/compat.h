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
#include "mbedtls/md.h"
#include "mbedtls/platform_time.h"
#include <string.h>
#if MBEDTLS_VERSION_NUMBER >= 0x04000000
/* 4.x: the legacy crypto modules are TF-PSA-Crypto's private interface. */
#include "mbedtls/private/sha256.h"
#include "mbedtls/private/cipher.h"
#else
#include "mbedtls/sha256.h"
#include "mbedtls/cipher.h"
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
/* Per-context key export (mbedtls_ssl_set_export_keys_cb, 3.0+). */
#define MPY_HAS_KEY_EXPORT 1
/* mbedtls_ssl_get_max_in_record_payload (3.0+). */
#define MPY_HAS_MAX_IN_RECORD_PAYLOAD 1
/* mbedtls_ssl_get_own_cid (3.0+). */
#define MPY_HAS_GET_OWN_CID 1
/* mbedtls_ms_time (3.5+ in practice; the glue wraps it) is checked below. */
#else
#define MPY_HAS_KEY_EXPORT 0
#define MPY_HAS_MAX_IN_RECORD_PAYLOAD 0
#define MPY_HAS_GET_OWN_CID 0
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03020000
/* The glue's SNI (csrc/conf_glue.c) is built on the 3.x certificate
 * callback and mbedtls_ssl_get_hs_sni. */
#define MPY_HAS_SNI 1
#else
#define MPY_HAS_SNI 0
#endif

#if MBEDTLS_VERSION_NUMBER >= 0x03050000
/* mbedtls_ms_time (3.5): TLS 1.2 tickets time themselves with it. */
#define MPY_HAS_MS_TIME 1
#else
#define MPY_HAS_MS_TIME 0
#endif

#if MBEDTLS_VERSION_NUMBER < 0x03000000 || MBEDTLS_VERSION_NUMBER >= 0x04000000
/* 3.x parses keys with RNG arguments (for blinding); 2.x and 4.x without. */
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

/* The same for the pair check (3.0 added the RNG, for RSA blinding). */
static inline int mpy_compat_pk_check_pair(const mbedtls_pk_context *pub,
                                           const mbedtls_pk_context *prv,
                                           int (*f_rng)(void *, unsigned char *, size_t),
                                           void *p_rng)
{
    (void) f_rng;
    (void) p_rng;
    return mbedtls_pk_check_pair(pub, prv);
}
#define mbedtls_pk_check_pair mpy_compat_pk_check_pair

/* 2.x: the certificate callback and the handshake's SNI do not exist; with
 * MPY_HAS_SNI 0 the Python layer never installs the glue's SNI callbacks,
 * these only let the glue compile. */
#define mbedtls_ssl_conf_cert_cb(conf, cb) ((void) (conf), (void) (cb))
#define mbedtls_ssl_get_hs_sni(ssl, len) ((void) (ssl), *(len) = 0, (const unsigned char *) NULL)
#define MBEDTLS_ERR_SSL_DECODE_ERROR MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO

static inline int mpy_compat_get_own_cid(mbedtls_ssl_context *ssl, int *enabled,
                                         unsigned char *own_cid, size_t *own_cid_len)
{
    (void) ssl;
    (void) own_cid;
    *enabled = 0;
    *own_cid_len = 0;
    return MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE;
}
#define mbedtls_ssl_get_own_cid mpy_compat_get_own_cid

/* 3.0 accessors for fields 2.x exposes directly. */
static inline unsigned int mbedtls_cipher_info_get_block_size(const mbedtls_cipher_info_t *info)
{
    return info == NULL ? 0 : info->block_size;
}

static inline mbedtls_cipher_mode_t mbedtls_cipher_info_get_mode(const mbedtls_cipher_info_t *info)
{
    return info == NULL ? MBEDTLS_MODE_NONE : info->mode;
}

/* 3.0 replaced the hash list (mbedtls_ssl_conf_sig_hashes, MD types) by the
 * TLS 1.2 SignatureAndHashAlgorithm list ((hash << 8) | sig, 0-terminated).
 * The hashes a 3.x list names become 2.x's list, in order, in the caller's
 * buffer of n ints (the glue keeps it in the config it is set on). */
#define MBEDTLS_TLS1_3_SIG_NONE 0
static inline void mpy_compat_sig_hashes(int *hashes, size_t cap, const uint16_t *algs)
{
    size_t n = 0;
    for (; *algs != 0 && n + 1 < cap; algs++) {
        int md;
        switch (*algs >> 8) {
            case MBEDTLS_SSL_HASH_SHA1: md = MBEDTLS_MD_SHA1; break;
            case MBEDTLS_SSL_HASH_SHA224: md = MBEDTLS_MD_SHA224; break;
            case MBEDTLS_SSL_HASH_SHA256: md = MBEDTLS_MD_SHA256; break;
            case MBEDTLS_SSL_HASH_SHA384: md = MBEDTLS_MD_SHA384; break;
            case MBEDTLS_SSL_HASH_SHA512: md = MBEDTLS_MD_SHA512; break;
            default: continue;
        }
        if (n == 0 || hashes[n - 1] != md) {   /* ECDSA and RSA pairs share a hash */
            hashes[n++] = md;
        }
    }
    hashes[n] = MBEDTLS_MD_NONE;
}
#endif /* < 3.0 */

#if MBEDTLS_VERSION_NUMBER < 0x03050000
/* 3.5 added MBEDTLS_MD_CAN_<hash> (the hash is usable, by any driver). */
#if defined(MBEDTLS_SHA512_C)
#define MBEDTLS_MD_CAN_SHA512
#define MBEDTLS_MD_CAN_SHA384
#endif
#if defined(MBEDTLS_SHA256_C)
#define MBEDTLS_MD_CAN_SHA256
#define MBEDTLS_MD_CAN_SHA224
#endif
#if defined(MBEDTLS_SHA1_C)
#define MBEDTLS_MD_CAN_SHA1
#endif
#endif /* < 3.5 */

#if !MPY_HAS_MS_TIME
/* No mbedtls_ms_time: 2.x tickets read mbedtls_time() (seconds), which the
 * glue already sets.  The wrapper keeps its harness value and is never
 * called by the library; its fallback is the seconds clock. */
typedef int64_t mbedtls_ms_time_t;
static inline mbedtls_ms_time_t mpy_compat_ms_time(void)
{
    return (mbedtls_ms_time_t) mbedtls_time(NULL) * 1000;
}
#define __real_mbedtls_ms_time mpy_compat_ms_time
#endif

/* The suite lists a DTLS handshake may pick from: one in 3.x; in 2.x one per
 * minor version (mbedtls_ssl_conf_ciphersuites sets all four to the same). */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define MPY_CONF_SUITE_LISTS 1
#define mpy_conf_suite_list(conf, i) ((void) (i), (conf)->MBEDTLS_PRIVATE(ciphersuite_list))
#else
#define MPY_CONF_SUITE_LISTS 4
#define mpy_conf_suite_list(conf, i) ((conf)->ciphersuite_list[i])
#endif

/* 3.x names the CID padding after TLS 1.3; 2.x's DTLS CID pads the same way. */
#if !defined(MBEDTLS_SSL_CID_TLS1_3_PADDING_GRANULARITY) && defined(MBEDTLS_SSL_CID_PADDING_GRANULARITY)
#define MBEDTLS_SSL_CID_TLS1_3_PADDING_GRANULARITY MBEDTLS_SSL_CID_PADDING_GRANULARITY
#endif

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

#if MBEDTLS_VERSION_NUMBER >= 0x04000000
/* Mbed TLS 4.x (TF-PSA-Crypto 1.x).  All randomness comes from the PSA RNG;
 * the project's crypto config (mbedtls_py_crypto_config.h) makes that
 * MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG, and the glue's
 * mbedtls_psa_external_get_random() reads the calling thread's current
 * mpy_rng.  "Configuring" an RNG therefore makes it the thread's current
 * stream: same seed, same call sequence, same bytes. */
#define MPY_MBEDTLS_4 1
#include "mbedtls/private/pk_private.h"   /* mbedtls_pk_get_type/_name left the API */

/* 4.x returns the version string instead of writing it (at most 18 bytes). */
static inline void mpy_compat4_version_get_string(char *string)
{
    const char *v = (mbedtls_version_get_string)();
    size_t n = strlen(v);
    memcpy(string, v, n < 17 ? n + 1 : 18);
    string[17] = 0;
}
#define mbedtls_version_get_string mpy_compat4_version_get_string
struct mpy_rng_s;
void mpy_rng_make_current(void *rng);
void *mpy_rng_swap_current(void *rng);   /* no reference changes: put it back */
#define mbedtls_ssl_conf_rng(conf, f_rng, p_rng) \
    ((void) (conf), (void) (f_rng), mpy_rng_make_current(p_rng))

/* The RNG arguments are gone from key parsing (above) and cookie set-up; the
 * ticket key is now described as a PSA algorithm, key type and size. */
/* The pair check signs a test message, drawing from the PSA RNG: not from the
 * harness's seeded stream, whose bytes must depend only on the connection
 * (the Python layer caches pair checks, so a check happens once per pair). */
static inline int mpy_compat4_pk_check_pair(const mbedtls_pk_context *pub,
                                            const mbedtls_pk_context *prv,
                                            int (*f_rng)(void *, unsigned char *, size_t),
                                            void *p_rng)
{
    (void) f_rng;
    (void) p_rng;
    void *saved = mpy_rng_swap_current(NULL);
    int ret = mbedtls_pk_check_pair(pub, prv);
    mpy_rng_swap_current(saved);
    return ret;
}
#define mbedtls_pk_check_pair mpy_compat4_pk_check_pair

#define mbedtls_ssl_cookie_setup(ctx, f_rng, p_rng) \
    ((void) (f_rng), (void) (p_rng), (mbedtls_ssl_cookie_setup)(ctx))

/* The hash capabilities are PSA_WANT_ALG_* now (upstream's test programs
 * build their signature algorithm lists from them). */
#if defined(PSA_WANT_ALG_SHA_512) && !defined(MBEDTLS_MD_CAN_SHA512)
#define MBEDTLS_MD_CAN_SHA512
#endif
#if defined(PSA_WANT_ALG_SHA_384) && !defined(MBEDTLS_MD_CAN_SHA384)
#define MBEDTLS_MD_CAN_SHA384
#endif
#if defined(PSA_WANT_ALG_SHA_256) && !defined(MBEDTLS_MD_CAN_SHA256)
#define MBEDTLS_MD_CAN_SHA256
#endif
#if defined(PSA_WANT_ALG_SHA_224) && !defined(MBEDTLS_MD_CAN_SHA224)
#define MBEDTLS_MD_CAN_SHA224
#endif
#if defined(PSA_WANT_ALG_SHA_1) && !defined(MBEDTLS_MD_CAN_SHA1)
#define MBEDTLS_MD_CAN_SHA1
#endif

/* error.c no longer splits the text into high and low level parts. */
static inline const char *mbedtls_high_level_strerr(int error_code)
{
    (void) error_code;
    return NULL;
}
static inline const char *mbedtls_low_level_strerr(int error_code)
{
    (void) error_code;
    return NULL;
}
#else
#define MPY_MBEDTLS_4 0
#endif /* >= 4.0 */

#endif /* MPY_COMPAT_H */
