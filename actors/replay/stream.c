#include "stream.h"

#include "pace.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The wire layout of the real rtp-server (see data/wire-format.sse): a block with
 * only the event type, then the data block. */
#define TWEET_HEAD "event: \"message\"\n\ndata: {\"message\": {\"tweet\": "
#define TWEET_TAIL ", \"unix_timestamp_100us\": "
#define TWEET_END "}}\n\n"
#define PANIC_EVENT "event: \"message\"\n\ndata: {\"message\": panic}\n\n"
#define STRLEN(s) (sizeof(s) - 1)
#define TIMESTAMP_MAX 20 /* digits of an int64 */
#define TWEET_OVERHEAD (STRLEN(TWEET_HEAD) + STRLEN(TWEET_TAIL) + TIMESTAMP_MAX + STRLEN(TWEET_END))

typedef struct {
    size_t off;
    size_t len;
} line_t;

struct replay_stream_t {
    char *name;
    char *text; /* the whole file; lines point into it */
    line_t *lines;
    size_t nlines;
    size_t max_line;
    replay_stream_cfg_t cfg;
    replay_pace_t *pace;
    uint64_t panic_rng;
    /* the cursor */
    uint64_t next_seq;
    size_t next_line;
    int64_t loop;
    int panic_pending;
    uint64_t sent;
    uint64_t resent;
    /* given-back events, sorted by seq */
    replay_event_t *retry;
    size_t nretry, retry_cap;
};

static int s_split_lines(replay_stream_t *self, size_t len)
{
    size_t cap = 1024;
    self->lines = malloc(cap * sizeof *self->lines);
    if (!self->lines)
        return -1;
    size_t start = 0;
    while (start < len) {
        char *nl = memchr(self->text + start, '\n', len - start);
        size_t end = nl ? (size_t) (nl - self->text) : len;
        size_t n = end - start;
        if (n > 0 && self->text[start + n - 1] == '\r')
            n--;
        if (n > 0) {
            if (self->nlines == cap) {
                line_t *bigger = realloc(self->lines, 2 * cap * sizeof *self->lines);
                if (!bigger)
                    return -1;
                self->lines = bigger;
                cap *= 2;
            }
            self->lines[self->nlines++] = (line_t){start, n};
            if (n > self->max_line)
                self->max_line = n;
        }
        start = end + 1;
    }
    return 0;
}

