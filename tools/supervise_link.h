/* supervise_link: a supervisor's side of the broker's control endpoint. It
 * announces this supervisor (name, capacity, the workers it runs per pool) every
 * heartbeat, and obeys SCALE targets by starting or stopping worker processes under
 * the given supervisor (sup_t). When the broker goes silent it reconnects and
 * announces itself again, with the workers it still runs, so a restarted broker
 * finds its pools as they were. */
#ifndef RTP_SUPERVISE_LINK_H
#define RTP_SUPERVISE_LINK_H

#include "proto.h"
#include "supervisor.h"

typedef struct {
    const char *exe[RTP_POOL_COUNT];         /* worker executables, full paths */
    char *const *extra[RTP_POOL_COUNT];      /* extra arguments per pool (NULL-terminated, may be NULL) */
    const char *workers_endpoint;            /* passed to every worker as --broker */
} worker_spec_t;

typedef struct supervise_link_t supervise_link_t;

supervise_link_t *supervise_link_new(sup_t *sup, const char *control_endpoint, const char *name, int capacity,
                                     const worker_spec_t *spec, int heartbeat_ms, int liveness);
/* Called with each WELCOME from the broker: fills *spec (the link's own copy,
 * whose strings must outlive the link) and returns 0, or -1 (logged; the link
 * waits for the next WELCOME). */
typedef int (*supervise_link_welcome_fn)(void *arg, const rtp_msg_t *welcome, worker_spec_t *spec);
/* Makes the link learn its workers' spec from the broker: no worker starts before
 * a WELCOME was taken by fn (the broker sends it before any SCALE). */
void supervise_link_learn(supervise_link_t *self, supervise_link_welcome_fn fn, void *arg);

/* Sends DISCONNECT; does not stop the workers (the caller's supervisor does). */
void supervise_link_destroy(supervise_link_t **self_p);

/* Waits up to timeout_ms for the broker, handles what came, heartbeats, and
 * reconnects when the broker has been silent too long. */
void supervise_link_poll(supervise_link_t *self, int timeout_ms);

/* Workers of a pool this link runs now. */
int supervise_link_count(const supervise_link_t *self, int pool);

#endif
