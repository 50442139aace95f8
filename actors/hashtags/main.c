/* rtp-hashtags: every interval, the most popular hashtags of the last interval
 * (SPEC section 2, last bullet), printed on stdout and kept in Redis.
 *
 * Input: a SUB socket connected to the broker's PUB endpoint, subscribed to all;
 * each RTP_MSG_HASHTAGS carries one tweet's id and its hashtags. Anything else is
 * dropped and counted, with a rate-limited warning.
 *
 * Windows are by arrival time on this process's own wall clock (not the tweets'
 * time_ms, which comes from another host and from 2016): they are aligned to
 * multiples of --interval-ms since the epoch, so with 5000 a report covers
 * 15:40:00-15:40:05, the next 15:40:05-15:40:10. The first window starts when the
 * actor does. Counting rules and bounds: see common/hashtag_window.h.
 */
#include "hashtag_window.h"
#include "hashtags_store.h"
#include "curve.h"
#include "log.h"
#include "proto.h"
#include "settings.h"
#include "util.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages queued in the SUB socket before ZeroMQ drops new ones: a few seconds of
 * the busiest stream, so a slow Redis write does not lose hashtags. */
#define S_RCVHWM 100000
/* Messages taken per wake-up before the clock is looked at again. */
#define S_BATCH 1000
/* At most one malformed-message warning per this many ms (the count is kept). */
#define S_WARN_EVERY_MS 10000

static const rtp_setting_def_t s_settings[] = {
    {"broker-pub", RTP_SET_STR, "tcp://127.0.0.1:5558", "the broker's PUB endpoint to connect to", NULL},
    {"interval-ms", RTP_SET_INT, "5000", "window length and report interval, ms (aligned on the wall clock)", NULL},
    {"top", RTP_SET_INT, "10", "hashtags per report", NULL},
    {"redis-url", RTP_SET_STR, "redis://127.0.0.1:6379",
     "where the latest report is kept, redis://[:password@]host:port[/db] (\"\": nowhere)", "REDIS_URL"},
    {"redis-timeout-ms", RTP_SET_INT, "500", "Redis connect and command timeout, ms", NULL},
    {"max-ids", RTP_SET_INT, "200000", "tweet ids remembered per window to skip duplicates", NULL},
    {"max-tags", RTP_SET_INT, "100000", "distinct hashtags counted per window", NULL},
    RTP_SETTINGS_END,
};

typedef struct {
    zsock_t *sub;
    rtp_hashtag_window_t *window;
    hashtags_store_t *store;
    rtp_hashtag_count_t *top;
    size_t top_n;
    int64_t interval_ms;
    uint64_t reports, counted, duplicates;
    uint64_t malformed, malformed_pending;   /* in all; not yet in a warning */
    int64_t malformed_warn_at;               /* mono ms: next warning allowed */
    char malformed_last[RTP_ERR_MAX];
} hashtags_t;

/* Logs the malformed messages not logged yet, as one line. */
static void s_malformed_flush(hashtags_t *self)
{
    if (!self->malformed_pending)
        return;
    rtp_warn("dropped %" PRIu64 " malformed message(s) (last: %s); %" PRIu64 " in all", self->malformed_pending,
             self->malformed_last, self->malformed);
    self->malformed_pending = 0;
    self->malformed_warn_at = rtp_mono_ms() + S_WARN_EVERY_MS;
}

static void s_malformed(hashtags_t *self, const char *reason)
{
    self->malformed++;
    self->malformed_pending++;
    snprintf(self->malformed_last, sizeof self->malformed_last, "%s", reason);
    if (rtp_mono_ms() >= self->malformed_warn_at)
        s_malformed_flush(self);
}

/* One message from the broker (taken). */
static void s_take(hashtags_t *self, rtp_msg_t *msg)
{
    if (msg->type != RTP_MSG_HASHTAGS) {
        char reason[64];
        snprintf(reason, sizeof reason, "unexpected %s message", rtp_msg_type_name(msg->type));
        s_malformed(self, reason);
    } else if (rtp_hashtag_window_add(self->window, msg->id, msg->text) < 0)
        s_malformed(self, "HASHTAGS without a usable tweet id");
    rtp_msg_destroy(&msg);
}

/* Takes up to S_BATCH waiting ZeroMQ messages (the broker publishes a bundle of
 * HASHTAGS per turn of its loop) without blocking. */
static void s_receive(hashtags_t *self)
{
    for (int i = 0; i < S_BATCH; i++) {
        rtp_err_t err = {{0}};
        rtp_msg_t *bundle[RTP_BUNDLE_MAX];
        size_t n = rtp_msg_recv_bundle(self->sub, NULL, ZMQ_DONTWAIT, bundle, RTP_BUNDLE_MAX, &err);
        if (!n) {
            if (errno == EPROTO)
                s_malformed(self, err.msg);
            else
                return;   /* EAGAIN: nothing more; EINTR: the loop checks for a stop */
            continue;
        }
        for (size_t k = 0; k < n; k++)
            s_take(self, bundle[k]);
    }
}

