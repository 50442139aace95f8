/* pool: the broker's view of one worker pool: its live workers with their tasks in
 * flight, and the queue of tasks waiting for a worker. Plain data, no I/O. */
#ifndef RTP_BROKER_POOL_H
#define RTP_BROKER_POOL_H

#include "proto.h"

#include <stddef.h>
#include <stdint.h>

#define POOL_MAX_WORKERS 256

typedef struct {
    uint32_t id;          /* unique for the broker's lifetime; events refer to workers by it */
    rtp_peer_t peer;
    char name[64];
    int pool;
    int capacity;         /* the most tasks it accepts at once (its READY credit) */
    int in_flight;
    int64_t expires_ms;   /* declared dead when silent past this (monotonic) */
    uint64_t dispatched;
    uint64_t dispatched_before;   /* `dispatched` at the broker's last stats line */
    uint64_t completed;
    /* tasks chosen for it in this dispatch round (kept encoded by their events),
     * sent as one bundle at its end */
    rtp_encoded_t *outgoing[RTP_BUNDLE_MAX];
    int n_outgoing;
} pool_worker_t;

typedef struct {
    int pool;
    pool_worker_t *workers[POOL_MAX_WORKERS];
    int count;
    uint32_t rotate;      /* where the next search starts, so ties rotate */
    double service_ms;    /* moving average of a task's time in a worker; 0 = none seen yet */
    uint64_t *queue;      /* a deque of event keys waiting for a worker */
    size_t head, len, cap;
} pool_t;

pool_t *pool_new(int pool);
void pool_destroy(pool_t **self_p);

pool_worker_t *pool_find_peer(pool_t *self, const rtp_peer_t *peer);
pool_worker_t *pool_find_id(pool_t *self, uint32_t id);
/* Adds a worker (NULL when the pool is full). */
pool_worker_t *pool_add(pool_t *self, uint32_t id, const rtp_peer_t *peer, const char *name, int capacity,
                        int64_t expires_ms);
/* Removes and frees a worker. */
void pool_remove(pool_t *self, pool_worker_t *worker);

/* Notes how long a worker spent on a task (its RESULT says), for pool_credit_limit. */
void pool_note_service(pool_t *self, double ms);

/* How many tasks one worker may hold at once, whatever the capacity it offered:
 * enough to keep it busy while its next tasks travel (about POOL_QUEUE_BUDGET_MS of
 * work queued), and no more, so that slow tasks wait in the broker's queue, where
 * any worker, a new one too, can take them. Fast tasks (simulated work off) get
 * many at once, sent as one bundle: that is what makes them cheap. At least 2; 2
 * before any task was timed. */
#define POOL_QUEUE_BUDGET_MS 10.0
int pool_credit_limit(const pool_t *self);

/* Least connected: the live worker with the fewest tasks in flight that has room
 * for one more (below both its capacity and pool_credit_limit) and is not in
 * `exclude` (ids, n_exclude of them); ties go to the next worker in rotation. NULL
 * when every worker is full. */
pool_worker_t *pool_least_loaded(pool_t *self, const uint32_t *exclude, int n_exclude);
int pool_in_flight(const pool_t *self);

/* The waiting-task deque. push_front is for tasks taken back from a lost worker,
 * which go first. Return -1 only when out of memory. */
int pool_push_back(pool_t *self, uint64_t key);
int pool_push_front(pool_t *self, uint64_t key);
/* 0 when empty. */
uint64_t pool_pop_front(pool_t *self);

#endif
