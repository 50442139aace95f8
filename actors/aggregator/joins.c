#include "joins.h"

#include "u64map.h"

#include <cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALL_PARTS 0x0F /* one bit per rtp_part_t */

/* Markers stored in the finished-keys map. */
#define DONE_COMPLETE ((void *) 1)
#define DONE_EXPIRED ((void *) 2)

typedef struct join_t {
    uint64_t key;
    uint8_t have; /* bit (1 << kind) per part received */
    int64_t born_ms;
    struct join_t *older, *newer;
    rtp_msg_t *record; /* the RECORD part; becomes the JOINED */
    char *censored;    /* taken from the censor part */
    double sentiment, engagement;
    /* the event's identity as the first part told it, for a report without record */
    uint64_t seq;
    int64_t received_us;
    char *origin;
} join_t;

struct joins_t {
    rtp_u64map_t *pending; /* slot(key) -> join_t */
    join_t *oldest, *newest;
    rtp_u64map_t *done;  /* slot(key) -> DONE_COMPLETE | DONE_EXPIRED */
    uint64_t *done_ring; /* the remembered keys' slots, oldest first */
    size_t done_cap, done_head, done_count;
};

static const char *s_part_names[] = {"censor", "sentiment", "engagement", "record"};

const char *joins_part_name(int kind)
{
    return kind >= 0 && kind <= RTP_PART_RECORD ? s_part_names[kind] : "?";
}

/* u64map keys must not be 0, and event keys may be: the map holds key + 1 (so the
 * one key that cannot be held is UINT64_MAX, refused as invalid). */
static uint64_t s_slot(uint64_t key)
{
    return key + 1;
}

joins_t *joins_new(size_t memory)
{
    joins_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->done_cap = memory ? memory : 1;
    self->pending = rtp_u64map_new(1024);
    self->done = rtp_u64map_new(self->done_cap < 1024 ? 1024 : self->done_cap);
    self->done_ring = malloc(self->done_cap * sizeof *self->done_ring);
    if (!self->pending || !self->done || !self->done_ring) {
        joins_destroy(&self);
        return NULL;
    }
    return self;
}

static void s_free_join(join_t *j)
{
    rtp_msg_destroy(&j->record);
    free(j->censored);
    free(j->origin);
    free(j);
}

void joins_destroy(joins_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    joins_t *self = *self_p;
    for (join_t *j = self->oldest, *next; j; j = next) {
        next = j->newer;
        s_free_join(j);
    }
    rtp_u64map_destroy(&self->pending);
    rtp_u64map_destroy(&self->done);
    free(self->done_ring);
    free(self);
    *self_p = NULL;
}

int joins_known(const joins_t *self, uint64_t key)
{
    uint64_t slot = s_slot(key);
    return key == UINT64_MAX || rtp_u64map_get(self->pending, slot) || rtp_u64map_get(self->done, slot);
}

size_t joins_pending(const joins_t *self)
{
    return rtp_u64map_size(self->pending);
}
int64_t joins_oldest_ms(const joins_t *self)
{
    return self->oldest ? self->oldest->born_ms : -1;
}

/* Remembers a finished key, forgetting the oldest one when the memory is full. */
static void s_remember(joins_t *self, uint64_t slot, void *how)
{
    if (self->done_count == self->done_cap) {
        rtp_u64map_remove(self->done, self->done_ring[self->done_head]);
        self->done_head = (self->done_head + 1) % self->done_cap;
        self->done_count--;
    }
    if (rtp_u64map_put(self->done, slot, how) != 0)
        return; /* out of memory: the key is just not remembered */
    self->done_ring[(self->done_head + self->done_count) % self->done_cap] = slot;
    self->done_count++;
}

