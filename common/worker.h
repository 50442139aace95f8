/* worker: the one loop every pool worker runs (rtp-censor, rtp-sentiment,
 * rtp-engagement differ only in their work function).
 *
 * A worker connects a DEALER to the broker, announces itself with READY (its pool,
 * name and capacity: how many tasks the broker may have outstanding on it), and then
 * works through TASKs in arrival order, sending one RESULT each. It heartbeats the
 * broker; when the broker is silent for `liveness` heartbeats, it drops the
 * connection and reconnects with capped exponential backoff, announcing itself
 * again (Paranoid Pirate). A DISCONNECT from the broker ("I do not know you") also
 * makes it announce itself again.
 *
 * Simulated work (the lab's): after computing a result, the worker waits a
 * Poisson-distributed number of milliseconds with mean work_mean_ms before sending it
 * (0 turns it off). The wait listens to the socket, so a CANCEL for that task ends
 * it early and no result is sent.
 *
 * A TASK carrying a panic makes the process crash on purpose (abort) when its turn
 * comes, as the lab asks; its supervisor restarts it. Tasks run strictly in arrival
 * order, which lets the broker blame a crash on the right task.
 */
#ifndef RTP_WORKER_H
#define RTP_WORKER_H

#include "proto.h"
#include "settings.h"

/* Fills `result` (type RESULT; key, pool and id are already set) with the result of
 * `task`: text for the censor pool, number for the others. Returns 0, or -1 when the
 * task cannot be processed (the worker logs it and sends no result). */
typedef int(rtp_work_fn)(void *ctx, const rtp_msg_t *task, rtp_msg_t *result);
/* Called when a result is sent, after the simulated work (not for a cancelled
 * task): the censor pool prints the tweet here. */
typedef void(rtp_sent_fn)(void *ctx, const rtp_msg_t *task, const rtp_msg_t *result);

/* The settings every worker has, to put at the start of a worker's table. work_env
 * names the environment variable of --work-mean-ms: RTP_WORK_MEAN_MS (SPEC section
 * 4) is the censor pool's; the other pools have their own, so that a supervisor's
 * environment, which every worker inherits, puts the lab's work on the censor pool only. */
#define RTP_WORKER_SETTINGS(work_env)                                                                  \
    {"broker", RTP_SET_STR, "tcp://127.0.0.1:5556", "the broker's workers endpoint to connect to", NULL},   \
        {"name", RTP_SET_STR, NULL, "this worker's name in logs (default: pool-pid)", NULL},                \
        {"capacity", RTP_SET_INT, "64",                                                                   \
         "tasks the broker may have outstanding on this worker (it gives fewer when tasks are slow)", NULL},      \
        {"heartbeat-ms", RTP_SET_INT, "500", "heartbeat interval", NULL},                                   \
        {"liveness", RTP_SET_INT, "4", "heartbeats missed before the broker counts as lost", NULL},         \
        {"reconnect-min-ms", RTP_SET_INT, "100", "first reconnect delay", NULL},                            \
        {"reconnect-max-ms", RTP_SET_INT, "5000", "reconnect delay cap", NULL},                             \
        {"work-mean-ms", RTP_SET_DOUBLE, "0", "mean of the simulated Poisson work per task, 0 = off", work_env}, \
        {"crash-on", RTP_SET_STR, NULL, "test hook: crash on every tweet whose text contains this (a poison message)", NULL}

typedef struct {
    rtp_pool_t pool;
    const char *broker;
    const char *name;
    int capacity;
    int heartbeat_ms;
    int liveness;
    int reconnect_min_ms;
    int reconnect_max_ms;
    double work_mean_ms;
    const char *crash_on;   /* test hook: abort on tweets containing it */
    rtp_work_fn *work;
    rtp_sent_fn *sent;   /* may be NULL */
    void *ctx;
} rtp_worker_config_t;

/* Reads the RTP_WORKER_SETTINGS values into a config. */
void rtp_worker_config_from(rtp_worker_config_t *cfg, rtp_settings_t *settings, rtp_pool_t pool);

/* Runs until SIGINT/SIGTERM (rtp_signals_install first). Returns the exit status. */
int rtp_worker_run(const rtp_worker_config_t *cfg);

/* A Poisson-distributed sample with the given mean (>= 0), from the given 64-bit
 * random state (exposed for tests). */
int64_t rtp_poisson(double mean, uint64_t *state);

#endif
