/* forward: turns the stream's bytes into EVENT messages for the broker, and keeps
 * each one until it is acknowledged as persisted.
 *
 * Bytes go through the SSE parser; each event of type "message" is decoded once
 * (tweet.h) and becomes one EVENT per record (two for a retweet), a PANIC EVENT,
 * or a MALFORMED EVENT carrying the reason and the first 4 KiB of the data. An
 * event the SSE parser drops for its size becomes a MALFORMED EVENT too (reason
 * only). Other event types are counted and ignored. Every EVENT carries the
 * reader's name as origin, a seq, and the wall-clock time the event was received.
 *
 * Seq: the first record's seq is the wall-clock time in microseconds when the
 * process started, and each record's is one more than the one before. So seqs
 * are unique per origin across restarts (an acknowledgement meant for an earlier
 * process never matches a record of this one) as long as a reader makes fewer
 * than one record per microsecond on average over its life and the wall clock
 * does not step back between the two processes.
 *
 * Messages go out on a DEALER connected to the broker, never blocking: one that
 * ZeroMQ cannot take now (no broker yet, or its send queue is at --send-hwm)
 * waits in the outbox, in order. Acknowledgement (window > 0): every record sent
 * stays in the window (window.h) until an ACK with this origin names its seq;
 * one not acknowledged within ack_timeout_ms is sent again, same bytes, same
 * seq, with a per-record delay doubling up to ack_backoff_max_ms. A full window
 * lets no new record out. ACKs for seqs not in the window are counted, nothing
 * else. window = 0 turns all this off: a record is forgotten once ZeroMQ has it,
 * and ACKs are ignored like any other unexpected message.
 *
 * Push-back: the stream's bytes are parsed line by line, and parsing stops as
 * soon as a record waits in the outbox or the window is full; the rest of the
 * bytes are held (at most one read of the stream) and the forwarder takes no
 * more until they are parsed, which pauses the HTTP transfer, so TCP pushes back
 * on the server. So at most the records of one event wait, and nothing is dropped.
 */
#ifndef READER_FORWARD_H
#define READER_FORWARD_H

#include "rtp_err.h"
#include "stats.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *broker;         /* ZeroMQ endpoint to connect to */
    const char *name;           /* origin of every EVENT (copied) */
    size_t max_event_bytes;     /* SSE cap on one event */
    int send_hwm;               /* messages ZeroMQ queues before a send would block */
    int linger_ms;              /* how long queued messages may take to leave at exit */
    size_t window;              /* records sent and not acknowledged at most; 0: no acknowledgement */
    int64_t ack_timeout_ms;     /* first resend of an unacknowledged record after this long */
    int64_t ack_backoff_max_ms; /* the resend delay doubles per resend up to this */
    const char *spool_dir;      /* keep what is not acknowledged on disk here (spool.h); NULL: memory only */
    uint64_t spool_max_bytes;   /* the spool file's bound: when full the stream waits */
    int64_t spool_sync_ms;      /* fdatasync the spool this often; 0: never (the page cache only) */
} reader_forward_config_t;

typedef struct reader_forward_t reader_forward_t;

/* Creates the parser and connects the DEALER. NULL with a reason in err (bad
 * endpoint, out of memory). stats is borrowed. */
reader_forward_t *reader_forward_new(const reader_forward_config_t *config, reader_stats_t *stats,
                                     rtp_err_t *err);
/* Parses what it still holds of the stream and hands the outbox to ZeroMQ,
 * window or not (waiting at most linger_ms), then closes the socket with that
 * linger; records still unacknowledged are forgotten. Safe twice. */
void reader_forward_destroy(reader_forward_t **self_p);

/* Takes stream bytes: returns 1 when it took them all (parsed, or held to parse
 * later), 0 when it took none because records wait (outbox, full window, held
 * bytes): reader_forward_ready says when to offer bytes again. Full bundles go
 * out at once; the last, partial one waits for reader_forward_flush, so that the
 * events of all the pieces libcurl hands over in one go travel together. */
int reader_forward_feed(reader_forward_t *self, const char *buf, size_t len);
/* Hands the outbox to ZeroMQ: call after each round of feeding (after libcurl's
 * perform), before sleeping. */
void reader_forward_flush(reader_forward_t *self);
/* The connection ended: once the held bytes are parsed, a partly received event
 * is discarded (and counted as truncated). */
void reader_forward_end(reader_forward_t *self);
/* 1 when it would take bytes now. */
int reader_forward_ready(const reader_forward_t *self);

/* The descriptor that signals socket activity (ZMQ_FD: edge-triggered, so call
 * reader_forward_service after every wake-up). */
int reader_forward_fd(reader_forward_t *self);
/* Reads what arrived on the socket (ACKs free the window), resends the overdue
 * records, moves the outbox into ZeroMQ and parses held bytes as far as it can.
 * Also emits the rate-limited notes (suppressed lines, resends) when due. */
void reader_forward_service(reader_forward_t *self);
/* How long the caller may sleep before reader_forward_service has work that no
 * socket event announces (a deadline, ZeroMQ room): ms, or -1 for no limit. */
int64_t reader_forward_wait_ms(const reader_forward_t *self);
/* The stream has stopped: waits at most drain_ms for every record taken to be
 * sent and acknowledged, serving the socket and calling tick(arg) (if not NULL) every
 * round (at most DRAIN_POLL_MS apart); logs the outcome. A second SIGINT/SIGTERM, or
 * with a spool the launcher's death, ends the wait early. Returns the
 * records still unacknowledged (0 at once when acknowledgement is off). */
size_t reader_forward_drain(reader_forward_t *self, int64_t drain_ms, void (*tick)(void *arg), void *arg);
/* The seq of the next record. */
uint64_t reader_forward_next_seq(const reader_forward_t *self);

#endif
