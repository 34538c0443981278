/*
 * Datagram queues: FIFO lists of whole datagrams, bounded in count and size.
 * Pure C (no TLS library): the Mbed TLS glue (glue.c) and the in-process
 * OpenSSL peer (openssl_sim.c) both put their BIOs on these.
 */
#include <stdlib.h>
#include <string.h>

#include "dgram_queue.h"

/* ---- queues ------------------------------------------------------------ */

static void queue_append(mpy_queue *q, mpy_datagram *d)
{
    if (q->tail != NULL) {
        q->tail->next = d;
    } else {
        q->head = d;
    }
    q->tail = d;
    q->count++;
    q->bytes += d->len;
}

int mpy_queue_push(mpy_queue *q, const unsigned char *data, size_t len)
{
    if (len == 0 || len > q->max_datagram) {
        return MPY_DATAGRAM_SIZE;
    }
    if (q->count >= q->max_count) {
        return MPY_QUEUE_FULL;
    }
    mpy_datagram *d = malloc(sizeof(*d) + len);
    if (d == NULL) {
        return MPY_NO_MEMORY;
    }
    d->next = NULL;
    d->len = len;
    memcpy(d->data, data, len);
    queue_append(q, d);
    return 0;
}

mpy_datagram *mpy_queue_take(mpy_queue *q)
{
    mpy_datagram *d = q->head;
    if (d != NULL) {
        q->head = d->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->count--;
        q->bytes -= d->len;
        d->next = NULL;
    }
    return d;
}

int mpy_queue_peek(const mpy_queue *q, const unsigned char **data)
{
    if (q->head == NULL) {
        *data = NULL;
        return MPY_QUEUE_EMPTY;
    }
    *data = q->head->data;
    return (int) q->head->len;
}

int mpy_queue_pop(mpy_queue *q)
{
    mpy_datagram *d = mpy_queue_take(q);
    if (d == NULL) {
        return MPY_QUEUE_EMPTY;
    }
    int len = (int) d->len;
    free(d);
    return len;
}

/* Hands the head of one queue to another without copying it. */
int mpy_queue_move(mpy_queue *from, mpy_queue *to)
{
    if (from->head == NULL) {
        return MPY_QUEUE_EMPTY;
    }
    if (to->count >= to->max_count) {
        return MPY_QUEUE_FULL;
    }
    if (from->head->len > to->max_datagram) {
        return MPY_DATAGRAM_SIZE;
    }
    mpy_datagram *d = mpy_queue_take(from);
    queue_append(to, d);
    return (int) d->len;
}

void mpy_queue_clear(mpy_queue *q)
{
    mpy_datagram *d;
    while ((d = mpy_queue_take(q)) != NULL) {
        free(d);
    }
}