/* Prints the report of the current window, then keeps it in Redis. */
static void s_report(hashtags_t *self)
{
    size_t n = rtp_hashtag_window_top(self->window, self->top, self->top_n);
    const rtp_hashtag_window_stats_t *st = rtp_hashtag_window_stats(self->window);
    char *line = rtp_hashtag_window_report(self->window, self->top, n);
    if (line) {
        printf("%s\n", line);
        fflush(stdout);
        free(line);
    } else
        rtp_error("out of memory formatting a report");
    self->reports++;
    self->counted += st->tweets;
    self->duplicates += st->duplicates;
    if (st->ids_overflow || st->tags_dropped)
        rtp_warn("window over its caps: %" PRIu64 " tweets not remembered (max-ids), %" PRIu64
                 " tag mentions dropped (max-tags or too long)",
                 st->ids_overflow, st->tags_dropped);
    rtp_debug("window: %" PRIu64 " tweets, %" PRIu64 " duplicates skipped, %" PRIu64 " tags, %" PRIu64 " mentions",
              st->tweets, st->duplicates, st->tags, st->mentions);
    if (self->store)
        hashtags_store_put(self->store, st, self->top, n);
}

static void s_run(hashtags_t *self)
{
    int64_t interval = self->interval_ms;
    int64_t now = rtp_wall_ms();
    int64_t start = now, end = rtp_hashtag_window_align(now, interval) + interval;
    rtp_hashtag_window_reset(self->window, start, end);
    void *handle = zsock_resolve(self->sub);
    while (!rtp_stop_requested()) {
        now = rtp_wall_ms();
        if (now >= end || now < start) {
            s_report(self);
            /* Normally the next window follows on; after a stall or a jump of the
             * wall clock (either way) it is the window that holds now. */
            start = now >= end && now < end + interval ? end : rtp_hashtag_window_align(now, interval);
            end = rtp_hashtag_window_align(start, interval) + interval;
            rtp_hashtag_window_reset(self->window, start, end);
            if (rtp_mono_ms() >= self->malformed_warn_at)
                s_malformed_flush(self);
            continue;
        }
        zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long) (end - now));
        if (rc > 0)
            s_receive(self);
        else if (rc < 0 && errno != EINTR) {
            rtp_error("poll: %s", zmq_strerror(errno));
            break;
        }
    }
}

int main(int argc, char **argv)
{
    int code;
    rtp_settings_t *settings = rtp_settings_new(
        "rtp-hashtags", "Every interval, the most popular hashtags of the last interval, printed and kept in Redis.",
        s_settings, argc, argv, &code);
    if (!settings)
        return code;
    int64_t interval = rtp_settings_int(settings, "interval-ms");
    int64_t top_n = rtp_settings_int(settings, "top");
    int64_t max_ids = rtp_settings_int(settings, "max-ids");
    int64_t max_tags = rtp_settings_int(settings, "max-tags");
    int64_t timeout = rtp_settings_int(settings, "redis-timeout-ms");
    if (interval < 10 || top_n < 1 || top_n > 100000 || max_ids < 1 || max_tags < 1 || timeout < 1) {
        fprintf(stderr, "rtp-hashtags: need --interval-ms >= 10, 1 <= --top <= 100000, --max-ids >= 1, "
                        "--max-tags >= 1, --redis-timeout-ms >= 1\n");
        rtp_settings_destroy(&settings);
        return 2;
    }
    rtp_signals_install();
    hashtags_t self = {.interval_ms = interval, .top_n = (size_t) top_n};
    const char *endpoint = rtp_settings_str(settings, "broker-pub");
    const char *url = rtp_settings_str(settings, "redis-url");
    int status = 1;
    self.sub = zsock_new(ZMQ_SUB);
    self.window = rtp_hashtag_window_new((size_t) max_ids, (size_t) max_tags);
    self.top = calloc((size_t) top_n, sizeof *self.top);
    if (!self.sub || !self.window || !self.top) {
        rtp_error("out of memory");
        goto done;
    }
    zsock_set_rcvhwm(self.sub, S_RCVHWM);
    zsock_set_subscribe(self.sub, "");
    rtp_err_t curve_err;
    if (rtp_curve_client(self.sub, &curve_err) != 0) {
        rtp_error("%s", curve_err.msg);
        goto done;
    }
    if (zsock_connect(self.sub, "%s", endpoint) != 0) {
        rtp_error("cannot connect to %s: %s", endpoint, zmq_strerror(errno));
        goto done;
    }
    if (url && *url) {
        self.store = hashtags_store_new(url, (int) timeout);
        if (!self.store)
            goto done;   /* a URL that does not parse: already logged */
    }
    rtp_info("subscribed to %s; reporting the top %" PRId64 " every %" PRId64 " ms%s%s", endpoint, top_n, interval,
             self.store ? " to " : " (no Redis)", self.store ? hashtags_store_where(self.store) : "");
    s_run(&self);
    s_malformed_flush(&self);
    rtp_info("stopping after %" PRIu64 " reports: %" PRIu64 " tweets counted, %" PRIu64 " duplicates skipped, %" PRIu64
             " malformed messages dropped",
             self.reports, self.counted, self.duplicates, self.malformed);
    status = 0;
done:
    hashtags_store_destroy(&self.store);
    free(self.top);
    rtp_hashtag_window_destroy(&self.window);
    zsock_destroy(&self.sub);
    rtp_settings_destroy(&settings);
    return status;
}