/* Takes j out of the pending table and the age list. */
static void s_unlink(joins_t *self, join_t *j)
{
    rtp_u64map_remove(self->pending, s_slot(j->key));
    if (j->older)
        j->older->newer = j->newer;
    else
        self->oldest = j->newer;
    if (j->newer)
        j->newer->older = j->older;
    else
        self->newest = j->older;
    j->older = j->newer = NULL;
}

static join_t *s_open(joins_t *self, const rtp_msg_t *part, int64_t now_ms)
{
    join_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    if (rtp_u64map_put(self->pending, s_slot(part->key), j) != 0) {
        free(j);
        return NULL;
    }
    j->key = part->key;
    j->born_ms = now_ms;
    j->older = self->newest;
    if (self->newest)
        self->newest->newer = j;
    else
        self->oldest = j;
    self->newest = j;
    return j;
}

join_result_t joins_add(joins_t *self, rtp_msg_t **part_p, int64_t now_ms, rtp_msg_t **out)
{
    rtp_msg_t *part = *part_p;
    *part_p = NULL;
    *out = NULL;
    if (part->type != RTP_MSG_PART || part->kind > RTP_PART_RECORD || part->key == UINT64_MAX) {
        rtp_msg_destroy(&part);
        return JOIN_INVALID;
    }
    uint64_t slot = s_slot(part->key);
    join_t *j = rtp_u64map_get(self->pending, slot);
    if (!j) {
        void *done = rtp_u64map_get(self->done, slot);
        if (done) {
            rtp_msg_destroy(&part);
            return done == DONE_EXPIRED ? JOIN_LATE : JOIN_DUPLICATE;
        }
        j = s_open(self, part, now_ms);
        if (!j) {
            rtp_msg_destroy(&part);
            return JOIN_INVALID;
        }
    }
    uint8_t bit = (uint8_t) (1u << part->kind);
    if (j->have & bit) {
        rtp_msg_destroy(&part);
        return JOIN_DUPLICATE;
    }
    j->have |= bit;
    if (!j->origin && part->origin && part->origin[0]) {
        j->origin = part->origin; /* taken, not copied */
        part->origin = NULL;
        j->seq = part->seq;
        j->received_us = part->received_us;
    }
    switch (part->kind) {
    case RTP_PART_RECORD:
        j->record = part;
        part = NULL;
        break;
    case RTP_PART_CENSOR:
        j->censored = part->text;
        part->text = NULL;
        break;
    case RTP_PART_SENTIMENT:
        j->sentiment = part->number;
        break;
    case RTP_PART_ENGAGEMENT:
        j->engagement = part->number;
        break;
    }
    rtp_msg_destroy(&part);
    if (j->have != ALL_PARTS)
        return JOIN_PENDING;

    s_unlink(self, j);
    s_remember(self, slot, DONE_COMPLETE);
    rtp_msg_t *joined = j->record;
    j->record = NULL;
    joined->type = RTP_MSG_JOINED;
    joined->kind = 0;
    free(joined->text);
    joined->text = j->censored ? j->censored : strdup("");
    j->censored = NULL;
    joined->number = j->sentiment;
    joined->number2 = j->engagement;
    if ((!joined->origin || !joined->origin[0]) && j->origin) {
        free(joined->origin);
        joined->origin = j->origin;
        j->origin = NULL;
    }
    s_free_join(j);
    *out = joined;
    return JOIN_COMPLETE;
}

/* Integers are written exactly (cJSON numbers are doubles). */
static void s_add_i64(cJSON *obj, const char *name, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    cJSON_AddItemToObject(obj, name, cJSON_CreateRaw(buf));
}

static void s_add_u64(cJSON *obj, const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    cJSON_AddItemToObject(obj, name, cJSON_CreateRaw(buf));
}

