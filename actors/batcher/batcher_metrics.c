#include "batcher_metrics.h"

#include "util.h"

#include <stdlib.h>

/* Redis write time buckets, seconds: one round trip with a Lua script per batch,
 * from a local Redis (well under a millisecond) to the --redis-timeout-ms bound. */
static const double s_write_bounds[] = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,    0.1,    0.25,  0.5,    1,     2.5,  5};
/* End-to-end latency buckets, seconds: from a batch window of a few milliseconds
 * to a record that waited out a long Redis outage in the journal. */
static const double s_latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2, 0.3,
                                          0.5,   1,    2.5,   5,    10,   30,   60,  300};

struct batcher_metrics_t {
    rtp_metrics_t *m;
    batcher_view_t view;
    rtp_metric_t *write_seconds;
    rtp_metric_t *latency_seconds;
    double start_time;
};

static double s_held(void *arg)
{
    const batcher_metrics_t *self = arg;
    return (double) *self->view.held;
}

static double s_redis_up(void *arg)
{
    const batcher_metrics_t *self = arg;
    return *self->view.redis_up ? 1 : 0;
}

static double s_journal_records(void *arg)
{
    const batcher_metrics_t *self = arg;
    return *self->view.journal ? (double) rtp_journal_records(*self->view.journal) : 0;
}

static double s_journal_bytes(void *arg)
{
    const batcher_metrics_t *self = arg;
    return *self->view.journal ? (double) rtp_journal_bytes(*self->view.journal) : 0;
}

static double s_start_time(void *arg)
{
    const batcher_metrics_t *self = arg;
    return self->start_time;
}

static void s_counter(batcher_metrics_t *self, const char *name, const char *help, const uint64_t *value)
{
    rtp_metrics_add_u64(self->m, RTP_METRIC_COUNTER, name, help, NULL, value);
}

static void s_gauge(batcher_metrics_t *self, const char *name, const char *help, rtp_metric_fn fn)
{
    rtp_metrics_add_fn(self->m, RTP_METRIC_GAUGE, name, help, NULL, fn, self);
}

static void s_register(batcher_metrics_t *self)
{
    const batcher_view_t *v = &self->view;
    s_counter(self, "rtp_batcher_received_total", "Records taken from the aggregator.", v->received);
    s_counter(self, "rtp_batcher_batches_total", "Batches written to Redis.", v->batches);
    s_counter(self, "rtp_batcher_records_total",
              "Records written to Redis (new tweets, tweets already stored, dead letters, dead letters already "
              "in the list).",
              v->records);
    s_counter(self, "rtp_batcher_tweets_stored_total", "Tweets stored that Redis did not hold yet.", v->stored);
    s_counter(self, "rtp_batcher_duplicates_total", "Tweets written that Redis already held (resends).",
              v->duplicates);
    s_counter(self, "rtp_batcher_dead_letters_total", "Dead letters stored (the deadletter list).",
              v->deadletters);
    s_counter(self, "rtp_batcher_dead_letter_duplicates_total",
              "Dead letters the deadletter list held already (a resend): not appended again.",
              v->deadletter_duplicates);
    s_counter(self, "rtp_batcher_refused_rows_total",
              "Tweets Redis could not take because a key of theirs was in the way (of the wrong type, or not "
              "written by rtp): each became a dead letter naming the key (counted in the dead letters too).",
              v->refused);
    s_counter(self, "rtp_batcher_fast_batches_total",
              "Batches written by plain commands after reading that nothing is unusual (the rest go through "
              "the batch script, which decides row by row).",
              v->fast);
    s_counter(self, "rtp_batcher_write_retries_total",
              "Times a batch was read again because another writer changed one of its user rows between its "
              "reads and its write.",
              v->retries);
    s_counter(self, "rtp_batcher_failed_writes_total", "Redis writes that failed (each is retried).",
              v->failed_writes);
    s_counter(self, "rtp_batcher_acks_total", "ACK messages sent to the broker for the readers.", v->acks_sent);
    s_counter(self, "rtp_batcher_acked_records_total", "Records acknowledged to their reader as stored.",
              v->acked);
    self->write_seconds = rtp_metrics_add_histogram(
        self->m, "rtp_batcher_redis_write_seconds", "Time of one successful Redis write of a batch.", NULL,
        s_write_bounds, (int) (sizeof s_write_bounds / sizeof s_write_bounds[0]));
    self->latency_seconds = rtp_metrics_add_histogram(
        self->m, "rtp_batcher_record_latency_seconds",
        "Time from a tweet's reader receiving its event to its row being written to Redis (wall clocks of two "
        "processes: across hosts it includes their clock difference).",
        NULL, s_latency_bounds, (int) (sizeof s_latency_bounds / sizeof s_latency_bounds[0]));
    s_gauge(self, "rtp_batcher_held", "Records held in memory, waiting for their batch.", s_held);
    s_gauge(self, "rtp_batcher_redis_up", "0 from a failed Redis write until a write succeeds again, else 1.",
            s_redis_up);
    s_gauge(self, "rtp_batcher_journal_records", "Records in the on-disk journal, waiting for Redis.",
            s_journal_records);
    s_gauge(self, "rtp_batcher_journal_bytes", "Size of the on-disk journal's files.", s_journal_bytes);
    s_gauge(self, "process_start_time_seconds", "Start time of the process since the epoch, in seconds.",
            s_start_time);
}

batcher_metrics_t *batcher_metrics_new(int port, const batcher_view_t *view)
{
    if (port < 0)
        return NULL;
    batcher_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->m = rtp_metrics_serve(port);
    if (!self->m) {
        free(self);
        return NULL;
    }
    self->view = *view;
    self->start_time = (double) rtp_wall_ms() / 1000.0;
    s_register(self);
    return self;
}

void batcher_metrics_destroy(batcher_metrics_t **self_p)
{
    if (self_p && *self_p) {
        rtp_metrics_destroy(&(*self_p)->m);
        free(*self_p);
        *self_p = NULL;
    }
}

rtp_metrics_t *batcher_metrics_registry(batcher_metrics_t *self)
{
    return self ? self->m : NULL;
}

void batcher_metrics_write_time(batcher_metrics_t *self, double seconds)
{
    if (self)
        rtp_metric_observe(self->write_seconds, seconds);
}

void batcher_metrics_record_latency(batcher_metrics_t *self, double seconds)
{
    if (self)
        rtp_metric_observe(self->latency_seconds, seconds < 0 ? 0 : seconds);
}
