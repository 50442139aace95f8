/* manager: the broker's pool managers and its link to the supervisors.
 *
 * Supervisors (`rtp up`, `rtp supervise` on other hosts) connect a DEALER to the
 * broker's control endpoint and announce themselves with SUPERVISOR messages (their
 * name, how many workers they can run, how many of each pool they run now), which
 * double as heartbeats. For each managed pool, once a tick, the manager measures the
 * load (arrival rate, service time, backlog), decides the pool's size with
 * autoscale.h, and spreads it over the live supervisors (the one with the most free
 * capacity gets the next worker; the one with the most workers of that pool loses
 * one) by sending each the SCALE target for that pool. Every resize is logged with
 * the numbers behind it. A supervisor silent past its liveness is forgotten, and its
 * share goes to the others at the next tick.
 */
#ifndef RTP_BROKER_MANAGER_H
#define RTP_BROKER_MANAGER_H

#include "autoscale.h"
#include "proto.h"

#include <czmq.h>
#include <stddef.h>

typedef struct manager_t manager_t;

/* The most supervisors (hosts) the manager keeps. */
#define MANAGER_MAX_HOSTS 64

/* A host: a supervisor by name, as it last reported; kept after it is lost (up 0),
 * so that a view of the hosts shows the ones gone too. */
typedef struct {
    char name[64];
    int up;                         /* 1 while its supervisor is live */
    int capacity;
    int workers[RTP_POOL_COUNT];    /* the workers it runs, as it reported */
} manager_host_t;

/* control: the bound ROUTER (borrowed). managed[pool]: 0 leaves a pool alone (its
 * workers come and go on their own), else policies[pool] sizes it. */
manager_t *manager_new(zsock_t *control, const scale_policy_t policies[RTP_POOL_COUNT],
                       const int managed[RTP_POOL_COUNT], int heartbeat_ms, int liveness, int tick_ms);
void manager_destroy(manager_t **self_p);

/* The message each supervisor gets when it joins or rejoins, before any SCALE
 * (borrowed; NULL: none). */
void manager_set_welcome(manager_t *self, const rtp_msg_t *welcome);

/* Reads and handles one message waiting on the control socket. */
void manager_on_message(manager_t *self);

/* Load samples: a task entered a pool's queue; a worker spent ms on a task. */
void manager_count_arrival(manager_t *self, int pool);
void manager_count_service(manager_t *self, int pool, double ms);

/* Heartbeats, expiry, and (every tick_ms) the sizing decisions; backlog[pool] is
 * each pool's queue length now. */
void manager_tick(manager_t *self, const size_t backlog[RTP_POOL_COUNT]);

/* For the stats line: the size the manager wants for a pool (-1 when unmanaged),
 * and the number of live supervisors. */
int manager_target(const manager_t *self, int pool);
int manager_supervisors(const manager_t *self);
/* The restarts of a pool's crashed workers the supervisors reported (with their
 * heartbeats) since this broker started: a counter, for the metrics. */
const uint64_t *manager_worker_restarts(const manager_t *self, int pool);
/* The hosts seen since this broker started, in the order they first joined. */
int manager_host_count(const manager_t *self);
const manager_host_t *manager_host(const manager_t *self, int index);

#endif
