#include "broker_metrics.h"

#include "util.h"

#include <stdlib.h>

/* Task time buckets, seconds: from a bare analysis (well under a millisecond) to
 * the simulated work and queueing behind a busy worker. */
static const double s_task_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};

typedef struct {
    broker_metrics_t *self;
    int pool;
} pool_ref_t;

/* A host's series: its index in the manager's table, and a pool (or -1). */
typedef struct {
    broker_metrics_t *self;
    int host, pool;
} host_ref_t;

struct broker_metrics_t {
    rtp_metrics_t *m;
    broker_view_t view;
    pool_ref_t refs[RTP_POOL_COUNT];
    rtp_metric_t *task_seconds[RTP_POOL_COUNT];
    double start_time;
    host_ref_t host_refs[MANAGER_MAX_HOSTS][RTP_POOL_COUNT + 1];
    int n_hosts;   /* hosts whose series are registered */
};

static double s_workers(void *arg)
{
    const pool_ref_t *r = arg;
    return r->self->view.pools[r->pool]->count;
}

static double s_target(void *arg)
{
    const pool_ref_t *r = arg;
    return manager_target(r->self->view.manager, r->pool);
}

static double s_in_flight(void *arg)
{
    const pool_ref_t *r = arg;
    return pool_in_flight(r->self->view.pools[r->pool]);
}

static double s_backlog(void *arg)
{
    const pool_ref_t *r = arg;
    return (double) r->self->view.pools[r->pool]->len;
}

static double s_events_in_flight(void *arg)
{
    const broker_metrics_t *self = arg;
    return (double) rtp_u64map_size(self->view.events);
}

static double s_aggregator_queue(void *arg)
{
    const broker_metrics_t *self = arg;
    return (double) *self->view.aggregator_queue;
}

static double s_supervisors(void *arg)
{
    const broker_metrics_t *self = arg;
    return manager_supervisors(self->view.manager);
}

static double s_host_up(void *arg)
{
    const host_ref_t *r = arg;
    return manager_host(r->self->view.manager, r->host)->up;
}

static double s_host_capacity(void *arg)
{
    const host_ref_t *r = arg;
    return manager_host(r->self->view.manager, r->host)->capacity;
}

static double s_host_workers(void *arg)
{
    const host_ref_t *r = arg;
    return manager_host(r->self->view.manager, r->host)->workers[r->pool];
}

void broker_metrics_sync_hosts(broker_metrics_t *self)
{
    if (!self)
        return;
    for (; self->n_hosts < manager_host_count(self->view.manager); self->n_hosts++) {
        int i = self->n_hosts;
        const char *name = manager_host(self->view.manager, i)->name;
        host_ref_t *refs = self->host_refs[i];
        const char *const labels[] = {"host", name, NULL};
        refs[RTP_POOL_COUNT] = (host_ref_t) {self, i, -1};
        rtp_metrics_add_fn(self->m, RTP_METRIC_GAUGE, "rtp_broker_host_up",
                           "1 while the host's supervisor is live, 0 once it is lost or gone.", labels,
                           s_host_up, &refs[RTP_POOL_COUNT]);
        rtp_metrics_add_fn(self->m, RTP_METRIC_GAUGE, "rtp_broker_host_capacity",
                           "The worker processes the host offers (its supervisor's capacity).", labels,
                           s_host_capacity, &refs[RTP_POOL_COUNT]);
        for (int p = 0; p < RTP_POOL_COUNT; p++) {
            const char *const pool_labels[] = {"host", name, "pool", rtp_pool_name(p), NULL};
            refs[p] = (host_ref_t) {self, i, p};
            rtp_metrics_add_fn(self->m, RTP_METRIC_GAUGE, "rtp_broker_host_workers",
                               "The pool's workers the host runs, as its supervisor reports.", pool_labels,
                               s_host_workers, &refs[p]);
        }
    }
}

static double s_start_time(void *arg)
{
    const broker_metrics_t *self = arg;
    return self->start_time;
}

static void s_counter(broker_metrics_t *self, const char *name, const char *help, const uint64_t *value)
{
    rtp_metrics_add_u64(self->m, RTP_METRIC_COUNTER, name, help, NULL, value);
}

