#include "hashtag_window.h"

#include "analysis.h"
#include "keytab.h"   /* rtp_is_space: the one definition of ASCII whitespace */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An open-addressing set of strings with a count per entry, grown by doubling up to
 * a cap. Both the window's ids and its tags live in one of these. */
typedef struct {
    uint64_t hash;
    size_t off;        /* the key's bytes, NUL-terminated, at pool + off */
    size_t len;        /* 0: empty slot (keys are never empty) */
    uint64_t count;
    uint64_t last;     /* tags: serial of the last tweet that counted this tag */
} s_slot_t;

typedef struct {
    s_slot_t *slots;
    size_t mask;       /* slot count - 1, a power of two */
    size_t count, max;
    char *pool;
    size_t pool_len, pool_cap;
} s_table_t;

struct rtp_hashtag_window_t {
    s_table_t ids, tags;
    uint64_t serial;             /* one per counted tweet, for the once-per-tweet rule */
    rtp_hashtag_window_stats_t stats;
    rtp_hashtag_count_t *order;  /* scratch for top(): one entry per tag */
    size_t order_cap;
};

#define S_INITIAL_SLOTS 1024

static uint64_t s_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int s_table_init(s_table_t *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max;
    t->slots = calloc(S_INITIAL_SLOTS, sizeof *t->slots);
    t->mask = S_INITIAL_SLOTS - 1;
    return t->slots ? 0 : -1;
}

static void s_table_free(s_table_t *t)
{
    free(t->slots);
    free(t->pool);
    memset(t, 0, sizeof *t);
}

static void s_table_clear(s_table_t *t)
{
    if (t->count)
        memset(t->slots, 0, (t->mask + 1) * sizeof *t->slots);
    t->count = 0;
    t->pool_len = 0;
}

