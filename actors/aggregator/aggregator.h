/* aggregator: the rtp-aggregator actor.
 *
 * Sockets: a PULL connected to the broker's results endpoint (PARTs and
 * DEADLETTERs), a ROUTER bound for the batchers (CREDIT in; JOINED and DEADLETTER
 * out).
 *
 * Flow control, end to end:
 *   - Complete joins and dead letters wait on the ready queue. A batcher is sent
 *     only as many messages as it granted with CREDIT (credits add up; each batcher,
 *     known by its routing id, has its own; a batcher that is gone or says
 *     DISCONNECT loses its credit).
 *   - Pending joins + ready messages are capped (max_pending). At the cap the
 *     aggregator stops reading the PULL socket, whose high-water mark then stops the
 *     broker's PUSH: the broker is pushed back instead of memory growing. The first
 *     time the cap is hit in an episode it is logged; the episode ends when the load
 *     falls to 3/4 of the cap.
 *     One exception keeps this from deadlocking: at the cap with nothing ready,
 *     everything held is a join waiting for parts, so waiting could never free room.
 *     Then it keeps reading, and a part that would open a new join first evicts the
 *     oldest pending join, reported like a timed-out one ("... (evicted at the
 *     --max-pending cap)"). So at most max_pending + 1 messages are held. The broker
 *     sends an event's record and results as one bundle, so this does not happen
 *     with it; it takes more half-joined events than the cap (a foreign sender).
 *   - A join still incomplete after join_timeout_ms is logged (key, tweet id, missing
 *     parts) and sent on as a DEADLETTER "incomplete join: missing ...", so it lands
 *     in Redis's deadletter list: never dropped silently.
 *
 * Stopping (SIGINT/SIGTERM): the parts already queued in the PULL socket are read
 * (this may pass the cap by at most the socket's high-water mark), the socket is
 * closed, every incomplete join becomes a dead letter, and the ready queue is
 * delivered as credit allows, waiting up to drain_timeout_ms for credit; whatever is
 * left then is logged as an error with its count.
 */
#ifndef RTP_AGGREGATOR_H
#define RTP_AGGREGATOR_H

#include <stddef.h>

typedef struct {
    const char *results; /* PULL connects here: the broker's results endpoint */
    const char *bind;    /* ROUTER binds here: the batchers connect to it */
    size_t max_pending;  /* cap on pending joins + ready messages */
    int join_timeout_ms;
    int drain_timeout_ms;
    int stats_ms;
    int rcvhwm; /* the PULL socket's receive high-water mark */
    int metrics_port; /* Prometheus metrics: -1 off, 0 a free port */
} aggregator_config_t;

/* Runs until SIGINT/SIGTERM (rtp_signals_install first), then drains as above.
 * Returns the exit status: 0, or 1 when the sockets could not be set up or messages
 * were left undelivered at the end. */
int aggregator_run(const aggregator_config_t *cfg);

#endif
