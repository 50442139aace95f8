/* top_hashtags: the current top hashtags as rtp-hashtags stores them (the sorted
 * set hashtags:top of the SPEC, and the hash hashtags:window with its window),
 * read from Redis for `rtp top`. One short-timeout connection, reconnected after
 * any failure, so a slow or absent Redis never stalls the view for long. */
#ifndef RTP_TOOLS_TOP_HASHTAGS_H
#define RTP_TOOLS_TOP_HASHTAGS_H

#include "rtp_err.h"

#include <stdint.h>

#define TOP_HASHTAGS_MAX 10
#define TOP_HASHTAG_LEN 64

typedef struct {
    char tag[TOP_HASHTAG_LEN]; /* cut to fit; hashtags are short */
    long long count;
} top_hashtag_t;

typedef struct {
    top_hashtag_t top[TOP_HASHTAGS_MAX]; /* most counted first */
    int n;
    int64_t window_end_ms; /* wall clock the report's window ended, 0: unknown */
    long long window_tweets;  /* tweets in that window, -1: unknown */
} top_hashtags_report_t;

typedef struct top_hashtags_t top_hashtags_t;

/* A reader of the Redis at url; NULL with the reason in err for a bad URL. */
top_hashtags_t *top_hashtags_new(const char *url, int timeout_ms, rtp_err_t *err);
void top_hashtags_destroy(top_hashtags_t **self_p);
/* Reads the report into out (n = 0 when there is none yet). -1 with the reason in
 * err when Redis cannot be asked. */
int top_hashtags_read(top_hashtags_t *self, top_hashtags_report_t *out, rtp_err_t *err);
/* The URL with its password masked. */
const char *top_hashtags_where(const top_hashtags_t *self);

#endif
