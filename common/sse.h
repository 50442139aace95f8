/* sse: a push parser for the Server-Sent Events stream format (WHATWG HTML,
 * "Parsing an event stream"), with no I/O.
 *
 * Feed it bytes as they arrive, split anywhere; it calls on_event for every
 * dispatched event, in order. It follows the spec: a leading UTF-8 BOM is skipped;
 * lines end with CRLF, LF or CR (a CR at the end of one chunk followed by LF at the
 * start of the next is one line end); a line starting with ':' is a comment; a
 * line with no colon is a field with an empty value; one leading space after the
 * colon is removed; fields are `event`, `data` (several lines joined with '\n'),
 * `id` (ignored if it contains NUL; persists across events) and `retry` (digits
 * only); unknown fields are ignored; a blank line dispatches the event, except
 * when no data field was seen (the data buffer is empty), in which case nothing is
 * dispatched and the event type is reset. An event type left empty is "message".
 *
 * Events larger than max_event bytes (data plus type) are not dispatched: the
 * parser calls on_error once with a reason, skips the rest of that event up to its
 * blank line, and goes on with the next one. So memory stays bounded by about
 * max_event bytes whatever the input.
 */
#ifndef RTP_SSE_H
#define RTP_SSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *type;     /* NUL-terminated; "message" when the event set none */
    const char *data;     /* NUL-terminated, data_len bytes (may contain NULs) */
    size_t data_len;
    const char *last_id;  /* the last event ID buffer, "" if none */
} rtp_sse_event_t;

typedef struct {
    /* Called for each dispatched event; the event's pointers are valid only during
     * the call. */
    void (*on_event)(const rtp_sse_event_t *event, void *arg);
    /* Called with a one-line reason for each event dropped for its size. May be NULL. */
    void (*on_error)(const char *reason, void *arg);
    void *arg;
} rtp_sse_handler_t;

typedef struct rtp_sse_parser_t rtp_sse_parser_t;

/* max_event: the cap on one event's data + type in bytes (e.g. 1 MiB). */
rtp_sse_parser_t *rtp_sse_parser_new(size_t max_event, rtp_sse_handler_t handler);
void rtp_sse_parser_destroy(rtp_sse_parser_t **self_p);

/* Parses len bytes. Never fails: bad input becomes on_error calls or is ignored as
 * the spec says. */
void rtp_sse_parser_feed(rtp_sse_parser_t *self, const char *buf, size_t len);

/* The stream ended (connection closed): discards a partly received line and event,
 * as the spec says for end of file; keeps the last event ID and the retry time, and
 * expects a BOM again at the start of the next stream. */
void rtp_sse_parser_reset(rtp_sse_parser_t *self);

/* The last `retry:` value in milliseconds, or -1 if none was received. */
int64_t rtp_sse_parser_retry_ms(const rtp_sse_parser_t *self);
/* How many events were dropped for their size so far. */
uint64_t rtp_sse_parser_oversized(const rtp_sse_parser_t *self);
/* 1 while an event is partly received: a data or event field was seen since the
 * last blank line, or a field's line is half read. A reader calls it before
 * rtp_sse_parser_reset to count events cut off by the end of a connection. */
int rtp_sse_parser_in_event(const rtp_sse_parser_t *self);

#endif