/* Doubles the slot array; -1 if out of memory (the table is unchanged). */
static int s_table_grow(s_table_t *t)
{
    size_t size = (t->mask + 1) * 2;
    s_slot_t *slots = calloc(size, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= t->mask; i++) {
        if (!t->slots[i].len)
            continue;
        size_t j = t->slots[i].hash & (size - 1);
        while (slots[j].len)
            j = (j + 1) & (size - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->mask = size - 1;
    return 0;
}

/* Finds key[0..len) (len > 0), adding it with count 0 when absent. *added_p says
 * which. NULL when it is absent and cannot be added (cap reached, out of memory). */
static s_slot_t *s_table_upsert(s_table_t *t, const char *key, size_t len, int *added_p)
{
    uint64_t h = s_hash(key, len);
    size_t i = h & t->mask;
    for (; t->slots[i].len; i = (i + 1) & t->mask) {
        s_slot_t *s = &t->slots[i];
        if (s->hash == h && s->len == len && memcmp(t->pool + s->off, key, len) == 0) {
            *added_p = 0;
            return s;
        }
    }
    if (t->count >= t->max)
        return NULL;
    if ((t->count + 1) * 4 > (t->mask + 1) * 3) {   /* keep the load under 3/4 */
        if (s_table_grow(t) != 0)
            return NULL;
        for (i = h & t->mask; t->slots[i].len; i = (i + 1) & t->mask)
            ;
    }
    if (t->pool_len + len + 1 > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 4096;
        while (cap < t->pool_len + len + 1)
            cap *= 2;
        char *pool = realloc(t->pool, cap);
        if (!pool)
            return NULL;
        t->pool = pool;
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_len, key, len);
    t->pool[t->pool_len + len] = '\0';
    s_slot_t *s = &t->slots[i];
    *s = (s_slot_t){.hash = h, .off = t->pool_len, .len = len};
    t->pool_len += len + 1;
    t->count++;
    *added_p = 1;
    return s;
}

rtp_hashtag_window_t *rtp_hashtag_window_new(size_t max_ids, size_t max_tags)
{
    if (max_ids < 1 || max_tags < 1)
        return NULL;
    rtp_hashtag_window_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (s_table_init(&self->ids, max_ids) != 0 || s_table_init(&self->tags, max_tags) != 0) {
        rtp_hashtag_window_destroy(&self);
        return NULL;
    }
    return self;
}

void rtp_hashtag_window_destroy(rtp_hashtag_window_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_hashtag_window_t *self = *self_p;
    s_table_free(&self->ids);
    s_table_free(&self->tags);
    free(self->order);
    free(self);
    *self_p = NULL;
}

void rtp_hashtag_window_reset(rtp_hashtag_window_t *self, int64_t start_ms, int64_t end_ms)
{
    s_table_clear(&self->ids);
    s_table_clear(&self->tags);
    memset(&self->stats, 0, sizeof self->stats);
    self->stats.start_ms = start_ms;
    self->stats.end_ms = end_ms;
}

/* Counts one tag of the current tweet (self->serial). */
static void s_count_tag(rtp_hashtag_window_t *self, const char *tag, size_t len)
{
    while (len && *tag == '#') {
        tag++;
        len--;
    }
    if (!len)
        return;
    if (len > RTP_HASHTAG_MAX_BYTES) {
        self->stats.tags_dropped++;
        return;
    }
    char key[RTP_HASHTAG_MAX_BYTES + 1];
    memcpy(key, tag, len);
    key[len] = '\0';
    rtp_hashtag_normalize(key);
    int added;
    s_slot_t *slot = s_table_upsert(&self->tags, key, len, &added);
    if (!slot) {
        self->stats.tags_dropped++;
        return;
    }
    if (slot->last == self->serial)
        return;   /* the same tag twice in one tweet */
    slot->last = self->serial;
    slot->count++;
    self->stats.mentions++;
    self->stats.tags = self->tags.count;
}

int rtp_hashtag_window_add(rtp_hashtag_window_t *self, const char *id, const char *tags)
{
    size_t id_len = id ? strlen(id) : 0;
    if (id_len == 0 || id_len > RTP_HASHTAG_MAX_ID)
        return -1;
    int added;
    if (s_table_upsert(&self->ids, id, id_len, &added) == NULL)
        self->stats.ids_overflow++;
    else if (!added) {
        self->stats.duplicates++;
        return 0;
    }
    self->stats.tweets++;
    self->serial++;
    for (size_t pos = 0; tags && tags[pos];) {
        while (tags[pos] && rtp_is_space((unsigned char) tags[pos]))
            pos++;
        size_t start = pos;
        while (tags[pos] && !rtp_is_space((unsigned char) tags[pos]))
            pos++;
        if (pos > start)
            s_count_tag(self, tags + start, pos - start);
    }
    return 1;
}

/* Highest count first, then ascending bytes of the tag. */
static int s_compare(const void *a, const void *b)
{
    const rtp_hashtag_count_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

size_t rtp_hashtag_window_top(rtp_hashtag_window_t *self, rtp_hashtag_count_t *top, size_t n)
{
    s_table_t *t = &self->tags;
    if (t->count > self->order_cap) {
        rtp_hashtag_count_t *order = realloc(self->order, t->count * sizeof *order);
        if (!order)
            return 0;
        self->order = order;
        self->order_cap = t->count;
    }
    size_t count = 0;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].len)
            self->order[count++] = (rtp_hashtag_count_t){t->pool + t->slots[i].off, t->slots[i].count};
    if (n > count)
        n = count;
    if (n) {
        qsort(self->order, count, sizeof *self->order, s_compare);
        memcpy(top, self->order, n * sizeof *top);
    }
    return n;
}

const rtp_hashtag_window_stats_t *rtp_hashtag_window_stats(const rtp_hashtag_window_t *self)
{
    return &self->stats;
}

/* Appends HH:MM:SS (UTC), and .mmm when ms is not a whole second. */
static void s_fmt_time(char *buf, size_t cap, int64_t ms)
{
    time_t secs = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int) (ms - (int64_t) secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    if (frac)
        snprintf(buf, cap, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    else
        snprintf(buf, cap, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *rtp_hashtag_window_report(const rtp_hashtag_window_t *self, const rtp_hashtag_count_t *top, size_t n)
{
    char start[32], end[32];
    s_fmt_time(start, sizeof start, self->stats.start_ms);
    s_fmt_time(end, sizeof end, self->stats.end_ms);
    size_t cap = 128;
    for (size_t i = 0; i < n; i++)
        cap += strlen(top[i].tag) + 32;
    char *line = malloc(cap);
    if (!line)
        return NULL;
    size_t len = (size_t) snprintf(line, cap, "top hashtags %s-%s UTC (%" PRIu64 " tweets, %" PRIu64 " tags): %s",
                                   start, end, self->stats.tweets, self->stats.tags, n ? "" : "none");
    for (size_t i = 0; i < n; i++)
        len += (size_t) snprintf(line + len, cap - len, "%s#%s %" PRIu64, i ? ", " : "", top[i].tag, top[i].count);
    return line;
}

int64_t rtp_hashtag_window_align(int64_t now_ms, int64_t interval_ms)
{
    int64_t r = now_ms % interval_ms;
    return now_ms - (r < 0 ? r + interval_ms : r);
}