replay_stream_t *replay_stream_new(const char *name, const char *path, const replay_stream_cfg_t *cfg,
                                   int64_t now_us, rtp_err_t *err)
{
    if (!(cfg->panic_rate >= 0 && cfg->panic_rate <= 1)) {
        rtp_err_set(err, "--panic-rate must be between 0 and 1");
        return NULL;
    }
    if (cfg->loops < 0 || cfg->drop_every < 0) {
        rtp_err_set(err, "--loops and --drop-every must be >= 0");
        return NULL;
    }
    replay_stream_t *self = calloc(1, sizeof *self);
    if (!self || !(self->name = strdup(name))) {
        free(self);
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->cfg.schedule = NULL; /* borrowed text: only pace_new reads it */
    size_t len = 0;
    self->text = rtp_read_file(path, &len);
    if (!self->text) {
        rtp_err_set(err, "cannot read %s: %s", path, strerror(errno));
        replay_stream_destroy(&self);
        return NULL;
    }
    if (s_split_lines(self, len) != 0) {
        rtp_err_set(err, "out of memory reading %s", path);
        replay_stream_destroy(&self);
        return NULL;
    }
    if (self->nlines == 0) {
        rtp_err_set(err, "no tweets in %s", path);
        replay_stream_destroy(&self);
        return NULL;
    }
    /* Each stream and each purpose draws from its own sequence of the seed. */
    uint64_t base = cfg->seed * 0x100000001B3ULL;
    for (const char *p = name; *p; p++)
        base = (base ^ (unsigned char) *p) * 0x100000001B3ULL;
    self->panic_rng = base;
    self->pace = replay_pace_new(cfg->rate, cfg->schedule, cfg->burst, base ^ 0x5DEECE66DULL, now_us, err);
    if (!self->pace) {
        replay_stream_destroy(&self);
        return NULL;
    }
    return self;
}

void replay_stream_destroy(replay_stream_t **self_p)
{
    if (self_p && *self_p) {
        replay_stream_t *self = *self_p;
        replay_pace_destroy(&self->pace);
        free(self->retry);
        free(self->lines);
        free(self->text);
        free(self->name);
        free(self);
        *self_p = NULL;
    }
}

const char *replay_stream_name(replay_stream_t *self)
{
    return self->name;
}
size_t replay_stream_tweets(replay_stream_t *self)
{
    return self->nlines;
}
uint64_t replay_stream_sent(replay_stream_t *self)
{
    return self->sent;
}
uint64_t replay_stream_resent(replay_stream_t *self)
{
    return self->resent;
}

size_t replay_stream_max_event(replay_stream_t *self)
{
    size_t tweet = self->max_line + TWEET_OVERHEAD;
    return tweet > STRLEN(PANIC_EVENT) ? tweet : STRLEN(PANIC_EVENT);
}

static int s_over(replay_stream_t *self)
{
    return self->cfg.loops > 0 && self->loop >= self->cfg.loops && !self->panic_pending;
}

/* The next new event at the cursor; the cursor moves past it. */
static void s_advance(replay_stream_t *self, replay_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->seq = self->next_seq++;
    if (self->panic_pending) {
        ev->kind = REPLAY_EV_PANIC;
        self->panic_pending = 0;
    } else {
        ev->kind = REPLAY_EV_TWEET;
        ev->line = (uint32_t) self->next_line++;
        if (self->next_line == self->nlines) {
            self->next_line = 0;
            self->loop++;
        }
        if (self->cfg.panic_rate > 0 && replay_rand(&self->panic_rng) < self->cfg.panic_rate)
            self->panic_pending = 1;
    }
    self->sent++;
    ev->cut = self->cfg.drop_every > 0 && self->sent % (uint64_t) self->cfg.drop_every == 0;
}

int replay_stream_next(replay_stream_t *self, int64_t now_us, replay_event_t *ev)
{
    if (self->nretry == 0 && s_over(self))
        return -1;
    if (!replay_pace_take(self->pace, now_us))
        return 0;
    if (self->nretry > 0) {
        /* A resent event goes out whole: only new events are cut. */
        *ev = self->retry[0];
        ev->cut = 0;
        memmove(self->retry, self->retry + 1, --self->nretry * sizeof *self->retry);
        self->resent++;
        return 1;
    }
    s_advance(self, ev);
    return 1;
}

int64_t replay_stream_due_us(replay_stream_t *self, int64_t now_us)
{
    return replay_pace_due_us(self->pace, now_us);
}

void replay_stream_give_back(replay_stream_t *self, const replay_event_t *ev)
{
    if (self->nretry == self->retry_cap) {
        size_t cap = self->retry_cap ? 2 * self->retry_cap : 64;
        replay_event_t *bigger = realloc(self->retry, cap * sizeof *bigger);
        if (!bigger)
            abort(); /* bounded by the connections' buffers: tiny */
        self->retry = bigger;
        self->retry_cap = cap;
    }
    size_t i = self->nretry;
    while (i > 0 && self->retry[i - 1].seq > ev->seq)
        i--;
    memmove(self->retry + i + 1, self->retry + i, (self->nretry - i) * sizeof *self->retry);
    self->retry[i] = *ev;
    self->nretry++;
}

size_t replay_stream_event_size(replay_stream_t *self, const replay_event_t *ev)
{
    if (ev->kind == REPLAY_EV_PANIC)
        return STRLEN(PANIC_EVENT);
    return self->lines[ev->line].len + TWEET_OVERHEAD;
}

size_t replay_stream_format(replay_stream_t *self, const replay_event_t *ev, int64_t wall_us, char *buf)
{
    if (ev->kind == REPLAY_EV_PANIC) {
        memcpy(buf, PANIC_EVENT, STRLEN(PANIC_EVENT));
        return STRLEN(PANIC_EVENT);
    }
    const line_t *line = &self->lines[ev->line];
    char *p = buf;
    memcpy(p, TWEET_HEAD, STRLEN(TWEET_HEAD));
    p += STRLEN(TWEET_HEAD);
    memcpy(p, self->text + line->off, line->len);
    p += line->len;
    memcpy(p, TWEET_TAIL, STRLEN(TWEET_TAIL));
    p += STRLEN(TWEET_TAIL);
    p += snprintf(p, TIMESTAMP_MAX + 1, "%" PRId64, wall_us / 100);
    memcpy(p, TWEET_END, STRLEN(TWEET_END));
    p += STRLEN(TWEET_END);
    return (size_t) (p - buf);
}
