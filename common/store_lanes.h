/* store_lanes: one batch written through several stores (store.h), each on its own
 * connection to the same Redis, so that Redis works on one lane's commands while the
 * writer decides another's (issue 16: on one connection the writer and Redis take
 * turns, since a part's reads must follow the writes before it).
 *
 * A batch's rows are split by user: a row goes to lane hash(user_id) mod lanes (by
 * its tweet id when it has no user), so every key a row writes but the global ones
 * (tweet:<id>, user:<id>, user:<id>:tweets) belongs to one lane, and no two lanes
 * read or write the same user: their WATCHes never see each other's writes. A tweet
 * carries its user, so the copies of a tweet meet in one lane as before; the global
 * keys (tweets, users:engagement, deadletter) take members that do not depend on each
 * other. Dead letters go with lane 0's rows. Each lane keeps its rows in batch order,
 * so a user's totals are summed in the same order as by one store: the same bytes.
 *
 * The API is store.h's, batch for batch: a batch completes when every lane's part of
 * it has; if any part failed, the batch fails (a retry is safe: every rule of store.h
 * makes writing a row again change nothing), and so does every batch sent after it,
 * whatever its lanes did, so that a caller keeping failed batches in order keeps
 * every batch in order. One lane is one store, exactly as before. */
#ifndef RTP_STORE_LANES_H
#define RTP_STORE_LANES_H

#include "store.h"

#define RTP_STORE_LANES_MAX 8

typedef struct rtp_store_lanes_t rtp_store_lanes_t;

/* Lanes over n links to the same Redis (borrowed: they must outlive the lanes), 1 to
 * RTP_STORE_LANES_MAX. NULL when out of memory or n is out of range. */
rtp_store_lanes_t *rtp_store_lanes_new(rtp_redis_link_t *const *links, size_t n);
void rtp_store_lanes_destroy(rtp_store_lanes_t **self_p);

/* As rtp_store_send: up to RTP_STORE_PIPELINE batches in flight. 0, or -1 with the
 * reason in err when nothing of the batch was sent (a lane that fails after another
 * took its part makes the batch fail at its recv instead). */
int rtp_store_lanes_send(rtp_store_lanes_t *self, rtp_msg_t *const *msgs, size_t count, rtp_err_t *err);

/* As rtp_store_recv, for the oldest batch: 1 written, -1 failed, 0 not yet (wait 0).
 * Every call moves every lane on as far as the replies in allow. */
int rtp_store_lanes_recv(rtp_store_lanes_t *self, int wait, rtp_store_counts_t *counts, rtp_err_t *err);

/* As rtp_store_write: one send and its recv; fails while batches are in flight. */
int rtp_store_lanes_write(rtp_store_lanes_t *self, rtp_msg_t *const *msgs, size_t count,
                          rtp_store_counts_t *counts, rtp_err_t *err);

size_t rtp_store_lanes_pending(const rtp_store_lanes_t *self);

/* The sockets the replies of the batches in flight come on, to poll for input: up to
 * cap of them into fds; returns how many. */
size_t rtp_store_lanes_fds(rtp_store_lanes_t *self, int *fds, size_t cap);

/* As rtp_store_refused: the indices in the batch's msgs of the last completed batch's
 * refused rows, in batch order (counts->refused of them). */
const size_t *rtp_store_lanes_refused(const rtp_store_lanes_t *self);

/* As rtp_store_blocking_key, for the last completed batch. */
const char *rtp_store_lanes_blocking_key(const rtp_store_lanes_t *self);

/* As rtp_store_set_fast, for every lane. */
void rtp_store_lanes_set_fast(rtp_store_lanes_t *self, int on);

/* The lane of a JOINED message (by user id, else tweet id), of n lanes. */
size_t rtp_store_lane_of(const rtp_msg_t *m, size_t n);

#endif
