/* window: the records a reader has handed to the broker and nobody has yet
 * acknowledged as persisted, each kept as its encoded EVENT so it can go out
 * again byte for byte, with the same seq.
 *
 * Deadlines: a record's first deadline is timeout_ms after it went out; each
 * time it is resent the delay doubles, up to max_timeout_ms, so a long outage
 * downstream does not become a resend storm. All records waiting on the same
 * delay share it, so one list per delay step kept in sending order is also in
 * deadline order: finding the overdue records looks at the head of each list
 * (a few dozen steps at most), never at every record. Lookup by seq (for the
 * acknowledgements) is a u64map. No I/O here.
 */
#ifndef READER_WINDOW_H
#define READER_WINDOW_H

#include <stddef.h>
#include <stdint.h>

/* One encoded EVENT: data holds the 4-byte header frame, then the body frame. */
typedef struct reader_record_t {
    uint64_t seq;
    size_t len;                          /* bytes in data, header included */
    int64_t due_ms;                      /* window: when it is overdue */
    int step;                            /* window: resends so far, capped at the last step */
    struct reader_record_t *prev, *next; /* window: its step's list */
    uint8_t data[];
} reader_record_t;

/* A copy of the encoded message in one allocation; NULL when out of memory. */
reader_record_t *reader_record_new(uint64_t seq, const uint8_t hdr[4], const uint8_t *body, size_t body_len);
void reader_record_destroy(reader_record_t **self_p);

typedef struct reader_window_t reader_window_t;

/* capacity >= 1 records; 1 <= timeout_ms; max_timeout_ms below timeout_ms is
 * taken as timeout_ms (no backoff). NULL when out of memory. */
reader_window_t *reader_window_new(size_t capacity, int64_t timeout_ms, int64_t max_timeout_ms);
/* Frees the window and every record still in it; safe twice. */
void reader_window_destroy(reader_window_t **self_p);

size_t reader_window_size(const reader_window_t *self);
/* 1 when it holds capacity records (or more). */
int reader_window_full(const reader_window_t *self);

/* Takes a record that has just gone out for the first time (at now_ms); its seq
 * must be non-zero and not in the window. 0, or -1 when out of memory (the
 * record is then still the caller's). */
int reader_window_add(reader_window_t *self, reader_record_t *record, int64_t now_ms);
/* The record of seq is acknowledged: frees it and returns 1; 0 when seq is not
 * in the window (acknowledged before, or never sent by this process). */
int reader_window_ack(reader_window_t *self, uint64_t seq);

/* The record of seq in the window, or NULL. */
const reader_record_t *reader_window_find(const reader_window_t *self, uint64_t seq);
/* Calls fn for every record in the window (in no particular order). */
void reader_window_each(const reader_window_t *self, void (*fn)(reader_record_t *record, void *arg),
                        void *arg);

/* The record whose deadline passed longest ago at now_ms, or NULL when none has.
 * It stays in the window: send it, then call reader_window_resent. */
reader_record_t *reader_window_overdue(const reader_window_t *self, int64_t now_ms);
/* record (from the window) went out again at now_ms: its next deadline is one
 * doubled delay later (capped). */
void reader_window_resent(reader_window_t *self, reader_record_t *record, int64_t now_ms);
/* ms from now_ms to the next deadline (0 when one has passed), -1 when empty. */
int64_t reader_window_next_ms(const reader_window_t *self, int64_t now_ms);

#endif
