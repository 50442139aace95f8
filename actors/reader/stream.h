/* stream: one HTTP event stream, read with libcurl's multi interface so the
 * caller's loop can wait on other sockets too.
 *
 * It connects, hands the body of a 200 response to on_data, and when the
 * connection ends (end of stream, transfer error, stall, HTTP status other than
 * 200) logs why, calls on_end and reconnects after a capped exponential backoff
 * with full jitter: the delay is uniform in [0, min(max, min * 2^n)] where n counts
 * the failed attempts since the last connection that delivered events.
 *
 * Stall: once connected, no byte for read_timeout_ms ends the connection. The
 * clock does not run while the transfer is paused: when on_data cannot take
 * bytes, the transfer pauses (CURL_WRITEFUNC_PAUSE), libcurl stops reading the
 * socket, and TCP pushes back on the server until reader_stream_resume.
 *
 * It knows nothing of SSE or ZeroMQ.
 */
#ifndef READER_STREAM_H
#define READER_STREAM_H

#include "stats.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *url;
    int64_t connect_timeout_ms;
    int64_t read_timeout_ms;
    int64_t backoff_min_ms;
    int64_t backoff_max_ms;
} reader_stream_config_t;

typedef struct {
    /* Body bytes of a 200 response. Returns 1 when it took them all, 0 when it can
     * take none now: the transfer pauses and the same bytes come again after
     * reader_stream_resume. */
    int (*on_data)(const char *buf, size_t len, void *arg);
    /* The connection ended, for any reason: drop what belongs to it. */
    void (*on_end)(void *arg);
    void *arg;
} reader_stream_handler_t;

typedef struct reader_stream_t reader_stream_t;

/* The first connection starts at the first reader_stream_work. Connections and
 * disconnections are counted in stats (borrowed); the events on a connection are
 * stats->events as the consumer counts them. NULL if libcurl cannot start. */
reader_stream_t *reader_stream_new(const reader_stream_config_t *config, reader_stream_handler_t handler,
                                   reader_stats_t *stats);
/* Ends the connection (logged as a stop) and frees everything; safe twice. */
void reader_stream_destroy(reader_stream_t **self_p);

/* Waits at most max_ms for the transfer, for its timers, or for one of the extra
 * descriptors (their revents are set). Returns 0, or -1 on a libcurl error. */
int reader_stream_wait(reader_stream_t *self, struct curl_waitfd *extra, unsigned extra_count, int max_ms);

/* Does what is due: moves the transfer on (calling on_data), notices its end,
 * detects a stall, starts a connection once the backoff has passed. */
void reader_stream_work(reader_stream_t *self);

/* 1 while the transfer is paused because on_data could not take its bytes. */
int reader_stream_paused(const reader_stream_t *self);
/* Lets a paused transfer go on; on_data may be called from inside. */
void reader_stream_resume(reader_stream_t *self);

#endif
