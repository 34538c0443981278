/*
 * mbedtls-py's adjustments to Mbed TLS's default configuration.
 *
 * Used as MBEDTLS_USER_CONFIG_FILE, so it is read after the upstream default
 * include/mbedtls/mbedtls_config.h: only the differences are written here.
 * The same header builds the extension, the native benchmark driver and the
 * upstream sample programs, so all of them run the same library.
 */

#if !defined(MBEDTLS_VERSION_MAJOR) || MBEDTLS_VERSION_MAJOR < 4
/* 2.x, 3.x.  (4.x: crypto options, threading, the time hook and the RNG
 * included, live in TF-PSA-Crypto's configuration, mbedtls_py_crypto_config.h;
 * TLS 1.3 stays as upstream ships it, on: DTLS is 1.2 either way, and every
 * random byte of a 4.x build comes from the PSA RNG, which the harness owns.) */

/* DTLS 1.2 only: Mbed TLS 3.6 has no DTLS 1.3, and with TLS 1.3 off the
 * TLS 1.2 key exchange draws all its randomness from mbedtls_ssl_conf_rng(),
 * which is what makes a seeded run byte-for-byte reproducible. */
#undef MBEDTLS_SSL_PROTO_TLS1_3
#undef MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#undef MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED
#undef MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#undef MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED
#undef MBEDTLS_SSL_EARLY_DATA
#undef MBEDTLS_USE_PSA_CRYPTO

/* cffi releases the GIL around every call into the library. */
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD

/* The harness owns the wall-clock time Mbed TLS reads (Hello randoms'
 * gmt_unix_time, cookie timestamps, certificate validity). */
#define MBEDTLS_PLATFORM_TIME_ALT

#define MBEDTLS_ECDSA_DETERMINISTIC
#endif /* < 4.x */

/* Everything the DTLS tests exercise, stated explicitly even where it is
 * already the upstream default. */
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_SSL_DTLS_HELLO_VERIFY
#define MBEDTLS_SSL_COOKIE_C
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_SSL_DTLS_CONNECTION_ID
#define MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_DEBUG_C
#define MBEDTLS_ERROR_C
#define MBEDTLS_VERSION_C
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
