/* store_fast: the fast path of store (store.h), internal to store.c: a batch of
 * tweets written as plain pipelined commands instead of the batch script, when
 * reading first shows nothing unusual.
 *
 * Round 1 (reads, one pipeline): UNWATCH, WATCH of the batch's user:<id> keys, TYPE
 * of the three global keys, EXISTS over the batch's distinct tweet:<id> keys, ZMSCORE
 * tweets over their ids, HMGET of every user hash (rtp's six fields), SINTERCARD over
 * the user:<id>:tweets sets (LIMIT 1: it only checks that each is a set). When EXISTS
 * finds keys (resends, an original retweeted again), round 1b asks HGET tweet:<id> id
 * of the ids `tweets` holds: a tweet is stored already when its hash holds its id (the
 * script's rule), and every existing key must be such a hash (their number is
 * EXISTS's).
 *
 * The decision, in C: anything unusual (an error reply, a key of the wrong type, a
 * tweet key that is not rtp's, a user hash whose id, engagement or tweets field is
 * not as rtp writes it, a total that would not be finite) sends the whole batch down
 * the script, which decides row by row. Otherwise round 2 is one MULTI/EXEC: per new
 * tweet one HSET, one variadic ZADD tweets, per user one variadic SADD and one HSET
 * (the changed fields only when the user exists), one variadic ZADD users:engagement:
 * the script's writes, value for value (the totals summed in the same order, written
 * by rtp_fmt_double, which the script's num() mirrors), so both paths leave the same
 * bytes.
 *
 * The WATCH covers the user hashes: a second batcher storing one of the batch's users
 * (or the same tweet, which carries its user) between the rounds makes EXEC answer
 * nil, and the batch is read again: no total lost or counted twice. Keys rtp never
 * writes concurrently with itself (tweet:<id>, user:<id>:tweets, the global keys) are
 * not watched (watching a key costs Redis 7.0 a scan of the client's watched keys:
 * quadratic in the keys of a transaction); a foreign client that makes one of them
 * the wrong type in that window gets an error reply inside EXEC for that command,
 * while the rest of the transaction is done: store_fast_done reports it. */
#ifndef RTP_STORE_FAST_H
#define RTP_STORE_FAST_H

#include "proto.h"
#include "rtp_err.h"
#include "store.h"

#include <hiredis/hiredis.h>

typedef struct store_fast_t store_fast_t;

/* The 14 strings of a tweet row, in the order of the script's ARGV: id, user_id,
 * text, censored, sentiment, engagement, created_at, lang, hashtags, retweet_of,
 * score (time in ms), name, screen_name, followers. The numbers are formatted into
 * nums. Shared by both paths: they write the same strings. */
#define STORE_ROW_FIELDS 14
void store_row_strings(const rtp_msg_t *m, const char **s, char nums[4][32]);

store_fast_t *store_fast_new(void);
void store_fast_destroy(store_fast_t **self_p);

/* Takes a batch of count JOINED messages (borrowed until the next plan): which
 * distinct ids and users it holds. 0, or -1 when out of memory. */
int store_fast_plan(store_fast_t *self, rtp_msg_t *const *msgs, size_t count);

/* Appends round 1 to ctx's output buffer. The number of replies it brings, or -1
 * when out of memory. */
int store_fast_reads(store_fast_t *self, redisContext *ctx);

typedef enum {
    STORE_FAST_SLOW,    /* take the script: something is unusual (why says what) */
    STORE_FAST_OLD,     /* Redis lacks SINTERCARD or ZMSCORE (< 7.0), or an ACL denies a command of
                           round 1 (why): the script, from now on */
    STORE_FAST_MORE,    /* round 1b appended: *more replies to come, then decide again */
    STORE_FAST_WRITE,   /* round 2 appended: *more replies to come, then store_fast_done */
    STORE_FAST_NOTHING, /* every tweet is stored already: nothing to write (counts filled) */
    STORE_FAST_NOMEM
} store_fast_next_t;

/* Decides from the n replies read so far (round 1, then round 1b's after them). */
store_fast_next_t store_fast_decide(store_fast_t *self, redisReply *const *r, size_t n, redisContext *ctx,
                                    size_t *more, rtp_store_counts_t *counts, char *why, size_t cap);

/* Reads round 2's replies (r[0] the MULTI's, the EXEC's last): 1 when the batch is
 * written (counts filled), 0 when a watched key changed (nothing written: read
 * again), -1 with the reason in err when Redis refused the transaction (nothing
 * written: out of memory, read-only...) or, *partial set, when a command inside EXEC
 * failed after the rest were done. */
int store_fast_done(store_fast_t *self, redisReply *const *r, size_t n, rtp_store_counts_t *counts,
                    int *partial, rtp_err_t *err);

#endif
