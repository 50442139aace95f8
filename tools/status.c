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
    char *reader_url[UP_STATUS_READERS];
    scrape_page_t reader[UP_STATUS_READERS];
    int n_readers;
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
    for (int i = 0; i < self->n_readers; i++) {
        scrape_page_clear(&self->reader[i]);
        free(self->reader_url[i]);
    }
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

/* v with thousands separators ("3,400"), "-" when unknown. */
static const char *s_grouped(char *buf, size_t cap, double v)
{
    if (isnan(v) || v < 0 || v > 1e15)
        return s_num(buf, cap, v);
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%.0f", v), out = 0;
    for (int i = 0; i < n && out + 2 < (int) cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = 0;
    return buf;
}

void up_status_set_readers(up_status_t *self, const char *const urls[], int n)
{
    for (int i = 0; self && i < n && self->n_readers < UP_STATUS_READERS; i++)
        if (urls[i] && *urls[i] && (self->reader_url[self->n_readers] = strdup(urls[i])) != NULL) {
            self->reader[self->n_readers].url = self->reader_url[self->n_readers];
            self->n_readers++;
        }
}

void up_status_drain_line(up_status_t *self, int readers)
{
    if (!self)
        return;
    if (self->broker.url)
        scrape_page_fetch(&self->broker, SCRAPE_TIMEOUT_MS);
    if (self->batcher.url)
        scrape_page_fetch(&self->batcher, SCRAPE_TIMEOUT_MS);
    /* in flight: what the readers took and is not stored (their windows; a reader
     * that has exited holds nothing), else the broker's count */
    double held = 0;
    int answered = 0;
    for (int i = 0; i < self->n_readers; i++)
        if (scrape_page_fetch(&self->reader[i], SCRAPE_TIMEOUT_MS) == 0) {
            double w = scrape_page_value(&self->reader[i], "rtp_reader_window", NULL);
            held += isnan(w) ? 0 : w;
            answered++;
        }
    if (!answered)
        held = readers > 0 ? scrape_page_value(&self->broker, "rtp_broker_events_in_flight", NULL) : 0;
    if (!self->broker.prev && !self->batcher.prev)
        return; /* the first scrape: the rates need a second */
    char a[32], b[32];
    rtp_info("draining: %s events in flight, %s/s stored; %d reader%s waiting for acknowledgements",
             s_grouped(a, sizeof a, held),
             s_grouped(b, sizeof b, scrape_page_rate(&self->batcher, "rtp_batcher_records_total", NULL)),
             readers, readers == 1 ? "" : "s");
}
