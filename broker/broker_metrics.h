/* broker_metrics: what the broker counts, exposed to Prometheus (metrics.h) as
 * rtp_broker_* series: events in by kind, per pool the workers, tasks in flight,
 * backlog, results, late results, dispatches and the task time (dispatch to
 * result), the broker-wide speculative, fault and acknowledgement counters, and
 * per host (supervisor, by name) whether it is up, its capacity and its workers.
 * docs/rtp-broker.md (generated from these definitions) lists every name. */
#ifndef RTP_BROKER_METRICS_H
#define RTP_BROKER_METRICS_H

#include "manager.h"
#include "metrics.h"
#include "pool.h"
#include "u64map.h"

#include <stddef.h>
#include <stdint.h>

/* The broker's counters (broker.c counts, the metrics read them at scrape time). */
typedef struct {
    uint64_t events_in, tweets_in, panics_in, malformed_in;
    uint64_t results[RTP_POOL_COUNT], late[RTP_POOL_COUNT], dispatched[RTP_POOL_COUNT];
    uint64_t speculative_copies, speculative_wins, cancels, workers_lost, poison, dropped_frames;
    uint64_t dead_letters;
    uint64_t resends_in_flight;   /* a reader's resend of an event still in flight: dropped */
    uint64_t printed, unprinted;  /* censored tweets given a print mark, and only counted */
} broker_counters_t;

/* Where the numbers live; every pointer must outlive the broker_metrics_t. */
typedef struct {
    const broker_counters_t *n;
    pool_t *pools[RTP_POOL_COUNT];
    manager_t *manager;
    rtp_u64map_t *events;           /* events in flight */
    const size_t *aggregator_queue; /* messages waiting for the aggregator's socket */
    const uint64_t *acks_forwarded, *acks_unknown;
} broker_view_t;

typedef struct broker_metrics_t broker_metrics_t;

/* NULL when port < 0 (metrics off) or the port cannot be listened on (warned);
 * else every series registered and the listener up (its URL logged). */
broker_metrics_t *broker_metrics_new(int port, const broker_view_t *view);
void broker_metrics_destroy(broker_metrics_t **self_p);

/* The registry, for its poll items and service calls. */
rtp_metrics_t *broker_metrics_registry(broker_metrics_t *self);
/* A pool's task got its (first) result us microseconds after it was dispatched. */
void broker_metrics_task_done(broker_metrics_t *self, int pool, int64_t us);
/* Registers the series of the hosts that joined since the last call (NULL: no-op). */
void broker_metrics_sync_hosts(broker_metrics_t *self);

#endif
