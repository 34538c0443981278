/*
 * Datagram queues (dgram_queue.c): what the Mbed TLS glue and the in-process
 * OpenSSL peer share.  No TLS library headers here.
 */
#ifndef MBEDTLS_PY_DGRAM_QUEUE_H
#define MBEDTLS_PY_DGRAM_QUEUE_H

#include <stddef.h>

/* Glue-level results (not Mbed TLS codes; Python maps them to exceptions). */
#define MPY_QUEUE_EMPTY     (-1)
#define MPY_QUEUE_FULL      (-2)
#define MPY_DATAGRAM_SIZE   (-3)
#define MPY_NO_MEMORY       (-4)

/* Largest datagram a queue accepts: the largest UDP payload. */
#define MPY_MAX_DATAGRAM    65507

typedef struct mpy_datagram {
    struct mpy_datagram *next;
    size_t len;
    unsigned char data[];
} mpy_datagram;

typedef struct {
    mpy_datagram *head;
    mpy_datagram *tail;
    size_t count;
    size_t bytes;
    size_t max_count;
    size_t max_datagram;
} mpy_queue;

int mpy_queue_push(mpy_queue *q, const unsigned char *data, size_t len);
int mpy_queue_peek(const mpy_queue *q, const unsigned char **data);
int mpy_queue_pop(mpy_queue *q);
int mpy_queue_move(mpy_queue *from, mpy_queue *to);
void mpy_queue_clear(mpy_queue *q);
/* Detaches the head datagram (NULL when empty); the caller frees it. */
mpy_datagram *mpy_queue_take(mpy_queue *q);

#endif
