#include "reader.h"

#include "forward.h"
#include "log.h"
#include "stats.h"
#include "stream.h"
#include "util.h"

/* The longest the loop sleeps, so a stop request is seen promptly. */
#define TICK_MS 100
/* While messages wait for ZeroMQ: its descriptor signals room, this is the fallback. */
#define PENDING_TICK_MS 10

static int s_on_data(const char *buf, size_t len, void *arg)
{
    return reader_forward_feed(arg, buf, len);
}
static void s_on_end(void *arg)
{
    reader_forward_end(arg);
}

int reader_run(const reader_config_t *config)
{
    reader_stats_t stats = {0};
    rtp_err_t err = {{0}};
    reader_forward_config_t fc = {config->broker, config->name, config->max_event_bytes, config->send_hwm,
                                  config->linger_ms};
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
    rtp_info("reading %s as \"%s\" into %s", config->url, config->name, config->broker);

    int rc = 0;
    int64_t next_stats = rtp_mono_ms() + config->stats_interval_ms;
    while (!rtp_stop_requested()) {
        struct curl_waitfd zmq_fd = {reader_forward_fd(forward), CURL_WAIT_POLLIN, 0};
        int64_t wait = reader_forward_pending(forward) ? PENDING_TICK_MS : TICK_MS;
        if (config->stats_interval_ms > 0 && next_stats - rtp_mono_ms() < wait)
            wait = next_stats - rtp_mono_ms();
        if (reader_stream_wait(stream, &zmq_fd, 1, wait > 0 ? (int) wait : 0) != 0) {
            rc = 1;
            break;
        }
        reader_forward_service(forward);
        if (reader_stream_paused(stream) && reader_forward_pending(forward) == 0)
            reader_stream_resume(stream);
        reader_stream_work(stream);
        if (config->stats_interval_ms > 0 && rtp_mono_ms() >= next_stats) {
            reader_stats_log(&stats, "stats", config->name);
            next_stats = rtp_mono_ms() + config->stats_interval_ms;
        }
    }
    rtp_info("stopping");
    reader_stream_destroy(&stream);
    reader_forward_destroy(&forward);
    reader_stats_log(&stats, "final stats", config->name);
    return rc;
}
