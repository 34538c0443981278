/*
 * mbedtls-py's adjustments to TF-PSA-Crypto's default configuration (Mbed TLS
 * 4.x only), used as TF_PSA_CRYPTO_USER_CONFIG_FILE after the upstream
 * psa/crypto_config.h: only the differences are written here.
 */

/* Every random byte the library draws (handshake randoms, ECDHE keys, the
 * cookie and ticket keys, blinding) comes from the PSA RNG; an external RNG
 * is the one way to own it: the glue's mbedtls_psa_external_get_random()
 * reads the harness's seeded stream. */
#define MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG
#undef MBEDTLS_PSA_BUILTIN_GET_ENTROPY
#undef MBEDTLS_ENTROPY_NV_SEED

/* cffi releases the GIL around every call into the library. */
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD

/* The harness owns the wall-clock time the library reads. */
#define MBEDTLS_PLATFORM_TIME_ALT
