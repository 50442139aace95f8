#include "status.h"

#include "hosts_line.h"
#include "log.h"
#include "proto.h"
#include "scrape_page.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRAPE_TIMEOUT_MS 300

struct up_status_t {
    char *broker_url, *batcher_url;
    scrape_page_t broker, batcher;
    int interval_ms;
    int64_t next_ms;
};

up_status_t *up_status_new(const char *broker_url, const char *batcher_url, int interval_ms)
{
    up_status_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->broker_url = broker_url && *broker_url ? strdup(broker_url) : NULL;
    self->batcher_url = batcher_url && *batcher_url ? strdup(batcher_url) : NULL;
    self->broker.url = self->broker_url;
    self->batcher.url = self->batcher_url;
    self->interval_ms = interval_ms;
    /* the first scrape soon, so that the first line comes one interval after it */
    self->next_ms = rtp_mono_ms() + (interval_ms > 1000 ? 1000 : interval_ms);
    return self;
}

void up_status_destroy(up_status_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    up_status_t *self = *self_p;
    scrape_page_clear(&self->broker);
    scrape_page_clear(&self->batcher);
    free(self->broker_url);
    free(self->batcher_url);
    free(self);
    *self_p = NULL;
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
        ADD("in %s tweets/s, in flight %s", s_num(a, sizeof a, scrape_page_rate(&self->broker, "rtp_broker_tweets_total", NULL)),
            s_num(b, sizeof b, scrape_page_value(&self->broker, "rtp_broker_events_in_flight", NULL)));
        for (int p = 0; p < RTP_POOL_COUNT; p++) {
            const char *labels[] = {"pool", rtp_pool_name(p), NULL};
            ADD("%s %s %s workers, %s queued", p ? ";" : " |", rtp_pool_name(p),
                s_num(a, sizeof a, scrape_page_value(&self->broker, "rtp_broker_workers", labels)),
                s_num(c, sizeof c, scrape_page_value(&self->broker, "rtp_broker_backlog", labels)));
        }
        char hosts[400];
        if (hosts_line_format(self->broker.cur, 0, hosts, sizeof hosts))
            ADD(" | hosts %s", hosts);
        ADD(" | dead letters %s, workers lost %s",
            s_num(a, sizeof a, scrape_page_value(&self->broker, "rtp_broker_dead_letters_total", NULL)),
            s_num(b, sizeof b, scrape_page_value(&self->broker, "rtp_broker_workers_lost_total", NULL)));
    }
    if (self->batcher.cur) {
        double up = scrape_page_value(&self->batcher, "rtp_batcher_redis_up", NULL);
        ADD("%sstored %s records/s, Redis %s, journal %s records", n ? " | " : "",
            s_num(a, sizeof a, scrape_page_rate(&self->batcher, "rtp_batcher_records_total", NULL)),
            isnan(up) ? "?" : up > 0 ? "up" : "DOWN",
            s_num(b, sizeof b, scrape_page_value(&self->batcher, "rtp_batcher_journal_records", NULL)));
    }
#undef ADD
}

void up_status_tick(up_status_t *self)
{
    if (!self || self->interval_ms <= 0 || rtp_mono_ms() < self->next_ms)
        return;
    /* a page that does not answer (its actor restarting) keeps its last scrape */
    if (self->broker.url)
        scrape_page_fetch(&self->broker, SCRAPE_TIMEOUT_MS);
    if (self->batcher.url)
        scrape_page_fetch(&self->batcher, SCRAPE_TIMEOUT_MS);
    self->next_ms = rtp_mono_ms() + self->interval_ms;
    char line[1600];
    up_status_format(self, line, sizeof line);
    if (*line)
        rtp_info("status: %s", line);
}
