#include "reader.h"

#include "forward.h"
#include "log.h"
#include "reader_metrics.h"
#include "stats.h"
#include "stream.h"
#include "util.h"

/* The longest the loop sleeps, so a stop request is seen promptly. */
#define TICK_MS 100

static int s_on_data(const char *buf, size_t len, void *arg)
{
    return reader_forward_feed(arg, buf, len);
}
static void s_on_end(void *arg)
{
    reader_forward_end(arg);
}

/* While draining: the metrics page still answers (rtp up reads the window from it). */
static void s_metrics_tick(void *arg)
{
    if (arg)
        rtp_metrics_service(arg);
}

int reader_run(const reader_config_t *config)
{
    reader_stats_t stats = {0};
    rtp_err_t err = {{0}};
    reader_forward_config_t fc = {.broker = config->broker,
                                  .name = config->name,
                                  .max_event_bytes = config->max_event_bytes,
                                  .send_hwm = config->send_hwm,
                                  .linger_ms = config->linger_ms,
                                  .window = config->window,
                                  .ack_timeout_ms = config->ack_timeout_ms,
                                  .ack_backoff_max_ms = config->ack_backoff_max_ms,
                                  .spool_dir = config->spool_dir,
                                  .spool_max_bytes = config->spool_max_bytes,
                                  .spool_sync_ms = config->spool_sync_ms};
    reader_forward_t *forward = reader_forward_new(&fc, &stats, &err);
    if (!forward) {
        rtp_error("cannot start: %s", err.msg);
        return 1;
    }
    reader_stream_config_t sc = {config->url, config->connect_timeout_ms, config->read_timeout_ms,
                                 config->backoff_min_ms, config->backoff_max_ms};
    reader_stream_handler_t handler = {s_on_data, s_on_end, forward};
    reader_stream_t *stream = reader_stream_new(&sc, handler, &stats);
    if (!stream) {
        rtp_error("cannot start: libcurl failed to initialise");
        reader_forward_destroy(&forward);
        return 1;
    }
    if (config->window > 0)
        rtp_info("reading %s as \"%s\" into %s; seqs from %llu; window %zu records, resent after %lld ms",
                 config->url, config->name, config->broker,
                 (unsigned long long) reader_forward_next_seq(forward), config->window,
                 (long long) config->ack_timeout_ms);
    else
        rtp_info("reading %s as \"%s\" into %s; seqs from %llu; no acknowledgement", config->url,
                 config->name, config->broker, (unsigned long long) reader_forward_next_seq(forward));

    /* after the stream and the forwarder: the metrics read the stats they keep */
    rtp_metrics_t *metrics = reader_metrics_new(config->metrics_port, config->name, &stats);
    int64_t next_metrics = 0;

    int rc = 0;
    int64_t next_stats = rtp_mono_ms() + config->stats_interval_ms;
    while (!rtp_stop_requested()) {
        struct curl_waitfd fds[1 + RTP_METRICS_POLL_MAX] = {{reader_forward_fd(forward), CURL_WAIT_POLLIN, 0}};
        unsigned n_fds = 1 + reader_metrics_waitfds(metrics, fds + 1, RTP_METRICS_POLL_MAX);
        int64_t wait = TICK_MS;
        int64_t due = reader_forward_wait_ms(forward);
        if (due >= 0 && due < wait)
            wait = due;
        if (config->stats_interval_ms > 0 && next_stats - rtp_mono_ms() < wait)
            wait = next_stats - rtp_mono_ms();
        if (reader_stream_wait(stream, fds, n_fds, wait > 0 ? (int) wait : 0) != 0) {
            rc = 1;
            break;
        }
        /* a scrape is answered when its socket is ready; once a tick, clients past
         * their deadline are dropped */
        int scraped = 0;
        for (unsigned i = 1; i < n_fds; i++)
            scraped |= fds[i].revents != 0;
        if (metrics && (scraped || rtp_mono_ms() >= next_metrics)) {
            rtp_metrics_service(metrics);
            next_metrics = rtp_mono_ms() + TICK_MS;
        }
        reader_forward_service(forward);
        if (reader_stream_paused(stream) && reader_forward_ready(forward))
            reader_stream_resume(stream);
        reader_stream_work(stream);
        reader_forward_flush(forward);   /* what this round parsed, as one bundle */
        stats.paused = (uint64_t) reader_stream_paused(stream);
        if (config->stats_interval_ms > 0 && rtp_mono_ms() >= next_stats) {
            reader_stats_log(&stats, "stats", config->name);
            next_stats = rtp_mono_ms() + config->stats_interval_ms;
        }
    }
    rtp_info("stopping");
    reader_stream_destroy(&stream);
    reader_forward_drain(forward, config->drain_ms, s_metrics_tick, metrics);
    reader_forward_destroy(&forward);
    rtp_metrics_destroy(&metrics);
    reader_stats_log(&stats, "final stats", config->name);
    return rc;
}
