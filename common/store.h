/* store: writes batches of finished records into the Redis tables of SPEC section 3.
 *
 *   tweet:<id>         hash: id, user_id, text, censored, sentiment, engagement,
 *                            created_at, lang, hashtags, retweet_of
 *   tweets             sorted set: tweet id scored by its time in ms (the tweet's
 *                      time_ms; when the tweet has none, the time it was received)
 *   user:<id>          hash: id, name, screen_name, followers, engagement (the sum of
 *                            the engagement of the user's stored tweets), tweets (count)
 *   user:<id>:tweets   set: the ids of the user's stored tweets
 *   users:engagement   sorted set: user id scored by the user's engagement
 *   deadletter         list: one JSON object an entry,
 *                      {"reason", "data", "origin", "seq", "time_ms"}
 *
 * A record whose user_id is empty gets its tweet row (user_id "") and no user rows.
 * Numbers are written in rtp_fmt_double's shortest round-trip form, the user totals
 * too (they are summed inside Redis, by the same rule).
 *
 * A batch of tweets is first read with plain commands and, when nothing in it is
 * unusual (fresh tweets, resends of stored ones, users rtp wrote), written in one
 * MULTI/EXEC of plain commands (the fast path, store_fast.h: about half of what the
 * script costs Redis per row). Anything else, and every batch with a dead letter,
 * is one Lua script call (SCRIPT LOAD once, then EVALSHA; EVAL when Redis lost the
 * script, e.g. after a restart): atomic, idempotent. Both leave the same bytes, and
 * the rules below hold for both (the fast path hands the script every batch where a
 * rule would have to do more than store or skip a row); the next batches may be on
 * their way meanwhile (rtp_store_send).
 *   - A tweet whose tweet:<id> is a hash rtp wrote (its id field is <id>) changes
 *     nothing (user totals included); so does a second copy of a tweet within one
 *     batch.
 *   - The script reads and checks every key it will touch before it writes any:
 *       - a row whose own keys are in the way (tweet:<id>, user:<id> or
 *         user:<id>:tweets of the wrong type, a tweet:<id> hash rtp did not write, a
 *         user:<id> hash whose id, engagement or tweets field is not as rtp writes
 *         it, a user total that would not be a finite number) is refused:
 *         nothing of it is written, and it becomes a dead letter whose reason names
 *         the key and quotes Redis's error ("tweet 12 not stored: key user:7 holds a
 *         string, not a hash (Redis: WRONGTYPE ...)"), written in a second round
 *         trip; every other row of the batch is stored;
 *       - a global key of the wrong type (tweets, users:engagement, deadletter)
 *         blocks every row: the batch fails with nothing written, and
 *         rtp_store_blocking_key() names the key;
 *       - any other error (Redis away, loading, busy, out of memory, read-only,
 *         a refused AUTH...) fails the batch with nothing written.
 *     So a row is all or nothing, and a user total counts only stored tweets.
 *   - A dead-letter entry already among the last RTP_STORE_DEADLETTER_WINDOW entries
 *     of the list is not appended again: a batch retried after a lost reply leaves
 *     the list as it was. (An entry carries its event's origin, seq and time, so two
 *     equal entries are the same event reported twice.)
 * Writing the same batch twice therefore leaves Redis byte for byte as writing it once.
 *
 * Another writer between the fast path's reads and its write: a second rtp batcher
 * storing a tweet of one of the batch's users changes a watched user hash, EXEC does
 * nothing and the batch is read again (after three such rounds, the script). A
 * foreign client that makes a tweet:<id>, user:<id>:tweets or global key of the
 * wrong type in that window (keys not watched, for Redis's cost) fails the command
 * on it inside EXEC while the rest is done: the write fails saying so ("in part"), and
 * its retry refuses that row as a dead letter (docs/redis-failures.md).
 */
#ifndef RTP_STORE_H
#define RTP_STORE_H

#include "proto.h"
#include "redis_link.h"
#include "rtp_err.h"

#include <stddef.h>

/* How far back from the end of the deadletter list a new entry is looked for. */
#define RTP_STORE_DEADLETTER_WINDOW 10000

