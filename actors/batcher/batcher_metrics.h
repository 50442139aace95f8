/* batcher_metrics: the batcher's numbers as Prometheus series on --metrics-port,
 * read at scrape time from the counters the batcher keeps (a view of borrowed
 * pointers), plus the histograms observed here: the Redis write time of a batch and
 * the end-to-end latency of a record, reader to Redis. */
#ifndef BATCHER_BATCHER_METRICS_H
#define BATCHER_BATCHER_METRICS_H

#include "journal.h"
#include "metrics.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint64_t *received;      /* records taken from the aggregator */
    const uint64_t *batches;       /* batches written to Redis */
    const uint64_t *records;       /* records written to Redis (new, already stored, dead letters) */
    const uint64_t *stored;        /* new tweets stored */
    const uint64_t *duplicates;    /* tweets already stored */
    const uint64_t *deadletters;   /* dead letters stored */
    const uint64_t *deadletter_duplicates; /* dead letters the list held already (resends) */
    const uint64_t *refused;       /* rows refused for a key in the way (dead letters now) */
    const uint64_t *fast;          /* batches written by plain commands (the store's fast path) */
    const uint64_t *retries;       /* reads done again: a key changed before the batch's write */
    const uint64_t *failed_writes; /* failed Redis writes (each retried) */
    const uint64_t *acks_sent;     /* ACK messages sent to the broker */
    const uint64_t *acked;         /* records named in them */
    const size_t *held;            /* records in memory now */
    const int *redis_up;           /* 0 after a failed write until one succeeds */
    rtp_journal_t *const *journal; /* NULL inside: no journal */
} batcher_view_t;

typedef struct batcher_metrics_t batcher_metrics_t;

/* NULL when port < 0 (metrics off), or when it cannot listen (logged; the batcher
 * runs on without). The view's pointers must outlive the metrics. */
batcher_metrics_t *batcher_metrics_new(int port, const batcher_view_t *view);
void batcher_metrics_destroy(batcher_metrics_t **self_p);
/* The registry, to poll and service (NULL for NULL). */
rtp_metrics_t *batcher_metrics_registry(batcher_metrics_t *self);
/* One successful Redis write of a batch took this many seconds. NULL: ignored. */
void batcher_metrics_write_time(batcher_metrics_t *self, double seconds);
/* A tweet's row is in Redis this many seconds after its reader received the event
 * (negative, from clocks apart: counted as 0). NULL: ignored. */
void batcher_metrics_record_latency(batcher_metrics_t *self, double seconds);

#endif