/* What did arrive of an incomplete join, as JSON text (caller frees), or NULL. */
static char *s_describe(const join_t *j)
{
    cJSON *o = cJSON_CreateObject();
    s_add_u64(o, "key", j->key);
    if (j->record) {
        const rtp_tweet_t *t = &j->record->tweet;
        cJSON *r = cJSON_AddObjectToObject(o, "record");
        cJSON_AddStringToObject(r, "id", t->id);
        cJSON_AddStringToObject(r, "user_id", t->user_id);
        cJSON_AddStringToObject(r, "user_name", t->user_name);
        cJSON_AddStringToObject(r, "screen_name", t->screen_name);
        cJSON_AddStringToObject(r, "text", t->text);
        cJSON_AddStringToObject(r, "hashtags", t->hashtags);
        cJSON_AddStringToObject(r, "created_at", t->created_at);
        cJSON_AddStringToObject(r, "lang", t->lang);
        cJSON_AddStringToObject(r, "retweet_of", t->retweet_of);
        s_add_i64(r, "followers", t->followers);
        s_add_i64(r, "favorites", t->favorites);
        s_add_i64(r, "retweets", t->retweets);
        s_add_i64(r, "time_ms", t->time_ms);
    } else
        cJSON_AddNullToObject(o, "record");
    if (j->have & (1u << RTP_PART_CENSOR))
        cJSON_AddStringToObject(o, "censored", j->censored ? j->censored : "");
    if (j->have & (1u << RTP_PART_SENTIMENT))
        cJSON_AddNumberToObject(o, "sentiment", j->sentiment);
    if (j->have & (1u << RTP_PART_ENGAGEMENT))
        cJSON_AddNumberToObject(o, "engagement", j->engagement);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

int joins_abandon(joins_t *self, uint64_t key)
{
    if (key == UINT64_MAX)
        return 0;
    join_t *j = rtp_u64map_get(self->pending, s_slot(key));
    if (j) {
        s_unlink(self, j);
        s_free_join(j);
    }
    if (!rtp_u64map_get(self->done, s_slot(key)))
        s_remember(self, s_slot(key), DONE_EXPIRED);
    return j != NULL;
}

rtp_msg_t *joins_expire(joins_t *self, int64_t started_by, int64_t now_ms, const char *suffix,
                        join_report_t *report)
{
    join_t *j = self->oldest;
    if (!j || j->born_ms > started_by)
        return NULL;
    s_unlink(self, j);
    s_remember(self, s_slot(j->key), DONE_EXPIRED);

    memset(report, 0, sizeof *report);
    report->key = j->key;
    report->age_ms = now_ms - j->born_ms;
    snprintf(report->id, sizeof report->id, "%s",
             j->record && j->record->tweet.id ? j->record->tweet.id : "?");
    size_t n = 0;
    static const int order[] = {RTP_PART_RECORD, RTP_PART_CENSOR, RTP_PART_SENTIMENT, RTP_PART_ENGAGEMENT};
    for (int i = 0; i < 4; i++)
        if (!(j->have & (1u << order[i])))
            n += (size_t) snprintf(report->missing + n, sizeof report->missing - n, "%s%s", n ? "," : "",
                                   joins_part_name(order[i]));

    rtp_msg_t *dl = rtp_msg_new(RTP_MSG_DEADLETTER);
    char *raw = s_describe(j);
    char reason[160];
    snprintf(reason, sizeof reason, "incomplete join: missing %s%s", report->missing, suffix ? suffix : "");
    if (!dl || !raw || rtp_msg_set_str(&dl->text, reason) != 0 ||
        rtp_msg_set_raw(dl, raw, strlen(raw)) != 0) {
        free(raw);
        rtp_msg_destroy(&dl);
        s_free_join(j);
        return NULL;
    }
    free(raw);
    dl->key = j->key;
    const rtp_msg_t *rec = j->record;
    dl->seq = rec ? rec->seq : j->seq;
    dl->received_us = rec ? rec->received_us : j->received_us;
    const char *origin = rec && rec->origin && rec->origin[0] ? rec->origin : j->origin;
    rtp_msg_set_str(&dl->origin, origin);
    s_free_join(j);
    return dl;
}