typedef struct {
    size_t stored;                /* tweets written for the first time */
    size_t duplicates;            /* tweets already stored: nothing changed */
    size_t deadletters;           /* entries appended to the deadletter list */
    size_t deadletter_duplicates; /* entries already in the list: not appended again */
    size_t refused;               /* rows refused for a key in the way: now dead letters (counted
                                     in deadletters or deadletter_duplicates too) */
    size_t fast;                  /* 1 when the batch went by plain commands, 0 by the script */
    size_t retries;               /* times a key changed between the batch's reads and its write
                                     (another writer): read again */
} rtp_store_counts_t;

typedef struct rtp_store_t rtp_store_t;

/* A store writing through link (borrowed: it must outlive the store). */
rtp_store_t *rtp_store_new(rtp_redis_link_t *link);
void rtp_store_destroy(rtp_store_t **self_p);

/* Writes one batch of JOINED and DEADLETTER messages: two round trips by the fast path
 * (three when some tweets are stored already), one by the script (two when rows are
 * refused). On success returns 0 and fills counts (may be NULL). On failure
 * returns -1 with the reason in err: either nothing of the batch was written, or
 * (when a reply was lost) the whole batch may have been; the caller keeps the batch
 * and retries it later, which is safe either way (the link reconnects by itself
 * after an I/O error).
 *
 * Changes are made to the messages so that a retry writes the same bytes: a
 * DEADLETTER with received_us 0 gets the current time (its entry's time_ms), and a
 * JOINED that cannot be stored as a tweet (no tweet id, a sentiment or engagement that
 * is not a finite number, a refused row) is turned into a DEADLETTER saying why,
 * carrying the record as JSON in raw. Any other message type fails the call. */
int rtp_store_write(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, rtp_store_counts_t *counts,
                    rtp_err_t *err);

/* Pipelining: while Redis runs one batch the next is already on the wire, so Redis
 * never waits for the writer between batches. rtp_store_send hands a batch over
 * (up to RTP_STORE_PIPELINE at once); rtp_store_recv completes them one by one, in
 * the order sent, with the result rtp_store_write would have given. The messages
 * must stay alive and unchanged until their recv (the array holding them need not).
 * If a batch fails, every batch sent after it fails too (whatever Redis did with
 * it: writing it again is safe), so a caller that keeps failed batches in order
 * keeps every batch in order. rtp_store_write is one send and its recv; it fails
 * while batches are in flight. */
#define RTP_STORE_PIPELINE 2

/* Sends one batch without waiting for the reply. 0, or -1 with the reason in err
 * (nothing of this batch was sent; the link is reset after an I/O error, and the
 * batches still in flight fail then too). */
int rtp_store_send(rtp_store_t *self, rtp_msg_t *const *msgs, size_t count, rtp_err_t *err);

/* Completes the oldest batch in flight: 1 when it is written (counts filled, may be
 * NULL), -1 when it failed (as rtp_store_write), 0 when wait is 0 and its reply has
 * not arrived yet (nothing blocks then). A batch whose rows were refused takes a
 * second round trip here, after the replies of the batches behind it were read. */
int rtp_store_recv(rtp_store_t *self, int wait, rtp_store_counts_t *counts, rtp_err_t *err);

/* On (the default), a batch of tweets is first read with plain commands and, when
 * nothing is unusual, written in one MULTI/EXEC (the fast path: store_fast.h); off,
 * every batch goes through the script. Both leave the same bytes in Redis; off is for
 * tests and benchmarks that compare them. */
void rtp_store_set_fast(rtp_store_t *self, int on);

/* The number of batches in flight. */
size_t rtp_store_pending(const rtp_store_t *self);

/* The socket their replies come on, to poll for input; -1 when none is in flight. */
int rtp_store_fd(rtp_store_t *self);

/* The indices in msgs of the rows the last successful write refused (counts->refused
 * of them, in batch order): those messages are DEADLETTERs now, the reason in their
 * text. Valid until the next write or recv. */
const size_t *rtp_store_refused(const rtp_store_t *self);

/* After a write that failed because a global key has the wrong type, that key's name;
 * NULL otherwise. */
const char *rtp_store_blocking_key(const rtp_store_t *self);

/* The deadletter list entry for a DEADLETTER message, as rtp_store_write writes it: a
 * NUL-terminated JSON object (caller frees), or NULL if out of memory. Bytes of raw
 * that are not valid UTF-8 become U+FFFD, so the entry is always valid JSON. */
char *rtp_store_deadletter_json(const rtp_msg_t *msg);

#endif
