/* broker: the scheduler. Readers send it events; it fans every tweet out to the
 * three worker pools (least connected, optionally speculative), forwards the record
 * and each pool's result to the aggregator, publishes hashtags, and keeps the pools
 * honest with heartbeats: a worker that goes silent is declared dead and its tasks
 * go to others; a task that keeps killing workers is a poison message and becomes a
 * dead letter.
 *
 * Bounds: at most max_events events in flight; at the limit (or while the
 * aggregator does not take results) the broker stops reading from readers, so
 * ZeroMQ's high-water marks push back on them.
 */
#ifndef RTP_BROKER_H
#define RTP_BROKER_H

#include "autoscale.h"
#include "proto.h"

#include <stdint.h>

typedef struct {
    const char *readers_endpoint;     /* ROUTER, bound: readers' DEALERs connect */
    const char *workers_endpoint;     /* ROUTER, bound: workers' DEALERs connect */
    const char *results_endpoint;     /* PUSH, bound: the aggregator's PULL connects */
    const char *hashtags_endpoint;    /* PUB, bound: rtp-hashtags subscribes */
    const char *control_endpoint;     /* ROUTER, bound: supervisors' DEALERs connect */
    int managed[RTP_POOL_COUNT];      /* 1: the pool manager sizes this pool */
    scale_policy_t scale[RTP_POOL_COUNT];
    int scale_tick_ms;
    int heartbeat_ms;
    int liveness;                     /* heartbeats a worker may miss before it is dead */
    int max_events;
    int max_crashes;                  /* K: a task that crashed K workers is poison */
    int speculative[3];               /* copies per task, per pool (1 = off) */
    int drain_ms;                     /* on SIGTERM: how long to finish what is in flight */
    int stats_ms;
    int64_t print_per_second;         /* censored tweets printed a second, in all; 0: every one */
    int metrics_port;                 /* Prometheus /metrics on this port (0: any); -1: off */
    const rtp_msg_t *welcome;         /* sent to each supervisor that joins (welcome.h); NULL: none */
} broker_config_t;

/* Runs until SIGINT/SIGTERM, then drains. Returns the exit status. */
int broker_run(const broker_config_t *cfg);

#endif