static void s_register(broker_metrics_t *self)
{
    rtp_metrics_t *m = self->m;
    const broker_counters_t *n = self->view.n;
    s_counter(self, "rtp_broker_events_total", "Events received from the readers, of every kind.",
              &n->events_in);
    s_counter(self, "rtp_broker_tweets_total", "Tweet events received (each fans out to the three pools).",
              &n->tweets_in);
    s_counter(self, "rtp_broker_panics_total", "Panic events received (each sent to one censor worker).",
              &n->panics_in);
    s_counter(self, "rtp_broker_malformed_total", "Malformed events received (sent on as dead letters).",
              &n->malformed_in);
    for (int p = 0; p < RTP_POOL_COUNT; p++) {
        const char *const labels[] = {"pool", rtp_pool_name(p), NULL};
        pool_ref_t *ref = &self->refs[p];
        rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "rtp_broker_workers", "Live workers in the pool.", labels,
                           s_workers, ref);
        rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "rtp_broker_workers_target",
                           "Workers the pool manager wants in the pool (-1: not managed).", labels, s_target,
                           ref);
        rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "rtp_broker_tasks_in_flight",
                           "Task copies the pool's workers hold now.", labels, s_in_flight, ref);
        rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "rtp_broker_backlog",
                           "Tasks waiting for a worker of the pool.", labels, s_backlog, ref);
        rtp_metrics_add_u64(m, RTP_METRIC_COUNTER, "rtp_broker_results_total",
                            "Results accepted from the pool (one per task).", labels, &n->results[p]);
        rtp_metrics_add_u64(m, RTP_METRIC_COUNTER, "rtp_broker_late_results_total",
                            "Results dropped: a copy that lost the race, or a task already done.", labels,
                            &n->late[p]);
        rtp_metrics_add_u64(
            m, RTP_METRIC_COUNTER, "rtp_broker_dispatched_total",
            "Task copies sent to the pool's workers (speculative copies and re-dispatches included).", labels,
            &n->dispatched[p]);
        rtp_metrics_add_u64(m, RTP_METRIC_COUNTER, "rtp_broker_worker_restarts_total",
                            "The pool's crashed workers restarted by their supervisors (as they report each "
                            "heartbeat).",
                            labels, manager_worker_restarts(self->view.manager, p));
        self->task_seconds[p] = rtp_metrics_add_histogram(
            m, "rtp_broker_task_seconds", "Time from a task's dispatch to its accepted result.", labels,
            s_task_bounds, (int) (sizeof s_task_bounds / sizeof s_task_bounds[0]));
    }
    rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "rtp_broker_events_in_flight",
                       "Events received and not finished (waiting for a pool's result).", NULL,
                       s_events_in_flight, self);
    rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "rtp_broker_aggregator_queue",
                       "Messages for the aggregator that its socket has not taken yet.", NULL,
                       s_aggregator_queue, self);
    rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "rtp_broker_supervisors",
                       "Live supervisors on the control endpoint.", NULL, s_supervisors, self);
    s_counter(self, "rtp_broker_speculative_copies_total",
              "Extra copies of a task sent to idle censor workers.", &n->speculative_copies);
    s_counter(self, "rtp_broker_speculative_wins_total",
              "Speculative tasks whose first result won (WON sent).", &n->speculative_wins);
    s_counter(self, "rtp_broker_cancels_total", "Copies cancelled because another copy answered first.",
              &n->cancels);
    s_counter(self, "rtp_broker_workers_lost_total",
              "Workers declared lost (crashed, silent, or disconnected).", &n->workers_lost);
    s_counter(self, "rtp_broker_poison_total",
              "Tasks that crashed --max-crashes workers (sent as dead letters).", &n->poison);
    s_counter(self, "rtp_broker_dead_letters_total",
              "Dead letters sent to the aggregator (malformed events, blamed panics, poison).",
              &n->dead_letters);
    s_counter(self, "rtp_broker_resends_dropped_total",
              "Events a reader sent again while the first copy was still in flight here (dropped: it will be "
              "acknowledged).",
              &n->resends_in_flight);
    s_counter(self, "rtp_broker_tweets_printed_total",
              "Censored tweets the censor pool was told to print (at most --print-per-second a second).",
              &n->printed);
    s_counter(self, "rtp_broker_tweets_not_printed_total",
              "Censored tweets only counted, over --print-per-second (the printing worker reports them).",
              &n->unprinted);
    s_counter(self, "rtp_broker_dropped_frames_total", "Malformed, foreign or unexpected messages dropped.",
              &n->dropped_frames);
    s_counter(self, "rtp_broker_acks_forwarded_total", "Batcher acknowledgements passed on to their reader.",
              self->view.acks_forwarded);
    s_counter(self, "rtp_broker_acks_unknown_total",
              "Acknowledgements for a reader the broker does not know.", self->view.acks_unknown);
    rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "process_start_time_seconds",
                       "Start time of the process since the epoch, in seconds.", NULL, s_start_time, self);
}

broker_metrics_t *broker_metrics_new(int port, const broker_view_t *view)
{
    if (port < 0)
        return NULL;
    broker_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->m = rtp_metrics_serve(port);
    if (!self->m) {
        free(self);
        return NULL;
    }
    self->view = *view;
    self->start_time = (double) rtp_wall_ms() / 1000.0;
    for (int p = 0; p < RTP_POOL_COUNT; p++)
        self->refs[p] = (pool_ref_t){self, p};
    s_register(self);
    return self;
}

void broker_metrics_destroy(broker_metrics_t **self_p)
{
    if (self_p && *self_p) {
        rtp_metrics_destroy(&(*self_p)->m);
        free(*self_p);
        *self_p = NULL;
    }
}

rtp_metrics_t *broker_metrics_registry(broker_metrics_t *self)
{
    return self ? self->m : NULL;
}

void broker_metrics_task_done(broker_metrics_t *self, int pool, int64_t us)
{
    if (self && pool >= 0 && pool < RTP_POOL_COUNT)
        rtp_metric_observe(self->task_seconds[pool], (double) us / 1e6);
}
