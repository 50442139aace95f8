/* forward: turns the stream's bytes into EVENT messages for the broker.
 *
 * Bytes go through the SSE parser; each event of type "message" is decoded once
 * (tweet.h) and becomes one EVENT per record (two for a retweet), a PANIC EVENT,
 * or a MALFORMED EVENT carrying the reason and the first 4 KiB of the data. An
 * event the SSE parser drops for its size becomes a MALFORMED EVENT too (reason
 * only). Other event types are counted and ignored. Every EVENT carries the
 * reader's name as origin, a per-process sequence number starting at 1, and the
 * wall-clock time the event was received.
 *
 * Messages go out on a DEALER connected to the broker, never blocking: one that
 * ZeroMQ cannot take now (no broker yet, or its send queue is at --send-hwm)
 * waits in the outbox, in order, and while the outbox is not empty the forwarder
 * takes no more bytes, which pauses the HTTP transfer. So the outbox holds at most
 * the records of one chunk of the stream, and nothing is dropped.
 */
#ifndef READER_FORWARD_H
#define READER_FORWARD_H

#include "rtp_err.h"
#include "stats.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *broker;     /* ZeroMQ endpoint to connect to */
    const char *name;       /* origin of every EVENT (copied) */
    size_t max_event_bytes; /* SSE cap on one event */
    int send_hwm;           /* messages ZeroMQ queues before a send would block */
    int linger_ms;          /* how long queued messages may take to leave at exit */
} reader_forward_config_t;

typedef struct reader_forward_t reader_forward_t;

/* Creates the parser and connects the DEALER. NULL with a reason in err (bad
 * endpoint, out of memory). stats is borrowed. */
reader_forward_t *reader_forward_new(const reader_forward_config_t *config, reader_stats_t *stats,
                                     rtp_err_t *err);
/* Hands what is left in the outbox to ZeroMQ (waiting at most linger_ms), then
 * closes the socket with that linger; safe twice. */
void reader_forward_destroy(reader_forward_t **self_p);

/* Takes stream bytes: returns 1 when it parsed them all, 0 when it took none
 * because earlier messages still wait in the outbox. */
int reader_forward_feed(reader_forward_t *self, const char *buf, size_t len);
/* The connection ended: a partly received event is discarded (and counted as
 * truncated). */
void reader_forward_end(reader_forward_t *self);

/* The descriptor that signals socket activity (ZMQ_FD: edge-triggered, so call
 * reader_forward_service after every wake-up). */
int reader_forward_fd(reader_forward_t *self);
/* Reads what arrived on the socket and moves the outbox into ZeroMQ as far as it
 * can. Also emits the "N more lines suppressed" note when due. */
void reader_forward_service(reader_forward_t *self);
/* Messages waiting in the outbox. */
size_t reader_forward_pending(const reader_forward_t *self);

#endif
