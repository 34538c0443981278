/* The in-process OpenSSL peer's glue (osim.c): virtual clock, deterministic
 * RAND_METHOD, a BIO over datagram queues, accessors for OpenSSL's macros. */
#ifndef MBEDTLS_PY_OSIM_H
#define MBEDTLS_PY_OSIM_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

typedef struct osim_link osim_link;

void osim_set_clock_ms(int64_t unix_ms);
int64_t osim_clock_ms(void);
int osim_rand_seed(const unsigned char *key, size_t len);
uint64_t osim_rand_drawn(void);

osim_link *osim_link_new(size_t max_queue);
void osim_link_free(osim_link *l);
int osim_link_push(osim_link *l, const unsigned char *data, size_t len);
int osim_link_peek_out(const osim_link *l, const unsigned char **data);
int osim_link_pop_out(osim_link *l);
size_t osim_link_pending_in(const osim_link *l);
void osim_link_clear(osim_link *l);
uint64_t osim_link_datagrams_in(const osim_link *l);
uint64_t osim_link_reads(const osim_link *l);
BIO *osim_link_bio(osim_link *l);

long osim_get_timeout_ms(SSL *s);
int osim_handle_timeout(SSL *s);
int osim_set_link_mtu(SSL *s, long mtu);
void osim_set_cookie_cbs(SSL_CTX *ctx);
void osim_set_verify(SSL_CTX *ctx, int mode);
unsigned long osim_version_num(void);

#endif
