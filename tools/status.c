#include "status.h"

#include "http_get.h"
#include "log.h"
#include "metrics_scrape.h"
#include "proto.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRAPE_TIMEOUT_MS 300

typedef struct {
    char *url;
    rtp_scrape_t *cur, *prev;
    int64_t cur_ms, prev_ms;
} page_t;

struct up_status_t {
    page_t broker, batcher;
    int interval_ms;
    int64_t next_ms;
};

up_status_t *up_status_new(const char *broker_url, const char *batcher_url, int interval_ms)
{
    up_status_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->broker.url = broker_url && *broker_url ? strdup(broker_url) : NULL;
    self->batcher.url = batcher_url && *batcher_url ? strdup(batcher_url) : NULL;
    self->interval_ms = interval_ms;
    /* the first scrape soon, so that the first line comes one interval after it */
    self->next_ms = rtp_mono_ms() + (interval_ms > 1000 ? 1000 : interval_ms);
    return self;
}

static void s_page_clear(page_t *p)
{
    free(p->url);
    rtp_scrape_destroy(&p->cur);
    rtp_scrape_destroy(&p->prev);
}

void up_status_destroy(up_status_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_page_clear(&(*self_p)->broker);
    s_page_clear(&(*self_p)->batcher);
    free(*self_p);
    *self_p = NULL;
}

static void s_scrape(page_t *p)
{
    if (!p->url)
        return;
    size_t len = 0;
    rtp_err_t err;
    char *body = rtp_http_get(p->url, 16u << 20, SCRAPE_TIMEOUT_MS, &len, &err);
    rtp_scrape_t *page = body ? rtp_scrape_parse(body, len, &err) : NULL;
    free(body);
    if (!page)
        return;   /* an actor restarting: the next interval will do */
    rtp_scrape_destroy(&p->prev);
    p->prev = p->cur;
    p->prev_ms = p->cur_ms;
    p->cur = page;
    p->cur_ms = rtp_mono_ms();
}

static double s_value(const page_t *p, const char *name, const char *const *labels)
{
    return p->cur ? rtp_scrape_value(p->cur, name, labels) : NAN;
}

/* A counter's rate per second between the page's last two scrapes; NaN without two. */
static double s_rate(const page_t *p, const char *name)
{
    if (!p->cur || !p->prev || p->cur_ms <= p->prev_ms)
        return NAN;
    double d = rtp_scrape_value(p->cur, name, NULL) - rtp_scrape_value(p->prev, name, NULL);
    return d < 0 ? NAN : d * 1000.0 / (double) (p->cur_ms - p->prev_ms);
}

static const char *s_num(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.0f", v);
    return buf;
}

void up_status_format(const up_status_t *self, char *buf, size_t cap)
{
    buf[0] = 0;
    if (!self->broker.prev && !self->batcher.prev)
        return;
    size_t n = 0;
    char a[32], b[32], c[32];
#define ADD(...) (n += (size_t) snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__))
    if (self->broker.cur) {
        ADD("in %s tweets/s, in flight %s", s_num(a, sizeof a, s_rate(&self->broker, "rtp_broker_tweets_total")),
            s_num(b, sizeof b, s_value(&self->broker, "rtp_broker_events_in_flight", NULL)));
        for (int p = 0; p < RTP_POOL_COUNT; p++) {
            const char *labels[] = {"pool", rtp_pool_name(p), NULL};
            ADD("%s %s %s workers, %s queued", p ? ";" : " |", rtp_pool_name(p),
                s_num(a, sizeof a, s_value(&self->broker, "rtp_broker_workers", labels)),
                s_num(c, sizeof c, s_value(&self->broker, "rtp_broker_backlog", labels)));
        }
        ADD(" | dead letters %s, workers lost %s",
            s_num(a, sizeof a, s_value(&self->broker, "rtp_broker_dead_letters_total", NULL)),
            s_num(b, sizeof b, s_value(&self->broker, "rtp_broker_workers_lost_total", NULL)));
    }
    if (self->batcher.cur) {
        double up = s_value(&self->batcher, "rtp_batcher_redis_up", NULL);
        ADD("%sstored %s records/s, Redis %s, journal %s records", n ? " | " : "",
            s_num(a, sizeof a, s_rate(&self->batcher, "rtp_batcher_records_total")),
            isnan(up) ? "?" : up > 0 ? "up" : "DOWN",
            s_num(b, sizeof b, s_value(&self->batcher, "rtp_batcher_journal_records", NULL)));
    }
#undef ADD
}

void up_status_tick(up_status_t *self)
{
    if (!self || self->interval_ms <= 0 || rtp_mono_ms() < self->next_ms)
        return;
    s_scrape(&self->broker);
    s_scrape(&self->batcher);
    self->next_ms = rtp_mono_ms() + self->interval_ms;
    char line[1024];
    up_status_format(self, line, sizeof line);
    if (*line)
        rtp_info("status: %s", line);
}
