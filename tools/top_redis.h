/* top_redis: what `rtp top` reads from Redis, in one round trip each interval: the
 * current top hashtags as rtp-hashtags stores them (the sorted set hashtags:top of
 * the SPEC, and the hash hashtags:window with its window) and the most recent dead
 * letters (the tail of the deadletter list: the latest errors, with their reasons).
 * One short-timeout connection, reconnected after any failure, so a slow or absent
 * Redis never stalls the view for long. */
#ifndef RTP_TOOLS_TOP_REDIS_H
#define RTP_TOOLS_TOP_REDIS_H

#include "rtp_err.h"

#include <stdint.h>

#define TOP_HASHTAGS_MAX 10
#define TOP_HASHTAG_LEN 64
#define TOP_LETTERS_MAX 3

typedef struct {
    char tag[TOP_HASHTAG_LEN]; /* cut to fit at a character boundary; hashtags are short */
    long long count;
} top_hashtag_t;

typedef struct {
    char reason[160];  /* cut to fit */
    char origin[64];   /* the reader (stream) it came from */
    int64_t time_ms;   /* wall clock its reader received it, 0: unknown */
} top_letter_t;

typedef struct {
    top_hashtag_t top[TOP_HASHTAGS_MAX]; /* most counted first */
    int n;
    int64_t window_end_ms;   /* wall clock the report's window ended, 0: unknown */
    long long window_tweets; /* tweets in that window, -1: unknown */
    top_letter_t letters[TOP_LETTERS_MAX]; /* the newest first */
    int n_letters;
    long long letters_total; /* LLEN deadletter */
} top_redis_report_t;

typedef struct top_redis_t top_redis_t;

/* A reader of the Redis at url; NULL with the reason in err for a bad URL. */
top_redis_t *top_redis_new(const char *url, int timeout_ms, rtp_err_t *err);
void top_redis_destroy(top_redis_t **self_p);
/* Reads the report into out (n = 0 when there is no hashtags report yet). -1 with
 * the reason in err when Redis cannot be asked. */
int top_redis_read(top_redis_t *self, top_redis_report_t *out, rtp_err_t *err);

#endif
