#include "reader_metrics.h"

#include "util.h"

#include <stddef.h>

static double s_start_time;

static double s_start_time_fn(void *arg)
{
    (void) arg;
    return s_start_time;
}

typedef struct {
    const char *name;
    rtp_metric_kind_t kind;
    const char *help;
    size_t offset; /* of the uint64_t in reader_stats_t */
} series_t;

#define AT(field) offsetof(reader_stats_t, field)

static const series_t s_series[] = {
    {"rtp_reader_events_total", RTP_METRIC_COUNTER, "SSE events of type message read (each decoded once).",
     AT(events)},
    {"rtp_reader_tweets_total", RTP_METRIC_COUNTER, "Events that decoded to a tweet (retweets included).",
     AT(tweets)},
    {"rtp_reader_retweets_total", RTP_METRIC_COUNTER, "Events that decoded to a retweet (two records each).",
     AT(retweets)},
    {"rtp_reader_panics_total", RTP_METRIC_COUNTER, "Panic events read.", AT(panics)},
    {"rtp_reader_malformed_total", RTP_METRIC_COUNTER,
     "Events that could not be decoded (forwarded as malformed, they become dead letters).", AT(malformed)},
    {"rtp_reader_oversized_total", RTP_METRIC_COUNTER, "Events dropped by the SSE parser for their size.",
     AT(oversized)},
    {"rtp_reader_records_total", RTP_METRIC_COUNTER,
     "Records sent to the broker for the first time (a retweet gives two; panics and malformed events one).",
     AT(sent)},
    {"rtp_reader_spooled_total", RTP_METRIC_COUNTER,
     "Records an earlier run left in the spool (--spool-dir), taken at start and sent first.", AT(spooled)},
    {"rtp_reader_received_bytes_total", RTP_METRIC_COUNTER, "Body bytes of the event stream received.",
     AT(bytes)},
    {"rtp_reader_connects_total", RTP_METRIC_COUNTER, "Connections answered with HTTP 200.", AT(connects)},
    {"rtp_reader_reconnects_total", RTP_METRIC_COUNTER, "Connection attempts after the first.", AT(reconnects)},
    {"rtp_reader_stalls_total", RTP_METRIC_COUNTER, "Connections ended for sending nothing for --read-timeout-ms.",
     AT(stalls)},
    {"rtp_reader_resent_total", RTP_METRIC_COUNTER,
     "Records sent again because their acknowledgement was overdue (--ack-timeout-ms).", AT(resent)},
    {"rtp_reader_acked_total", RTP_METRIC_COUNTER, "Records acknowledged as persisted in Redis.", AT(acked)},
    {"rtp_reader_window", RTP_METRIC_GAUGE, "Records sent and not yet acknowledged.", AT(window)},
    {"rtp_reader_paused", RTP_METRIC_GAUGE,
     "1 while reading is paused because the broker or the window cannot take more, else 0.", AT(paused)},
};

rtp_metrics_t *reader_metrics_new(int port, const char *name, const reader_stats_t *stats)
{
    rtp_metrics_t *m = rtp_metrics_serve(port);
    if (!m)
        return NULL;
    const char *const labels[] = {"stream", name, NULL};
    for (size_t i = 0; i < sizeof s_series / sizeof s_series[0]; i++) {
        const series_t *s = &s_series[i];
        rtp_metrics_add_u64(m, s->kind, s->name, s->help, labels,
                            (const uint64_t *) (const void *) ((const char *) stats + s->offset));
    }
    s_start_time = (double) rtp_wall_ms() / 1000.0;
    rtp_metrics_add_fn(m, RTP_METRIC_GAUGE, "process_start_time_seconds",
                       "Start time of the process since the epoch, in seconds.", NULL, s_start_time_fn, NULL);
    return m;
}

unsigned reader_metrics_waitfds(const rtp_metrics_t *metrics, struct curl_waitfd *fds, unsigned cap)
{
    zmq_pollitem_t items[RTP_METRICS_POLL_MAX];
    int n = rtp_metrics_poll_items(metrics, items, RTP_METRICS_POLL_MAX);
    unsigned used = 0;
    for (int i = 0; i < n && used < cap; i++) {
        short events = 0;
        if (items[i].events & ZMQ_POLLIN)
            events |= CURL_WAIT_POLLIN;
        if (items[i].events & ZMQ_POLLOUT)
            events |= CURL_WAIT_POLLOUT;
        fds[used++] = (struct curl_waitfd){(curl_socket_t) items[i].fd, events, 0};
    }
    return used;
}
