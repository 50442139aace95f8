/* tweet: the compact tweet record every actor passes around, and the decoder that
 * turns one SSE event's data (SPEC section 1) into records, with cJSON, once.
 *
 * A record holds only what the pipeline uses (SPEC sections 2 and 3). Every string
 * field is non-NULL and NUL-terminated ("" when the tweet lacks it); all strings of
 * one record live in one allocation owned by the record.
 */
#ifndef RTP_TWEET_H
#define RTP_TWEET_H

#include "rtp_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *id;           /* id_str, else the exact digits of a numeric id */
    char *user_id;      /* user.id_str, else user.id's digits; "" without a user or id */
    char *user_name;    /* user.name */
    char *screen_name;  /* user.screen_name */
    char *text;         /* extended_tweet.full_text, else full_text, else text */
    char *hashtags;     /* entities.hashtags[].text joined with single spaces, as written */
    char *created_at;   /* as in the tweet */
    char *lang;
    char *retweet_of;   /* id of retweeted_status, "" if not a retweet */
    int64_t followers;  /* user.followers_count; missing or null: 0 */
    /* The counts the engagement ratio uses (SPEC section 2): for a retweet these are
     * retweeted_status's favorite_count and retweet_count, otherwise the tweet's
     * own; missing or null: 0. */
    int64_t favorites;
    int64_t retweets;
    int64_t time_ms;    /* timestamp_ms, else created_at parsed as UTC, else 0 */
    char *blob_;        /* the one allocation behind the strings */
} rtp_tweet_t;

typedef enum {
    RTP_EVENT_TWEET = 1,     /* one or two records */
    RTP_EVENT_PANIC = 2,     /* the lab's `{"message": panic}` */
    RTP_EVENT_MALFORMED = 3, /* anything else; the reason says why */
} rtp_event_kind_t;

typedef struct {
    rtp_event_kind_t kind;
    int count;               /* records in tweets[]: 1, or 2 for a retweet */
    rtp_tweet_t tweets[2];   /* [0] the tweet; [1] the retweeted original, as a tweet of its own */
    int64_t sent_100us;      /* message.unix_timestamp_100us, 0 if absent */
} rtp_decoded_t;

/* Decodes one event's data: `{"message": {"tweet": {...}, "unix_timestamp_100us": N}}`.
 * Returns 0 with kind TWEET or PANIC, or -1 with kind MALFORMED and the reason in err
 * (invalid UTF-8, NUL bytes, not JSON, wrong shape, no tweet id, an id that cannot
 * be had exactly, ...). Always call rtp_decoded_clear afterwards, whatever it
 * returned. */
int rtp_tweet_decode(const char *data, size_t len, rtp_decoded_t *out, rtp_err_t *err);
void rtp_decoded_clear(rtp_decoded_t *decoded);

/* Builds a record from explicit values (copied). Used by the protocol codec and
 * tests. Returns 0, or -1 if out of memory. */
int rtp_tweet_set(rtp_tweet_t *t, const char *id, const char *user_id, const char *user_name,
                  const char *screen_name, const char *text, const char *hashtags, const char *created_at,
                  const char *lang, const char *retweet_of);
/* The same from lens[i] bytes at values[i] each (no NUL needed; none may be
 * inside), in the order of the record's fields: id, user_id, user_name,
 * screen_name, text, hashtags, created_at, lang, retweet_of. For decoders that
 * read strings out of a buffer: one allocation, one copy. */
int rtp_tweet_set_n(rtp_tweet_t *t, const char *const values[9], const size_t lens[9]);
/* The lengths of the nine strings (in rtp_tweet_set_n's order) of a record made
 * by this module, without reading them: for encoders. */
void rtp_tweet_lengths(const rtp_tweet_t *t, size_t lens[9]);
void rtp_tweet_clear(rtp_tweet_t *t);
/* Deep copy; 0 or -1. */
int rtp_tweet_copy(rtp_tweet_t *dst, const rtp_tweet_t *src);

#endif
